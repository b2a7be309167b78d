"""Lesson 1 catalogue cases that rig the kernel or lean on code that answers an exercise.

Imported by ``lesson1_hidden_state.py`` (its ``CASES`` end with these).

- In-kernel cheats (issue 10): an input transformer, a custom exception handler, silenced
  tracebacks, the checks replaced through ``vars(course_utils.grading)``, a poisoned reference
  function, frame peeking, a Tensor subclass. Each comes with a wrong answer, and loses that cell
  however the kernel is rigged: some already in the kernel, the others (``note`` says "trusted")
  only through the trusted checks (grader/trusted/lessons/lesson1_hidden_state.py), which run
  outside the student's kernel once nbgrader_config.py wires them into grading.
- Pasted test helpers: code copied from the release test cells passes nothing.
- Delegating: calling course_utils or the torch built-in that answers the exercise.
"""

from __future__ import annotations

from . import Case

STEP = {"test_rnn_step"}

# rnn_step without tanh: the wrong answer that the in-kernel cheats below try to pass off.
WRONG_STEP = """
def rnn_step(X, H, W_xh, W_hh, b_h):
    return X @ W_xh + H @ W_hh + b_h
"""


def cheat(rigging: str) -> dict[str, str]:
    """The wrong rnn_step, then code that rigs the kernel so that its test cell passes there."""
    return {"rnn_step": WRONG_STEP + "\n\n" + rigging.strip() + "\n"}


TRUSTED = "passes in a rigged kernel; lost through the trusted check"

CHEAT_CASES = [
    # ------------------------------------------------------------------ in-kernel cheats
    Case(
        "cheat: input transformer wraps every later cell in try/except",
        replace=cheat(
            """
def _swallow(lines):
    body = ["    " + line for line in lines] or ["    pass\\n"]
    return ["try:\\n", *body, "\\nexcept BaseException:\\n", "    pass\\n"]


get_ipython().input_transformers_post.append(_swallow)
"""
        ),
        loses=STEP,
        note=TRUSTED,
    ),
    Case(
        "cheat: custom exception handler swallows every error",
        replace=cheat(
            """
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
"""
        ),
        loses=STEP,
        note=TRUSTED,
    ),
    Case(
        "cheat: tracebacks silenced",
        replace=cheat(
            """
_shell = get_ipython()
_shell.showtraceback = lambda *args, **kwargs: None
_shell._showtraceback = lambda *args, **kwargs: None
"""
        ),
        loses=STEP,
        note=TRUSTED,
    ),
    Case(
        "cheat: checks replaced through vars(course_utils.grading)",
        replace=cheat(
            """
import course_utils.grading

for _name in ("check_close", "check_equal", "check_shape", "check_type", "is_close"):
    vars(course_utils.grading)[_name] = lambda *args, **kwargs: True
"""
        ),
        loses=STEP,
        note=TRUSTED + " (plain attribute rebinding is refused in the kernel too)",
    ),
    Case(
        "cheat: torch.tanh and torch.nn.RNNCell poisoned to agree with the wrong step",
        replace=cheat(
            """
def _linear_cell(self, X, H=None):
    return X @ self.weight_ih.T + self.bias_ih + H @ self.weight_hh.T + self.bias_hh


torch.tanh = lambda x, *args, **kwargs: x
torch.nn.RNNCell.forward = _linear_cell
"""
        ),
        loses={"test_rnn_step", "test_rnn_forward"},
        note="the kernel's rnn_step reference agrees with the wrong step; the poisoned tanh also "
        "breaks the correct step that rnn_forward is graded with, in the kernel and in the sandbox",
    ),
    Case(
        "cheat: ngram_table_size reads the expected value from the caller's frames",
        replace={
            "ngram_table_size": """
import sys


def ngram_table_size(vocab_size, n):
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("_want", "want"):
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    return 0
"""
        },
        loses={"test_ngram_table_size"},
        note="passes the visible test (its loop variable `want`); the hidden tests compute the "
        "reference only after the call",
    ),
    Case(
        "cheat: rnn_step returns a Tensor subclass that agrees with every comparison",
        replace={
            "rnn_step": """
class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal", "isclose", "eq", "__eq__"):
            return True
        if name in ("sub", "__sub__", "__rsub__", "abs"):
            return torch.zeros(())
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **(kwargs or {}))

    def tolist(self):
        return [[0.96402758, 0.46211716]]


def rnn_step(X, H, W_xh, W_hh, b_h):
    return (X @ W_xh + H @ W_hh + b_h).as_subclass(Agreeable)
"""
        },
        loses=STEP,
    ),
    # ------------------------------------------------------------------ pasted test helpers
    Case(
        "pasted: the from_zero loop the visible forward test used to ship",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    H, from_zero = torch.zeros_like(H0), []
    for x in inputs:
        H = torch.tanh(x @ W_xh + H @ W_hh + b_h)
        from_zero.append(H)
    return torch.stack(from_zero), H
"""
        },
        loses={"test_rnn_forward"},
    ),
    Case(
        "pasted: the visible test's _call_forward as rnn_forward",
        replace={
            "rnn_forward": """
def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    try:
        result = rnn_forward(inputs, H0, W_xh, W_hh, b_h)
    except NotImplementedError:
        raise
    except RuntimeError as err:
        raise AssertionError(f"rnn_forward: raised RuntimeError ({err})") from err
    outputs, H_T = result
    return outputs, H_T
"""
        },
        loses={"test_rnn_forward"},
    ),
    Case(
        "pasted: the visible worked example's values as rnn_step",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    out = torch.zeros(X.shape[0], W_hh.shape[0])
    out[:, :2] = torch.tensor([0.96402758, 0.46211716])[: out.shape[1]]
    return out
"""
        },
        loses=STEP,
    ),
    # ------------------------------------------------------------------ delegating
    Case(
        "delegating: rnn_forward runs course_utils' RNNScratch",
        replace={
            "rnn_forward": """
from course_utils.rnn import RNNScratch


def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
    layer = RNNScratch(W_xh.shape[0], W_xh.shape[1]).to(inputs.dtype)
    with torch.no_grad():
        layer.W_xh.copy_(W_xh)
        layer.W_hh.copy_(W_hh)
        layer.b_h.copy_(b_h)
        return layer(inputs, H0)
"""
        },
        loses={"test_rnn_forward"},
        note="right values in the kernel; RNNScratch.forward is disabled while the trusted "
        "check runs",
    ),
    Case(
        "delegating: rnn_step runs torch.nn.RNNCell",
        replace={
            "rnn_step": """
def rnn_step(X, H, W_xh, W_hh, b_h):
    with torch.random.fork_rng(devices=[]):
        cell = torch.nn.RNNCell(W_xh.shape[0], W_xh.shape[1], dtype=X.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(W_xh.T)
        cell.weight_hh.copy_(W_hh.T)
        cell.bias_ih.copy_(b_h)
        cell.bias_hh.zero_()
        return cell(X, H)
"""
        },
        loses=STEP,
        note="right values in the kernel; torch.nn.RNNCell is disabled while the trusted check "
        "runs",
    ),
    Case(
        "delegating: rnn_param_count counts course_utils' character model",
        replace={
            "rnn_param_count": """
from course_utils.rnn import CharRNNScratch, count_parameters


def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    with torch.device("meta"):
        return count_parameters(CharRNNScratch(num_inputs, num_hiddens))
"""
        },
        loses={"test_rnn_param_count"},
        note="a character model has as many outputs as inputs: wrong whenever they differ",
    ),
]
