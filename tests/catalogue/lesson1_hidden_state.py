"""Catalogue of lesson 1 submissions (assignment ``lesson1_hidden_state``).

Solution cells (grade_id): ngram_table_size, rnn_param_count, rnn_step, rnn_forward,
answer_hidden_state. Autograded test cells: test_ngram_table_size (1 point),
test_rnn_param_count (1), test_rnn_step (2), test_rnn_forward (3), test_answer_hidden_state (1).

The instructor's ``rnn_forward`` calls the student's ``rnn_step``, yet a wrong ``rnn_step`` costs
only ``test_rnn_step``: the hidden tests (and the trusted check) grade ``rnn_forward`` with a
correct step swapped in, and the visible part of ``test_rnn_forward`` is skipped, with a note,
while ``rnn_step`` fails its own worked example.

The cases of ``_lesson1_cheats.py`` (in-kernel cheats, pasted test helpers, delegation) are added
at the end.
"""

from __future__ import annotations

from . import Case
from ._lesson1_cheats import CHEAT_CASES

STEP = {"test_rnn_step"}


def ngram_returns(expression: str) -> dict[str, str]:
    """A one-line ngram_table_size that returns ``expression``."""
    return {"ngram_table_size": f"def ngram_table_size(vocab_size, n):\n    return {expression}\n"}


def step_returns(expression: str) -> dict[str, str]:
    """A one-line rnn_step that returns ``expression``."""
    return {"rnn_step": f"def rnn_step(X, H, W_xh, W_hh, b_h):\n    return {expression}\n"}


CASES = [
    # ------------------------------------------------------------------ ngram_table_size
    Case(
        "ngram_table_size: math.prod over the n positions",
        replace={
            "ngram_table_size": """
import math


def ngram_table_size(vocab_size, n):
    return math.prod([vocab_size] * n)
"""
        },
    ),
    Case(
        "ngram_table_size: contexts times next tokens, in a loop",
        replace={
            "ngram_table_size": """
def ngram_table_size(vocab_size, n):
    contexts = 1
    for _ in range(n - 1):
        contexts *= vocab_size
    return contexts * vocab_size
"""
        },
    ),
    Case(
        "ngram_table_size: built-in pow",
        replace=ngram_returns("pow(vocab_size, n)"),
    ),
    Case(
        "ngram_table_size: contexts only, |V|^(n-1)",
        replace=ngram_returns("vocab_size ** (n - 1)"),
        loses={"test_ngram_table_size"},
    ),
    Case(
        "ngram_table_size: one power too many, |V|^(n+1)",
        replace=ngram_returns("vocab_size ** (n + 1)"),
        loses={"test_ngram_table_size"},
    ),
    Case(
        "ngram_table_size: |V| * n (adds instead of multiplying choices)",
        replace=ngram_returns("vocab_size * n"),
        loses={"test_ngram_table_size"},
    ),
    Case(
        "ngram_table_size: base and exponent swapped",
        replace=ngram_returns("n**vocab_size"),
        loses={"test_ngram_table_size"},
    ),
    Case(
        "ngram_table_size: float from math.pow (inexact for large tables)",
        replace={
            "ngram_table_size": """
import math


def ngram_table_size(vocab_size, n):
    return int(math.pow(vocab_size, n))
"""
        },
        loses={"test_ngram_table_size"},
        note="exact for the visible cases; 10000**6 = 10**24 is not exact as a float",
    ),
    # ------------------------------------------------------------------ rnn_param_count
    Case(
        "rnn_param_count: numel of the five tensors",
        replace={
            "rnn_param_count": """
def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    shapes = [(num_inputs, num_hiddens), (num_hiddens, num_hiddens), (num_hiddens,),
              (num_hiddens, num_outputs), (num_outputs,)]
    return sum(torch.empty(shape).numel() for shape in shapes)
"""
        },
    ),
    Case(
        "rnn_param_count: factored, h * (d + h + 1 + q) + q",
        replace={
            "rnn_param_count": """
def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    h = num_hiddens
    return h * (num_inputs + h + 1 + num_outputs) + num_outputs
"""
        },
    ),
    Case(
        "rnn_param_count: counted from torch modules",
        replace={
            "rnn_param_count": """
from torch import nn


def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    hidden = nn.Linear(num_inputs + num_hiddens, num_hiddens)  # [W_xh; W_hh] and b_h
    output = nn.Linear(num_hiddens, num_outputs)  # W_hq and b_q
    return sum(p.numel() for m in (hidden, output) for p in m.parameters())
"""
        },
    ),
    Case(
        "rnn_param_count: biases forgotten",
        replace={
            "rnn_param_count": """
def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    return num_inputs * num_hiddens + num_hiddens**2 + num_hiddens * num_outputs
"""
        },
        loses={"test_rnn_param_count"},
    ),
    Case(
        "rnn_param_count: W_hh counted once per time step",
        replace={
            "rnn_param_count": """
def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    num_steps = 35  # the sequence length used in training
    d, h, q = num_inputs, num_hiddens, num_outputs
    return d * h + num_steps * h * h + h + h * q + q
"""
        },
        loses={"test_rnn_param_count"},
    ),
    Case(
        "rnn_param_count: two hidden biases, as in torch.nn.RNN",
        replace={
            "rnn_param_count": """
def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    d, h, q = num_inputs, num_hiddens, num_outputs
    return d * h + h * h + 2 * h + h * q + q
"""
        },
        loses={"test_rnn_param_count"},
    ),
    Case(
        "rnn_param_count: W_hh forgotten (an MLP's count)",
        replace={
            "rnn_param_count": """
def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    d, h, q = num_inputs, num_hiddens, num_outputs
    return d * h + h + h * q + q
"""
        },
        loses={"test_rnn_param_count"},
    ),
    # ------------------------------------------------------------------ rnn_step
    Case(
        "rnn_step: einsum",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    pre = torch.einsum("bi,ih->bh", X, W_xh) + torch.einsum("bk,kh->bh", H, W_hh)
    return torch.tanh(pre + b_h)
"""
        },
    ),
    Case(
        "rnn_step: one product of the concatenations",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    XH = torch.cat((X, H), dim=1)  # (batch, inputs + hiddens)
    W = torch.cat((W_xh, W_hh), dim=0)  # (inputs + hiddens, hiddens)
    return torch.tanh(torch.addmm(b_h, XH, W))
"""
        },
    ),
    Case(
        "rnn_step: F.linear with transposed weights",
        replace={
            "rnn_step": """
import torch.nn.functional as F


def rnn_step(X, H, W_xh, W_hh, b_h):
    return F.linear(X, W_xh.T, b_h).add(F.linear(H, W_hh.T)).tanh()
"""
        },
    ),
    Case(
        "rnn_step: tanh forgotten",
        replace=step_returns("X @ W_xh + H @ W_hh + b_h"),
        loses=STEP,
    ),
    Case(
        "rnn_step: W_hh multiplied from the wrong side",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    return torch.tanh(X @ W_xh + (W_hh @ H.T).T + b_h)
"""
        },
        loses=STEP,
        note="(W_hh H^T)^T = H W_hh^T: right shape, wrong values",
    ),
    Case(
        "rnn_step: W_hh @ H (shape error unless batch == hiddens)",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    return torch.tanh(X @ W_xh + W_hh @ H + b_h)
"""
        },
        loses=STEP,
    ),
    Case(
        "rnn_step: bias added twice",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    return torch.tanh((X @ W_xh + b_h) + (H @ W_hh + b_h))
"""
        },
        loses=STEP,
    ),
    Case(
        "rnn_step: sigmoid instead of tanh",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    return torch.sigmoid(X @ W_xh + H @ W_hh + b_h)
"""
        },
        loses=STEP,
    ),
    Case(
        "rnn_step: right values, but H updated in place",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    new_state = torch.tanh(X @ W_xh + H @ W_hh + b_h)
    H.copy_(new_state)  # "update the state"
    return H
"""
        },
        loses=STEP,
        note="values right, but the caller's H is overwritten; rnn_forward is graded with a "
        "correct step, so only the step's cell is lost",
    ),
    # ------------------------------------------------------------------ rnn_forward
    Case(
        "rnn_forward: preallocated outputs, inline formula",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    num_steps = inputs.shape[0]
    outputs = torch.empty(num_steps, *H0.shape, dtype=H0.dtype)
    H = H0
    for t in range(num_steps):
        H = torch.tanh(inputs[t] @ W_xh + H @ W_hh + b_h)
        outputs[t] = H
    return outputs, H
"""
        },
    ),
    Case(
        "rnn_forward: all input products at once, then a loop with cat",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    XW = inputs @ W_xh + b_h  # (num_steps, batch, hiddens), all steps at once
    states = []
    H = H0
    for xw in XW:
        H = torch.tanh(xw + H @ W_hh)
        states.append(H.unsqueeze(0))
    return torch.cat(states, dim=0), H
"""
        },
    ),
    Case(
        "rnn_forward: recursion",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    H1 = rnn_step(inputs[0], H0, W_xh, W_hh, b_h)
    if inputs.shape[0] == 1:
        return H1.unsqueeze(0), H1
    rest, H_T = rnn_forward(inputs[1:], H1, W_xh, W_hh, b_h)
    return torch.cat([H1.unsqueeze(0), rest]), H_T
"""
        },
    ),
    Case(
        "rnn_forward: state not carried (every step starts from H0)",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    outputs = [rnn_step(X_t, H0, W_xh, W_hh, b_h) for X_t in inputs]
    return torch.stack(outputs), outputs[-1]
"""
        },
        loses={"test_rnn_forward"},
    ),
    Case(
        "rnn_forward: outputs returned as a list",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    H, outputs = H0, []
    for X_t in inputs:
        H = rnn_step(X_t, H, W_xh, W_hh, b_h)
        outputs.append(H)
    return outputs, H
"""
        },
        loses={"test_rnn_forward"},
    ),
    Case(
        "rnn_forward: only the last state as outputs",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    H = H0
    for X_t in inputs:
        H = rnn_step(X_t, H, W_xh, W_hh, b_h)
    return H, H
"""
        },
        loses={"test_rnn_forward"},
    ),
    Case(
        "rnn_forward: torch.cat instead of torch.stack",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    H, outputs = H0, []
    for X_t in inputs:
        H = rnn_step(X_t, H, W_xh, W_hh, b_h)
        outputs.append(H)
    return torch.cat(outputs), H
"""
        },
        loses={"test_rnn_forward"},
    ),
    Case(
        "rnn_forward: H0 ignored (starts from zeros)",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    H, outputs = torch.zeros_like(H0), []
    for X_t in inputs:
        H = rnn_step(X_t, H, W_xh, W_hh, b_h)
        outputs.append(H)
    return torch.stack(outputs), H
"""
        },
        loses={"test_rnn_forward"},
    ),
    Case(
        "rnn_forward: H0 included in outputs",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    H, outputs = H0, [H0]
    for X_t in inputs:
        H = rnn_step(X_t, H, W_xh, W_hh, b_h)
        outputs.append(H)
    return torch.stack(outputs), H
"""
        },
        loses={"test_rnn_forward"},
    ),
    # ------------------------------------------------------------------ answer_hidden_state
    Case(
        "answer_hidden_state: a list in another order",
        replace={"answer_hidden_state": 'answer_hidden_state = ["F", "C", "A"]\n'},
    ),
    Case(
        "answer_hidden_state: lower-case letters from a string",
        replace={"answer_hidden_state": 'answer_hidden_state = set("acf")\n'},
    ),
    Case(
        "answer_hidden_state: thinks H_t depends on X_t only (B added)",
        replace={"answer_hidden_state": 'answer_hidden_state = {"A", "B", "C", "F"}\n'},
        loses={"test_answer_hidden_state"},
    ),
    Case(
        "answer_hidden_state: parameters per time step (D added, F missing)",
        replace={"answer_hidden_state": 'answer_hidden_state = {"A", "C", "D"}\n'},
        loses={"test_answer_hidden_state"},
    ),
    Case(
        "answer_hidden_state: an MLP's hidden layer carries a state (E added)",
        replace={"answer_hidden_state": 'answer_hidden_state = {"A", "C", "E", "F"}\n'},
        loses={"test_answer_hidden_state"},
    ),
    # ------------------------------------------------------------------ more wrong answers
    Case(
        "rnn_step: not written, rnn_forward right",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    raise NotImplementedError()
"""
        },
        loses=STEP,
        note="rnn_forward's visible checks are skipped with a note; its hidden ones use a "
        "correct step",
    ),
    Case(
        "rnn_forward: loops over the batch axis (batch-first reading)",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    H, outputs = H0, []
    for t in range(inputs.shape[1]):
        H = rnn_step(inputs[:, t], H, W_xh, W_hh, b_h)
        outputs.append(H)
    return torch.stack(outputs), H
"""
        },
        loses={"test_rnn_forward"},
    ),
]

CASES += CHEAT_CASES
