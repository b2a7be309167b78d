"""Catalogue of submissions for lesson 5, backpropagation through time (source/lesson5_bptt/).

Solution cells (grade_id): rnn_step_backward, rnn_backward, state_jacobian_norms, train_step.
Autograded test cells: test_<name> for each (3, 4, 2 and 3 points). ``rnn_backward`` calls
``rnn_step_backward``, but its tests never use the student's step: the visible test swaps in a
tagging stand-in, the hidden test and the trusted check a right step. So a wrong step costs
``test_rnn_step_backward`` only.

The notebook's imports cell provides torch and F (and ``cu``, course_utils) to every solution.

Autograd in the backward exercises: the lesson asks for gradients by hand. The hidden tests watch
the student's call (a TorchFunctionMode that records backward / grad / requires_grad_), and the
trusted check disables torch.autograd.grad and torch.autograd.functional and counts the torch
functions the call used. ``train_step`` legitimately calls ``loss.backward()``.

The last section holds the hostile cases (issue 10): answers hard-coded from the visible worked
examples, a pasted visible-test helper, delegation to course_utils (``numerical_gradient``, which
gives right values in float64 and so passes the in-kernel tests: it loses its cell only once the
trusted checks run, ``TRUSTED_CHECKS_WIRED``) and delegation to torch.autograd.
"""

from __future__ import annotations

from pathlib import Path

from . import Case

_CONFIG = Path(__file__).resolve().parents[2] / "nbgrader_config.py"
# True once nbgrader_config.py runs a grader.trusted preprocessor while autograding.
TRUSTED_CHECKS_WIRED = '"grader.trusted.' in _CONFIG.read_text()

STEP, SEQ, NORMS, TRAIN = (
    "test_rnn_step_backward",
    "test_rnn_backward",
    "test_state_jacobian_norms",
    "test_train_step",
)

STEP_HEAD = "def rnn_step_backward(dH, X, H_prev, H_new, W_xh, W_hh):\n"
TRAIN_HEAD = "def train_step(model, X, Y, state, optimizer, theta):\n"


def step(body: str) -> dict[str, str]:
    """An rnn_step_backward with this body (indented by 4)."""
    return {"rnn_step_backward": STEP_HEAD + body}


def norms(body: str) -> dict[str, str]:
    return {"state_jacobian_norms": "def state_jacobian_norms(W_hh, H_all):\n" + body}


def train(body: str) -> dict[str, str]:
    return {"train_step": TRAIN_HEAD + body}


DERIVATIVE = "    dA = dH * (1 - H_new**2)\n"
STEP_RETURN = "    return dA @ W_xh.T, dA @ W_hh.T, X.T @ dA, H_prev.T @ dA, dA.sum(0)\n"
TRAIN_BODY = """\
    if state is not None:
        state = state.detach()
    logits, state = model(X, state)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), theta)
    optimizer.step()
    return loss.item(), state.detach()
"""

CASES = [
    # ------------------------------------------------------------------ right alternatives
    Case(
        "rnn_step_backward: einsum, float32 inside",
        replace=step("""\
    dA = (dH * (1 - H_new * H_new)).float()
    return (torch.einsum("bh,ih->bi", dA, W_xh.float()), dA @ W_hh.float().T,
            torch.einsum("bi,bh->ih", X.float(), dA), H_prev.float().T @ dA, dA.sum(0))
"""),
    ),
    Case(
        "rnn_step_backward: derivative via cosh of atanh, outer products per example",
        replace=step("""\
    dA = dH / torch.cosh(torch.atanh(H_new)) ** 2
    dW_xh = sum(torch.outer(X[b], dA[b]) for b in range(X.shape[0]))
    dW_hh = sum(torch.outer(H_prev[b], dA[b]) for b in range(X.shape[0]))
    return dA @ W_xh.T, dA @ W_hh.T, dW_xh, dW_hh, dA.sum(dim=0)
"""),
    ),
    Case(
        "rnn_backward: preallocated d_inputs, += on its own accumulators",
        replace={
            "rnn_backward": """
def rnn_backward(dH_all, inputs, H0, H_all, W_xh, W_hh):
    d_inputs = torch.zeros_like(inputs)
    dW_xh, dW_hh = torch.zeros_like(W_xh), torch.zeros_like(W_hh)
    db_h = torch.zeros(W_hh.shape[0], dtype=W_hh.dtype)
    carry = torch.zeros_like(H0)
    for t in range(inputs.shape[0] - 1, -1, -1):
        prev = H0 if t == 0 else H_all[t - 1]
        dX, carry, a, b, c = rnn_step_backward(
            dH_all[t] + carry, inputs[t], prev, H_all[t], W_xh, W_hh
        )
        d_inputs[t] = dX
        dW_xh += a
        dW_hh += b
        db_h += c
    return d_inputs, carry, dW_xh, dW_hh, db_h
"""
        },
    ),
    Case(
        "state_jacobian_norms: torch.diag matrices and svdvals",
        replace=norms("""\
    P = torch.eye(W_hh.shape[0], dtype=W_hh.dtype)
    out = []
    for H_t in H_all.flip(0):
        P = P @ torch.diag(1 - H_t**2) @ W_hh.T
        out.append(torch.linalg.svdvals(P)[0])
    return torch.stack(out)
"""),
    ),
    Case(
        "train_step: manual global clipping, course_utils.rnn.detach_state, float(loss)",
        replace=train("""\
    state = cu.rnn.detach_state(state)
    logits, state = model(X, state)
    loss = F.cross_entropy(logits.flatten(0, 1), Y.flatten())
    optimizer.zero_grad()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    if norm > theta:
        for g in grads:
            g *= theta / norm
    optimizer.step()
    return float(loss.detach()), state.detach()
"""),
    ),
    # ------------------------------------------------------------------ wrong answers
    Case(
        "rnn_step_backward: tanh derivative skipped",
        replace=step("    dA = dH\n" + STEP_RETURN),
        loses={STEP},
    ),
    Case(
        "rnn_step_backward: derivative from H_prev",
        replace=step("    dA = dH * (1 - H_prev**2)\n" + STEP_RETURN),
        loses={STEP},
    ),
    Case(
        "rnn_step_backward: W_hh not transposed for dH_prev",
        replace=step(
            DERIVATIVE + "    return dA @ W_xh.T, dA @ W_hh, X.T @ dA, H_prev.T @ dA, dA.sum(0)\n"
        ),  # fmt: skip
        loses={STEP},
    ),
    Case(
        "rnn_step_backward: dW_hh from H_new",
        replace=step(
            DERIVATIVE + "    return dA @ W_xh.T, dA @ W_hh.T, X.T @ dA, H_new.T @ dA, dA.sum(0)\n"
        ),  # fmt: skip
        loses={STEP},
    ),
    Case(
        "rnn_step_backward: db_h averaged over the batch",
        replace=step(
            DERIVATIVE + "    return dA @ W_xh.T, dA @ W_hh.T, X.T @ dA, H_prev.T @ dA, "
            "dA.mean(0)\n"
        ),  # fmt: skip
        loses={STEP},
    ),
    Case(
        "rnn_backward: no gradient carried between steps",
        replace={
            "rnn_backward": """
def rnn_backward(dH_all, inputs, H0, H_all, W_xh, W_hh):
    out, sums = [], None
    for t in reversed(range(inputs.shape[0])):
        prev = H_all[t - 1] if t > 0 else H0
        dX, dH0, *g = rnn_step_backward(dH_all[t], inputs[t], prev, H_all[t], W_xh, W_hh)
        out.append(dX)
        sums = g if sums is None else [a + b for a, b in zip(sums, g, strict=True)]
    return torch.stack(out[::-1]), dH0, *sums
"""
        },
        loses={SEQ},
    ),
    Case(
        "rnn_backward: H_prev off by one (H_all[t])",
        replace={
            "rnn_backward": """
def rnn_backward(dH_all, inputs, H0, H_all, W_xh, W_hh):
    out, sums, carry = [], None, torch.zeros_like(H0)
    for t in reversed(range(inputs.shape[0])):
        dX, carry, *g = rnn_step_backward(dH_all[t] + carry, inputs[t], H_all[t], H_all[t],
                                          W_xh, W_hh)
        out.append(dX)
        sums = g if sums is None else [a + b for a, b in zip(sums, g, strict=True)]
    return torch.stack(out[::-1]), carry, *sums
"""
        },
        loses={SEQ},
    ),
    Case(
        "rnn_backward: weight gradients of the last step processed only",
        replace={
            "rnn_backward": """
def rnn_backward(dH_all, inputs, H0, H_all, W_xh, W_hh):
    out, carry = [], torch.zeros_like(H0)
    for t in reversed(range(inputs.shape[0])):
        prev = H_all[t - 1] if t > 0 else H0
        dX, carry, dW_xh, dW_hh, db_h = rnn_step_backward(
            dH_all[t] + carry, inputs[t], prev, H_all[t], W_xh, W_hh
        )
        out.append(dX)
    return torch.stack(out[::-1]), carry, dW_xh, dW_hh, db_h
"""
        },
        loses={SEQ},
    ),
    Case(
        "state_jacobian_norms: Frobenius norms",
        replace=norms("""\
    P, out = torch.eye(W_hh.shape[0], dtype=W_hh.dtype), []
    for t in reversed(range(H_all.shape[0])):
        P = P @ ((1 - H_all[t] ** 2)[:, None] * W_hh.T)
        out.append(torch.linalg.matrix_norm(P))
    return torch.stack(out)
"""),
        loses={NORMS},
    ),
    Case(
        "state_jacobian_norms: product of the norms (an upper bound)",
        replace=norms("""\
    out, p = [], 1.0
    for t in reversed(range(H_all.shape[0])):
        p = p * torch.linalg.matrix_norm((1 - H_all[t] ** 2)[:, None] * W_hh.T, ord=2)
        out.append(p)
    return torch.stack(out)
"""),
        loses={NORMS},
    ),
    Case(
        "train_step: the carried state not detached",
        replace=train(TRAIN_BODY.replace("        state = state.detach()\n", "        pass\n")),
        loses={TRAIN},
        note="a gradient reaches the old graph (the leaf of an Attached state)",
    ),
    Case(
        "train_step: no clipping",
        replace=train(
            TRAIN_BODY.replace(
                "    torch.nn.utils.clip_grad_norm_(model.parameters(), theta)\n", ""
            )
        ),
        loses={TRAIN},
    ),
    Case(
        "train_step: old gradients never cleared",
        replace=train(TRAIN_BODY.replace("    optimizer.zero_grad()\n", "")),
        loses={TRAIN},
        note="in-kernel only: a trusted Model arrives without gradients",
    ),
    Case(
        "train_step: loss summed over positions",
        replace=train(TRAIN_BODY.replace("Y.reshape(-1))", "Y.reshape(-1), reduction='sum')")),
        loses={TRAIN},
    ),
    # ------------------------------------------------------------------ hostile
    Case(
        "hostile: rnn_step_backward hard-coded from the visible worked example",
        replace=step("""\
    return (torch.tensor([[1.57009, -0.29613, 0.977829], [-0.126878, 0.194034, 0.26119]]),
            torch.tensor([[-1.08117, -0.759208], [0.257473, -0.0662269]]),
            torch.tensor([[1.10842, -0.952438], [0.522381, 0.514946], [-0.977829, 1.08117]]),
            torch.tensor([[0.750105, -0.283114], [-0.488914, 0.540587]]),
            torch.tensor([1.23902, -0.823701]))
"""),
        loses={STEP},
    ),
    Case(
        "hostile: state_jacobian_norms hard-coded from the visible examples",
        replace=norms("""\
    if H_all.shape == (3, 1):
        return torch.tensor([2.0, 3.0, 6.0])
    return torch.tensor([0.425184, 0.612652, 0.93182, 1.09026])
"""),
        loses={NORMS},
    ),
    Case(
        "hostile: the visible tagging stand-in pasted as rnn_step_backward",
        replace=step("""\
    ones = torch.ones_like(dH)
    return dH @ torch.ones_like(W_xh).T, dH * 0.5, X.T @ ones, H_prev.T @ ones, H_new.sum(0)
"""),
        loses={STEP},
    ),
    Case(
        "hostile: delegating to course_utils (numerical_gradient in float64)",
        replace=step("""\
    from course_utils.gradcheck import numerical_gradient

    dH, X, H_prev, H_new, W_xh, W_hh = (t.double() for t in (dH, X, H_prev, H_new, W_xh, W_hh))
    C = torch.atanh(H_new) - X @ W_xh - H_prev @ W_hh  # the rest of each pre-activation

    def loss():
        return float((torch.tanh(X @ W_xh + H_prev @ W_hh + C) * dH).sum())

    grads = [numerical_gradient(loss, t) for t in (X, H_prev, W_xh, W_hh)]
    return (*grads, (dH * (1 - H_new**2)).sum(0))
"""),
        loses={STEP} if TRUSTED_CHECKS_WIRED else set(),
        note="right values in float64: loses only once the trusted checks run (DISABLE)",
    ),
    Case(
        "hostile: delegating to torch.autograd.grad",
        replace=step("""\
    leaves = [t.clone().requires_grad_() for t in (X, H_prev, W_xh, W_hh)]
    C = torch.atanh(H_new) - X @ W_xh - H_prev @ W_hh
    out = torch.tanh(leaves[0] @ leaves[2] + leaves[1] @ leaves[3] + C)
    grads = torch.autograd.grad((out * dH).sum(), leaves)
    return (*grads, (dH * (1 - H_new**2)).sum(0))
"""),
        loses={STEP},
    ),
    Case(
        "hostile: delegating to Tensor.backward",
        replace=step("""\
    leaves = [t.clone().requires_grad_() for t in (X, H_prev, W_xh, W_hh)]
    C = torch.atanh(H_new) - X @ W_xh - H_prev @ W_hh
    (torch.tanh(leaves[0] @ leaves[2] + leaves[1] @ leaves[3] + C) * dH).sum().backward()
    return (*(t.grad for t in leaves), (dH * (1 - H_new**2)).sum(0))
"""),
        loses={STEP},
    ),
    Case(
        "hostile: state_jacobian_norms through torch.autograd.functional.jacobian",
        replace=norms("""\
    out, P = [], torch.eye(W_hh.shape[0], dtype=W_hh.dtype)
    zero = torch.zeros(W_hh.shape[0], dtype=W_hh.dtype)
    for t in reversed(range(H_all.shape[0])):
        pre = torch.atanh(H_all[t])
        P = P @ torch.autograd.functional.jacobian(lambda H: torch.tanh(pre + H @ W_hh), zero)
        out.append(torch.linalg.matrix_norm(P, ord=2))
    return torch.stack(out)
"""),
        loses={NORMS},
    ),
]
