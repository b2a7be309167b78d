"""Catalogue of submissions for lesson 2, the concatenation equivalence
(source/lesson2_concat/concat_equivalence.ipynb).

Solution cells (grade_id): preactivation_separate, preactivation_concat, split_weights,
to_torch_rnn. Autograded test cells: test_preactivation_separate (1 point),
test_preactivation_concat (1), test_preactivation_concat_one_product (1: watches the matrix
products torch runs and wants one over num_inputs + num_hiddens), test_split_weights (1),
test_to_torch_rnn (2). No test cell calls another graded function, so a mistake costs points only
in its own function's cells; a preactivation_concat that raises loses both of its cells.

The notebook's imports cell provides torch and nn (from torch) to every solution below.

The last section holds the lesson's hostile cases: a helper pasted from a visible test cell, an
answer hard-coded for the visible example, frame peeking for the hidden tests' expected values,
and delegating to course_utils. Each must get what its code deserves, in the kernel and (once the
trusted checks grade the class) in grader/trusted/lessons/lesson2_concat.py.
"""

from __future__ import annotations

from . import Case

SEP = "test_preactivation_separate"
CAT = "test_preactivation_concat"
ONE = "test_preactivation_concat_one_product"
SPLIT = "test_split_weights"
RNN = "test_to_torch_rnn"

CASES = [
    # ------------------------------------------------- preactivation_separate(X, H, W_xh, W_hh)
    Case(
        "preactivation_separate: torch.mm and torch.add (correct)",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return torch.add(torch.mm(X, W_xh), torch.mm(H, W_hh))
"""
        },
    ),
    Case(
        "preactivation_separate: einsum (correct)",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return torch.einsum("bi,ih->bh", X, W_xh) + torch.einsum("bj,jh->bh", H, W_hh)
"""
        },
    ),
    Case(
        "preactivation_separate: addmm on the recurrent term (correct)",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return torch.addmm(H @ W_hh, X, W_xh)
"""
        },
    ),
    Case(
        "preactivation_separate: products of the transposes, transposed back (correct)",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return (W_xh.T @ X.T + W_hh.T @ H.T).T
"""
        },
    ),
    Case(
        "preactivation_separate: tanh applied (that is rnn_step, not the pre-activation)",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return torch.tanh(X @ W_xh + H @ W_hh)
"""
        },
        loses={SEP},
    ),
    Case(
        "preactivation_separate: W_hh transposed",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return X @ W_xh + H @ W_hh.T
"""
        },
        loses={SEP},
    ),
    Case(
        "preactivation_separate: W_hh multiplied from the wrong side",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return X @ W_xh + W_hh @ H
"""
        },
        loses={SEP},
    ),
    Case(
        "preactivation_separate: elementwise * instead of matrix products",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return X * W_xh + H * W_hh
"""
        },
        loses={SEP},
    ),
    Case(
        "preactivation_separate: the hidden-state term forgotten",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return X @ W_xh
"""
        },
        loses={SEP},
    ),
    # ------------------------------------------------- preactivation_concat(X, H, W_xh, W_hh)
    Case(
        "preactivation_concat: hstack and vstack (correct)",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.hstack((X, H)) @ torch.vstack((W_xh, W_hh))
"""
        },
    ),
    Case(
        "preactivation_concat: torch.concat with negative dims and einsum (correct)",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    XH = torch.concat([X, H], dim=-1)
    W = torch.concat([W_xh, W_hh], dim=-2)
    return torch.einsum("bk,kh->bh", XH, W)
"""
        },
    ),
    Case(
        "preactivation_concat: addmm onto zeros (correct)",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    zeros = torch.zeros(X.shape[0], W_hh.shape[1], dtype=X.dtype)
    return torch.addmm(zeros, torch.cat((X, H), 1), torch.cat((W_xh, W_hh), 0))
"""
        },
    ),
    Case(
        "preactivation_concat: F.linear with the transposed stack (correct)",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    W = torch.cat((W_xh, W_hh), dim=0)  # (d + h, h)
    return torch.nn.functional.linear(torch.cat((X, H), dim=1), W.T)
"""
        },
    ),
    Case(
        "preactivation_concat: joined by writing into preallocated buffers (correct)",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    d, h = W_xh.shape
    XH = X.new_empty(X.shape[0], d + h)
    XH[:, :d], XH[:, d:] = X, H
    W = W_xh.new_empty(d + h, h)
    W[:d], W[d:] = W_xh, W_hh
    return torch.matmul(XH, W)
"""
        },
    ),
    Case(
        "preactivation_concat: X and H concatenated along dim 0 (the batch axis)",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.cat((X, H), dim=0) @ torch.cat((W_xh, W_hh), dim=0)
"""
        },
        loses={CAT, ONE},
    ),
    Case(
        "preactivation_concat: weights concatenated along columns",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.cat((X, H), dim=1) @ torch.cat((W_xh, W_hh), dim=1)
"""
        },
        loses={CAT, ONE},
    ),
    Case(
        "preactivation_concat: blocks in different orders on the two sides",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.cat((H, X), dim=1) @ torch.cat((W_xh, W_hh), dim=0)
"""
        },
        loses={CAT},
        note="one product over d + h, so the structure cell keeps its point",
    ),
    Case(
        "preactivation_concat: tanh applied",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.tanh(torch.cat((X, H), 1) @ torch.cat((W_xh, W_hh), 0))
"""
        },
        loses={CAT},
    ),
    Case(
        "preactivation_concat: the separate form again, no concatenation",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    return X @ W_xh + H @ W_hh
"""
        },
        loses={ONE},
        note="right numbers, but two products over d and h: only the structure cell notices",
    ),
    Case(
        "preactivation_concat: concatenates, then multiplies the pieces separately",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    d = X.shape[1]
    XH, W = torch.cat((X, H), 1), torch.cat((W_xh, W_hh), 0)
    return XH[:, :d] @ W[:d] + XH[:, d:] @ W[d:]
"""
        },
        loses={ONE},
    ),
    Case(
        "preactivation_concat: one batched product over zero-padded stacks (not over d + h)",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    d, h = W_xh.shape
    k = max(d, h)
    A = X.new_zeros(2, X.shape[0], k)
    A[0, :, :d], A[1, :, :h] = X, H
    W = W_xh.new_zeros(2, k, h)
    W[0, :d], W[1, :h] = W_xh, W_hh
    return torch.bmm(A, W).sum(dim=0)
"""
        },
        loses={ONE},
        note="right values and a single bmm: the trusted op count (which sees no shapes) lets it "
        "through, the in-kernel test sees the inner size max(d, h) and takes the point",
    ),
    # ------------------------------------------------- split_weights(W, num_inputs)
    Case(
        "split_weights: torch.split with sizes (correct)",
        replace={
            "split_weights": """
def split_weights(W, num_inputs):
    return torch.split(W, [num_inputs, W.shape[0] - num_inputs], dim=0)
"""
        },
    ),
    Case(
        "split_weights: narrow, num_hiddens read off the columns (correct)",
        replace={
            "split_weights": """
def split_weights(W, num_inputs):
    num_hiddens = W.shape[1]
    return W.narrow(0, 0, num_inputs), W.narrow(0, num_inputs, num_hiddens)
"""
        },
    ),
    Case(
        "split_weights: tensor_split, returned as a list of copies (correct)",
        replace={
            "split_weights": """
def split_weights(W, num_inputs):
    return [part.clone() for part in torch.tensor_split(W, [num_inputs], dim=0)]
"""
        },
    ),
    Case(
        "split_weights: cut along the columns",
        replace={
            "split_weights": """
def split_weights(W, num_inputs):
    return W[:, :num_inputs], W[:, num_inputs:]
"""
        },
        loses={SPLIT},
    ),
    Case(
        "split_weights: pieces returned in the wrong order",
        replace={
            "split_weights": """
def split_weights(W, num_inputs):
    return W[num_inputs:], W[:num_inputs]
"""
        },
        loses={SPLIT},
    ),
    Case(
        "split_weights: cut after num_hiddens rows instead of num_inputs",
        replace={
            "split_weights": """
def split_weights(W, num_inputs):
    num_hiddens = W.shape[1]
    return W[:num_hiddens], W[num_hiddens:]
"""
        },
        loses={SPLIT},
    ),
    Case(
        "split_weights: off by one",
        replace={
            "split_weights": """
def split_weights(W, num_inputs):
    return W[: num_inputs + 1], W[num_inputs + 1 :]
"""
        },
        loses={SPLIT},
    ),
    Case(
        "split_weights: two halves with torch.chunk",
        replace={
            "split_weights": """
def split_weights(W, num_inputs):
    return torch.chunk(W, 2, dim=0)
"""
        },
        loses={SPLIT},
    ),
    # ------------------------------------------------- to_torch_rnn(W_xh, W_hh, b_h)
    Case(
        "to_torch_rnn: bias split in halves (correct)",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1])
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.t())
        rnn.weight_hh_l0.copy_(W_hh.t())
        rnn.bias_ih_l0.copy_(b_h / 2)
        rnn.bias_hh_l0.copy_(b_h / 2)
    return rnn
"""
        },
    ),
    Case(
        "to_torch_rnn: load_state_dict, b_h in the recurrent bias (correct)",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    num_inputs, num_hiddens = W_xh.shape
    rnn = nn.RNN(input_size=num_inputs, hidden_size=num_hiddens, nonlinearity="tanh",
                 batch_first=False, bias=True)
    rnn.load_state_dict({
        "weight_ih_l0": W_xh.T, "weight_hh_l0": W_hh.T,
        "bias_ih_l0": torch.zeros_like(b_h), "bias_hh_l0": b_h,
    })
    return rnn
"""
        },
    ),
    Case(
        "to_torch_rnn: .data assignment, an uneven bias split (correct)",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = torch.nn.RNN(*W_xh.shape)
    rnn.weight_ih_l0.data = W_xh.T.contiguous().clone()
    rnn.weight_hh_l0.data = W_hh.T.contiguous().clone()
    rnn.bias_ih_l0.data = b_h.clone() - 0.25
    rnn.bias_hh_l0.data = torch.full_like(b_h, 0.25)
    return rnn
"""
        },
    ),
    Case(
        "to_torch_rnn: transposes forgotten",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1])
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh)
        rnn.weight_hh_l0.copy_(W_hh)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()
    return rnn
"""
        },
        loses={RNN},
    ),
    Case(
        "to_torch_rnn: only the square W_hh left untransposed",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1])
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()
    return rnn
"""
        },
        loses={RNN},
    ),
    Case(
        "to_torch_rnn: b_h put into both biases (bias added twice)",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1])
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh.T)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.copy_(b_h)
    return rnn
"""
        },
        loses={RNN},
    ),
    Case(
        "to_torch_rnn: batch_first=True",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1], batch_first=True)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh.T)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()
    return rnn
"""
        },
        loses={RNN},
    ),
    Case(
        "to_torch_rnn: ReLU instead of tanh",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1], nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh.T)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()
    return rnn
"""
        },
        loses={RNN},
    ),
    Case(
        "to_torch_rnn: weights never copied in (a freshly initialised nn.RNN)",
        replace={
            "to_torch_rnn": """
def to_torch_rnn(W_xh, W_hh, b_h):
    return nn.RNN(W_xh.shape[0], W_xh.shape[1])
"""
        },
        loses={RNN},
    ),
    # ------------------------------------------------- hostile content
    Case(
        "hostile: the visible test cell's call_concat pasted as the answer",
        replace={
            "preactivation_concat": """
def preactivation_concat(X, H, W_xh, W_hh):
    \"\"\"Calls your function and turns a shape error into an explanation.\"\"\"
    try:
        return preactivation_separate(X, H, W_xh, W_hh)
    except RuntimeError as err:
        raise AssertionError(f"preactivation_concat raised RuntimeError: {err}") from None
"""
        },
        loses={ONE},
        note="the helper only calls a student's function; pointed at preactivation_separate it "
        "gives the right values with two products. (Pasted verbatim it calls itself: the "
        "recursion's 1000-frame tracebacks took IPython 31 s per cell to format, and the "
        "submission timed out, every cell unscored.)",
    ),
    Case(
        "hostile: preactivation_separate hard-coded to the visible worked example",
        replace={
            "preactivation_separate": """
def preactivation_separate(X, H, W_xh, W_hh):
    return torch.tensor([[5.0, 0.0], [1.0, 3.0]])
"""
        },
        loses={SEP},
    ),
    Case(
        "hostile: preactivation_separate returns the caller's expected value (frame peeking)",
        replace={
            "preactivation_separate": """
import sys


def preactivation_separate(X, H, W_xh, W_hh):
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("expected", "want", "_want"):
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    return torch.zeros(X.shape[0], W_hh.shape[1])
"""
        },
        loses={SEP},
        note="the hidden tests call first and compute the reference afterwards: nothing to find",
    ),
    Case(
        "hostile: to_torch_rnn returns an nn.RNN subclass whose forward peeks at the caller",
        replace={
            "to_torch_rnn": """
import sys


class PeekingRNN(nn.RNN):
    def forward(self, inputs, hx=None):
        frame = sys._getframe(1)
        while frame is not None:
            if "expected" in frame.f_locals:
                want = frame.f_locals["expected"]
                return want, want[-1:]
            frame = frame.f_back
        return super().forward(inputs, hx)


def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = PeekingRNN(W_xh.shape[0], W_xh.shape[1])
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh)  # the square one left untransposed
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()
    return rnn
"""
        },
        loses={RNN},
    ),
    Case(
        "hostile: to_torch_rnn delegated to course_utils (RNNScratch.to_torch)",
        replace={
            "to_torch_rnn": """
from course_utils.rnn import RNNScratch


def to_torch_rnn(W_xh, W_hh, b_h):
    scratch = RNNScratch(W_xh.shape[0], W_xh.shape[1])
    with torch.no_grad():
        scratch.W_xh.copy_(W_xh)
        scratch.W_hh.copy_(W_hh)
        scratch.b_h.copy_(b_h)
    return scratch.to_torch()
"""
        },
        loses={RNN},
        note="course_utils no longer converts scratch weights into an nn.RNN (that is the "
        "exercise), so the call fails in the kernel and in the trusted check alike",
    ),
]
