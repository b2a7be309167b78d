"""Trusted checks of lesson 4, perplexity (``perplexity.ipynb``).

One check per autograded test cell. The inputs are drawn from the secret seed (their shapes,
vocabulary sizes, smoothing constants and lengths too, so an answer hard-coded for the visible
worked examples fails), the student's functions run in the sandbox, and every reference is
computed here in float64 by its own formula: ``torch.logsumexp`` for the log-softmax, plain
``math.log`` / ``math.exp`` and ``dict`` counting for the n-gram models. Nothing here imports
``course_utils``.

A judge gives full marks to any right answer: a Python float, a numpy float, an int or a
one-element tensor, within a relative tolerance of 1e-4 (float32 arithmetic is fine), ``inf``
where the answer is infinite. When a value is wrong, the judge names the typical mistake whose
value it matches (exp of the sum, mixed log bases, counts taken from the evaluation text...).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from grader.trusted.lessons._common import describe, number
from grader.trusted.spec import Call, Check, Outcome

NOTEBOOK = "perplexity.ipynb"
# Code cell 0 is ``import course_utils as cu; cu.setup_notebook()``, code cell 1 the imports the
# solutions rely on (math, Counter, np, torch, F, course_utils.*).
SETUP_CELLS = 2
# ``evaluate_perplexity`` scores any module's logits: a module that replays the given logits turns
# it into an answer to ``perplexity``. Nothing else in course_utils computes a perplexity or
# counts n-grams; the torch built-ins the lesson teaches (F.cross_entropy, log_softmax) stay.
DISABLE: tuple[str, ...] = ("course_utils.train.evaluate_perplexity",)

RTOL = 1e-4


# --------------------------------------------------------------------------- comparisons


def _matches(got: float, want: float) -> bool:
    if math.isnan(got) or math.isnan(want):
        return False
    if math.isinf(want) or math.isinf(got):
        return got == want
    return abs(got - want) <= RTOL * abs(want) + 1e-9


def _judge_numbers(
    fn: str,
    outcomes: list[Outcome],
    cases: list[tuple[str, float, list[tuple[str, float]]]],
    general: str,
) -> str | None:
    """Compare each outcome with its case: (what, expected, [(hint, wrong value), ...])."""
    for outcome, (what, want, mistakes) in zip(outcomes, cases, strict=True):
        if outcome.error is not None:
            return f"{fn} raised {outcome.error} on {what}; {general}"
        got = number(outcome.value)
        if got is None:
            return f"{fn} should return a single number for {what}, got {describe(outcome.value)}"
        if _matches(got, want):
            continue
        hint = next(
            (h for h, wrong in mistakes if math.isfinite(wrong) and _matches(got, wrong)), general
        )
        return f"{fn}: wrong value for {what}: expected {want:.6g}, got {got:.6g}; {hint}"
    return None


def _safe(compute: Callable[[], float]) -> float:
    """A mistake's value, or NaN when that mistake cannot even be computed on this input."""
    try:
        return float(compute())
    except (ArithmeticError, ValueError):
        return math.nan


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else math.inf


# --------------------------------------------------------------------------- perplexity

PPL_GENERAL = (
    "perplexity = exp(mean over ALL positions of -log_softmax(logits)[target]) with the natural "
    "log; flatten logits to (N, V) and targets to (N,) first"
)


def _perplexity_case(logits: torch.Tensor, targets: torch.Tensor, what: str):
    flat = logits.reshape(-1, logits.shape[-1]).double()  # (N, V)
    tgt = targets.reshape(-1)  # (N,)
    picked = flat.gather(1, tgt[:, None])[:, 0]  # (N,)
    nll = torch.logsumexp(flat, dim=1) - picked  # (N,) -log softmax(logits)[target]
    mean = float(nll.mean())
    mistakes = [
        ("you took exp of the SUM of the losses; perplexity uses the MEAN", _exp(float(nll.sum()))),
        ("mixed log bases: 2 ** (mean natural-log loss); use exp with the natural log", 2**mean),
        (
            "you averaged per-token perplexities exp(loss_t); take exp of the MEAN loss",
            float(nll.exp().mean()),
        ),
        ("you returned the cross-entropy itself; perplexity is its exp", mean),
        (
            "the logits are not log-probabilities: apply log_softmax (or use F.cross_entropy)",
            _exp(-float(picked.mean())),
        ),
    ]
    return what, math.exp(mean), mistakes


def _check_perplexity(gen: torch.Generator) -> Check:
    calls, cases = [], []
    for k in range(5):
        ndim = 1 + k % 3  # (N,), (B, T), (B, T, extra)
        shape = tuple(int(s) for s in torch.randint(1, 7, (ndim,), generator=gen))
        V = int(torch.randint(2, 33, (1,), generator=gen))
        scale = float(torch.rand((), generator=gen)) * 4 + 0.1
        logits = scale * torch.randn(*shape, V, generator=gen)
        if k % 2:
            logits = logits.double()
        targets = torch.randint(0, V, shape, generator=gen)
        what = f"random {logits.dtype} logits of shape {tuple(logits.shape)}"
        calls.append(Call("perplexity", (logits, targets)))
        cases.append(_perplexity_case(logits, targets, what))
    # Confident and right: close to 1.
    targets = torch.randint(0, 6, (3, 5), generator=gen)
    logits = torch.full((3, 5, 6), -15.0).scatter(-1, targets[..., None], 15.0)
    calls.append(Call("perplexity", (logits, targets)))
    cases.append(_perplexity_case(logits, targets, "confident, correct logits (about 1)"))

    def judge(outcomes: list[Outcome]) -> str | None:
        return _judge_numbers("perplexity", outcomes, cases, PPL_GENERAL)

    return Check("test_perplexity", calls, judge)


# --------------------------------------------------------------------------- perplexity_from_probs

PROBS_GENERAL = "perplexity = exp(-mean(log p)) with the natural log (the geometric mean of 1/p)"


def _probs_case(p: torch.Tensor, what: str):
    values = [float(x) for x in p.double().reshape(-1)]
    count = len(values)
    if min(values) == 0.0:
        return what, math.inf, []
    neg_log = [-math.log(x) for x in values]
    mean = sum(neg_log) / count
    mistakes = [
        ("you took exp of the SUM of -log p; perplexity uses the MEAN", _exp(sum(neg_log))),
        (
            "you averaged 1/p (per-token perplexities); take exp of the mean of -log p",
            sum(1 / x for x in values) / count,
        ),
        ("1 / mean(p) is not perplexity; average the LOGS: exp(-mean(log p))", count / sum(values)),
        ("mixed log bases: use exp with the natural log, or 2 ** with log2", 2**mean),
        ("you returned -mean(log p), the cross-entropy; perplexity is its exp", mean),
    ]
    return what, math.exp(mean), mistakes


def _check_from_probs(gen: torch.Generator) -> Check:
    calls, cases = [], []
    for k in range(4):
        ndim = 1 + k % 3
        shape = tuple(int(s) for s in torch.randint(1, 6, (ndim,), generator=gen))
        low = float(torch.rand((), generator=gen)) * 0.3 + 0.01
        p = low + (1 - low) * torch.rand(*shape, generator=gen, dtype=torch.float64)
        if k % 2:
            p = p.float()
        calls.append(Call("perplexity_from_probs", (p,)))
        cases.append(_probs_case(p, f"random {p.dtype} probabilities of shape {tuple(shape)}"))
    V = int(torch.randint(2, 40, (1,), generator=gen))
    p = torch.full((int(torch.randint(1, 9, (1,), generator=gen)),), 1.0 / V, dtype=torch.float64)
    calls.append(Call("perplexity_from_probs", (p,)))
    cases.append(_probs_case(p, f"every p = 1/{V} (expected {V})"))
    p = torch.rand(2, 3, generator=gen, dtype=torch.float64) * 0.9 + 0.1
    p[int(torch.randint(0, 2, (1,), generator=gen)), 1] = 0.0
    calls.append(Call("perplexity_from_probs", (p,)))
    cases.append(_probs_case(p, "a (2, 3) tensor with one p = 0 (expected inf)"))

    def judge(outcomes: list[Outcome]) -> str | None:
        return _judge_numbers("perplexity_from_probs", outcomes, cases, PROBS_GENERAL)

    return Check("test_perplexity_from_probs", calls, judge)


# --------------------------------------------------------------------------- bits_per_char

BITS_GENERAL = "bits per character = log2(perplexity)"


def _bits_case(ppl: float, what: str):
    if math.isinf(ppl):
        return what, math.inf, []
    mistakes = [
        ("you used the natural log (nats); bits need log base 2", math.log(ppl)),
        ("you used log base 10; bits need log base 2", math.log10(ppl)),
        (
            "you multiplied the perplexity by log2(e); convert the LOG of it: ln(ppl) / ln 2",
            ppl / math.log(2.0),
        ),
        ("2 ** ppl goes the wrong way; bits per character is log2(ppl)", _safe(lambda: 2.0**ppl)),
    ]
    return what, math.log(ppl) / math.log(2.0), mistakes


def _check_bits(gen: torch.Generator) -> Check:
    ppls = [1 + float(x) * 60 for x in torch.rand(5, generator=gen, dtype=torch.float64)]
    ppls += [2.0 ** int(torch.randint(3, 12, (1,), generator=gen)), 1.0, math.inf]
    calls = [Call("bits_per_char", (p,)) for p in ppls]
    cases = [_bits_case(p, f"perplexity {p:.6g}") for p in ppls]

    def judge(outcomes: list[Outcome]) -> str | None:
        return _judge_numbers("bits_per_char", outcomes, cases, BITS_GENERAL)

    return Check("test_bits_per_char", calls, judge)


# --------------------------------------------------------------------------- n-gram texts


def _text(gen: torch.Generator, V: int, length: int, skew: float) -> list[int]:
    """``length`` tokens in range(V), drawn with uneven frequencies (``skew`` >= 0)."""
    weights = torch.rand(V, generator=gen, dtype=torch.float64) ** skew + 1e-3
    return [int(t) for t in torch.multinomial(weights, length, replacement=True, generator=gen)]


def _counts(tokens) -> dict:
    out: dict = {}
    for t in tokens:
        out[t] = out.get(t, 0) + 1
    return out


def _ngram_inputs(gen: torch.Generator, count: int):
    """(train, eval, V, alpha) tuples: V, alpha and the lengths drawn from the seed."""
    alphas = (1.0, 0.5, 0.1, 2.0, 0.01, 1.0)
    out = []
    for k in range(count):
        V = int(torch.randint(2, 30, (1,), generator=gen))
        train = _text(gen, V, int(torch.randint(20, 400, (1,), generator=gen)), 2.0)
        evals = _text(gen, V, int(torch.randint(1, 120, (1,), generator=gen)), 0.5)
        out.append((train, evals, V, alphas[k % len(alphas)]))
    return out


def _ngram_calls(gen: torch.Generator, fn: str, case: Callable):
    """Calls of ``fn`` on four random (train, eval, V, alpha) inputs and one more with the default
    alpha; returns (calls, cases, (train, eval, V) of that last one)."""
    calls, cases = [], []
    for train, evals, V, alpha in _ngram_inputs(gen, 4):
        calls.append(Call(fn, (train, evals, V, alpha)))
        what = f"V = {V}, alpha = {alpha}, {len(train)} train and {len(evals)} eval tokens"
        cases.append(case(train, evals, V, alpha, what))
    train, evals, V, _ = _ngram_inputs(gen, 1)[0]
    calls.append(Call(fn, (train, evals, V)))
    cases.append(case(train, evals, V, 1.0, f"V = {V} with the default alpha (1.0)"))
    return calls, cases, (train, evals, V)


# --------------------------------------------------------------------------- unigram_perplexity

UNI_GENERAL = (
    "P(c) = (count of c in TRAIN + alpha) / (len(train) + alpha * V), and perplexity = "
    "exp(mean over EVAL tokens of -log P(c))"
)


def _unigram_ppl(train, evals, V, alpha, *, av=True, use_alpha=True, from_eval=False) -> float:
    """Reference unigram perplexity (or a deliberately wrong variant), by direct formula."""
    source = evals if from_eval else train
    counts, total = _counts(source), len(source)
    a = alpha if use_alpha else 0.0
    den = total + (a * V if av else 0.0)
    neg_log = 0.0
    for c in evals:
        p = (counts.get(c, 0) + a) / den if den > 0 else 0.0
        if p <= 0:
            return math.inf
        neg_log -= math.log(p)
    return _exp(neg_log / len(evals))


def _unigram_case(train, evals, V, alpha, what):
    want = _unigram_ppl(train, evals, V, alpha)
    mistakes = [
        (
            "the denominator lacks alpha * V: P(c) = (count + alpha) / (len(train) + alpha * V)",
            _unigram_ppl(train, evals, V, alpha, av=False),
        ),
        (
            "the counts must come from train_tokens, not from eval_tokens",
            _unigram_ppl(train, evals, V, alpha, from_eval=True),
        ),
        ("alpha was ignored (no smoothing)", _unigram_ppl(train, evals, V, alpha, use_alpha=False)),
        (
            "mixed log bases: log2 of the probabilities with exp (or ln with 2 **); use one base",
            _safe(lambda: want ** (1 / math.log(2))),
        ),
        (
            "you took exp of the SUM of -log P; perplexity uses the MEAN over eval tokens",
            _safe(lambda: want ** len(evals)),
        ),
    ]
    return what, want, mistakes


def _check_unigram(gen: torch.Generator) -> Check:
    calls, cases, (train, _, V) = _ngram_calls(gen, "unigram_perplexity", _unigram_case)
    # Plain counts (alpha = 0) on tokens all seen in training.
    seen = sorted(set(train))
    evals = [seen[i % len(seen)] for i in range(len(seen) + 3)]
    calls.append(Call("unigram_perplexity", (train, evals, V, 0.0)))
    cases.append(_unigram_case(train, evals, V, 0.0, f"V = {V}, alpha = 0 (plain counts)"))

    def judge(outcomes: list[Outcome]) -> str | None:
        return _judge_numbers("unigram_perplexity", outcomes, cases, UNI_GENERAL)

    return Check("test_unigram_perplexity", calls, judge)


# --------------------------------------------------------------------------- bigram_perplexity

BI_GENERAL = (
    "score x_1 with the smoothed unigram model, then each x_t with P(x_t | x_{t-1}) = "
    "(count(x_{t-1}, x_t) + alpha) / (count(x_{t-1}) + alpha * V), counts from TRAIN, "
    "count(a) = bigrams starting with a; average -log P over ALL eval tokens, then exp"
)


def _bigram_neg_logs(train, evals, V, alpha, *, starts_all=False, bigram_av=None,
                     unigram_av=True, reverse=False, skip_first=False) -> list[float]:  # fmt: skip
    """-log P of every eval token under the reference bigram model (or a wrong variant)."""
    bigram_av = alpha * V if bigram_av is None else bigram_av
    unigrams = _counts(train)
    pairs = _counts(zip(train[:-1], train[1:], strict=True))
    starts = _counts(train if starts_all else train[:-1])
    den = len(train) + (alpha * V if unigram_av else 0.0)
    p1 = (unigrams.get(evals[0], 0) + alpha) / den if den > 0 else 0.0
    out = [] if skip_first else [-math.log(p1) if p1 > 0 else math.inf]
    for a, b in zip(evals[:-1], evals[1:], strict=True):
        if reverse:
            a, b = b, a
        num, d = pairs.get((a, b), 0) + alpha, starts.get(a, 0) + bigram_av
        out.append(-math.log(num / d) if num > 0 and d > 0 else math.inf)
    return out


def _mean_exp(neg_logs: list[float]) -> float:
    return _exp(sum(neg_logs) / len(neg_logs)) if neg_logs else math.nan


def _bigram_case(train, evals, V, alpha, what):
    def wrong(**how) -> float:
        return _mean_exp(_bigram_neg_logs(train, evals, V, alpha, **how))

    uni_only = _counts(train)
    den = len(train) + alpha * V
    mistakes = [
        (
            "count(a) must count BIGRAMS starting with a (train[:-1]), not every a in train",
            wrong(starts_all=True),
        ),
        (
            "the denominator lacks alpha * V: (count(a, b) + alpha) / (count(a) + alpha * V)",
            wrong(bigram_av=0.0),
        ),
        (
            "the denominator adds alpha, not alpha * V: use count(a) + alpha * V",
            wrong(bigram_av=alpha),
        ),
        (
            "the denominators lack alpha * V: P(b | a) = (count(a, b) + alpha) / "
            "(count(a) + alpha * V) and P(x_1) = (count(x_1) + alpha) / (len(train) + alpha * V)",
            wrong(bigram_av=0.0, unigram_av=False),
        ),
        (
            "the unigram part lacks alpha * V: P(x_1) = (count(x_1) + alpha) / "
            "(len(train) + alpha * V)",
            wrong(unigram_av=False),
        ),
        (
            "every token was scored by the unigram model; condition on the previous eval token",
            _safe(
                lambda: _exp(
                    -sum(math.log((uni_only.get(c, 0) + alpha) / den) for c in evals) / len(evals)
                )
            ),
        ),
        (
            "the pair is reversed: score P(x_t | x_{t-1}) with count(x_{t-1}, x_t)",
            wrong(reverse=True),
        ),
        (
            "off by one: the first eval token was not scored (or not counted in the mean); "
            "score it with the unigram model and divide by the number of ALL eval tokens",
            wrong(skip_first=True),
        ),
        (
            "the counts must come from train_tokens, not from eval_tokens",
            _mean_exp(_bigram_neg_logs(list(evals), evals, V, alpha))
            if len(evals) > 1
            else math.nan,
        ),
    ]
    return what, _mean_exp(_bigram_neg_logs(train, evals, V, alpha)), mistakes


def _check_bigram(gen: torch.Generator) -> Check:
    calls, cases, (train, evals, V) = _ngram_calls(gen, "bigram_perplexity", _bigram_case)
    calls.append(Call("bigram_perplexity", (train, evals[:1], V, 0.5)))
    cases.append(_bigram_case(train, evals[:1], V, 0.5, "a single eval token (unigram part only)"))
    # A periodic text with a tiny alpha: nearly certain of every next token.
    period = int(torch.randint(3, 7, (1,), generator=gen))
    train = list(range(period)) * 40
    evals = [(i + 1) % period for i in range(int(torch.randint(4, 30, (1,), generator=gen)))]
    calls.append(Call("bigram_perplexity", (train, evals, period + 2, 0.01)))
    cases.append(_bigram_case(train, evals, period + 2, 0.01, "a periodic text (nearly certain)"))

    def judge(outcomes: list[Outcome]) -> str | None:
        return _judge_numbers("bigram_perplexity", outcomes, cases, BI_GENERAL)

    return Check("test_bigram_perplexity", calls, judge)


# --------------------------------------------------------------------------- all checks


def checks(seed: int) -> list[Check]:
    """One Check per autograded test cell, in notebook order; inputs drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return [
        _check_perplexity(gen),
        _check_from_probs(gen),
        _check_bits(gen),
        _check_unigram(gen),
        _check_bigram(gen),
    ]
