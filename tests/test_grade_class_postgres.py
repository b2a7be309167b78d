"""The class command with a PostgreSQL gradebook: a real server (tests/postgres_server.py),
the tiny assignment of tests/test_grade_class.py. A class graded, a rerun that duplicates
nothing, and two instructors grading different assignments into one gradebook at once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from postgres_server import PostgresServer, server_bin_dir
from test_grade_class import _command, add_student, copy_course, make_tiny_course

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        server_bin_dir() is None, reason="no PostgreSQL server: bash scripts/ensure_postgres.sh"
    ),
]

GOOD = {"test_add": (2.0, False), "test_mul": (1.0, False)}


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as pg:
        yield pg


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_tiny_course(tmp_path_factory.mktemp("template") / "course")


def pg_course(template: Path, dest: Path, url: str, assignments=("tiny",)) -> Path:
    """A copy of the tiny course whose gradebook is the PostgreSQL database ``url``; extra
    assignments are copies of ``tiny`` under other names."""
    root = copy_course(template, dest)
    (root / "gradebook.db").unlink()  # the template's SQLite gradebook: not used here
    with open(root / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nc.CourseDirectory.db_url = {url!r}\n")
    for name in assignments:
        if name != "tiny":
            shutil.copytree(root / "source" / "tiny", root / "source" / name)
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    if "tiny" not in assignments:
        shutil.rmtree(root / "source" / "tiny")
    return root


def add(root: Path, assignment: str, student: str, **answers) -> None:
    add_student(root, student, **answers)
    if assignment != "tiny":
        src = root / "submitted" / student / "tiny"
        src.rename(root / "submitted" / student / assignment)


def rows_in(url: str, assignment: str) -> tuple[dict, int]:
    """student -> {grade cell: (score, needs_manual_grade)}, and the number of grade rows."""
    from nbgrader.api import Gradebook

    with Gradebook(url, "rnn-course") as gb:
        subs = gb.assignment_submissions(assignment)
        rows = {
            sub.student.id: {
                g.name: (None if g.auto_score is None else g.score, g.needs_manual_grade)
                for nb in sub.notebooks
                for g in nb.grades
            }
            for sub in subs
        }
        return rows, sum(len(nb.grades) for sub in subs for nb in sub.notebooks)


def run(root: Path, assignment: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*_command(), assignment, "--root", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    return out


def test_a_class_on_postgresql_and_a_rerun_that_duplicates_nothing(postgres, template, tmp_path):
    url = postgres.create_database("one_class")
    root = pg_course(template, tmp_path / "course", url)
    add(root, "tiny", "good")
    add(root, "tiny", "wrong", add="def add(a, b):\n    return a - b")
    out = finished(run(root, "tiny", "--jobs", "2"))
    assert "gradebook postgresql+psycopg://" in out
    rows, n = rows_in(url, "tiny")
    assert rows == {"good": GOOD, "wrong": {"test_add": (0.0, False), "test_mul": (1.0, False)}}
    assert n == 4
    assert not (root / "gradebook.db").exists()  # nothing went to a SQLite file
    finished(run(root, "tiny", "--jobs", "1"))
    assert rows_in(url, "tiny") == (rows, n)


def test_two_instructors_grade_two_assignments_into_one_gradebook(postgres, template, tmp_path):
    url = postgres.create_database("two_instructors")
    first = pg_course(template, tmp_path / "first", url, ("tiny", "tiny2"))
    second = tmp_path / "second"  # the other instructor's own checkout of the course
    shutil.copytree(first, second)
    students = ["s1", "s2", "s3"]
    for s in students:
        add(first, "tiny", s)
        add(second, "tiny2", s, mul="def mul(a, b):\n    return 0")
    a = run(first, "tiny", "--jobs", "1", "--no-check")
    b = run(second, "tiny2", "--jobs", "1", "--no-check")
    finished(a), finished(b)
    assert rows_in(url, "tiny") == ({s: GOOD for s in students}, 6)
    bad_mul = {"test_add": (2.0, False), "test_mul": (0.0, False)}
    assert rows_in(url, "tiny2") == ({s: bad_mul for s in students}, 6)
    from nbgrader.api import Gradebook

    with Gradebook(url, "rnn-course") as gb:
        assert sorted(s.id for s in gb.students) == students
