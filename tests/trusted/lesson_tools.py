"""What the in-process tests of the lessons' trusted checks share (tests/trusted/test_lesson*.py).

    tools = LessonTools(lesson, torch=torch)   # names the notebook's setup cells would give
    tools.solutions()                          # the instructor's answers, from source/
    tools.with_answer("def f(x): ...")         # the same with one answer replaced
    tools.failing(namespace, seed)             # grade_id -> message of every failed check

The instructor's answers are exec'd from the source notebook's solution cells (trusted text: the
instructor's own cells); the checks run with ``outcomes_in_process``, the sandbox's encoding.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from grader.trusted.harness import outcomes_in_process

ROOT = Path(__file__).resolve().parents[2]


class LessonTools:
    """Helpers for one lesson check module (``grader.trusted.lessons.<assignment>``)."""

    def __init__(self, lesson, *, seeded_calls: bool = False, **setup_names):
        """``setup_names``: the globals the notebook's setup cells give. ``seeded_calls``: the
        calls' recipes are encoded with the check's seed too (as the sandbox run does), not 0."""
        self.lesson = lesson
        self.seeded_calls = seeded_calls
        self.assignment = lesson.__name__.rsplit(".", 1)[1]
        self.source = ROOT / "source" / self.assignment / lesson.NOTEBOOK
        self.setup_names = setup_names

    def cells(self) -> list[dict]:
        """The source notebook's cells."""
        return json.loads(self.source.read_text())["cells"]

    def graded_ids(self) -> list[str]:
        """The grade_ids of the notebook's autograded test cells, in notebook order."""
        return [
            c["metadata"]["nbgrader"]["grade_id"]
            for c in self.cells()
            if c["metadata"].get("nbgrader", {}).get("grade")
        ]

    def solutions(self) -> dict:
        """The instructor's answers, exec'd from the source notebook's solution cells in a
        namespace holding the setup names."""
        namespace = dict(self.setup_names)
        for cell in self.cells():
            if cell["metadata"].get("nbgrader", {}).get("solution"):
                exec("".join(cell["source"]), namespace)  # trusted: the instructor's own cells
        return namespace

    def with_answers(self, replace: dict[str, str]) -> dict:
        """The solutions with some answers replaced (catalogue style: grade_id -> source)."""
        namespace = self.solutions()
        for code in replace.values():
            exec(textwrap.dedent(code), namespace)
        return namespace

    def with_answer(self, code: str) -> dict:
        """The solutions with the answers ``code`` defines replaced."""
        return self.with_answers({"answer": code})

    def verdicts(self, namespace: dict, seed: int = 0) -> dict[str, str | None]:
        """grade_id -> the check's message (None: passed), every check of ``seed``."""
        call_seed = seed if self.seeded_calls else 0
        return {
            check.grade_id: check.judge(outcomes_in_process(check.calls, namespace, call_seed))
            for check in self.lesson.checks(seed)
        }

    def failing(self, namespace: dict, seed: int = 0) -> dict[str, str]:
        """grade_id -> message of the checks ``namespace`` fails."""
        return {gid: msg for gid, msg in self.verdicts(namespace, seed).items() if msg is not None}
