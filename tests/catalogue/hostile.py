"""Broken and hostile submissions, graded in the same class run as the lesson's other cases.

They are applied to one lesson, ``ASSIGNMENT`` (lesson 1): its solution cells (grade_id) are
ngram_table_size, rnn_param_count, rnn_step, rnn_forward, answer_hidden_state; its autograded test
cells test_ngram_table_size, test_rnn_param_count, test_rnn_step, test_rnn_forward (which also
calls the student's rnn_step), test_answer_hidden_state.

``HostileCase`` extends the catalogue's ``Case`` with what these need; the driver
(tests/test_catalogue.py) reads the extra fields with ``getattr`` so plain cases keep working:

- ``status``: the class command's expected status for the student (see
  ``course_utils.grade_class.STATUS_TEXT``). ``graded`` and ``renamed``: scores follow ``loses``.
  ``empty`` and ``no-notebook``: every autograded test cell scores 0. ``kernel-died``,
  ``timeout``, ``not-a-notebook``: every cell is left unscored (needs manual review).
- ``delete_cells``: grade_ids of cells the student deleted from the notebook.
- ``edit_cells``: grade_id -> the source the student wrote there (test cells included).
- ``folder``: ``"notebook"`` (default), ``"empty"`` (the folder holds nothing) or ``"no-notebook"``
  (only a text file).
- ``max_output_chars``: the autograded notebook's outputs must stay below this many characters.

Plus the catalogue's own ``raw_notebook`` (bytes written instead of the notebook) and
``notebook_name`` (the file name the student saved it under).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import Case

ASSIGNMENT = "lesson1_hidden_state"

STEP_AND_FORWARD = {"test_rnn_step", "test_rnn_forward"}


@dataclass(frozen=True)
class HostileCase(Case):
    status: str = "graded"
    delete_cells: frozenset[str] | set[str] = frozenset()
    edit_cells: dict[str, str] = field(default_factory=dict)
    folder: str = "notebook"
    max_output_chars: int | None = None


# rnn_step without tanh: a typical wrong answer that a faked comparison would let through.
WRONG_STEP = """
def rnn_step(X, H, W_xh, W_hh, b_h):
    return X @ W_xh + H @ W_hh + b_h
"""

RIGHT_STEP = """
def rnn_step(X, H, W_xh, W_hh, b_h):
    return torch.tanh(torch.addmm(b_h, X, W_xh) + H @ W_hh)
"""


def faked(patch: str) -> dict[str, str]:
    """A wrong rnn_step preceded by a patch meant to make every comparison pass."""
    return {"rnn_step": patch.strip() + "\n" + WRONG_STEP}


CASES = [
    # ------------------------------------------------------------------ runaway code
    HostileCase(
        "hostile: infinite loop in rnn_param_count",
        replace={
            "rnn_param_count": """
def rnn_param_count(num_inputs, num_hiddens, num_outputs):
    count = 0
    while count >= 0:  # never ends
        count += 1
    return count
"""
        },
        # its test cell times out (the per-cell limit), the growth slider's cell too; every
        # later cell still runs and is graded
        loses={"test_rnn_param_count"},
        note="costs two per-cell timeouts (test cell and the slider that calls it)",
    ),
    HostileCase(
        "hostile: kernel killed by os._exit(1)",
        replace={"rnn_forward": "import os\n\nos._exit(1)\n"},
        status="kernel-died",
    ),
    HostileCase(
        "hostile: kernel aborted by os.abort() (like a segfault)",
        replace={"rnn_step": "import os\n\nos.abort()\n"},
        status="kernel-died",
    ),
    HostileCase(
        "hostile: a million lines of output",
        replace={"rnn_step": "for i in range(10**6):\n    print(i)\n" + RIGHT_STEP},
        max_output_chars=200_000,
    ),
    # ------------------------------------------------------------------ test cells tampered with
    HostileCase(
        "hostile: test cells deleted, answers right",
        delete_cells={"test_rnn_step", "test_rnn_forward"},
    ),
    HostileCase(
        "hostile: test cell deleted, answer wrong",
        replace={"rnn_step": WRONG_STEP},
        delete_cells={"test_rnn_step"},
        loses=STEP_AND_FORWARD,
    ),
    HostileCase(
        "hostile: test cell emptied, answer wrong",
        replace={"rnn_step": WRONG_STEP},
        edit_cells={"test_rnn_step": "pass\n", "test_rnn_forward": "print('all good')\n"},
        loses=STEP_AND_FORWARD,
    ),
    # ------------------------------------------------------------------ faked comparisons
    HostileCase(
        "hostile: torch.allclose always True, answer wrong",
        replace=faked("import torch\n\ntorch.allclose = lambda *a, **k: True"),
        loses=STEP_AND_FORWARD,
    ),
    HostileCase(
        "hostile: torch.testing.assert_close does nothing, answer wrong",
        replace=faked("import torch\n\ntorch.testing.assert_close = lambda *a, **k: None"),
        loses=STEP_AND_FORWARD,
    ),
    HostileCase(
        "hostile: numpy.allclose always True, answer wrong",
        replace=faked("import numpy\n\nnumpy.allclose = lambda *a, **k: True"),
        loses=STEP_AND_FORWARD,
    ),
    HostileCase(
        "hostile: math.isclose always True, answer wrong",
        replace=faked("import math\n\nmath.isclose = lambda *a, **k: True"),
        loses=STEP_AND_FORWARD,
    ),
    HostileCase(
        "hostile: builtins.abs always 0, answer wrong",
        replace=faked("import builtins\n\nbuiltins.abs = lambda *a, **k: 0"),
        loses=STEP_AND_FORWARD,
    ),
    HostileCase(
        "hostile: every comparison faked at once, answer wrong",
        replace=faked(
            """
import builtins
import math

import numpy
import torch

torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
math.isclose = lambda *a, **k: True
builtins.abs = lambda *a, **k: 0
"""
        ),
        loses=STEP_AND_FORWARD,
    ),
    # ------------------------------------------------------------------ harmless noise
    HostileCase(
        "hostile: right answer that emits a warning",
        replace={
            "rnn_step": """
import warnings


def rnn_step(X, H, W_xh, W_hh, b_h):
    warnings.warn("rnn_step: consider a fused kernel", UserWarning, stacklevel=2)
    return torch.tanh(X @ W_xh + H @ W_hh + b_h)
"""
        },
    ),
    # ------------------------------------------------------------------ files
    HostileCase(
        "hostile: notebook renamed",
        notebook_name="hidden_state-Copy1.ipynb",
        status="renamed",
    ),
    HostileCase(
        "hostile: notebook missing (only a text file)",
        folder="no-notebook",
        status="no-notebook",
    ),
    HostileCase("hostile: empty submission folder", folder="empty", status="empty"),
    HostileCase(
        "hostile: notebook is not JSON",
        raw_notebook=b'{"cells": [ this is not JSON',
        status="not-a-notebook",
    ),
]
