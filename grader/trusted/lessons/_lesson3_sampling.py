"""The trusted checks of lesson 3's ``sample_next`` and ``predict``.

``sample_next(logits, temperature, generator)``: one draw per call, each call with a generator
seeded from the secret seed (``Generator``). The draws of one setting are tested together with
Pearson's chi-square against softmax(logits / temperature), computed here in float64; the hints
test them against typical mistakes (temperature multiplied, temperature ignored). The harness
seeds torch's global generator the same way before every call, so a sampler that ignores its
generator draws the same index every time and fails the distribution test. Reproducibility: the
same seed twice must give the same index.

``predict(prefix, num_preds, model, vocab, temperature, generator)``: a trusted model and vocab
built in the sandbox, a right ``sample_next`` swapped in; the text is compared with our own
generation (our forward pass of the same weights, the same reference sampler, a generator with
the same seed).
"""

from __future__ import annotations

import math

import torch

from grader.trusted.lessons._lesson3_common import error_message, randint
from grader.trusted.lessons._lesson3_step import (
    CHAR_RNN,
    NAMES,
    SCRATCH,
    draw_weights,
    reference_forward,
)
from grader.trusted.spec import Call, Check, Generator, Model, Outcome, VocabOf

# --------------------------------------------------------------------------- sample_next


def _softmax(values: list[float], scale: float) -> list[float]:
    scaled = [v * scale for v in values]
    top = max(scaled)
    exps = [math.exp(v - top) for v in scaled]
    total = sum(exps)
    return [e / total for e in exps]


MIN_EXPECTED = 5.0  # Cochran's rule: Pearson's statistic needs about 5 expected draws per bin


def _chi2(draws: list[int], probs: list[float]) -> tuple[float, int]:
    """Pearson's chi-square of ``draws`` against ``probs``, and its degrees of freedom.

    Categories expected fewer than ``MIN_EXPECTED`` times are pooled into one bin (grown with the
    next smallest category until it reaches that count): one draw of a category expected 0.01
    times would otherwise add 98 to the statistic, and a right sampler failed for about 1 secret
    seed in 130. A draw of a category that cannot happen (probability ~0) is still infinite.
    """
    n, counts = len(draws), [0] * len(probs)
    for i in draws:
        counts[i] += 1
    if any(c and p * n < 1e-9 for c, p in zip(counts, probs, strict=True)):
        return math.inf, 1
    bins = sorted(((p * n, c) for c, p in zip(counts, probs, strict=True)), reverse=True)
    pooled = [0.0, 0]
    while bins and (bins[-1][0] < MIN_EXPECTED or pooled[0] and pooled[0] < MIN_EXPECTED):
        expected, count = bins.pop()
        pooled = [pooled[0] + expected, pooled[1] + count]
    if pooled[0] > 0:
        bins.append((pooled[0], pooled[1]))
    stat = sum((c - e) ** 2 / e for e, c in bins)
    return stat, max(1, len(bins) - 1)


def _limit(df: int) -> float:
    """A chi-square bound that a right sampler exceeds with probability about 1e-6."""
    return df + 6.0 * math.sqrt(2.0 * df) + 12.0


def _index(value, V: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < V else None
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point():
        i = int(value)
        return i if 0 <= i < V else None
    return None


def sample_next_check(gen: torch.Generator) -> Check:
    """The Check of ``test_sample_next``."""
    calls: list[Call] = []
    groups: list[tuple[str, dict, slice]] = []

    def add(kind: str, info: dict, new_calls: list[Call]) -> None:
        groups.append((kind, info, slice(len(calls), len(calls) + len(new_calls))))
        calls.extend(new_calls)

    def seeds(n: int) -> list[int]:
        return torch.randint(0, 2**31 - 1, (n,), generator=gen).tolist()

    for temperature, generator in ((0.0, None), (0, Generator(seeds(1)[0]))):
        logits = 2 * torch.randn(randint(gen, 4, 9), generator=gen)
        add(
            "greedy",
            {"logits": logits, "t": temperature},
            [Call("sample_next", args=(logits, temperature, generator))],
        )
    for temperature in (-0.5, -1e-3):
        add(
            "negative",
            {"t": temperature},
            [Call("sample_next", args=(torch.randn(5, generator=gen), temperature, None))],
        )

    def uniform(low: float, high: float) -> float:
        return round(low + (high - low) * float(torch.rand(1, generator=gen)), 3)

    settings = [
        (1.5 * torch.randn(randint(gen, 4, 7), generator=gen), uniform(0.35, 0.6), 600),
        (2.0 * torch.randn(randint(gen, 4, 7), generator=gen), uniform(1.6, 2.2), 600),
        (40.0 + 5 * torch.randn(6, generator=gen), 0.5, 200),  # exp(logits / T) overflows
    ]
    for logits, temperature, n in settings:
        add(
            "distribution",
            {"logits": logits, "t": temperature},
            [Call("sample_next", args=(logits, temperature, Generator(s))) for s in seeds(n)],
        )
    logits = torch.randn(7, generator=gen)
    logits[int(logits.argmax())] += 0.6  # a clear winner: at temperature 0.01 it always wins
    add(
        "tiny",
        {"logits": logits, "t": 0.01},
        [Call("sample_next", args=(logits, 0.01, Generator(s))) for s in seeds(5)],
    )
    logits = torch.randn(6, generator=gen)
    twice = [s for s in seeds(10) for _ in range(2)]
    add(
        "seeded",
        {"logits": logits, "t": 1.0},
        [Call("sample_next", args=(logits, 1.0, Generator(s))) for s in twice],
    )

    def judge(outcomes: list[Outcome]) -> str | None:
        for kind, info, where in groups:
            message = _judge_group(kind, info, outcomes[where])
            if message:
                return message
        return None

    return Check("test_sample_next", calls, judge)


def _judge_group(kind: str, info: dict, outcomes: list[Outcome]) -> str | None:
    t = info["t"]
    what = f"temperature {t}"
    if kind == "negative":
        error = outcomes[0].error or ""
        if not error.startswith("ValueError"):
            got = f"it raised {error}" if error else f"it returned {outcomes[0].value!r}"
            return f"sample_next: {what}: raise ValueError for a negative temperature ({got})"
        return None
    logits = info["logits"]
    V = len(logits)
    draws = []
    for out in outcomes:
        message = error_message("sample_next", out, what)
        if message:
            if "Generator" in message and "multinomial" in message:
                message += "; pass the generator by name: generator=generator"
            elif "inf" in message or "nan" in message:
                message += "; use torch.softmax(logits / temperature, dim=-1)"
            return message
        index = _index(out.value, V)
        if index is None:
            return (
                f"sample_next: {what}: expected a Python int in range({V}), got "
                f"{out.value!r}; return int(...) of the drawn index"
            )
        draws.append(index)
    values = [float(v) for v in logits.double()]
    best = max(range(V), key=lambda i: values[i])
    if kind in ("greedy", "tiny"):
        if any(d != best for d in draws):
            return (
                f"sample_next: {what}: expected the argmax {best}, got {draws}; temperature 0 "
                "is greedy, and a tiny temperature puts nearly all the mass on the argmax"
            )
        return None
    if kind == "seeded":
        if any(draws[i] != draws[i + 1] for i in range(0, len(draws), 2)):
            return (
                f"sample_next: {what}: two generators seeded alike drew different indices; "
                "draw with the generator you are given (generator=generator)"
            )
        return None
    stat, df = _chi2(draws, _softmax(values, 1.0 / t))
    limit = _limit(df)
    if stat <= limit:
        return None

    def fits(probs: list[float]) -> bool:
        stat, df = _chi2(draws, probs)
        return stat <= _limit(df)

    if len(set(draws)) == 1:
        hint = (
            "every draw is the same index: sample at temperature > 0, with the generator "
            "you are given (generator=generator)"
        )
    elif fits(_softmax(values, t)):
        hint = "the temperature is multiplied: divide the logits by it"
    elif fits(_softmax(values, 1.0)):
        hint = "the temperature is ignored: draw from softmax(logits / temperature)"
    else:
        hint = "draw from softmax(logits / temperature)"
    return (
        f"sample_next: {what}: {len(draws)} draws do not follow softmax(logits / temperature) "
        f"(chi-square {stat:.1f} > {limit:.1f}); {hint}"
    )


# --------------------------------------------------------------------------- predict


def _reference_draw(logits: torch.Tensor, temperature: float, generator) -> int:
    logits = logits.detach().reshape(-1).double()
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=0)
    return int(torch.multinomial(probs, 1, generator=generator))


def _generate(case: dict, seed: int | None) -> str:
    """Our continuation of the prefix: warm up on it, then draw and feed back one at a time."""
    tokens = case["idx_to_token"]
    index = {tok: i for i, tok in enumerate(tokens)}
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    with torch.no_grad():
        X = torch.tensor([[index[ch] for ch in case["prefix"]]])
        logits, state = reference_forward(case["kind"], case["weights"], X, None)
        out = []
        for _ in range(case["n"]):
            i = _reference_draw(logits[0, -1], case["t"], generator)
            out.append(tokens[i])
            logits, state = reference_forward(
                case["kind"], case["weights"], torch.tensor([[i]]), state
            )
    return case["prefix"] + "".join(out)


NEAR_TIE = 1e-4  # relative margin of a draw that float rounding may break either way
# The predict cases' recurrences are chaotic (W_hh ~ N(0, 1)): that is what makes any mistake in
# the state (no warm-up, a state not carried) change the text within a few characters. It also
# makes float32 rounding grow: over 1,000 seeds, two float32 implementations' probabilities
# differed by up to 6.7e-5 after 10 steps and 64% after 48, past NEAR_TIE (the instructor's own
# predict once failed a CI run at its 40th character). So the margin of each replayed step
# also grows with how far our float32 run has drifted from our float64 run at that step:
# another float32 implementation's drift was at most 83x ours (p99.9 49x, 500 seeds), hence
# DRIFT_FACTOR. Mistakes differ by far more, from the first characters on, where both are tiny.
DRIFT_FACTOR = 1000.0


def _rel_drift(logits32: torch.Tensor, logits64: torch.Tensor, temperature: float) -> float:
    """Largest relative difference between the two runs' probabilities (greedy: logits)."""
    a, b = logits32.reshape(-1).double(), logits64.reshape(-1)
    if temperature == 0:
        return float((a - b).abs().max() / b.abs().max().clamp(min=1.0))
    pa, pb = torch.softmax(a / temperature, dim=0), torch.softmax(b / temperature, dim=0)
    return float(((pa - pb).abs() / pb).max())


def _draws(
    logits: torch.Tensor, temperature: float, generator, margin: float = NEAR_TIE
) -> set[int]:
    """The characters one draw may give for ``logits`` up to float rounding; ``generator`` then
    advances by one draw.

    ``torch.multinomial(probs, 1, generator=g)`` is ``argmax(probs / q)`` with ``q`` drawn
    Exp(1) from ``g`` (checked on this torch for float32 and float64). The sandboxed model
    computes in float32 with other kernels than ours, so its logits differ from ours in the last
    bits: every index whose ``probs / q`` is within ``margin`` of the largest is a draw it may
    rightly make; so is the float32 draw. Greedy (``temperature`` 0): every index whose logit is
    within ``margin`` of the largest (relative to it, or absolute below 1)."""
    logits = logits.detach().reshape(-1)
    if temperature == 0:
        wide = logits.double()
        top = wide.max()
        return {int(i) for i in torch.nonzero(wide >= top - margin * max(1.0, abs(float(top))))}
    state = generator.get_state()
    probs = torch.softmax(logits.double() / temperature, dim=0)
    q = torch.empty_like(probs).exponential_(1, generator=torch.Generator().set_state(state))
    ratio = probs / q
    out = {int(i) for i in torch.nonzero(ratio >= ratio.max() * (1 - margin)).reshape(-1)}
    probs32 = torch.softmax(logits.float() / temperature, dim=0)
    out.add(int(torch.multinomial(probs32, 1, generator=torch.Generator().set_state(state))))
    _reference_draw(logits, temperature, generator)  # advance the real stream by one draw
    return out


def _replays(case: dict, got: str, seed: int | None) -> bool:
    """True when ``got`` is our continuation up to float rounding: the student's text is fed
    back step by step (teacher forcing) and every character must be one our draw can give from
    the same generator state up to float rounding (``_draws``, with a margin that grows with the
    drift of our float32 run from our float64 run). A near-tie that the sandboxed float32 model
    breaks the other way is not a mistake; any real mistake (a state not carried, a wrong logit
    row, the generator not passed) still differs at some step."""
    tokens = case["idx_to_token"]
    index = {tok: i for i, tok in enumerate(tokens)}
    prefix, n = case["prefix"], case["n"]
    if not isinstance(got, str) or len(got) != len(prefix) + n or not got.startswith(prefix):
        return False
    if any(ch not in index for ch in got[len(prefix) :]):
        return False
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    if generator is None and case["t"] > 0:
        return False
    w32, w64 = case["weights"], {k: v.double() for k, v in case["weights"].items()}
    kind, t = case["kind"], case["t"]
    with torch.no_grad():
        X = torch.tensor([[index[ch] for ch in prefix]])
        logits, state = reference_forward(kind, w32, X, None)
        logits64, state64 = reference_forward(kind, w64, X, None)
        for ch in got[len(prefix) :]:
            margin = NEAR_TIE + DRIFT_FACTOR * _rel_drift(logits[0, -1], logits64[0, -1], t)
            if index[ch] not in _draws(logits[0, -1], t, generator, margin):
                return False
            step = torch.tensor([[index[ch]]])
            logits, state = reference_forward(kind, w32, step, state)
            logits64, state64 = reference_forward(kind, w64, step, state64)
    return True


def _predict_cases(gen: torch.Generator) -> list[dict]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    cases = []
    for kind, t, n, with_seed in (
        ("onehot", 0.0, 20, False),
        ("scratch", 0.0, 15, True),
        ("embedding", 0.0, 0, False),
        ("onehot", 0.8, 40, True),
        ("scratch", 1.3, 40, True),
    ):
        chosen = torch.randperm(26, generator=gen)[: randint(gen, 4, 8)].tolist()
        alphabet = [" "] + [letters[i] for i in chosen]
        text = [alphabet[i] for i in torch.randint(0, len(alphabet), (40,), generator=gen)]
        tokens = tuple(alphabet + text)  # every letter at least once
        idx_to_token = sorted({"<unk>", *tokens})  # how the course's Vocab orders its tokens
        V, H = len(idx_to_token), randint(gen, 6, 14)
        picks = torch.randint(1, len(alphabet), (randint(gen, 1, 6),), generator=gen)
        prefix = "".join(alphabet[i] for i in picks)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen)) if with_seed else None
        weights = draw_weights(kind, V, H, 4, 1.0, gen)
        # '<unk>' is never predicted: a generated '<unk>' would be five characters of text,
        # which answers that re-encode their own output would read differently
        weights["b_q" if kind == "scratch" else "output.bias"][idx_to_token.index("<unk>")] = -30.0
        cases.append(
            dict(
                kind=kind,
                t=t,
                n=n,
                seed=seed,
                tokens=tokens,
                prefix=prefix,
                idx_to_token=idx_to_token,
                V=V,
                H=H,
                weights=weights,
            )
        )
    return cases


def _predict_call(case: dict, swap: str) -> Call:
    if case["kind"] == "scratch":
        model = Model(SCRATCH, {"vocab_size": case["V"], "num_hiddens": case["H"]}, case["weights"])
    else:
        kwargs = {"vocab_size": case["V"], "num_hiddens": case["H"]}
        if case["kind"] == "embedding":
            kwargs.update(input="embedding", embed_dim=4)
        model = Model(CHAR_RNN, kwargs, case["weights"])
    generator = None if case["seed"] is None else Generator(case["seed"])
    return Call(
        "predict",
        args=(case["prefix"], case["n"], model, VocabOf(case["tokens"])),
        kwargs={"temperature": case["t"], "generator": generator},
        swap={"sample_next": swap},
    )


def predict_check(gen: torch.Generator, sample_next_source: str) -> Check:
    """The Check of ``test_predict`` (``sample_next_source``: the trusted sampler to swap in)."""
    cases = _predict_cases(gen)

    def judge(outcomes: list[Outcome]) -> str | None:
        for case, out in zip(cases, outcomes, strict=True):
            what = (
                f"prefix {case['prefix']!r}, {case['n']} characters, temperature "
                f"{case['t']}, {NAMES[case['kind']]}"
            )
            message = error_message("predict", out, what)
            if message:
                return message
            got, want = out.value, _generate(case, case["seed"])
            if got == want or _replays(case, got, case["seed"]):
                continue
            if not isinstance(got, str):
                return f"predict: {what}: return a str (prefix + the generated characters)"
            if len(got) != len(want):
                hint = f"expected len(prefix) + num_preds = {len(want)} characters, got {len(got)}"
            elif not got.startswith(case["prefix"]):
                hint = "the result must start with the prefix: return prefix + generated"
            elif case["t"] > 0 and got == _generate(dict(case, t=0.0), None):
                hint = "the text is greedy: pass temperature on to sample_next"
            elif case["t"] > 0 and got == _generate(case, 0):
                hint = "pass the generator on to sample_next"
            else:
                hint = (
                    "warm the state up on the whole prefix (from state None), then draw "
                    "from the last logits and feed each character back with the state"
                )
            return f"predict: {what}: got {got!r}, expected {want!r}; {hint}"
        return None

    return Check("test_predict", [_predict_call(c, sample_next_source) for c in cases], judge)
