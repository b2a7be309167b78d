"""The whole round trip of an assignment, with the instructor's and students' real commands.

A local exchange folder (``c.Exchange.root``) stands in for JupyterHub's; student identities are
``--student``. For lesson 1: ``nbgrader release_assignment``; three students ``fetch_assignment``,
work (catalogue cases built by tests/test_catalogue.py's ``build_submission``) and ``submit``:
alice twice (her second, full-marks version is the one graded), bob once (he loses
test_ngram_table_size), carol after the due date (``c.LateSubmissionPlugin.penalty_method =
"zero"``: her score is 0); ``nbgrader collect``; the class command
(``python -m grader.grade_class``, its embedded Dask cluster); ``generate_feedback``,
``release_feedback``; each student ``fetch_feedback``s their own feedback and no one else's,
without hidden-test code; ``nbgrader export`` to CSV with the expected scores. On SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime
import html
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from postgres_server import PostgresServer, server_bin_dir
from test_catalogue import build_submission
from test_grade_class import _command

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
A = "lesson1_hidden_state"
NB = "hidden_state.ipynb"
FULL = 8.0  # lesson 1's autograded points
CASES = {c.name: c for c in importlib.import_module(f"catalogue.{A}").CASES}
RIGHT = CASES["ngram_table_size: built-in pow"]
WRONG = CASES["ngram_table_size: contexts only, |V|^(n-1)"]  # loses test_ngram_table_size (1)


def nbgrader(cwd: Path, *args: str, home: Path | None = None) -> str:
    """An nbgrader command in ``cwd``; ``home``: a student's own home folder (nbgrader keeps
    each submission in ~/.local/share/jupyter/nbgrader_cache and fetch_feedback looks there, so
    students who shared one home would get each other's feedback)."""
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = str(home)
        env.pop("JUPYTER_DATA_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def student_config(exchange: Path) -> str:
    return f"c.CourseDirectory.course_id = 'rnn-course'\nc.Exchange.root = {str(exchange)!r}\n"


def work(home: Path, case) -> None:
    """The student edits the notebook they fetched: the case's answers in its solution cells."""
    fetched = home / A / NB
    made = home / "draft"
    shutil.rmtree(made, ignore_errors=True)
    source_nb = nbformat.read(ROOT / "source" / A / NB, as_version=4)
    build_submission(case, nbformat.read(fetched, as_version=4), source_nb, made, NB)
    shutil.copy(made / NB, fetched)
    shutil.rmtree(made)


def hidden_lines() -> list[str]:
    """The lines of the source notebook's hidden tests worth looking for in feedback."""
    found = []
    for cell in nbformat.read(ROOT / "source" / A / NB, as_version=4).cells:
        m = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        if m:
            found += [ln.strip() for ln in m.group(1).splitlines() if len(ln.strip()) > 25]
    return found


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/course/gradebook.db"
        return
    if server_bin_dir() is None:
        pytest.skip("no PostgreSQL server: bash scripts/ensure_postgres.sh")
    with PostgresServer() as pg:
        yield pg.create_database("round_trip")


def test_the_whole_round_trip(tmp_path, db_url):
    root, exchange = tmp_path / "course", tmp_path / "exchange"
    (root / "source").mkdir(parents=True)
    exchange.mkdir()
    shutil.copytree(ROOT / "source" / A, root / "source" / A)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    with open(root / "nbgrader_config.py", "a") as fh:
        fh.write(
            f"\n{student_config(exchange)}c.CourseDirectory.db_url = {db_url!r}\n"
            "c.LateSubmissionPlugin.penalty_method = 'zero'\n"
        )
    nbgrader(root, "generate_assignment", A, "--force")
    nbgrader(root, "release_assignment", A)

    homes = {}
    for sid in ("alice", "bob", "carol"):
        homes[sid] = tmp_path / "students" / sid
        homes[sid].mkdir(parents=True)
        (homes[sid] / "nbgrader_config.py").write_text(student_config(exchange))
        nbgrader(homes[sid], "fetch_assignment", A, "--student", sid, home=homes[sid])

    def submit(sid, case):
        work(homes[sid], case)
        nbgrader(homes[sid], "submit", A, "--student", sid, home=homes[sid])
        time.sleep(1.1)  # nbgrader's timestamps: one submission per second

    submit("alice", WRONG)
    submit("bob", WRONG)
    submit("alice", RIGHT)  # her latest, the one graded
    from nbgrader.api import Gradebook

    with Gradebook(db_url, "rnn-course") as gb:  # the instructor sets the due date: now
        gb.update_or_create_assignment(A, duedate=datetime.datetime.utcnow())
    time.sleep(1.1)
    submit("carol", RIGHT)  # after the due date

    nbgrader(root, "collect", A)
    graded = subprocess.run(
        [*_command(), A, "--root", str(root), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    nbgrader(root, "generate_feedback", A, "--force")
    nbgrader(root, "release_feedback", A)

    hidden = hidden_lines()
    assert hidden, "lesson 1 should have hidden tests"
    for sid, home in homes.items():
        nbgrader(home, "fetch_feedback", A, "--student", sid, home=home)
        pages = sorted((home / A / "feedback").glob("*/*.html"))
        assert len(pages) == 1, f"{sid} got {pages}"
        # the text a student reads: highlighted code is split into tags, one per token
        text = html.unescape(re.sub(r"<[^>]+>", "", pages[0].read_text()))
        others = [o for o in homes if o != sid]
        assert not any(f"/{o}/" in text for o in others)
        mine, theirs = "pow(vocab_size, n)", "vocab_size ** (n - 1)"
        if sid == "bob":
            mine, theirs = theirs, mine
        assert mine in text, f"{sid}'s feedback does not show their own code"
        assert theirs not in text, f"{sid}'s feedback shows another student's code"
        assert "BEGIN HIDDEN TESTS" not in text
        # lines of the hidden tests that the student's own notebook does not hold (a hidden
        # test may repeat a line of the answer, or of the visible tests)
        own = (home / A / NB).read_text()
        secret = [ln for ln in hidden if json.dumps(ln)[1:-1] not in own and ln not in own]
        assert secret, "every hidden line is also in the student's notebook: nothing to check"
        assert not [ln for ln in secret if ln in text], f"{sid}'s feedback shows hidden tests"

    nbgrader(root, "export", "--to", str(tmp_path / "grades.csv"))
    with open(tmp_path / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh) if r["assignment"] == A}
    assert set(rows) == {"alice", "bob", "carol"}
    score = {s: float(r["score"]) for s, r in rows.items()}
    assert score == {"alice": FULL, "bob": FULL - 1, "carol": 0.0}, rows
    assert float(rows["carol"]["raw_score"]) == FULL
    assert float(rows["carol"]["late_submission_penalty"]) == FULL
    with Gradebook(db_url, "rnn-course") as gb:
        assert len(gb.assignment_submissions(A)) == 3
    stamps = json.dumps({s: r["timestamp"] for s, r in rows.items()})
    assert all(rows[s]["timestamp"] for s in rows), stamps
