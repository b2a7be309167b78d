"""The class grading command on a tiny self-made assignment (fast, independent of the lessons).

The assignment ``tiny`` has two graded functions, ``add`` (test cell worth 2 points) and ``mul``
(1 point), in plain Python so a kernel starts in about a second. Students: a correct one, a wrong
``add``, a kernel crash (``os._exit``) and an empty folder; plus a second course for the
wall-clock limit.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------- a tiny course


def _meta(grade_id, *, solution=False, grade=False, points=None):
    meta = {
        "grade": grade,
        "solution": solution,
        "locked": grade,
        "schema_version": 3,
        "grade_id": grade_id,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def tiny_notebook():
    """The instructor's notebook: solution cells ``add``, ``mul``; test cells ``test_add`` (2 pt),
    ``test_mul`` (1 pt)."""
    nb = new_notebook(
        cells=[
            new_markdown_cell("# A tiny assignment"),
            new_code_cell(
                "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
                metadata=_meta("add", solution=True),
            ),
            new_code_cell(
                "assert add(1, 2) == 3, 'add(1, 2) should be 3'\n### BEGIN HIDDEN TESTS\n"
                "assert add(-1, 5) == 4\n### END HIDDEN TESTS",
                metadata=_meta("test_add", grade=True, points=2),
            ),
            new_code_cell(
                "def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION",
                metadata=_meta("mul", solution=True),
            ),
            new_code_cell(
                "assert mul(2, 3) == 6", metadata=_meta("test_mul", grade=True, points=1)
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def make_tiny_course(root: Path) -> Path:
    """A course folder with the course's nbgrader_config.py and ``tiny`` generated."""
    (root / "source" / "tiny").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    with open(root / "nbgrader_config.py", "a") as fh:
        # tiny has no trusted checks (grader/trusted/lessons/): these tests are about the class
        # command and its sandbox, so drop that step and keep the rest of the course's pipeline.
        fh.write(
            "\nc.Autograde.autograde_preprocessors = [p for p in "
            "c.Autograde.autograde_preprocessors if not str(p).startswith('grader.trusted')]\n"
        )
    nbformat.write(tiny_notebook(), root / "source" / "tiny" / "tiny.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "tiny", "--force"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The tiny course, generated once per module (generating costs seconds)."""
    return make_tiny_course(tmp_path_factory.mktemp("template") / "course")


def copy_course(template: Path, dest: Path, execute_timeout: int = 10) -> Path:
    """A fresh copy of the generated course with a per-cell timeout suited to the test."""
    shutil.copytree(template, dest)
    with open(dest / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nc.Execute.timeout = {execute_timeout}\n")
    return dest


def add_student(root: Path, student: str, add=None, mul=None, empty=False) -> None:
    """submitted/<student>/tiny/tiny.ipynb from the release, with the student's code filled in."""
    folder = root / "submitted" / student / "tiny"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if empty:
        return
    nb = nbformat.read(root / "release" / "tiny" / "tiny.ipynb", as_version=4)
    answers = {
        "add": add or "def add(a, b):\n    return sum([a, b])",
        "mul": mul or "def mul(a, b):\n    return b * a",
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    nbformat.write(nb, folder / "tiny.ipynb")


def _command() -> list[str]:
    """``python -m grader.grade_class``, measured by coverage when the tests are.

    The command runs in its own process (as an instructor runs it); under ``pytest --cov`` it
    runs as ``coverage run -p`` so that pytest-cov combines its lines into the report.
    """
    try:
        import coverage

        measured = coverage.Coverage.current() is not None
    except ImportError:
        measured = False
    prefix = ["-m", "coverage", "run", "-p", "--source=course_utils,grader"] if measured else []
    return [sys.executable, *prefix, "-m", "grader.grade_class"]


def grade(
    root: Path, *args: str, timeout: int = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the class command the way an instructor does."""
    return subprocess.run(
        [*_command(), "tiny", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def without_bwrap() -> dict:
    """The environment of a machine where bubblewrap is not installed: PATH holds only the
    venv's bin/ (python, nbgrader, alembic), which has no bwrap."""
    bindir = Path(sys.executable).parent
    assert not (bindir / "bwrap").exists()
    return dict(os.environ, PATH=str(bindir))


def gradebook_rows(root: Path) -> dict:
    """student -> {grade cell: (score or None when unscored, needs_manual_grade)}; plus counts."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root}/gradebook.db", "rnn-course") as gb:
        subs = gb.assignment_submissions("tiny")
        for sub in subs:
            (nb,) = sub.notebooks
            out[sub.student.id] = {
                g.name: (None if g.auto_score is None else g.score, g.needs_manual_grade)
                for g in nb.grades
            }
        counts = {
            "submissions": len(subs),
            "grades": sum(len(nb.grades) for sub in subs for nb in sub.notebooks),
        }
    return out, counts


def flagged(root: Path) -> set[str]:
    """Students whose notebook carries nbgrader's "flagged" mark."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root}/gradebook.db", "rnn-course") as gb:
        return {
            sub.student.id
            for sub in gb.assignment_submissions("tiny")
            if any(nb.flagged for nb in sub.notebooks)
        }


def read_csv(root: Path) -> dict:
    with open(root / "grades" / "tiny.csv", newline="") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


# ----------------------------------------------------------------------------- one class, graded


def add_four_students(root: Path) -> None:
    """The class most tests grade: right, wrong add, a kernel that dies, an empty folder."""
    add_student(root, "good")
    add_student(root, "wrong", add="def add(a, b):\n    return a - b")
    add_student(root, "crash", add="import os\nos._exit(1)")
    add_student(root, "empty", empty=True)


@pytest.fixture(scope="module")
def graded_class(template, tmp_path_factory):
    root = copy_course(template, tmp_path_factory.mktemp("class") / "course")
    add_four_students(root)
    done = grade(root, "--jobs", "2")
    return root, done


def test_exit_status_is_zero_when_only_students_fail(graded_class):
    root, done = graded_class
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_student_has_one_record_with_the_right_scores(graded_class):
    root, done = graded_class
    rows, counts = gradebook_rows(root)
    assert sorted(rows) == ["crash", "empty", "good", "wrong"]
    assert counts == {"submissions": 4, "grades": 8}
    assert rows["good"] == {"test_add": (2.0, False), "test_mul": (1.0, False)}
    assert rows["wrong"] == {"test_add": (0.0, False), "test_mul": (1.0, False)}
    # kernel death: nothing scored, flagged for a human
    assert rows["crash"] == {"test_add": (None, True), "test_mul": (None, True)}
    # empty folder: nbgrader's rule for a missing notebook, zero
    assert rows["empty"] == {"test_add": (0.0, False), "test_mul": (0.0, False)}


def test_progress_table_and_clear_messages(graded_class):
    root, done = graded_class
    out = done.stdout
    assert "[4/4]" in out
    assert "student crash: kernel died" in out and "needs manual review" in out
    assert "student empty: empty submission folder - scored 0" in out
    table = out[out.index("student  ") :]
    good = next(line for line in table.splitlines() if line.startswith("good "))
    assert good.split() == ["good", "2", "1", "3", "graded"]


def test_feedback_and_autograded_folders_and_csv(graded_class):
    root, done = graded_class
    for student in ("good", "wrong"):
        assert (root / "feedback" / student / "tiny" / "tiny.html").is_file()
        assert (root / "autograded" / student / "tiny" / "tiny.ipynb").is_file()
    assert not (root / "autograded" / "crash" / "tiny").exists()
    assert not (root / "feedback" / "crash" / "tiny").exists()
    rows = read_csv(root)
    assert rows["good"]["test_add"] == "2" and rows["good"]["total"] == "3"
    assert rows["wrong"]["test_add"] == "0" and rows["wrong"]["total"] == "1"
    assert rows["crash"]["status"] == "kernel-died" and rows["crash"]["test_add"] == ""
    assert rows["empty"]["status"] == "empty" and rows["empty"]["total"] == "0"


def test_rerun_keeps_one_consistent_record(graded_class):
    root, _ = graded_class
    add_student(root, "wrong")  # the student fixed their add and resubmitted
    add_student(root, "crash", mul="def mul(a, b):\n    return 0")  # no crash any more
    done = grade(root, "--jobs", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    rows, counts = gradebook_rows(root)
    assert counts == {"submissions": 4, "grades": 8}
    assert rows["wrong"] == {"test_add": (2.0, False), "test_mul": (1.0, False)}
    assert rows["crash"] == {"test_add": (2.0, False), "test_mul": (0.0, False)}
    assert rows["good"] == {"test_add": (2.0, False), "test_mul": (1.0, False)}
    assert (root / "feedback" / "crash" / "tiny" / "tiny.html").is_file()
    # and the crash comes back: the old scores must not survive as if graded
    add_student(root, "crash", add="import os\nos.abort()")
    done = grade(root, "--jobs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    rows, counts = gradebook_rows(root)
    assert counts == {"submissions": 4, "grades": 8}
    assert rows["crash"] == {"test_add": (None, True), "test_mul": (None, True)}
    assert not (root / "feedback" / "crash" / "tiny").exists()


def test_the_process_pool_engine_gives_the_same_records(template, tmp_path):
    """--engine pool (no Dask) grades graded_class's four students into the same rows, CSV and
    files as the default engine."""
    root = copy_course(template, tmp_path / "course")
    add_four_students(root)
    done = grade(root, "--engine", "pool", "--jobs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(process pool)" in done.stdout
    rows, counts = gradebook_rows(root)
    assert counts == {"submissions": 4, "grades": 8}
    assert rows == {
        "good": {"test_add": (2.0, False), "test_mul": (1.0, False)},
        "wrong": {"test_add": (0.0, False), "test_mul": (1.0, False)},
        "crash": {"test_add": (None, True), "test_mul": (None, True)},
        "empty": {"test_add": (0.0, False), "test_mul": (0.0, False)},
    }
    csv_rows = read_csv(root)
    assert csv_rows["wrong"]["total"] == "1" and csv_rows["crash"]["status"] == "kernel-died"
    assert (root / "feedback" / "wrong" / "tiny" / "tiny.html").is_file()


# ----------------------------------------------------------------------------- the limits


def test_wall_clock_limit_kills_a_runaway_submission(template, tmp_path):
    # The per-cell timeout is long (600 s), the per-submission limit short: the limit must win,
    # kill the kernel, and leave the other student graded.
    root = copy_course(template, tmp_path / "course", execute_timeout=600)
    add_student(root, "good")
    add_student(root, "loop", add="def add(a, b):\n    while True:\n        pass")
    # 60 s: room for a sandboxed kernel to start and grade "good" on a 2-CPU box shared by a
    # dozen processes (20 s was not always enough); the loop's cell would need 600 s.
    done = grade(root, "--jobs", "2", "--timeout", "60", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "student loop: ran out of time" in done.stdout
    rows, _ = gradebook_rows(root)
    assert rows["good"] == {"test_add": (2.0, False), "test_mul": (1.0, False)}
    assert rows["loop"] == {"test_add": (None, True), "test_mul": (None, True)}


def test_file_level_problems_get_clear_messages(template, tmp_path):
    root = copy_course(template, tmp_path / "course")
    add_student(root, "good")
    add_student(root, "renamed")
    nb = root / "submitted" / "renamed" / "tiny"
    (nb / "tiny.ipynb").rename(nb / "tiny-Copy1.ipynb")
    add_student(root, "notjson", empty=True)
    (root / "submitted" / "notjson" / "tiny" / "tiny.ipynb").write_text("{ not json")
    add_student(root, "nonotebook", empty=True)
    (root / "submitted" / "nonotebook" / "tiny" / "answers.txt").write_text("42")
    add_student(
        root, "tamper", add="import builtins\nbuiltins.abs = abs\ndef add(a, b):\n    return a+b"
    )
    done = grade(root, "--jobs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "student renamed: graded (notebook was renamed)" in out
    assert "tiny-Copy1.ipynb graded as tiny.ipynb" in out
    assert "student notjson: notebook is not valid JSON - not scored" in out
    assert "student nonotebook: no notebook submitted - scored 0" in out
    rows, _ = gradebook_rows(root)
    assert rows["good"]["test_add"] == (2.0, False)
    assert rows["renamed"] == {"test_add": (2.0, False), "test_mul": (1.0, False)}
    assert rows["notjson"] == {"test_add": (None, True), "test_mul": (None, True)}
    assert rows["nonotebook"] == {"test_add": (0.0, False), "test_mul": (0.0, False)}
    # rebinding library code is graded as usual, but reported and flagged for a human
    assert "student tamper: graded: flagged for review" in out and "builtins.abs = abs" in out
    assert rows["tamper"] == {"test_add": (2.0, False), "test_mul": (1.0, False)}
    assert flagged(root) == {"tamper"}


# ----------------------------------------------------------------------------- grading failures


def test_broken_setups_exit_non_zero(template, tmp_path):
    root = copy_course(template, tmp_path / "course")
    add_student(root, "good")

    # an assignment in source/ that was never generated
    shutil.copytree(root / "source" / "tiny", root / "source" / "nope")
    bad = subprocess.run(
        [*_command(), "nope", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "not in the gradebook" in bad.stderr and "generate_assignment nope" in bad.stderr

    config = root / "nbgrader_config.py"
    text = config.read_text()
    config.write_text(text + "\nthis is not python\n")
    done = grade(root)
    assert done.returncode == 1 and "cannot load" in done.stderr

    config.unlink()
    done = grade(root)
    assert done.returncode == 1 and "no nbgrader_config.py" in done.stderr
    config.write_text(text)

    (root / "gradebook.db").rename(root / "gradebook.bak")
    done = grade(root)
    assert done.returncode == 1 and "no gradebook" in done.stderr
    assert not (root / "gradebook.db").exists()  # and it did not create an empty one
    (root / "gradebook.bak").rename(root / "gradebook.db")

    # the instructor's own notebook is graded first, as a control: if it loses points here,
    # the environment is broken and nothing is written
    source = root / "source" / "tiny" / "tiny.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("return a + b", "return a - b")
    nbformat.write(nb, source)
    done = grade(root, "--jobs", "2")
    assert done.returncode == 1 and "does not get full marks" in done.stderr
    assert "test_add 0/2 AssertionError: add(1, 2) should be 3" in done.stderr
    rows, counts = gradebook_rows(root)
    assert counts["submissions"] == 0 and not (root / "autograded").exists()
    done = grade(root, "--jobs", "1", "--no-check")  # the instructor insists
    assert done.returncode == 0, done.stdout + done.stderr
    assert gradebook_rows(root)[0]["good"]["test_add"] == (2.0, False)

    shutil.rmtree(root / "submitted")
    done = grade(root)
    assert done.returncode == 1 and "no submissions" in done.stderr


def test_the_tiny_notebook_is_valid():
    # guards the fixture itself: schema-valid notebook with the nbgrader cells we rely on
    nb = tiny_notebook()
    nbformat.validate(nb)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert ids == ["add", "test_add", "mul", "test_mul"]
    assert json.loads(nbformat.writes(nb))["nbformat"] == 4


# ----------------------------------------------------------------------------- the sandbox


def test_without_bwrap_the_command_stops_and_says_what_to_install(template, tmp_path):
    root = copy_course(template, tmp_path / "course")
    add_student(root, "good")
    before = (root / "gradebook.db").read_bytes()
    done = grade(root, "--jobs", "1", env=without_bwrap(), timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "apt-get install bubblewrap" in done.stderr
    assert "--unsafe-no-sandbox" in done.stderr
    assert not (root / "grades" / "tiny.csv").exists()
    assert (root / "gradebook.db").read_bytes() == before


def test_unsafe_no_sandbox_grades_and_says_so_on_every_line(template, tmp_path):
    root = copy_course(template, tmp_path / "course")
    add_student(root, "good")
    add_student(root, "wrong", add="def add(a, b):\n    return a - b")
    done = grade(root, "--jobs", "1", "--unsafe-no-sandbox", env=without_bwrap(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    progress = [ln for ln in done.stdout.splitlines() if ln.startswith("[")]
    assert len(progress) == 2 and all("UNSANDBOXED" in ln for ln in progress), done.stdout
    table = [ln for ln in done.stdout.splitlines() if ln.startswith(("good ", "wrong "))]
    assert len(table) == 2 and all("UNSANDBOXED" in ln for ln in table), done.stdout
    rows = read_csv(root)
    assert all(row["message"].startswith("UNSANDBOXED") for row in rows.values()), rows
    assert rows["good"]["total"] == "3" and rows["wrong"]["total"] == "1"
