"""Trusted checks of lesson 2, the concatenation equivalence (``concat_equivalence.ipynb``).

One check per autograded test cell. Inputs are drawn from the secret seed (shapes too, so an
answer hard-coded for the visible examples fails), the student's functions run in the sandbox,
and every reference is computed here in float64 with torch built-ins and direct formulas.

What ``test_preactivation_concat_one_product`` can and cannot tell
------------------------------------------------------------------
It counts the torch functions the call used (``Call.count_ops``: a ``TorchFunctionMode`` around
the call, so ``@``, ``torch.mm``, ``torch.matmul``, ``torch.einsum``, ``F.linear``, ``addmm``...
each count once, whatever they run inside) and wants exactly one matrix product.

* It catches the separate form (two products), "concatenate, then multiply the pieces" (two
  products), and answers without any torch product (a loop of ``*`` and ``sum``, numpy).
* It does not see shapes: one product that is *not* over ``d + h`` (a ``bmm`` over zero-padded,
  stacked operands, say) also counts as one. The in-kernel test cell records the inner size of
  every product at the dispatch level and catches that for honest students; here, the values are
  judged by ``test_preactivation_concat``. A fused product computed outside torch (numpy
  ``@`` on ``.numpy()`` views) is not counted and fails, even though it is one product.
* It cannot see the student's source; it judges only what torch was asked to do.
"""

from __future__ import annotations

import torch

from grader.trusted.lessons._common import describe
from grader.trusted.spec import Call, Check, ModuleData, Outcome

NOTEBOOK = "concat_equivalence.ipynb"
SETUP_CELLS = 1
# Nothing in course_utils answers a lesson 2 exercise (``RNNScratch.to_torch``, which answered
# to_torch_rnn, is gone from course_utils.rnn); torch built-ins that students may use
# (torch.cat, torch.split, nn.RNN) stay available.
DISABLE: tuple[str, ...] = ()

RNN_CLASS = "torch.nn.modules.rnn.RNN"
PRODUCT_OPS = frozenset(
    {
        "matmul",
        "mm",
        "bmm",
        "einsum",
        "linear",
        "addmm",
        "addbmm",
        "baddbmm",
        "mv",
        "addmv",
        "dot",
        "vdot",
        "inner",
        "tensordot",
        "chain_matmul",
        "multi_dot",
        "addmm_activation",
        "bilinear",
    }
)
TOL = 1e-4


# --------------------------------------------------------------------------- inputs


def _sizes(gen: torch.Generator, count: int, equal_one: bool = True) -> list[tuple[int, int, int]]:
    """``count`` (batch, num_inputs, num_hiddens) triples with d != h, plus one with d = h."""
    out = []
    while len(out) < count:
        b, d, h = (int(v) for v in torch.randint(1, 10, (3,), generator=gen))
        if d != h:
            out.append((b, d, h))
    if equal_one:
        d = int(torch.randint(2, 9, (1,), generator=gen))
        out.append((int(torch.randint(1, 8, (1,), generator=gen)), d, d))
    return out


def _operands(gen, b, d, h):
    """X (b, d), H (b, h), W_xh (d, h), W_hh (h, h), float32."""
    return (
        torch.randn(b, d, generator=gen),
        torch.randn(b, h, generator=gen),
        torch.randn(d, h, generator=gen),
        torch.randn(h, h, generator=gen),
    )


# --------------------------------------------------------------------------- comparisons


def _close(got, want: torch.Tensor, tol: float = TOL) -> bool:
    """Same shape and values within ``tol`` (relative to the size of ``want``), in float64."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        return False
    if got.is_complex() or not torch.isfinite(got).all():
        return False
    got = got.detach().double()
    scale = 1.0 + float(want.abs().max()) if want.numel() else 1.0
    return bool((got - want).abs().max() <= tol * scale) if want.numel() else True


def _exact(got, want: torch.Tensor) -> bool:
    """Same shape and exactly the same values (a copy in another float dtype is fine)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        return False
    if got.is_complex() or not got.is_floating_point():
        return False
    return bool(torch.equal(got.detach().double(), want.double()))


def _inputs_untouched(fn: str, outcome: Outcome, originals) -> str | None:
    names = ("X", "H", "W_xh", "W_hh")
    for pos, original in enumerate(originals):
        after = outcome.after.get(pos)
        if after is not None and not _exact(after, original):
            return (
                f"{fn}: your function changed its input {names[pos]} in place (+=, .add_, "
                "slice assignment); compute a new tensor instead"
            )
    return None


# --------------------------------------------------------------------------- the two forms


def _preactivation_check(grade_id: str, fn: str, sizes, gen) -> Check:
    cases = [(b, d, h, _operands(gen, b, d, h)) for b, d, h in sizes]
    calls = [Call(fn, args=ops, observe=(0, 1, 2, 3)) for *_, ops in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (b, d, h, ops), outcome in zip(cases, outcomes, strict=True):
            where = f"batch={b}, num_inputs={d}, num_hiddens={h}"
            if outcome.error is not None:
                hint = (
                    (
                        "X and H share their rows: torch.cat((X, H), dim=1); W_xh and W_hh share "
                        "their columns: torch.cat((W_xh, W_hh), dim=0)"
                    )
                    if fn.endswith("concat")
                    else "multiply X by W_xh and H by W_hh, with @"
                )
                return f"{fn}, with {where}, raised {outcome.error}; {hint}"
            X, H, W_xh, W_hh = (t.double() for t in ops)
            want = torch.einsum("bi,ij->bj", X, W_xh) + torch.einsum("bk,kj->bj", H, W_hh)
            got = outcome.value
            if not isinstance(got, torch.Tensor):
                return f"{fn}: expected a tensor of shape ({b}, {h}), got {describe(got)}"
            if tuple(got.shape) != (b, h):
                how = (
                    "join X and H side by side (dim=1), W_xh on top of W_hh (dim=0)"
                    if fn.endswith("concat")
                    else "multiply X by W_xh, not W_xh by X"
                )
                return (
                    f"{fn}: expected shape ({b}, {h}) = (batch, num_hiddens) with {where}, "
                    f"got {tuple(got.shape)}; {how}"
                )
            if not _close(got, want):
                return f"{fn}: wrong values with {where}; {_likely_slip(got, X, H, W_xh, W_hh)}"
            message = _inputs_untouched(fn, outcome, ops)
            if message:
                return message
        return None

    return Check(grade_id, calls, judge)


def _likely_slip(got, X, H, W_xh, W_hh) -> str:
    """Name the mistake whose value matches ``got``, if any."""
    right = X @ W_xh + H @ W_hh
    slips = [
        ("you applied tanh: the pre-activation has no tanh and no bias", torch.tanh(right)),
        ("W_hh is used transposed: use H @ W_hh", X @ W_xh + H @ W_hh.T),
        ("the hidden-state term H @ W_hh is missing", X @ W_xh),
        ("the input term X @ W_xh is missing", H @ W_hh),
    ]
    # Blocks in different orders run without an error for any d and h (inner sizes d + h).
    order = "the blocks are in different orders on the two sides: X before H, W_xh before W_hh"
    slips.append((order, torch.cat((H, X), 1) @ torch.cat((W_xh, W_hh), 0)))
    slips.append((order, torch.cat((X, H), 1) @ torch.cat((W_hh, W_xh), 0)))
    for text, value in slips:
        if _close(got, value):
            return text
    return (
        "expected X @ W_xh + H @ W_hh (keep the same order of the blocks on both sides, no "
        "tanh, no bias)"
    )


# --------------------------------------------------------------------------- one product


def _product_count(ops: dict[str, int]) -> tuple[int, list[str]]:
    used = sorted(name for name in ops if name.lower() in PRODUCT_OPS)
    return sum(ops[name] for name in used), used


def _one_product_check(gen) -> Check:
    cases = [(b, d, h, _operands(gen, b, d, h)) for b, d, h in _sizes(gen, 2, equal_one=False)]
    calls = [Call("preactivation_concat", args=ops, count_ops=True) for *_, ops in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (b, d, h, _), outcome in zip(cases, outcomes, strict=True):
            where = f"batch={b}, num_inputs={d}, num_hiddens={h}"
            if outcome.error is not None:
                return (
                    f"preactivation_concat, with {where}, raised {outcome.error}; join X and "
                    "H with dim=1, W_xh and W_hh with dim=0, then multiply once"
                )
            count, used = _product_count(outcome.ops)
            if count == 0:
                return (
                    "preactivation_concat: torch ran no matrix product (@, torch.matmul, "
                    "torch.mm, torch.einsum); multiply torch.cat((X, H), dim=1) by "
                    "torch.cat((W_xh, W_hh), dim=0) with one @"
                )
            if count > 1:
                return (
                    f"preactivation_concat: torch ran {count} matrix products "
                    f"({', '.join(used)}) with {where}; that is the separate form again: "
                    "concatenate first (torch.cat), then multiply once"
                )
        return None

    return Check("test_preactivation_concat_one_product", calls, judge)


# --------------------------------------------------------------------------- split_weights


def _split_check(gen) -> Check:
    cases = []
    for _, d, h in _sizes(gen, 3):
        cases.append((d, h, torch.randn(d + h, h, generator=gen)))
    calls = [Call("split_weights", args=(W, d), observe=(0,)) for d, _, W in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (d, h, W), outcome in zip(cases, outcomes, strict=True):
            fn, where = "split_weights", f"num_inputs={d}, num_hiddens={h}"
            if outcome.error is not None:
                return (
                    f"{fn}, with {where}, raised {outcome.error}; cut W after its first "
                    "num_inputs rows"
                )
            parts = outcome.value
            if not isinstance(parts, (tuple, list)) or len(parts) != 2:
                return f"{fn}: return the pair (W_xh, W_hh), got {describe(parts)}"
            top, rest = W[:d], W[d:]
            if _exact(parts[0], rest) and _exact(parts[1], top):
                return f"{fn}: the pieces are swapped; return (W_xh, W_hh), the top rows first"
            if _exact(parts[0], W[:h]) and d != h:
                return (
                    f"{fn}: with {where} you cut after num_hiddens rows; W_xh is the first "
                    "num_inputs rows"
                )
            if not (_exact(parts[0], top) and _exact(parts[1], rest)):
                shapes = ", ".join(describe(p) for p in parts)
                return (
                    f"{fn}: with {where} expected W_xh ({d}, {h}) = the first num_inputs "
                    f"ROWS of W and W_hh ({h}, {h}) = the rest; got {shapes}"
                )
            after = outcome.after.get(0)
            if after is not None and not _exact(after, W):
                return f"{fn}: your function changed W in place; only cut it"
        return None

    return Check("test_split_weights", calls, judge)


# --------------------------------------------------------------------------- to_torch_rnn


def _scratch_forward(inputs, H0, W_xh, W_hh, b_h):
    """Every H_t of H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h): (T, B, h), float64."""
    H, outs = H0, []
    for X_t in inputs:
        H = torch.tanh(X_t @ W_xh + H @ W_hh + b_h)
        outs.append(H)
    return torch.stack(outs)


def _torch_rnn_forward(inputs, H0, sd):
    """nn.RNN's documented update, h_t = tanh(x_t weight_ih_l0^T + bias_ih_l0 + h_{t-1}
    weight_hh_l0^T + bias_hh_l0), from a returned state_dict (plain tensors), float64."""
    w_ih, w_hh = sd["weight_ih_l0"].double(), sd["weight_hh_l0"].double()
    bias = sd["bias_ih_l0"].double() + sd["bias_hh_l0"].double()
    return _scratch_forward(inputs, H0, w_ih.T, w_hh.T, bias)


def _module_problem(data: ModuleData, d: int, h: int) -> str | None:
    fn = "to_torch_rnn"
    if data.class_name != RNN_CLASS:
        return f"{fn}: expected a torch.nn.RNN, got {data.class_name}; return nn.RNN itself"
    want = {
        "input_size": d,
        "hidden_size": h,
        "num_layers": 1,
        "nonlinearity": "tanh",
        "bias": True,
        "batch_first": False,
        "bidirectional": False,
    }
    hints = {
        "input_size": "read num_inputs off W_xh.shape[0]",
        "hidden_size": "read num_hiddens off W_xh.shape[1]",
        "num_layers": "one layer, like the scratch RNN",
        "nonlinearity": "the scratch layer uses tanh",
        "bias": "the layer needs its biases to hold b_h",
        "batch_first": "the scratch layer reads (num_steps, batch, num_inputs): keep "
        "batch_first=False",
        "bidirectional": "one direction only",
    }
    for key, value in want.items():
        if data.config.get(key) != value:
            return f"{fn}: {key}={data.config.get(key)!r}, expected {value!r}: {hints[key]}"
    shapes = {
        "weight_ih_l0": (h, d),
        "weight_hh_l0": (h, h),
        "bias_ih_l0": (h,),
        "bias_hh_l0": (h,),
    }
    for key, shape in shapes.items():
        value = data.state_dict.get(key)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            return f"{fn}: {key} should have shape {shape}, got {describe(value)}"
    return None


def _rnn_slip(sd, W_xh, W_hh, b_h) -> str:
    bias = sd["bias_ih_l0"].double() + sd["bias_hh_l0"].double()
    if _close(sd["weight_ih_l0"], W_xh.double()):
        return "weight_ih_l0 holds W_xh untransposed; nn.RNN stores W_xh.T"
    if not _close(sd["weight_ih_l0"], W_xh.double().T):
        return "weight_ih_l0 should hold W_xh.T (were the weights copied in at all?)"
    if not _close(sd["weight_hh_l0"], W_hh.double().T):
        return (
            "weight_hh_l0 should hold W_hh.T: it is square, so a missing transpose raises no error"
        )
    if _close(bias, 2 * b_h.double()):
        return "b_h went into both biases; their sum must be b_h (zeros in one of them)"
    return "bias_ih_l0 + bias_hh_l0 should equal b_h"


def _to_torch_rnn_check(gen) -> Check:
    cases = []
    for batch, d, h in _sizes(gen, 2):
        W_xh, W_hh = torch.randn(d, h, generator=gen) * 0.6, torch.randn(h, h, generator=gen) * 0.6
        b_h = torch.randn(h, generator=gen)
        steps = int(torch.randint(1, 7, (1,), generator=gen))
        inputs = torch.randn(steps, batch, d, generator=gen).double()
        H0 = torch.randn(batch, h, generator=gen).double()
        cases.append((d, h, (W_xh, W_hh, b_h), inputs, H0))
    calls = [Call("to_torch_rnn", args=weights) for _, _, weights, _, _ in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (d, h, weights, inputs, H0), outcome in zip(cases, outcomes, strict=True):
            fn, where = "to_torch_rnn", f"num_inputs={d}, num_hiddens={h}"
            if outcome.error is not None:
                return (
                    f"{fn}, with {where}, raised {outcome.error}; nn.RNN stores "
                    "weight_ih_l0 as (num_hiddens, num_inputs): copy W_xh.T into it"
                )
            data = outcome.value
            if not isinstance(data, ModuleData):
                return f"{fn}: expected a torch.nn.RNN, got {describe(data)}"
            problem = _module_problem(data, d, h)
            if problem:
                return problem
            W_xh, W_hh, b_h = (w.double() for w in weights)
            for start in (H0, torch.zeros_like(H0)):
                want = _scratch_forward(inputs, start, W_xh, W_hh, b_h)
                got = _torch_rnn_forward(inputs, start, data.state_dict)
                if not _close(got, want):
                    return f"{fn}: with {where} your nn.RNN computes another function: " + (
                        _rnn_slip(data.state_dict, *weights)
                    )
        return None

    return Check("test_to_torch_rnn", calls, judge)


# --------------------------------------------------------------------------- the lesson


def checks(seed: int) -> list[Check]:
    """One Check per autograded test cell, inputs drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return [
        _preactivation_check(
            "test_preactivation_separate", "preactivation_separate", _sizes(gen, 3), gen
        ),
        _preactivation_check(
            "test_preactivation_concat", "preactivation_concat", _sizes(gen, 3), gen
        ),
        _one_product_check(gen),
        _split_check(gen),
        _to_torch_rnn_check(gen),
    ]
