"""Trusted checks of lesson 5, backpropagation through time (``bptt.ipynb``).

One check per autograded test cell. Inputs are drawn from the secret seed (shapes too, so an
answer hard-coded for the visible examples fails); every reference is computed here with torch
built-ins, never with course_utils.

- ``test_rnn_step_backward``: float64 steps of varied shapes; the reference is autograd
  (``Tensor.backward``) of the same step, and one case is also checked against float64 central
  differences. The arguments must come back unchanged.
- ``test_rnn_backward``: graded on its own: a right ``rnn_step_backward`` is swapped in
  (``Call.swap``), so a wrong step loses only its own cell; the reference is autograd through the
  whole forward pass. One more call swaps in a *tagging* step (it returns simple tags, not
  gradients) whose expected outputs follow from the wiring alone: it shows that
  ``rnn_backward`` calls ``rnn_step_backward`` once per step, backwards, with the right states.
- ``test_state_jacobian_norms``: the reference builds each Jacobian dH_T/dH_(T-k) explicitly
  by autograd, row by row, of the forward map from H_(T-k) to H_T, and takes
  ``torch.linalg.matrix_norm(ord=2)``.
- ``test_train_step``: lesson 3's trusted check of the same function (``_lesson3_step``): one
  step on a trusted model, compared with a reference step on our own copy of the weights (the
  detaching through an ``Attached`` state, the returned state detached, the loss, the clipping and
  the update). What it cannot see: whether old gradients are zeroed (a trusted ``Model`` arrives
  without gradients); the notebook's hidden test checks that in the kernel.

Autograd in exercises 1-3: these are about computing gradients by hand. ``torch.autograd.grad``
and ``torch.autograd.functional`` are disabled in the sandbox (``train_step`` needs only
``Tensor.backward``, which cannot be disabled), and the calls count the torch functions they use
(``Call.count_ops``): an answer that calls ``backward``, reads ``.grad`` or asks for
``requires_grad`` loses the cell with a message saying so.
"""

from __future__ import annotations

import torch

from grader.trusted.lessons import _lesson3_step
from grader.trusted.lessons._common import changed_in_place, close, describe, draw
from grader.trusted.spec import Call, Check, Outcome

NOTEBOOK = "bptt.ipynb"
SETUP_CELLS = 1  # the imports
DISABLE: tuple[str, ...] = (
    # a generic numerical gradient answers the backward exercises (slowly)
    "course_utils.gradcheck.numerical_gradient",
    # autograd answers them outright (train_step uses Tensor.backward only)
    "torch.autograd.grad",
    "torch.autograd.functional.jacobian",
    "torch.autograd.functional.vjp",
    "torch.autograd.functional.vhp",
    "torch.func.grad",
    "torch.func.vjp",
    "torch.func.jacrev",
)

RTOL, ATOL = 1e-5, 1e-7  # float64 inputs; float32 arithmetic would show, the right order not
AUTOGRAD_OPS = ("backward", "grad", "requires_grad", "set")  # OpCounter names (see calls.py)
GRADS = ("dX", "dH_prev", "dW_xh", "dW_hh", "db_h")
SEQ_GRADS = ("d_inputs", "dH0", "dW_xh", "dW_hh", "db_h")

# Trusted source for Call.swap: the step rnn_backward is graded with.
REFERENCE_STEP = """
def rnn_step_backward(dH, X, H_prev, H_new, W_xh, W_hh):
    dA = dH * (1 - H_new * H_new)
    return (torch.mm(dA, W_xh.t()), torch.mm(dA, W_hh.t()), torch.mm(X.t(), dA),
            torch.mm(H_prev.t(), dA), dA.sum(0))
"""
# A stand-in whose outputs are tags of the right shapes: dX = the dH it got, summed over the
# hidden units and repeated for each input, the previous
# state's share dH / 2, and as "weight gradients" the column sums of X, H_prev and H_new (their
# sums over the steps show which steps and which states were used).
TAGGING_STEP = """
def rnn_step_backward(dH, X, H_prev, H_new, W_xh, W_hh):
    ones = torch.ones_like(dH)
    return dH @ torch.ones_like(W_xh).t(), dH * 0.5, X.t() @ ones, H_prev.t() @ ones, H_new.sum(0)
"""


def _gradients(total: torch.Tensor, leaves: list[torch.Tensor]) -> tuple:
    """d total / d leaf for each leaf, by ``Tensor.backward`` (the references never call the
    autograd functions in DISABLE: a check run next to the stubs must still work)."""
    total.backward()
    return tuple(leaf.grad for leaf in leaves)


def _jacobian(f, x: torch.Tensor) -> torch.Tensor:
    """The Jacobian (out, in) of a vector function ``f`` at the vector ``x``, row by row."""
    rows = []
    for i in range(x.shape[0]):
        leaf = x.detach().clone().requires_grad_(True)
        f(leaf)[i].backward()
        rows.append(leaf.grad)
    return torch.stack(rows)


def _randn(gen: torch.Generator, *shape) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _close(got, want: torch.Tensor, rtol: float = RTOL, atol: float = ATOL) -> bool:
    return close(got, want, rtol, atol, floating_only=True)


def _autograd_used(fn: str, outcome: Outcome) -> str | None:
    used = sorted(name for name in outcome.ops if name in AUTOGRAD_OPS)
    if used:
        return (
            f"{fn}: your code used autograd ({', '.join(used)}); this exercise is about computing "
            "the gradients by hand, with the formulas of the lesson"
        )
    return None


def _common(fn: str, outcome: Outcome, names, what: str) -> str | None:
    """Error, autograd, or a result that is not len(names) tensors: a message; else None."""
    if outcome.error is not None:
        if outcome.error.startswith("NameError") and fn in outcome.error:
            return f"{fn} is not defined: run its cell (keep its name)"
        return f"{fn} raised {outcome.error} for {what}"
    message = _autograd_used(fn, outcome)
    if message:
        return message
    value = outcome.value
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        return f"{fn}: return the {len(names)} results {', '.join(names)}; got {describe(value)}"
    return None


def _untouched(fn: str, outcome: Outcome, originals, names) -> str | None:
    name = changed_in_place(outcome, originals, names)
    if name is None:
        return None
    return f"{fn}: your function changed its argument {name} in place; compute new tensors"


# --------------------------------------------------------------------------- one step backwards


def _step_case(gen: torch.Generator, b: int, d: int, h: int) -> tuple:
    X, H_prev = _randn(gen, b, d), torch.tanh(_randn(gen, b, h))
    W_xh, W_hh = _randn(gen, d, h) / d**0.5, _randn(gen, h, h) / h**0.5
    b_h = 0.3 * _randn(gen, h)
    H_new = torch.tanh(X @ W_xh + H_prev @ W_hh + b_h)
    dH = _randn(gen, b, h)
    return (dH, X, H_prev, H_new, W_xh, W_hh), b_h


def _step_reference(args: tuple, b_h: torch.Tensor) -> tuple:
    """Autograd of sum(tanh(X W_xh + H_prev W_hh + b_h) * dH) with respect to the five inputs."""
    dH, X, H_prev, _, W_xh, W_hh = args
    leaves = [t.clone().requires_grad_(True) for t in (X, H_prev, W_xh, W_hh, b_h)]
    out = torch.tanh(leaves[0] @ leaves[2] + leaves[1] @ leaves[3] + leaves[4])
    return _gradients((out * dH).sum(), leaves)


def _numerical_dW_hh(args: tuple, b_h: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central differences of the same sum with respect to W_hh (float64)."""
    dH, X, H_prev, _, W_xh, W_hh = args
    out = torch.zeros_like(W_hh)
    for i in range(W_hh.shape[0]):
        for j in range(W_hh.shape[1]):
            E = torch.zeros_like(W_hh)
            E[i, j] = eps
            plus = (torch.tanh(X @ W_xh + H_prev @ (W_hh + E) + b_h) * dH).sum()
            minus = (torch.tanh(X @ W_xh + H_prev @ (W_hh - E) + b_h) * dH).sum()
            out[i, j] = (plus - minus) / (2 * eps)
    return out


def _step_slip(name: str, got, args: tuple) -> str:
    dH, X, H_prev, H_new, W_xh, W_hh = args
    dA = dH * (1 - H_new**2)
    slips = {
        "dH_prev": [(dA @ W_hh, "going back through H_prev @ W_hh needs W_hh.T: dA @ W_hh.T")],
        "dW_hh": [
            (H_new.T @ dA, "dW_hh = H_prev.T @ dA: W_hh multiplied H_prev, not H_new"),
            (dA.T @ H_prev, "dW_hh = H_prev.T @ dA (yours is its transpose)"),
        ],
        "db_h": [(dA.mean(0), "db_h is the SUM of dA over the batch, not the mean")],
    }.get(name, [])
    i = GRADS.index(name)
    for dA_wrong, why in [
        (dH, "multiply dH by tanh'(A) = 1 - H_new**2 first"),
        (dH * (1 - H_prev**2), "tanh'(A) = 1 - H_new**2 uses the NEW state, not H_prev"),
        (dH * (1 - H_new), "tanh'(A) = 1 - H_new**2: the square is missing"),
    ]:
        slips.append(((dA_wrong @ W_xh.T, dA_wrong @ W_hh.T, X.T @ dA_wrong,
                       H_prev.T @ dA_wrong, dA_wrong.sum(0))[i], why))  # fmt: skip
    for value, why in slips:
        if _close(got, value, 1e-4, 1e-6):
            return why
    return "dA = dH * (1 - H_new**2); dX = dA W_xh^T, dH_prev = dA W_hh^T, dW_xh = X^T dA, ..."


def _step_backward_check(gen: torch.Generator) -> Check:
    sizes = [(1, 1, 1), (draw(gen, 2, 5), draw(gen, 2, 6), draw(gen, 2, 6))]
    sizes += [(draw(gen, 2, 4),) + (draw(gen, 3, 6),) * 2]  # d == h: swapped weights show
    sizes += [(draw(gen, 3, 8), draw(gen, 10, 30), draw(gen, 4, 12))]
    cases = [_step_case(gen, *s) for s in sizes]
    names = ("dH", "X", "H_prev", "H_new", "W_xh", "W_hh")
    calls = [
        Call("rnn_step_backward", args=args, observe=tuple(range(6)), count_ops=True)
        for args, _ in cases
    ]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (args, b_h), outcome in zip(cases, outcomes, strict=True):
            b, d = args[1].shape
            what = f"a batch of {b}, {d} inputs, {args[0].shape[1]} hidden units"
            message = _common("rnn_step_backward", outcome, GRADS, what)
            if message:
                return message
            for name, got, want in zip(GRADS, outcome.value, _step_reference(args, b_h),
                                       strict=True):  # fmt: skip
                if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
                    return (
                        f"rnn_step_backward: {name} for {what}: expected shape "
                        f"{tuple(want.shape)}, got {describe(got)}; every gradient has the "
                        "shape of its variable"
                    )
                if not _close(got, want):
                    return (
                        f"rnn_step_backward: wrong {name} for {what}; {_step_slip(name, got, args)}"
                    )
            message = _untouched("rnn_step_backward", outcome, args, names)
            if message:
                return message
        args, b_h = cases[1]
        if not _close(outcomes[1].value[3], _numerical_dW_hh(args, b_h), 1e-5, 1e-7):
            return "rnn_step_backward: dW_hh disagrees with a numerical gradient check"
        return None

    return Check("test_rnn_step_backward", calls, judge)


# --------------------------------------------------------------------------- the whole sequence


def _sequence_case(gen: torch.Generator, T: int, B: int, d: int, h: int) -> tuple:
    inputs, H0 = _randn(gen, T, B, d), 0.5 * _randn(gen, B, h)
    W_xh, W_hh = _randn(gen, d, h) / d**0.5, _randn(gen, h, h) / h**0.5
    b_h = 0.3 * _randn(gen, h)
    states, H = [], H0
    for x in inputs:
        H = torch.tanh(x @ W_xh + H @ W_hh + b_h)
        states.append(H)
    dH_all = _randn(gen, T, B, h)
    return (dH_all, inputs, H0, torch.stack(states), W_xh, W_hh), b_h


def _sequence_reference(args: tuple, b_h: torch.Tensor) -> tuple:
    """Autograd through the whole forward pass: gradients of sum(H_all * dH_all)."""
    dH_all, inputs, H0, _, W_xh, W_hh = args
    leaves = [t.clone().requires_grad_(True) for t in (inputs, H0, W_xh, W_hh, b_h)]
    H, states = leaves[1], []
    for t in range(inputs.shape[0]):
        H = torch.tanh(leaves[0][t] @ leaves[2] + H @ leaves[3] + leaves[4])
        states.append(H)
    return _gradients((torch.stack(states) * dH_all).sum(), leaves)


def _tagged_reference(args: tuple) -> tuple:
    """What rnn_backward returns with TAGGING_STEP swapped in, by the wiring of BPTT alone."""
    dH_all, inputs, H0, H_all, _, _ = args
    carried = torch.zeros_like(H0)
    d_inputs = [None] * inputs.shape[0]
    sums = [0, 0, 0]
    for t in reversed(range(inputs.shape[0])):
        dH = dH_all[t] + carried
        d_inputs[t], carried = dH @ torch.ones(dH.shape[1], inputs.shape[2]).double(), dH * 0.5
        H_prev = H_all[t - 1] if t > 0 else H0
        ones = torch.ones_like(dH)
        for i, tag in enumerate((inputs[t].T @ ones, H_prev.T @ ones, H_all[t].sum(0))):
            sums[i] = sums[i] + tag
    return (torch.stack(d_inputs), carried, *sums)


def _backward_check(gen: torch.Generator) -> Check:
    sizes = [(1, draw(gen, 1, 3), draw(gen, 2, 4), draw(gen, 2, 4)), (2, 1, 1, 1)]
    sizes += [(draw(gen, 4, 9), draw(gen, 2, 4), draw(gen, 2, 6), draw(gen, 3, 7))]
    sizes += [(draw(gen, 15, 25), draw(gen, 1, 3), draw(gen, 10, 28), draw(gen, 4, 10))]
    cases = [_sequence_case(gen, *s) for s in sizes]
    T, B, d, h = draw(gen, 3, 6), draw(gen, 1, 3), draw(gen, 2, 4), draw(gen, 2, 5)
    tag_args = (_randn(gen, T, B, h), _randn(gen, T, B, d), _randn(gen, B, h),
                _randn(gen, T, B, h), _randn(gen, d, h), _randn(gen, h, h))  # fmt: skip
    swap = {"rnn_step_backward": REFERENCE_STEP}
    calls = [
        Call("rnn_backward", args=args, observe=tuple(range(4)), swap=swap, count_ops=True)
        for args, _ in cases
    ]
    calls.append(Call("rnn_backward", args=tag_args, swap={"rnn_step_backward": TAGGING_STEP}))
    names = ("dH_all", "inputs", "H0", "H_all")

    def judge(outcomes: list[Outcome]) -> str | None:
        for (args, b_h), outcome in zip(cases, outcomes[:-1], strict=True):
            T, B, d = args[1].shape
            what = f"{T} steps, a batch of {B}, {d} inputs, {args[2].shape[1]} hidden units"
            message = _common("rnn_backward", outcome, SEQ_GRADS, what)
            if message:
                return message
            for name, got, want in zip(SEQ_GRADS, outcome.value, _sequence_reference(args, b_h),
                                       strict=True):  # fmt: skip
                if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
                    return (
                        f"rnn_backward: {name} for {what}: expected shape {tuple(want.shape)}, "
                        f"got {describe(got)}"
                    )
                if not _close(got, want):
                    return (
                        f"rnn_backward: wrong {name} for {what} (graded with a right "
                        "rnn_step_backward); each step gets dH_all[t] plus what step t + 1 sent "
                        "back, the state before step t is H_all[t - 1] (H0 at t = 0), and the "
                        "weight gradients of all steps add up"
                    )
            message = _untouched("rnn_backward", outcome, args[:4], names)
            if message:
                return message
        tagged = outcomes[-1]
        if tagged.error is None and isinstance(tagged.value, (tuple, list)):
            if len(tagged.value) == 5 and all(
                _close(g, w, 1e-6, 1e-9)
                for g, w in zip(tagged.value, _tagged_reference(tag_args), strict=True)
            ):
                return None
        return (
            "rnn_backward: it must call rnn_step_backward once per step, from the last step to "
            "the first, with dH_all[t] plus the carried gradient, inputs[t], the state before "
            "step t and H_all[t] (the check swaps in a step of its own to see these calls)"
        )

    return Check("test_rnn_backward", calls, judge)


# --------------------------------------------------------------------------- Jacobian norms


def _norms_case(gen: torch.Generator, T: int, h: int, scale: float) -> tuple:
    W_hh, W_xh = scale * _randn(gen, h, h) / h**0.5, _randn(gen, 3, h)
    xs, H = _randn(gen, T, 3), 0.3 * _randn(gen, h)
    states = [H]
    for x in xs:
        states.append(torch.tanh(x @ W_xh + states[-1] @ W_hh))
    return W_hh, W_xh, xs, states  # states[0] = H_0, states[t] = H_t


def _norms_reference(W_hh, W_xh, xs, states) -> torch.Tensor:
    """||dH_T / dH_(T-k)||_2 for k = 1..T, each Jacobian built by autograd of the forward map."""
    T = len(xs)

    def run(H, start):
        for x in xs[start:]:
            H = torch.tanh(x @ W_xh + H @ W_hh)
        return H

    norms = []
    for k in range(1, T + 1):
        J = _jacobian(lambda H, s=T - k: run(H, s), states[T - k])
        norms.append(torch.linalg.matrix_norm(J, ord=2))
    return torch.stack(norms)


def _norms_slip(got, W_hh, H_all) -> str:
    def products(W, H, right=True, ord=2):
        P, out = torch.eye(W.shape[0], dtype=W.dtype), []
        for t in reversed(range(H.shape[0])):
            J = (1 - H[t] ** 2)[:, None] * W.T
            P = P @ J if right else J @ P
            out.append(torch.linalg.matrix_norm(P, ord=ord))
        return torch.stack(out)

    slips = [
        (products(W_hh, H_all, ord="fro"), "those are Frobenius norms; use ord=2"),
        (products(W_hh.T, H_all), "J_t = diag(1 - H_t**2) W_hh^T: W_hh seems not transposed"),
        (products(W_hh, H_all.flip(0)), "start the product at J_T, the LAST state"),
        (products(W_hh, H_all, right=False), "multiply each earlier Jacobian on the RIGHT"),
    ]
    for value, why in slips:
        if _close(got, value, 1e-4, 1e-9):
            return why
    return "entry k - 1 is the spectral norm of J_T J_(T-1) ... J_(T-k+1)"


def _norms_check(gen: torch.Generator) -> Check:
    specs = [(1, draw(gen, 2, 4), 1.0), (draw(gen, 4, 8), 1, 1.2)]
    specs += [(draw(gen, 6, 12), draw(gen, 3, 6), s) for s in (0.7, 1.0, 1.4)]
    cases = [_norms_case(gen, *spec) for spec in specs]
    calls = [
        Call("state_jacobian_norms", args=(W_hh, torch.stack(states[1:])), count_ops=True)
        for W_hh, _, _, states in cases
    ]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (W_hh, W_xh, xs, states), outcome in zip(cases, outcomes, strict=True):
            T, h = len(xs), W_hh.shape[0]
            what = f"{T} steps and {h} hidden units"
            if outcome.error is not None:
                return f"state_jacobian_norms raised {outcome.error} for {what}"
            message = _autograd_used("state_jacobian_norms", outcome)
            if message:
                return message
            got, want = outcome.value, _norms_reference(W_hh, W_xh, xs, states)
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (T,):
                return (
                    f"state_jacobian_norms: expected a tensor of shape ({T},) for {what}, got "
                    f"{describe(got)}"
                )
            if not _close(got, want, 1e-5, 1e-12):
                slip = _norms_slip(got, W_hh, torch.stack(states[1:]))
                return f"state_jacobian_norms: wrong norms for {what}; {slip}"
        return None

    return Check("test_state_jacobian_norms", calls, judge)


# --------------------------------------------------------------------------- train_step


def _train_step_check(gen: torch.Generator) -> Check:
    """Lesson 3's check of the same ``train_step``, its hints worded for this lesson."""
    check = _lesson3_step.train_step_check(gen)

    def judge(outcomes: list[Outcome]) -> str | None:
        message = check.judge(outcomes)
        if message is None:
            return None
        for old in (" (your clip_gradients)", " (clip_gradients)"):
            message = message.replace(old, " (torch.nn.utils.clip_grad_norm_)")
        return message

    return Check(check.grade_id, check.calls, judge)


def checks(seed: int) -> list[Check]:
    """One check per autograded test cell, inputs drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return [
        _step_backward_check(gen),
        _backward_check(gen),
        _norms_check(gen),
        _train_step_check(gen),
    ]
