"""The catalogue of submissions: data, one module per assignment, graded by one driver.

A case is a student's notebook built from the instructor's solution with some solution cells
replaced. The driver (tests/test_catalogue.py) builds every case of every assignment as a student
folder, autogrades them all in one nbgrader run, and compares each autograded test cell's score
with what the case expects.

Adding a case is a few lines in ``tests/catalogue/<assignment>.py``::

    Case(
        "rnn_step: tanh forgotten",
        replace={"rnn_step": '''
def rnn_step(X, H, W_xh, W_hh, b_h):
    return X @ W_xh + H @ W_hh + b_h
'''},
        loses={"test_rnn_step"},
    )

``replace`` maps a solution cell's ``grade_id`` to the source that the student wrote there.
``loses`` names the autograded test cells (by ``grade_id``) that must score below their maximum;
every other autograded test cell of the notebook must keep full marks. A correct alternative
solution has an empty ``loses``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    name: str
    replace: dict[str, str] = field(default_factory=dict)
    loses: frozenset[str] | set[str] = frozenset()
    # Optional: the whole notebook is replaced by these raw bytes (not JSON, say), or the
    # notebook is renamed / removed; the driver documents what it supports.
    raw_notebook: bytes | None = None
    notebook_name: str | None = None
    note: str = ""
