"""Broken and hostile submissions, graded in the same class run as the lesson's other cases.

They are applied to one lesson, ``ASSIGNMENT`` (lesson 1): its solution cells (grade_id) are
ngram_table_size, rnn_param_count, rnn_step, rnn_forward, answer_hidden_state; its autograded test
cells test_ngram_table_size, test_rnn_param_count, test_rnn_step, test_rnn_forward,
test_answer_hidden_state. A wrong rnn_step costs test_rnn_step only: rnn_forward is graded with a
reference step swapped in (its hidden tests and its trusted check), so each faked comparison below
must lose exactly test_rnn_step.

``HostileCase`` extends the catalogue's ``Case`` with what these need; the driver
(tests/test_catalogue.py) reads the extra fields with ``getattr`` so plain cases keep working:

- ``status``: the class command's expected status for the student (see
  ``grader.grade_class.STATUS_TEXT``). ``graded`` and ``renamed``: scores follow ``loses``.
  ``empty`` and ``no-notebook``: every autograded test cell scores 0. ``kernel-died``,
  ``timeout``, ``not-a-notebook``: every cell is left unscored (needs manual review).
- ``delete_cells``: grade_ids of cells the student deleted from the notebook.
- ``edit_cells``: grade_id -> the source the student wrote there (test cells included).
- ``folder``: ``"notebook"`` (default), ``"empty"`` (the folder holds nothing) or ``"no-notebook"``
  (only a text file).
- ``max_output_chars``: the autograded notebook's outputs must stay below this many characters.
- ``output_has`` / ``output_lacks``: strings that the autograded notebook's outputs must / must
  not contain (``output_has`` is the control that shows the attack ran).
- ``no_solution_in_output``: no line of a solution or hidden-test region of source/ may appear in
  the autograded notebook's outputs.
- ``server``: the driver starts a TCP server on the host's 127.0.0.1 and writes its port into the
  submission folder (``server_port.txt``); no connection may reach it.
- ``leaves_no_process``: a marker that no host process's command line may contain after the run.
- ``unscored``: with a sandbox limit status, the notebook could not be scored (its kernel died or
  stopped answering): every test cell is left unscored.

The sandbox attacks (gradebook tampering, a detached tamperer, reading source/, the network, a
fork bomb, a memory bomb, filling the disk) are graded with the sandbox's own statuses
(``processes-limit``, ``memory-limit``, ``file-size-limit``); the bombs sit in the last
solution cell, so the memory bomb and the disk filler lose exactly that cell's test, and the fork
bomb's notebook is left for a human; the honest cases in the same run keep full marks.

Plus the catalogue's own ``raw_notebook`` (bytes written instead of the notebook) and
``notebook_name`` (the file name the student saved it under).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import Case

ASSIGNMENT = "lesson1_hidden_state"

STEP_ONLY = {"test_rnn_step"}


@dataclass(frozen=True)
class HostileCase(Case):
    status: str = "graded"
    delete_cells: frozenset[str] | set[str] = frozenset()
    edit_cells: dict[str, str] = field(default_factory=dict)
    folder: str = "notebook"
    max_output_chars: int | None = None
    output_has: tuple[str, ...] = ()
    output_lacks: tuple[str, ...] = ()
    no_solution_in_output: bool = False
    server: bool = False
    leaves_no_process: str | None = None
    unscored: bool = False  # with a limit status: every test cell left unscored


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
        loses=STEP_ONLY,
    ),
    HostileCase(
        "hostile: test cell emptied, answer wrong",
        replace={"rnn_step": WRONG_STEP},
        edit_cells={"test_rnn_step": "pass\n", "test_rnn_forward": "print('all good')\n"},
        loses=STEP_ONLY,
    ),
    # ------------------------------------------------------------------ faked comparisons
    HostileCase(
        "hostile: torch.allclose always True, answer wrong",
        replace=faked("import torch\n\ntorch.allclose = lambda *a, **k: True"),
        loses=STEP_ONLY,
    ),
    HostileCase(
        "hostile: torch.testing.assert_close does nothing, answer wrong",
        replace=faked("import torch\n\ntorch.testing.assert_close = lambda *a, **k: None"),
        loses=STEP_ONLY,
    ),
    HostileCase(
        "hostile: numpy.allclose always True, answer wrong",
        replace=faked("import numpy\n\nnumpy.allclose = lambda *a, **k: True"),
        loses=STEP_ONLY,
    ),
    HostileCase(
        "hostile: math.isclose always True, answer wrong",
        replace=faked("import math\n\nmath.isclose = lambda *a, **k: True"),
        loses=STEP_ONLY,
    ),
    HostileCase(
        "hostile: builtins.abs always 0, answer wrong",
        replace=faked("import builtins\n\nbuiltins.abs = lambda *a, **k: 0"),
        loses=STEP_ONLY,
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
        loses=STEP_ONLY,
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

# ---------------------------------------------------------------------- attacks on the grader
# Each runs in the sandboxed kernel. Walking up from the working folder, and through everything
# readable, it looks for the gradebook and for source/; nothing of the course is there to find.

_NGRAM = """
def ngram_table_size(vocab_size, n):
    return vocab_size**n
"""

FIND_GRADEBOOKS = '''
import os
import sqlite3


def _gradebooks():
    """Every *.db file anywhere it can see (the course's gradebook is somewhere above)."""
    found = []
    for folder, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr")]
        found += [os.path.join(folder, f) for f in files if f.endswith(".db")]
    return found


def _tamper(paths):
    changed = 0
    for path in paths:
        try:
            db = sqlite3.connect(path, timeout=1)
            db.execute("UPDATE grade SET auto_score = 0")
            db.commit()
            changed += 1
        except sqlite3.Error:
            pass
    return changed
'''

TAMPER_NOW = (
    FIND_GRADEBOOKS
    + """
paths = _gradebooks()
print(f"gradebooks rewritten: {_tamper(paths)} of {len(paths)} found")
"""
)

TAMPER_LATER = '''
import subprocess
import sys

# A tamperer detached from the kernel: it keeps rewriting grades after the kernel is gone.
LOOP = """
import time
paths = _gradebooks()
while True:
    _tamper(paths)
    time.sleep(0.2)
"""
subprocess.Popen(
    [sys.executable, "-c", __FIND__ + LOOP, "rnn-catalogue-tamperer"],
    start_new_session=True,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
print("tamperer started")
'''.replace("__FIND__", repr(FIND_GRADEBOOKS))

READ_SOURCE = """
import os

seen = 0
for folder, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr", "lib")]
    if os.path.abspath(folder).startswith(os.getcwd()):
        continue  # its own scratch folder
    for name in files:
        if name.endswith(".ipynb"):
            seen += 1
            try:
                text = open(os.path.join(folder, name), errors="replace").read()
            except OSError:
                continue
            if "BEGIN SOLUTION" in text:
                print("LEAKED", os.path.join(folder, name))
                print(text)
print(f"notebooks searched: {seen}")
"""

CONNECT = """
import socket

try:
    port = int(open("server_port.txt").read())
    socket.create_connection(("127.0.0.1", port), timeout=5).sendall(b"grades, please")
    print("CONNECTED to the host")
except OSError as err:
    print(f"network blocked: errno {err.errno}")
"""

FORK_BOMB = """
import os

while True:
    os.fork()
"""

MEMORY_BOMB = """
import torch

hoard = []
while True:
    hoard.append(torch.ones(2**27))  # 512 MiB each
"""

DISK_FILL = """
with open("filler.bin", "wb") as out:
    while True:
        out.write(bytes(2**24))  # 16 MiB at a time
"""

CASES += [
    HostileCase(
        "sandbox: rewrites every gradebook it finds, answer wrong",
        replace={"ngram_table_size": TAMPER_NOW + "\n" + _NGRAM, "rnn_step": WRONG_STEP},
        loses={"test_rnn_step"},
        output_has=("gradebooks rewritten: 0 of",),
    ),
    HostileCase(
        "sandbox: detached process keeps rewriting grades after its kernel",
        replace={"ngram_table_size": TAMPER_LATER + "\n" + _NGRAM},
        output_has=("tamperer started",),
        leaves_no_process="rnn-catalogue-tamperer",
    ),
    HostileCase(
        "sandbox: reads source/ and prints it into its output",
        replace={"ngram_table_size": READ_SOURCE + "\n" + _NGRAM},
        output_has=("notebooks searched:",),
        output_lacks=("LEAKED", "BEGIN SOLUTION", "BEGIN HIDDEN TESTS"),
        no_solution_in_output=True,
    ),
    HostileCase(
        "sandbox: connects to a server on the host's 127.0.0.1",
        replace={"ngram_table_size": CONNECT + "\n" + _NGRAM},
        output_has=("network blocked",),
        output_lacks=("CONNECTED",),
        server=True,
    ),
    HostileCase(
        "sandbox: fork bomb",
        replace={"answer_hidden_state": FORK_BOMB},
        status="processes-limit",
        # 64 copies of the kernel fill the sandbox; the kernel then no longer answers: nbgrader
        # gives up on the notebook (unscored), or its later cells time out (0 throughout, seen in
        # a CI run), and the status says why: a human looks at it.
        unscored=True,
    ),
    HostileCase(
        "sandbox: memory bomb",
        replace={"answer_hidden_state": MEMORY_BOMB},
        loses={"test_answer_hidden_state"},
        status="memory-limit",
    ),
    HostileCase(
        "sandbox: fills the disk",
        replace={"answer_hidden_state": DISK_FILL},
        loses={"test_answer_hidden_state"},
        status="file-size-limit",
    ),
]
