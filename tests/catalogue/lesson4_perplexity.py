"""Catalogue of submissions for lesson 4, perplexity (source/lesson4_perplexity/perplexity.ipynb).

Solution cells (grade_id): perplexity, perplexity_from_probs, bits_per_char, unigram_perplexity,
bigram_perplexity. Autograded test cells: test_<name> for each. No test cell calls another
graded function, so a mistake in one function costs points in its own test cell only.

The notebook's imports cell provides math, Counter, np, torch and F to every solution below,
and its first cell ``cu`` (course_utils).

The last section holds this lesson's hostile cases (issue 10): answers hard-coded from the
visible worked examples, a pasted visible-test helper, frame peeking, and delegation to a
course_utils function. Delegation passes the in-kernel tests (its values are right) and loses
its cell only once the trusted checks run (``DISABLE`` in grader/trusted/lessons/
lesson4_perplexity.py), so its expectation follows ``TRUSTED_CHECKS_WIRED``.
"""

from __future__ import annotations

from pathlib import Path

from . import Case

_CONFIG = Path(__file__).resolve().parents[2] / "nbgrader_config.py"
# True once nbgrader_config.py runs a grader.trusted preprocessor while autograding.
TRUSTED_CHECKS_WIRED = '"grader.trusted.' in _CONFIG.read_text()

PPL, PROBS, BITS = "test_perplexity", "test_perplexity_from_probs", "test_bits_per_char"
UNI, BI = "test_unigram_perplexity", "test_bigram_perplexity"

CASES = [
    # ------------------------------------------------------------------ perplexity(logits, targets)
    Case(
        "perplexity: log_softmax + gather (correct)",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    logp = torch.log_softmax(logits.reshape(-1, logits.shape[-1]).double(), dim=-1)
    true = logp.gather(1, targets.reshape(-1, 1)).squeeze(1)  # (N,)
    return math.exp(-true.mean().item())
"""
        },
    ),
    Case(
        "perplexity: numpy with a hand-written logsumexp, returns a numpy float (correct)",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    z = logits.detach().double().numpy()
    z = z.reshape(-1, z.shape[-1])
    t = targets.numpy().reshape(-1)
    m = z.max(axis=1, keepdims=True)
    log_norm = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    nll = log_norm - z[np.arange(len(t)), t]
    return np.exp(nll.mean())
"""
        },
    ),
    Case(
        "perplexity: returns a 0-d tensor, loops over positions (correct)",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    flat, tgt = logits.flatten(0, -2), targets.flatten()
    total = torch.zeros((), dtype=torch.float64)
    for row, t in zip(flat, tgt):
        total = total - F.log_softmax(row.double(), dim=0)[t]
    return torch.exp(total / len(tgt))
"""
        },
    ),
    Case(
        "perplexity: exp of the sum instead of the mean",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    V = logits.shape[-1]
    nll = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="sum")
    return float(torch.exp(nll))
"""
        },
        loses={PPL},
    ),
    Case(
        "perplexity: base 2 mixed with the natural-log loss",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    V = logits.shape[-1]
    return float(2 ** F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)))
"""
        },
        loses={PPL},
    ),
    Case(
        "perplexity: mean of per-token perplexities",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    V = logits.shape[-1]
    nll = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
    return float(torch.exp(nll).mean())
"""
        },
        loses={PPL},
    ),
    Case(
        "perplexity: logits used as log-probabilities (no log_softmax)",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    V = logits.shape[-1]
    picked = logits.reshape(-1, V).gather(1, targets.reshape(-1, 1))
    return float(torch.exp(-picked.mean()))
"""
        },
        loses={PPL},
    ),
    Case(
        "perplexity: not flattened before F.cross_entropy (errors on (batch, steps, V))",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    return float(torch.exp(F.cross_entropy(logits, targets)))
"""
        },
        loses={PPL},
    ),
    # ------------------------------------------------------------------ perplexity_from_probs(p)
    Case(
        "perplexity_from_probs: 1 / geometric mean of p (correct)",
        replace={
            "perplexity_from_probs": """
def perplexity_from_probs(p):
    p = torch.as_tensor(p).double()
    return float(1.0 / torch.exp(torch.log(p).mean()))  # tensor division: 1 / 0 is inf
"""
        },
    ),
    Case(
        "perplexity_from_probs: numpy, warns 'divide by zero' on p = 0 (correct)",
        replace={
            "perplexity_from_probs": """
def perplexity_from_probs(p):
    arr = np.asarray(p, dtype=np.float64)
    return float(np.exp(-np.mean(np.log(arr))))
"""
        },
        note="np.log(0) prints a RuntimeWarning to stderr; the course config ignores warnings",
    ),
    Case(
        "perplexity_from_probs: geometric mean of 1/p as a product (correct for short inputs)",
        replace={
            "perplexity_from_probs": """
def perplexity_from_probs(p):
    p = torch.as_tensor(p, dtype=torch.float64).reshape(-1)
    return float(torch.prod(1.0 / p) ** (1.0 / p.numel()))
"""
        },
    ),
    Case(
        "perplexity_from_probs: mean of 1/p",
        replace={
            "perplexity_from_probs": """
def perplexity_from_probs(p):
    return float((1.0 / torch.as_tensor(p, dtype=torch.float64)).mean())
"""
        },
        loses={PROBS},
    ),
    Case(
        "perplexity_from_probs: exp of the sum of -log p",
        replace={
            "perplexity_from_probs": """
def perplexity_from_probs(p):
    return float(torch.exp(-torch.log(torch.as_tensor(p, dtype=torch.float64)).sum()))
"""
        },
        loses={PROBS},
    ),
    Case(
        "perplexity_from_probs: 1 / mean(p)",
        replace={
            "perplexity_from_probs": """
def perplexity_from_probs(p):
    return 1.0 / float(torch.as_tensor(p, dtype=torch.float64).mean())
"""
        },
        loses={PROBS},
    ),
    Case(
        "perplexity_from_probs: 2 ** of the natural-log cross-entropy",
        replace={
            "perplexity_from_probs": """
def perplexity_from_probs(p):
    return float(2 ** -torch.log(torch.as_tensor(p, dtype=torch.float64)).mean())
"""
        },
        loses={PROBS},
    ),
    # ------------------------------------------------------------------ bits_per_char(ppl)
    Case(
        "bits_per_char: ln(ppl) / ln 2 (correct)",
        replace={
            "bits_per_char": """
def bits_per_char(ppl):
    return math.log(ppl) / math.log(2)
"""
        },
    ),
    Case(
        "bits_per_char: torch.log2, returns a 0-d tensor (correct)",
        replace={
            "bits_per_char": """
def bits_per_char(ppl):
    return torch.log2(torch.tensor(ppl, dtype=torch.float64))
"""
        },
    ),
    Case(
        "bits_per_char: natural log (nats, not bits)",
        replace={
            "bits_per_char": """
def bits_per_char(ppl):
    return math.log(ppl)
"""
        },
        loses={BITS},
    ),
    Case(
        "bits_per_char: log base 10",
        replace={
            "bits_per_char": """
def bits_per_char(ppl):
    return math.log10(ppl)
"""
        },
        loses={BITS},
    ),
    Case(
        "bits_per_char: perplexity times log2(e) (the log forgotten)",
        replace={
            "bits_per_char": """
def bits_per_char(ppl):
    return ppl * math.log2(math.e)
"""
        },
        loses={BITS},
    ),
    # ------------------------------------------------------------------ unigram_perplexity
    Case(
        "unigram_perplexity: numpy bincount, vectorised (correct)",
        replace={
            "unigram_perplexity": """
def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    counts = np.bincount(np.asarray(train_tokens), minlength=vocab_size)
    probs = (counts + alpha) / (counts.sum() + alpha * vocab_size)
    return float(np.exp(-np.log(probs[np.asarray(eval_tokens)]).mean()))
"""
        },
    ),
    Case(
        "unigram_perplexity: torch bincount and a geometric mean (correct)",
        replace={
            "unigram_perplexity": """
def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    counts = torch.bincount(torch.tensor(train_tokens), minlength=vocab_size).double()
    probs = (counts + alpha) / (len(train_tokens) + alpha * vocab_size)
    p = probs[torch.tensor(eval_tokens)]
    return torch.exp(-torch.log(p).mean()).item()
"""
        },
    ),
    Case(
        "unigram_perplexity: plain dict and loops (correct)",
        replace={
            "unigram_perplexity": """
def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    counts = {}
    for c in train_tokens:
        counts[c] = counts.get(c, 0) + 1
    total = 0.0
    for c in eval_tokens:
        prob = (counts.get(c, 0) + alpha) / (len(train_tokens) + alpha * vocab_size)
        total += math.log(prob)
    return math.exp(-total / len(eval_tokens))
"""
        },
    ),
    Case(
        "unigram_perplexity: smoothing forgets alpha * V in the denominator",
        replace={
            "unigram_perplexity": """
def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    counts = Counter(train_tokens)
    nll = -sum(math.log((counts[c] + alpha) / len(train_tokens)) for c in eval_tokens)
    return math.exp(nll / len(eval_tokens))
"""
        },
        loses={UNI},
    ),
    Case(
        "unigram_perplexity: counts taken from the eval text",
        replace={
            "unigram_perplexity": """
def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    counts = Counter(eval_tokens)
    denom = len(eval_tokens) + alpha * vocab_size
    nll = -sum(math.log((counts[c] + alpha) / denom) for c in eval_tokens)
    return math.exp(nll / len(eval_tokens))
"""
        },
        loses={UNI},
    ),
    Case(
        "unigram_perplexity: log2 of the probabilities, exp of the mean",
        replace={
            "unigram_perplexity": """
def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    counts = Counter(train_tokens)
    denom = len(train_tokens) + alpha * vocab_size
    nll = -sum(math.log2((counts[c] + alpha) / denom) for c in eval_tokens)
    return math.exp(nll / len(eval_tokens))
"""
        },
        loses={UNI},
    ),
    Case(
        "unigram_perplexity: exp of the sum instead of the mean",
        replace={
            "unigram_perplexity": """
def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    counts = Counter(train_tokens)
    denom = len(train_tokens) + alpha * vocab_size
    nll = -sum(math.log((counts[c] + alpha) / denom) for c in eval_tokens)
    return math.exp(min(nll, 700.0))
"""
        },
        loses={UNI},
    ),
    # ------------------------------------------------------------------ bigram_perplexity
    Case(
        "bigram_perplexity: numpy count matrix with np.add.at (correct)",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    V = vocab_size
    y = np.asarray(train_tokens)
    x = np.asarray(eval_tokens)
    pair_counts = np.zeros((V, V))
    np.add.at(pair_counts, (y[:-1], y[1:]), 1)
    starts = pair_counts.sum(axis=1)  # bigrams starting with each token
    uni = np.bincount(y, minlength=V)
    log_p = [np.log((uni[x[0]] + alpha) / (len(y) + alpha * V))]
    a, b = x[:-1], x[1:]
    log_p.extend(np.log((pair_counts[a, b] + alpha) / (starts[a] + alpha * V)))
    return float(np.exp(-np.mean(log_p)))
"""
        },
    ),
    Case(
        "bigram_perplexity: torch bincount over pair indices (correct)",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    V = vocab_size
    y, x = torch.tensor(train_tokens), torch.tensor(eval_tokens)
    pairs = torch.bincount(y[:-1] * V + y[1:], minlength=V * V).view(V, V).double()
    cond = (pairs + alpha) / (pairs.sum(1, keepdim=True) + alpha * V)  # row a: P(. | a)
    uni = (torch.bincount(y, minlength=V).double() + alpha) / (len(y) + alpha * V)
    log_p = torch.cat([uni[x[:1]].log(), cond[x[:-1], x[1:]].log()])
    return torch.exp(-log_p.mean()).item()
"""
        },
    ),
    Case(
        "bigram_perplexity: dictionaries and an explicit index loop (correct)",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    pair, start, single = {}, {}, {}
    for i in range(len(train_tokens)):
        a = train_tokens[i]
        single[a] = single.get(a, 0) + 1
        if i + 1 < len(train_tokens):
            b = train_tokens[i + 1]
            pair[(a, b)] = pair.get((a, b), 0) + 1
            start[a] = start.get(a, 0) + 1
    V, n = vocab_size, len(eval_tokens)
    first = eval_tokens[0]
    total = math.log((single.get(first, 0) + alpha) / (len(train_tokens) + alpha * V))
    for t in range(1, n):
        a, b = eval_tokens[t - 1], eval_tokens[t]
        total += math.log((pair.get((a, b), 0) + alpha) / (start.get(a, 0) + alpha * V))
    return math.exp(-total / n)
"""
        },
    ),
    Case(
        "bigram_perplexity: count(a) over every training token, not bigram starts",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    unigrams = Counter(train_tokens)
    pairs = Counter(zip(train_tokens[:-1], train_tokens[1:]))
    first = eval_tokens[0]
    nll = -math.log((unigrams[first] + alpha) / (len(train_tokens) + alpha * vocab_size))
    for a, b in zip(eval_tokens[:-1], eval_tokens[1:]):
        nll -= math.log((pairs[a, b] + alpha) / (unigrams[a] + alpha * vocab_size))
    return math.exp(nll / len(eval_tokens))
"""
        },
        loses={BI},
    ),
    Case(
        "bigram_perplexity: smoothing forgets alpha * V in the denominator",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    unigrams = Counter(train_tokens)
    pairs = Counter(zip(train_tokens[:-1], train_tokens[1:]))
    starts = Counter(train_tokens[:-1])
    first = eval_tokens[0]
    nll = -math.log((unigrams[first] + alpha) / (len(train_tokens) + alpha * vocab_size))
    for a, b in zip(eval_tokens[:-1], eval_tokens[1:]):
        nll -= math.log((pairs[a, b] + alpha) / (starts[a] + alpha))
    return math.exp(nll / len(eval_tokens))
"""
        },
        loses={BI},
    ),
    Case(
        "bigram_perplexity: every token scored by the unigram model",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    unigrams = Counter(train_tokens)
    denom = len(train_tokens) + alpha * vocab_size
    nll = -sum(math.log((unigrams[c] + alpha) / denom) for c in eval_tokens)
    return math.exp(nll / len(eval_tokens))
"""
        },
        loses={BI},
    ),
    Case(
        "bigram_perplexity: off by one, the first eval token is not scored",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    pairs = Counter(zip(train_tokens[:-1], train_tokens[1:]))
    starts = Counter(train_tokens[:-1])
    nll, n = 0.0, 0
    for a, b in zip(eval_tokens[:-1], eval_tokens[1:]):
        nll -= math.log((pairs[a, b] + alpha) / (starts[a] + alpha * vocab_size))
        n += 1
    return math.exp(nll / max(n, 1))
"""
        },
        loses={BI},
    ),
    Case(
        "bigram_perplexity: the pair reversed, P(b | a) read as count(b, a)",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    unigrams = Counter(train_tokens)
    pairs = Counter(zip(train_tokens[1:], train_tokens[:-1]))
    starts = Counter(train_tokens[:-1])
    first = eval_tokens[0]
    nll = -math.log((unigrams[first] + alpha) / (len(train_tokens) + alpha * vocab_size))
    for a, b in zip(eval_tokens[:-1], eval_tokens[1:]):
        nll -= math.log((pairs[a, b] + alpha) / (starts[a] + alpha * vocab_size))
    return math.exp(nll / len(eval_tokens))
"""
        },
        loses={BI},
    ),
    Case(
        "bigram_perplexity: counts taken from the eval text",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    text = eval_tokens
    unigrams = Counter(text)
    pairs = Counter(zip(text[:-1], text[1:]))
    starts = Counter(text[:-1])
    nll = -math.log((unigrams[text[0]] + alpha) / (len(text) + alpha * vocab_size))
    for a, b in zip(text[:-1], text[1:]):
        nll -= math.log((pairs[a, b] + alpha) / (starts[a] + alpha * vocab_size))
    return math.exp(nll / len(text))
"""
        },
        loses={BI},
    ),
    Case(
        "unigram_perplexity: alpha ignored (no smoothing; inf on an unseen token)",
        replace={
            "unigram_perplexity": """
def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    counts = Counter(train_tokens)
    probs = [counts[c] / len(train_tokens) for c in eval_tokens]
    if min(probs) == 0:
        return math.inf
    return math.exp(-sum(math.log(p) for p in probs) / len(eval_tokens))
"""
        },
        loses={UNI},
    ),
    Case(
        "bigram_perplexity: the denominator adds alpha, not alpha * V",
        replace={
            "bigram_perplexity": """
def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    unigrams = Counter(train_tokens)
    pairs = Counter(zip(train_tokens[:-1], train_tokens[1:]))
    starts = Counter(train_tokens[:-1])
    nll = -math.log((unigrams[eval_tokens[0]] + alpha) / (len(train_tokens) + alpha * vocab_size))
    for a, b in zip(eval_tokens[:-1], eval_tokens[1:]):
        nll -= math.log((pairs[a, b] + alpha) / (starts[a] + alpha))
    return math.exp(nll / len(eval_tokens))
"""
        },
        loses={BI},
    ),
    # ------------------------------------------------------------------ hostile (issue 10)
    Case(
        "hostile: perplexity hard-coded from the visible worked examples",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    return 28.0 if logits.shape[-1] == 28 else 1.581139
"""
        },
        loses={PPL},
    ),
    Case(
        "hostile: pasting a visible-test helper (bigram_perplexity from the release cell's "
        "literal table of worked answers)",
        replace={
            "bigram_perplexity": """
_WORKED = {((0, 1, 0, 1, 1), (0, 1, 1)): 1.839283, ((0, 1, 0, 1, 1), (1,)): 1.75}


def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):
    return _WORKED.get((tuple(train_tokens), tuple(eval_tokens)), 2.0)
"""
        },
        loses={BI},
    ),
    Case(
        "hostile: pasting a visible-test helper (the release cell's _hint as perplexity)",
        replace={
            "perplexity": """
_DEFAULT = "perplexity = exp(mean over ALL positions of -log_softmax(logits)[target])"


def _hint(got, mistakes):
    try:
        g = float(got)
    except Exception:
        return _DEFAULT
    for hint, value in mistakes:
        if math.isfinite(value) and abs(g - value) <= 1e-4 * abs(value) + 1e-9:
            return hint
    return _DEFAULT


def perplexity(logits, targets):
    return _hint(logits, [])
"""
        },
        loses={PPL},
    ),
    Case(
        "hostile: frame peeking (returns the caller's `expected`, else a guess)",
        replace={
            "perplexity_from_probs": """
import sys


def perplexity_from_probs(p):
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("expected", "_expected", "want"):
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    return 1.0
"""
        },
        loses={PROBS},
        note="the visible checks pass their literal answers down; hidden ones call first",
    ),
    Case(
        "hostile: delegating to course_utils (perplexity through evaluate_perplexity and a "
        "module that replays the logits)",
        replace={
            "perplexity": """
def perplexity(logits, targets):
    flat = logits.reshape(-1, logits.shape[-1])
    tgt = targets.reshape(-1)

    class Replay(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, X, state):
            i = 0 if state is None else state
            return flat[i : i + X.shape[1]].unsqueeze(0), i + X.shape[1]

    corpus = torch.cat([tgt[:1], tgt])  # inputs corpus[:-1] are ignored, targets corpus[1:]
    return cu.train.evaluate_perplexity(Replay(), corpus, batch_size=1, num_steps=len(tgt))
"""
        },
        loses={PPL} if TRUSTED_CHECKS_WIRED else set(),
        note="right values: loses only once the trusted checks run (DISABLE)",
    ),
]
