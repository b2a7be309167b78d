"""Trusted checks of lesson 1, the hidden state (``hidden_state.ipynb``).

One check per autograded test cell. Inputs are drawn from the secret seed (shapes too, so an
answer hard-coded for the visible examples fails); the student's functions run in the sandbox;
every reference is computed here, in float64, with torch built-ins and direct formulas, never
with course_utils.

- ``test_ngram_table_size``: exact Python ints, tables far beyond 64 bits included.
- ``test_rnn_param_count``: sizes with num_inputs != num_outputs (a count of a character model,
  where the two are equal, fails).
- ``test_rnn_step``: values within float32 tolerance, the arguments left as they were.
- ``test_rnn_forward``: graded on its own: a correct ``rnn_step`` is swapped in for the
  student's during these calls (``Call.swap``), so a wrong step loses only its own cell.
- ``test_answer_hidden_state``: the set of true statements, read as data.
"""

from __future__ import annotations

import torch

from grader.trusted.lessons._common import changed_in_place, close, describe, draw
from grader.trusted.spec import Call, Check, Outcome

NOTEBOOK = "hidden_state.ipynb"
SETUP_CELLS = 1  # the imports
# Callables that would answer an exercise: RNNScratch.forward is rnn_forward; torch's own RNN
# layer, cell and their functional forms compute rnn_forward and rnn_step.
DISABLE: tuple[str, ...] = (
    "course_utils.rnn.RNNScratch.forward",
    "torch.nn.RNN",
    "torch.nn.RNNCell",
    "torch.rnn_tanh",
    "torch.rnn_tanh_cell",
)

TRUE_STATEMENTS = frozenset({"A", "C", "F"})
STATEMENTS = frozenset("ABCDEF")
RTOL, ATOL = 1e-4, 1e-5  # float32 arithmetic on float64 inputs passes comfortably

# Trusted source for Call.swap: the step rnn_forward is graded with.
REFERENCE_STEP = """
def rnn_step(X, H, W_xh, W_hh, b_h):
    return torch.tanh(torch.addmm(b_h, X, W_xh) + torch.mm(H, W_hh))
"""


def _close(got, want: torch.Tensor) -> bool:
    """A real tensor of ``want``'s shape whose values are within RTOL/ATOL of ``want``."""
    return close(got, want, RTOL, ATOL)


def _untouched(fn: str, outcome: Outcome, originals, names) -> str | None:
    """A message when the call changed one of its tensor arguments in place."""
    name = changed_in_place(outcome, originals, names)
    if name is None:
        return None
    return (
        f"{fn}: your function changed its argument {name} in place (+=, .copy_, "
        ".tanh_(), slice assignment); compute a new tensor instead"
    )


# --------------------------------------------------------------------------- counting


def _ngram_check(gen: torch.Generator) -> Check:
    cases = [(1, draw(gen, 2, 9)), (draw(gen, 2, 50), 1)]
    cases += [(draw(gen, 2, 3000), draw(gen, 1, 8)) for _ in range(8)]
    # An odd |V|**n above 2**53 is not a float: int(math.pow(...)) and 1.0 * ... are never exact.
    # (Bases stay small enough that the swapped n**vocab_size still fits the wire's int limit.)
    cases += [(2 * draw(gen, 12, 30) + 1, draw(gen, 13, 20))]
    calls = [Call("ngram_table_size", args=case) for case in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (v, n), outcome in zip(cases, outcomes, strict=True):
            where = f"vocab_size={v}, n={n}"
            if outcome.error is not None:
                return f"ngram_table_size({v}, {n}) raised {outcome.error}"
            got, want = outcome.value, pow(v, n)
            if isinstance(got, bool) or not isinstance(got, int):
                return (
                    f"ngram_table_size: expected an exact Python int for {where}, got "
                    f"{describe(got)}; floats (math.pow, /) round large tables: use ** on ints"
                )
            if got != want:
                return f"ngram_table_size: wrong size for {where}; {_ngram_slip(v, n, got)}"
        return None

    return Check("test_ngram_table_size", calls, judge)


def _ngram_slip(v: int, n: int, got: int) -> str:
    slips = [
        (v ** (n - 1), "that is the number of contexts alone; each needs |V| next tokens"),
        (v ** (n + 1), "one power of |V| too many: n counts the context AND the predicted token"),
        (v * n, "the choices for the n positions multiply, they do not add"),
        (n**v, "base and exponent are swapped"),
    ]
    for value, why in slips:
        if got == value:
            return why
    if abs(got - v**n) <= 1e-6 * v**n:
        return "almost, but not exact: a float rounded the big number; use ** on Python ints"
    return "count the possible contexts (n - 1 tokens each), then the next tokens for each"


def _param_count_check(gen: torch.Generator) -> Check:
    cases = []
    while len(cases) < 10:
        d, h, q = draw(gen, 1, 400), draw(gen, 1, 400), draw(gen, 1, 400)
        if d != q:
            cases.append((d, h, q))
    cases.append((10_000 + draw(gen, 0, 50), draw(gen, 200, 300), 9_000))
    calls = [Call("rnn_param_count", args=case) for case in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (d, h, q), outcome in zip(cases, outcomes, strict=True):
            where = f"num_inputs={d}, num_hiddens={h}, num_outputs={q}"
            if outcome.error is not None:
                return f"rnn_param_count({d}, {h}, {q}) raised {outcome.error}"
            got = outcome.value
            # the five tensors' entries: W_xh (d, h), W_hh (h, h), b_h (h,), W_hq (h, q), b_q (q,)
            want = sum(torch.Size(s).numel() for s in [(d, h), (h, h), (h,), (h, q), (q,)])
            if isinstance(got, bool) or not isinstance(got, int):
                return f"rnn_param_count: expected a Python int for {where}, got {describe(got)}"
            if got != want:
                return f"rnn_param_count: wrong count for {where}; {_param_slip(d, h, q, got)}"
        return None

    return Check("test_rnn_param_count", calls, judge)


def _param_slip(d: int, h: int, q: int, got: int) -> str:
    slips = [
        (d * h + h * h + h * q, "the biases b_h and b_q are missing"),
        (d * h + h * h + h * q + q, "the hidden bias b_h is missing"),
        (d * h + h * h + h + h * q, "the output bias b_q is missing"),
        (d * h + h * h + 2 * h + h * q + q, "b_h counted twice (torch.nn.RNN has two biases)"),
        (d * h + h + h * q + q, "W_hh (num_hiddens x num_hiddens) is missing"),
        (d * h + h * h + h + h * d + d, "num_inputs used for the output size: W_hq is (h, q)"),
        (d * h + h * h + h, "the output layer W_hq, b_q is missing"),
    ]
    for value, why in slips:
        if got == value:
            return why
    return "add up the entries of W_xh, W_hh, b_h, W_hq and b_q (the table of shapes)"


# --------------------------------------------------------------------------- the RNN


def _step_reference(X, H, W_xh, W_hh, b_h) -> torch.Tensor:
    """tanh(X W_xh + H W_hh + b_h) in float64, written with einsum (not the student's form)."""
    pre = torch.einsum("bi,ih->bh", X, W_xh) + torch.einsum("bk,kh->bh", H, W_hh) + b_h
    return torch.tanh(pre)


def _step_inputs(gen: torch.Generator, b: int, d: int, h: int, dtype) -> tuple:
    """X (b, d), H (b, h), W_xh (d, h), W_hh (h, h), b_h (h,)."""
    return (
        torch.randn(b, d, generator=gen, dtype=dtype),
        torch.randn(b, h, generator=gen, dtype=dtype),
        torch.randn(d, h, generator=gen, dtype=dtype) / d**0.5,
        torch.randn(h, h, generator=gen, dtype=dtype) / h**0.5,
        torch.randn(h, generator=gen, dtype=dtype),
    )


STEP_NAMES = ("X", "H", "W_xh", "W_hh", "b_h")


def _step_check(gen: torch.Generator) -> Check:
    sizes = [(draw(gen, 2, 7), draw(gen, 2, 9), draw(gen, 2, 9)) for _ in range(4)]
    sizes += [(1, 1, 1), (draw(gen, 2, 5),) + (draw(gen, 3, 8),) * 2]  # d == h: a swap shows
    dtypes = [torch.float64] * (len(sizes) - 1) + [torch.float32]
    cases = [
        (b, d, h, _step_inputs(gen, b, d, h, dtype))
        for (b, d, h), dtype in zip(sizes, dtypes, strict=True)
    ]
    calls = [Call("rnn_step", args=ops, observe=(0, 1, 2, 3, 4)) for *_, ops in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (b, d, h, ops), outcome in zip(cases, outcomes, strict=True):
            where = f"batch={b}, num_inputs={d}, num_hiddens={h}"
            if outcome.error is not None:
                return (
                    f"rnn_step raised {outcome.error} with {where}; check the order of the "
                    "products: X @ W_xh and H @ W_hh"
                )
            args = tuple(t.to(torch.float64) for t in ops)
            got = outcome.value
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (b, h):
                return (
                    f"rnn_step: expected a tensor of shape ({b}, {h}) = (batch, num_hiddens) "
                    f"with {where}, got {describe(got)}"
                )
            if not _close(got, _step_reference(*args)):
                return f"rnn_step: wrong values with {where}; {_step_slip(got, *args)}"
            message = _untouched("rnn_step", outcome, ops, STEP_NAMES)
            if message:
                return message
        return None

    return Check("test_rnn_step", calls, judge)


def _step_slip(got, X, H, W_xh, W_hh, b_h) -> str:
    xw, hw = X @ W_xh, H @ W_hh
    slips = [
        (xw + hw + b_h, "did you forget torch.tanh?"),
        (torch.tanh(xw + hw + 2 * b_h), "b_h seems to be added twice"),
        (torch.tanh(xw + hw), "b_h seems to be missing"),
        (torch.tanh(xw + b_h), "H @ W_hh seems to be missing: the previous state must enter"),
        (torch.tanh(xw + H @ W_hh.T + b_h), "that is H @ W_hh.T: multiply H @ W_hh"),
        (torch.sigmoid(xw + hw + b_h), "that is a sigmoid; this RNN uses tanh"),
        (torch.relu(xw + hw + b_h), "that is a ReLU; this RNN uses tanh"),
    ]
    if W_xh.shape == W_hh.shape:
        slips.append((torch.tanh(X @ W_hh + H @ W_xh + b_h), "W_xh and W_hh seem swapped"))
    for value, why in slips:
        if _close(got, value):
            return why
    return "compare each term with the worked example in the text"


def _forward_reference(inputs, H0, W_xh, W_hh, b_h):
    """(outputs (T, B, h), H_T (B, h)) by unrolling the recurrence here, in float64."""
    H, states = H0, []
    for X_t in inputs:
        H = _step_reference(X_t, H, W_xh, W_hh, b_h)
        states.append(H)
    return torch.stack(states), H


FORWARD_NAMES = ("inputs", "H0", "W_xh", "W_hh", "b_h")


def _forward_check(gen: torch.Generator) -> Check:
    sizes = [(1, draw(gen, 1, 4), draw(gen, 1, 6), draw(gen, 1, 6))]
    sizes += [(draw(gen, 2, 12), draw(gen, 1, 5), draw(gen, 1, 9), draw(gen, 1, 9))]
    sizes += [(draw(gen, 20, 40), draw(gen, 1, 4), 28, draw(gen, 8, 32))]
    cases = []
    for T, B, d, h in sizes:
        X, H0, W_xh, W_hh, b_h = _step_inputs(gen, B, d, h, torch.float64)
        inputs = torch.randn(T, B, d, generator=gen, dtype=torch.float64)
        cases.append((T, B, h, (inputs, H0 * 0.5, W_xh, W_hh, b_h * 0.5)))
    swap = {"rnn_step": REFERENCE_STEP}
    calls = [Call("rnn_forward", args=ops, observe=(0, 1, 2, 3, 4), swap=swap) for *_, ops in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (T, B, h, ops), outcome in zip(cases, outcomes, strict=True):
            where = f"num_steps={T}, batch={B}, num_hiddens={h}"
            if outcome.error is not None:
                return (
                    f"rnn_forward raised {outcome.error} with {where} (and a correct rnn_step); "
                    "loop over the first axis of inputs: inputs[t] is (batch, num_inputs)"
                )
            got = outcome.value
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                return f"rnn_forward: expected a pair (outputs, H_T), got {describe(got)}"
            outputs, H_T = got
            want_out, want_h = _forward_reference(*ops)
            if not isinstance(outputs, torch.Tensor) or tuple(outputs.shape) != (T, B, h):
                return (
                    f"rnn_forward: expected outputs of shape ({T}, {B}, {h}) = (num_steps, "
                    f"batch, num_hiddens), got {describe(outputs)}; torch.stack the states"
                )
            if not _close(outputs, want_out):
                return f"rnn_forward: wrong outputs with {where}; {_forward_slip(outputs, ops)}"
            if not _close(H_T, want_h):
                return "rnn_forward: H_T must be the state after the LAST step (outputs[-1])"
            message = _untouched("rnn_forward", outcome, ops, FORWARD_NAMES)
            if message:
                return message
        return None

    return Check("test_rnn_forward", calls, judge)


def _forward_slip(outputs, ops) -> str:
    inputs, H0, W_xh, W_hh, b_h = ops
    fresh = torch.stack([_step_reference(x, H0, W_xh, W_hh, b_h) for x in inputs])
    from_zero, _ = _forward_reference(inputs, torch.zeros_like(H0), W_xh, W_hh, b_h)
    if _close(outputs, fresh):
        return "every step starts again from H0: the new state must be the H of the next step"
    if _close(outputs, from_zero):
        return "the states start from zeros: start from the H0 you were given"
    return "each new state must be the H of the next step, starting from H0"


# --------------------------------------------------------------------------- the question


def _letters(value) -> set[str] | None:
    """The letters of an answer given as a set, list, tuple or string; None if unreadable."""
    if isinstance(value, str):
        items = list(value)
    elif isinstance(value, (set, frozenset, list, tuple)):
        items = list(value)
    else:
        return None
    if not all(isinstance(item, str) for item in items):
        return None
    return {item.strip().upper() for item in items} - {"", ","}


def _question_check(gen: torch.Generator) -> Check:
    calls = [Call("answer_hidden_state", read=True)]

    def judge(outcomes: list[Outcome]) -> str | None:
        (outcome,) = outcomes
        if outcome.error is not None:
            return f"answer_hidden_state: {outcome.error}"
        chosen = _letters(outcome.value)
        if chosen is None:
            return (
                'answer_hidden_state: write a set of letters, e.g. {"B", "E"}; got '
                f"{describe(outcome.value)}"
            )
        if chosen - STATEMENTS:
            return f"answer_hidden_state: {sorted(chosen - STATEMENTS)} are not statements (A-F)"
        wrong = len(chosen ^ TRUE_STATEMENTS)
        if wrong:
            return (
                f"answer_hidden_state: {wrong} statement(s) classified wrongly; reread 'Hidden "
                "layer or hidden state?' in section 2"
            )
        return None

    return Check("test_answer_hidden_state", calls, judge)


def checks(seed: int) -> list[Check]:
    """One check per autograded test cell, inputs drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return [
        _ngram_check(gen),
        _param_count_check(gen),
        _step_check(gen),
        _forward_check(gen),
        _question_check(gen),
    ]
