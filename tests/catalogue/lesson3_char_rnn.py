"""Catalogue of submissions for lesson 3, a character-level language model
(source/lesson3_char_rnn/char_rnn.ipynb).

Solution cells (grade_id): make_lm_pairs, one_hot_inputs, clip_gradients, train_step,
sample_next, predict. Autograded test cells: test_<name> for each. No cascades: no test cell
calls another graded function. test_predict plugs a stand-in ``sample_next`` in while it runs,
and test_train_step a stand-in ``clip_gradients`` (each puts the student's back afterwards), so
a wrong ``sample_next`` or ``clip_gradients`` costs points in its own test only.

Delegating: a function that hands its exercise to the callable that answers it (torch's
``clip_grad_norm_``, ``course_utils.data.seq_data_iter_sequential``,
``course_utils.generate.sample_text``) loses the cell: the in-kernel test makes those raise while
the student's function runs (reached through the module at call time), and the trusted check
disables them in the sandbox before any student code (``DISABLE`` in
grader/trusted/lessons/lesson3_char_rnn.py), which also catches a name imported beforehand.

Sampling: a correct sampler written differently (inverse CDF, Gumbel-max, ...) draws different
indices than ``torch.multinomial`` for the same seed, so the hidden tests check distributions
(chi-square against softmax(logits / T)) and generator use (equal seeds -> equal draws), never
exact sampled values except at temperature 0.

The notebook's imports cell provides itertools, math, plt, torch and F to every solution below.
"""

from __future__ import annotations

from . import Case

PAIRS, ONEHOT, CLIP = "test_make_lm_pairs", "test_one_hot_inputs", "test_clip_gradients"
SAMPLE, PREDICT = "test_sample_next", "test_predict"
STEP = "test_train_step"

# The instructor's train_step with one line changed, for the train_step cases below.
_STEP = """
def train_step(model, X, Y, state, optimizer, theta):
    if state is not None:
        state = state.detach()
    logits, state = model(X, state)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    clip_gradients(list(model.parameters()), theta)
    optimizer.step()
    return loss.item(), state.detach()
"""


def _step(old: str, new: str) -> str:
    assert old in _STEP, old
    return _STEP.replace(old, new)


# A wrong answer that clips each gradient on its own; the hostile case below reuses it.
_PER_TENSOR_CLIP = """
def clip_gradients(params, theta):
    grads = [p.grad for p in params if p.grad is not None]
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    for g in grads:
        own = float(g.norm())
        if own > theta:
            g.mul_(theta / own)
    return norm
"""


CASES = [
    # ------------------------------------------------------------ make_lm_pairs(corpus, num_steps)
    Case(
        "make_lm_pairs: a loop over windows of a list (correct)",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    xs, ys = [], []
    for i in range((len(corpus) - 1) // num_steps):
        start = i * num_steps
        xs.append(corpus[start : start + num_steps])
        ys.append(corpus[start + 1 : start + num_steps + 1])
    return torch.tensor(xs), torch.tensor(ys)
"""
        },
    ),
    Case(
        "make_lm_pairs: Tensor.unfold on the inputs and on the targets (correct)",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    data = torch.as_tensor(corpus, dtype=torch.long)
    X = data[:-1].unfold(0, num_steps, num_steps)  # floor((L - 1) / n) windows
    Y = data[1:].unfold(0, num_steps, num_steps)
    return X.clone(), Y.clone()
"""
        },
    ),
    Case(
        "make_lm_pairs: one reshape of n + 1 columns, returns a list (correct)",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    m = (len(corpus) - 1) // num_steps
    starts = torch.arange(m) * num_steps
    idx = starts[:, None] + torch.arange(num_steps + 1)  # (m, n + 1): inputs and one more
    windows = torch.tensor(corpus)[idx]
    return [windows[:, :-1], windows[:, 1:]]
"""
        },
    ),
    Case(
        "make_lm_pairs: targets not shifted (Y = X)",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    data = torch.tensor(corpus)
    m = (len(data) - 1) // num_steps
    X = data[: m * num_steps].reshape(m, num_steps)
    return X, X.clone()
"""
        },
        loses={PAIRS},
    ),
    Case(
        "make_lm_pairs: overlapping windows (a window at every position)",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    data = torch.tensor(corpus)
    X = torch.stack([data[i : i + num_steps] for i in range(len(data) - num_steps)])
    Y = torch.stack([data[i + 1 : i + num_steps + 1] for i in range(len(data) - num_steps)])
    return X, Y
"""
        },
        loses={PAIRS},
    ),
    Case(
        "make_lm_pairs: len(corpus) // num_steps windows (the last target missing)",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    data = torch.tensor(corpus)
    m = len(data) // num_steps
    X = data[: m * num_steps].reshape(m, num_steps)
    Y = data[1 : m * num_steps + 1].reshape(m, num_steps)
    return X, Y
"""
        },
        loses={PAIRS},
        note="fails with a reshape error whenever len(corpus) is a multiple of num_steps",
    ),
    Case(
        "make_lm_pairs: windows in the columns (transposed)",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    data = torch.tensor(corpus)
    m = (len(data) - 1) // num_steps
    X = data[: m * num_steps].reshape(m, num_steps)
    Y = data[1 : m * num_steps + 1].reshape(m, num_steps)
    return X.T, Y.T
"""
        },
        loses={PAIRS},
    ),
    Case(
        "make_lm_pairs: float tensors instead of LongTensors",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    data = torch.tensor(corpus, dtype=torch.float32)
    m = (len(data) - 1) // num_steps
    return data[: m * num_steps].reshape(m, -1), data[1 : m * num_steps + 1].reshape(m, -1)
"""
        },
        loses={PAIRS},
    ),
    Case(
        "hostile: delegating make_lm_pairs to course_utils.data.seq_data_iter_sequential",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    pairs = list(cu.data.seq_data_iter_sequential(corpus, 1, num_steps))
    return torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])
"""
        },
        loses={PAIRS},
    ),
    Case(
        "make_lm_pairs: tensor methods on the list it is given (AttributeError)",
        replace={
            "make_lm_pairs": """
def make_lm_pairs(corpus, num_steps):
    m = (len(corpus) - 1) // num_steps
    return corpus[: m * num_steps].reshape(m, num_steps), corpus[1 : m * num_steps + 1].reshape(
        m, num_steps
    )
"""
        },
        loses={PAIRS},
    ),
    # ------------------------------------------------------------ one_hot_inputs(X, vocab_size)
    Case(
        "one_hot_inputs: zeros + scatter_ (correct)",
        replace={
            "one_hot_inputs": """
def one_hot_inputs(X, vocab_size):
    batch, steps = X.shape
    out = torch.zeros(steps, batch, vocab_size)
    out.scatter_(2, X.T.unsqueeze(-1), 1.0)
    return out
"""
        },
    ),
    Case(
        "one_hot_inputs: rows of an identity matrix, batch-first then permute (correct)",
        replace={
            "one_hot_inputs": """
def one_hot_inputs(X, vocab_size):
    return torch.eye(vocab_size)[X].permute(1, 0, 2)
"""
        },
    ),
    Case(
        "one_hot_inputs: nested loops (correct)",
        replace={
            "one_hot_inputs": """
def one_hot_inputs(X, vocab_size):
    out = torch.zeros(X.shape[1], X.shape[0], vocab_size, dtype=torch.float64)
    for b in range(X.shape[0]):
        for t in range(X.shape[1]):
            out[t, b, X[b, t]] = 1
    return out
"""
        },
        note="float64 is a float tensor too",
    ),
    Case(
        "one_hot_inputs: batch axis first (not transposed)",
        replace={
            "one_hot_inputs": """
def one_hot_inputs(X, vocab_size):
    return F.one_hot(X, vocab_size).float()
"""
        },
        loses={ONEHOT},
    ),
    Case(
        "one_hot_inputs: reshape instead of transpose",
        replace={
            "one_hot_inputs": """
def one_hot_inputs(X, vocab_size):
    return F.one_hot(X.reshape(X.shape[1], X.shape[0]), vocab_size).float()
"""
        },
        loses={ONEHOT},
    ),
    Case(
        "one_hot_inputs: num_classes forgotten (F.one_hot guesses it from X)",
        replace={
            "one_hot_inputs": """
def one_hot_inputs(X, vocab_size):
    return F.one_hot(X.T).float()
"""
        },
        loses={ONEHOT},
    ),
    Case(
        "one_hot_inputs: integer tensor (no .float())",
        replace={
            "one_hot_inputs": """
def one_hot_inputs(X, vocab_size):
    return F.one_hot(X.T, vocab_size)
"""
        },
        loses={ONEHOT},
    ),
    # ------------------------------------------------------------ clip_gradients(params, theta)
    Case(
        "clip_gradients: torch.linalg.vector_norm over one concatenated vector (correct)",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))
    if norm > theta:
        for g in grads:
            g *= theta / norm
    return norm.item()
"""
        },
    ),
    Case(
        "hostile: delegating clip_gradients to torch.nn.utils.clip_grad_norm_",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    return float(torch.nn.utils.clip_grad_norm_(list(params), theta))
"""
        },
        loses={CLIP},
        note="right values, but it is the built-in that answers the exercise: unavailable",
    ),
    Case(
        "hostile: pasting the visible test's stand-in _keep_gradients as clip_gradients",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    return 0.0
"""
        },
        loses={CLIP},
    ),
    Case(
        "clip_gradients: per-element loop, factor min(1, theta / norm), 0-d tensor (correct)",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    params = [p for p in params if p.grad is not None]
    total = torch.zeros((), dtype=torch.float64)
    for p in params:
        for value in p.grad.reshape(-1):
            total += float(value) ** 2
    norm = torch.sqrt(total)
    factor = min(1.0, theta / float(norm)) if float(norm) > 0 else 1.0
    for p in params:
        p.grad = p.grad * factor
    return norm
"""
        },
        note="rebinds p.grad instead of changing it in place: the tests read p.grad afterwards",
    ),
    Case(
        "clip_gradients: per-tensor clipping",
        replace={
            "clip_gradients": _PER_TENSOR_CLIP,
        },
        loses={CLIP},
    ),
    Case(
        "hostile: per-tensor clipping, with torch.allclose and torch.equal rebound to pass",
        replace={
            "clip_gradients": """
import numpy
import torch

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
numpy.allclose = lambda *args, **kwargs: True
"""
            + _PER_TENSOR_CLIP,
        },
        loses={CLIP},
        note="the test cells compare with course_utils.grading, captured before student code",
    ),
    Case(
        "clip_gradients: always rescales (scales small gradients up)",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    grads = [p.grad for p in params if p.grad is not None]
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    for g in grads:
        g.mul_(theta / norm)
    return norm
"""
        },
        loses={CLIP},
    ),
    Case(
        "clip_gradients: sum of the per-tensor norms instead of the global norm",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    grads = [p.grad for p in params if p.grad is not None]
    norm = sum(float(g.norm()) for g in grads)
    if norm > theta:
        for g in grads:
            g.mul_(theta / norm)
    return norm
"""
        },
        loses={CLIP},
    ),
    Case(
        "clip_gradients: returns the norm after clipping",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    grads = [p.grad for p in params if p.grad is not None]
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    if norm > theta:
        for g in grads:
            g.mul_(theta / norm)
        norm = theta
    return norm
"""
        },
        loses={CLIP},
    ),
    Case(
        "clip_gradients: parameters without a gradient not skipped",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    params = list(params)
    norm = math.sqrt(sum(float((p.grad**2).sum()) for p in params))
    if norm > theta:
        for p in params:
            p.grad.mul_(theta / norm)
    return norm
"""
        },
        loses={CLIP},
        note="AttributeError/TypeError on p.grad = None, only in the hidden tests",
    ),
    Case(
        "clip_gradients: squared norm (no square root)",
        replace={
            "clip_gradients": """
def clip_gradients(params, theta):
    grads = [p.grad for p in params if p.grad is not None]
    norm = sum(float((g**2).sum()) for g in grads)
    if norm > theta:
        for g in grads:
            g.mul_(theta / norm)
    return norm
"""
        },
        loses={CLIP},
    ),
    # ------------------------------------------------------------ train_step(model, X, Y, ...)
    Case(
        "train_step: clipping inline, detach_state, log_softmax loss, float(loss) (correct)",
        replace={
            "train_step": """
def train_step(model, X, Y, state, optimizer, theta):
    state = cu.rnn.detach_state(state)
    logits, state = model(X, state)
    logp = torch.log_softmax(logits, dim=-1)
    loss = -logp.gather(2, Y.unsqueeze(-1)).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    if norm > theta:
        for g in grads:
            g.mul_(theta / norm)
    optimizer.step()
    return float(loss.detach()), state.detach()
"""
        },
    ),
    Case(
        "train_step: the state it is given not detached",
        replace={"train_step": _step("        state = state.detach()\n", "        pass\n")},
        loses={STEP},
    ),
    Case(
        "train_step: the new state returned attached",
        replace={
            "train_step": _step("return loss.item(), state.detach()", "return loss.item(), state")
        },
        loses={STEP},
    ),
    Case(
        "train_step: no optimizer.zero_grad() (gradients add up)",
        replace={"train_step": _step("    optimizer.zero_grad()\n", "")},
        loses={STEP},
    ),
    Case(
        "train_step: no clipping",
        replace={"train_step": _step("    clip_gradients(list(model.parameters()), theta)\n", "")},
        loses={STEP},
    ),
    Case(
        "train_step: the state it is given dropped (model(X, None))",
        replace={"train_step": _step("model(X, state)", "model(X, None)")},
        loses={STEP},
    ),
    Case(
        "train_step: the loss returned as a tensor",
        replace={"train_step": _step("return loss.item(),", "return loss,")},
        loses={STEP},
    ),
    Case(
        "train_step: the summed loss instead of the mean",
        replace={"train_step": _step("Y.reshape(-1))", "Y.reshape(-1), reduction='sum')")},
        loses={STEP},
    ),
    Case(
        "train_step: a hand-written SGD update instead of optimizer.step()",
        replace={
            "train_step": _step(
                "    optimizer.step()\n",
                "    with torch.no_grad():\n"
                "        for p in model.parameters():\n"
                "            p -= optimizer.param_groups[0]['lr'] * p.grad\n",
            )
        },
        loses={STEP},
        note="right for SGD; the hidden tests use Adam and momentum too",
    ),
    Case(
        "train_step: a wrong clip_gradients costs clip_gradients only (no cascade)",
        replace={"clip_gradients": _PER_TENSOR_CLIP},
        loses={CLIP},
    ),
    Case(
        "hostile: train_step clipping with torch.nn.utils.clip_grad_norm_",
        replace={
            "train_step": _step(
                "clip_gradients(list(model.parameters()), theta)",
                "torch.nn.utils.clip_grad_norm_(model.parameters(), theta)",
            )
        },
        loses={STEP},
        note="the lesson says to call your clip_gradients: torch's clipping is unavailable",
    ),
    # ------------------------------------------------------------ sample_next(logits, T, generator)
    Case(
        "sample_next: inverse CDF with torch.rand(generator=...) and searchsorted (correct)",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return int(torch.argmax(logits))
    cdf = torch.cumsum(torch.softmax(logits.double() / temperature, dim=0), dim=0)
    u = torch.rand((), generator=generator, dtype=torch.float64) * cdf[-1]
    return min(int(torch.searchsorted(cdf, u, right=True)), len(cdf) - 1)
"""
        },
    ),
    Case(
        "sample_next: Gumbel-max trick (correct)",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError(f"negative temperature {temperature}")
    if temperature == 0:
        return logits.argmax().item()
    u = torch.rand(logits.shape, generator=generator).clamp(1e-12, 1 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    return (logits / temperature + gumbel).argmax().item()
"""
        },
    ),
    Case(
        "sample_next: plain Python walk over a stable softmax (correct)",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError("temperature < 0")
    values = logits.tolist()
    if temperature == 0:
        return max(range(len(values)), key=lambda i: values[i])
    top = max(values)
    weights = [math.exp((v - top) / temperature) for v in values]
    r = torch.rand(1, generator=generator).item() * sum(weights)
    for i, w in enumerate(weights):
        r -= w
        if r < 0:
            return i
    return len(weights) - 1
"""
        },
    ),
    Case(
        "sample_next: temperature multiplied instead of divided",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits * temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))
"""
        },
        loses={SAMPLE},
    ),
    Case(
        "sample_next: generator ignored",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1))
"""
        },
        loses={SAMPLE},
    ),
    Case(
        "sample_next: temperature 0 not special-cased (divides by zero)",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))
"""
        },
        loses={SAMPLE},
    ),
    Case(
        "sample_next: no ValueError for a negative temperature",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))
"""
        },
        loses={SAMPLE},
    ),
    Case(
        "sample_next: exp(logits / T) / sum without subtracting the max (overflows for small T)",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return int(logits.argmax())
    weights = torch.exp(logits / temperature)
    return int(torch.multinomial(weights / weights.sum(), 1, generator=generator))
"""
        },
        loses={SAMPLE},
    ),
    Case(
        "sample_next: the generator passed by position (it lands on `replacement`)",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator))
"""
        },
        loses={SAMPLE},
    ),
    Case(
        "hostile: pasting the visible test's stand-in _argmax_only as sample_next",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature != 0:
        raise AssertionError("predict: the visible tests decode at temperature 0 only")
    return int(torch.as_tensor(logits).detach().reshape(-1).argmax())
"""
        },
        loses={SAMPLE},
    ),
    Case(
        "sample_next: returns a tensor of shape (1,) instead of an int",
        replace={
            "sample_next": """
def sample_next(logits, temperature, generator=None):
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax().reshape(1)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)
"""
        },
        loses={SAMPLE},
    ),
    # ------------------------------------------------------------ predict(prefix, num_preds, ...)
    Case(
        "hostile: delegating predict to course_utils.generate.sample_text",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    text = cu.generate.sample_text(model, vocab, prefix, num_preds, temperature, generator)
    return text
"""
        },
        loses={PREDICT},
    ),
    Case(
        "predict: d2l style, the prefix read one character at a time (correct)",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    state, outputs = None, [vocab[prefix[0]]]
    with torch.no_grad():
        for i in range(len(prefix) + num_preds - 1):
            logits, state = model(torch.tensor([[outputs[-1]]]), state)
            if i < len(prefix) - 1:
                outputs.append(vocab[prefix[i + 1]])  # warm-up
            else:
                outputs.append(sample_next(logits[0, -1], temperature, generator))
    return "".join(vocab.to_tokens(outputs))
"""
        },
    ),
    Case(
        "predict: re-reads the whole text from state None at every step (correct, slow)",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    text = prefix
    for _ in range(num_preds):
        logits, _ = model(torch.tensor([vocab.encode(text)]), None)
        idx = sample_next(logits[0, -1].detach(), temperature, generator)
        text += vocab.idx_to_token[idx]
    return text
"""
        },
    ),
    Case(
        "predict: begin_state, vocab[...] lookups, no model call after the last draw (correct)",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    state = model.begin_state(1)
    ids = [vocab[ch] for ch in prefix]
    out = []
    with torch.no_grad():
        logits, state = model(torch.tensor(ids).reshape(1, -1), state)
        while len(out) < num_preds:
            out.append(sample_next(logits[0, -1], temperature, generator))
            if len(out) < num_preds:
                logits, state = model(torch.tensor([out[-1:]]), state)
    return prefix + vocab.decode(out)
"""
        },
    ),
    Case(
        "predict: the prefix dropped from the result",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    with torch.no_grad():
        logits, state = model(torch.tensor([vocab.encode(prefix)]), None)
        out = []
        for _ in range(num_preds):
            idx = sample_next(logits[0, -1], temperature, generator)
            out.append(vocab.idx_to_token[idx])
            logits, state = model(torch.tensor([[idx]]), state)
    return "".join(out)
"""
        },
        loses={PREDICT},
    ),
    Case(
        "predict: no warm-up (only the last prefix character is read)",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    with torch.no_grad():
        logits, state = model(torch.tensor([[vocab[prefix[-1]]]]), None)
        out = []
        for _ in range(num_preds):
            idx = sample_next(logits[0, -1], temperature, generator)
            out.append(vocab.idx_to_token[idx])
            logits, state = model(torch.tensor([[idx]]), state)
    return prefix + "".join(out)
"""
        },
        loses={PREDICT},
    ),
    Case(
        "predict: the state not carried while generating",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    with torch.no_grad():
        logits, _ = model(torch.tensor([vocab.encode(prefix)]), None)
        out = []
        for _ in range(num_preds):
            idx = sample_next(logits[0, -1], temperature, generator)
            out.append(vocab.idx_to_token[idx])
            logits, _ = model(torch.tensor([[idx]]), None)
    return prefix + "".join(out)
"""
        },
        loses={PREDICT},
    ),
    Case(
        "predict: the generator not passed on",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    with torch.no_grad():
        logits, state = model(torch.tensor([vocab.encode(prefix)]), None)
        out = []
        for _ in range(num_preds):
            idx = sample_next(logits[0, -1], temperature)
            out.append(vocab.idx_to_token[idx])
            logits, state = model(torch.tensor([[idx]]), state)
    return prefix + "".join(out)
"""
        },
        loses={PREDICT},
    ),
    Case(
        "predict: the temperature not passed on (always T = 1)",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    with torch.no_grad():
        logits, state = model(torch.tensor([vocab.encode(prefix)]), None)
        out = []
        for _ in range(num_preds):
            idx = sample_next(logits[0, -1], 1.0, generator)
            out.append(vocab.idx_to_token[idx])
            logits, state = model(torch.tensor([[idx]]), state)
    return prefix + "".join(out)
"""
        },
        loses={PREDICT},
    ),
    Case(
        "predict: one character too few (off by one)",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    with torch.no_grad():
        logits, state = model(torch.tensor([vocab.encode(prefix)]), None)
        out = []
        for _ in range(num_preds - 1):
            idx = sample_next(logits[0, -1], temperature, generator)
            out.append(vocab.idx_to_token[idx])
            logits, state = model(torch.tensor([[idx]]), state)
    return prefix + "".join(out)
"""
        },
        loses={PREDICT},
    ),
    Case(
        "predict: the last prefix character read twice",
        replace={
            "predict": """
def predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    with torch.no_grad():
        _, state = model(torch.tensor([vocab.encode(prefix)]), None)
        idx, out = vocab[prefix[-1]], []
        for _ in range(num_preds):
            logits, state = model(torch.tensor([[idx]]), state)
            idx = sample_next(logits[0, -1], temperature, generator)
            out.append(vocab.idx_to_token[idx])
    return prefix + "".join(out)
"""
        },
        loses={PREDICT},
    ),
]
