"""The class command's progress display and resume state, without grading anything."""

from __future__ import annotations

import io
from types import SimpleNamespace

from grader.grade_class.progress import Progress
from grader.grade_class.results import StudentResult
from grader.grade_class.resume import RunState


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal():
    lines: list[str] = []
    progress = Progress(3, echo=lines.append, stream=io.StringIO())
    progress.skipped(1)  # merged by an interrupted run
    progress.update("student bob: graded (2.0 s)", failed=False, notable=False)
    progress.update("student eve: kernel died", failed=True, notable=True)
    assert lines[0].startswith("[2/3] student bob: graded (2.0 s)")
    assert "/min" in lines[0] and "ETA" in lines[0] and "failures" not in lines[0]
    assert lines[1].startswith("[3/3] student eve: kernel died") and "[failures: 1]" in lines[1]


def test_a_live_bar_on_a_terminal():
    term = Terminal()
    progress = Progress(2, echo=print, stream=term, width=10)
    progress.update("student bob: graded", failed=False, notable=False)
    assert term.getvalue().startswith("\r\033[K[#####.....] 1/2  failures 0")
    assert "student bob" not in term.getvalue()  # the bar only
    progress.update("student eve: kernel died", failed=True, notable=True)
    out = term.getvalue()
    assert "student eve: kernel died\n" in out  # a student who needs a human stays on screen
    last = out.rsplit("\r\033[K", 1)[1]
    assert last.startswith("[##########] 2/2  failures 1  ") and last.endswith("\n")


def test_resume_state_skips_only_unchanged_submissions(tmp_path):
    course = SimpleNamespace(root=tmp_path, assignment="tiny")
    state = RunState(course, "run-1")
    state.record(StudentResult("bob", "graded", files={"autograded": {"x": b"1"}}), "sum-bob")
    state.record(StudentResult("eve", "kernel-died"), "sum-eve")

    again = RunState(course, "run-1")
    assert again.done("bob", "sum-bob") == StudentResult("bob", "graded")
    assert again.done("eve", "sum-eve").status == "kernel-died"
    assert again.done("bob", "bob-resubmitted") is None  # a new submission is graded again
    assert RunState(course, "run-2").done("bob", "sum-bob") is None  # other options or source
    assert RunState(course, "run-1", restart=True).done("bob", "sum-bob") is None
    again.finish()
    assert not (tmp_path / ".grade_class").exists()
    assert RunState(course, "run-1").done("bob", "sum-bob") is None
