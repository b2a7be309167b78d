"""The one driver of the submission catalogue (tests/catalogue/): grade every case, compare.

For every assignment in source/ that has ``tests/catalogue/<assignment>.py``:

1. a throwaway course gets the project's nbgrader_config.py and source/<assignment>/, and
   ``nbgrader generate_assignment`` makes its gradebook and release/;
2. every Case becomes a student (id derived from the case name): the released notebook with the
   instructor's answers in every solution cell except the ones the case replaces (matched by
   ``nbgrader.grade_id``); hostile cases (tests/catalogue/hostile.py) may also delete or edit
   cells, rename the notebook, write bytes that are not JSON, or leave the folder empty;
3. the class command grades them all in one parallel run
   (``python -m grader.grade_class <assignment> --jobs 2 --no-feedback``; its control run
   also checks that the instructor's own notebook gets full marks; feedback is covered by
   tests/test_grade_class.py);
4. each autograded test cell's score is compared with the case: cells in ``loses`` must score
   below their maximum, every other autograded test cell must score its maximum; hostile cases
   may expect a status instead (scored 0, or not scored).

The per-case report (expected vs scored) is printed and written to artifacts/catalogue-report.md;
the test fails listing every mismatching case. ``CATALOGUE_ONLY=lesson1_hidden_state`` (comma
separated) restricts the run, ``CATALOGUE_MATCH=sandbox,honest`` keeps only the cases whose name
contains one of the words; ``CATALOGUE_JOBS`` sets the workers (default 2).

``CATALOGUE_SCOPE=ci`` (what ``make test`` and CI run) grades every adversarial case (hostile,
cheat, sandbox, pasted, delegating) and, of each exercise's other cases, every fourth one in file
order (the first, the fifth, ...), so that CI stays well inside its time: each case costs a
sandboxed kernel and a sandboxed trusted check. ``CATALOGUE_SCOPE=full`` (the default by hand,
and ``make catalogue``) grades every case. Every case's answers also meet the trusted checks
alone, in process, in tests/trusted/ (all cases, every run).
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Path(__file__).resolve().parent / "catalogue"
REPORT = ROOT / "artifacts" / "catalogue-report.md"
JOBS = os.environ.get("CATALOGUE_JOBS", "2")
SOLUTION_MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION"}

pytestmark = pytest.mark.slow


def catalogue_assignments() -> list[str]:
    """Assignments that have both source/<a>/ and tests/catalogue/<a>.py."""
    only = [a for a in os.environ.get("CATALOGUE_ONLY", "").split(",") if a]
    names = sorted(
        p.stem
        for p in CATALOGUE.glob("*.py")
        if not p.stem.startswith("_") and (ROOT / "source" / p.stem).is_dir()
    )
    return [a for a in names if not only or a in only]


def load_cases(assignment: str) -> list:
    """The assignment's CASES, plus the hostile cases when they target it; only the cases whose
    name contains one of ``CATALOGUE_MATCH``'s comma-separated words, when it is set."""
    cases = list(importlib.import_module(f"catalogue.{assignment}").CASES)
    hostile = importlib.import_module("catalogue.hostile")
    if hostile.ASSIGNMENT == assignment:
        cases += hostile.CASES
    words = [w for w in os.environ.get("CATALOGUE_MATCH", "").split(",") if w]
    cases = [c for c in cases if not words or any(w in c.name for w in words)]
    return in_scope(cases, os.environ.get("CATALOGUE_SCOPE", "full"))


ADVERSARIAL = {"hostile", "cheat", "sandbox", "pasted", "delegating"}
CI_STRIDE = 4  # CATALOGUE_SCOPE=ci keeps one in CI_STRIDE of each exercise's ordinary cases


def in_scope(cases: list, scope: str) -> list:
    """``full``: every case. ``ci``: every adversarial case (its name's prefix before ':' is in
    ADVERSARIAL) and every fourth of each exercise's other cases, in file order."""
    if scope == "full":
        return cases
    if scope != "ci":
        raise ValueError(f"CATALOGUE_SCOPE must be 'full' or 'ci', got {scope!r}")
    seen: dict[str, int] = {}
    kept = []
    for case in cases:
        group = case.name.split(":")[0].strip()
        if group in ADVERSARIAL:
            kept.append(case)
            continue
        seen[group] = seen.get(group, -1) + 1
        if seen[group] % CI_STRIDE == 0:
            kept.append(case)
    return kept


def student_id(name: str, taken: set[str]) -> str:
    """A folder-safe student id from a case name, unique within ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-") or "case"
    sid, i = base, 2
    while sid in taken:
        sid, i = f"{base}-{i}", i + 1
    taken.add(sid)
    return sid


# ----------------------------------------------------------------------------- building students


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _strip_markers(source: str) -> str:
    return "\n".join(ln for ln in source.splitlines() if ln.strip() not in SOLUTION_MARKERS)


def autograded_cells(source_nb) -> dict[str, None]:
    """grade_ids of the autograded test cells (grade, not solution, code), in notebook order."""
    return {
        _grade_id(c): None
        for c in source_nb.cells
        if c.cell_type == "code"
        and c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
    }


def case_problems(case, source_nb) -> list[str]:
    """Mistakes in the case data itself (unknown grade_ids), reported as mismatches."""
    solutions = {
        _grade_id(c) for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("solution")
    }
    tests = set(autograded_cells(source_nb))
    every = {_grade_id(c) for c in source_nb.cells} - {None}
    problems = [f"replace names no solution cell {k!r}" for k in case.replace if k not in solutions]
    problems += [f"loses names no autograded test cell {k!r}" for k in case.loses if k not in tests]
    for attr in ("delete_cells", "edit_cells"):
        problems += [
            f"{attr} names no cell {k!r}" for k in getattr(case, attr, ()) if k not in every
        ]
    return problems


def build_submission(case, release_nb, source_nb, folder: Path, notebook: str) -> None:
    """Write ``folder`` (submitted/<student>/<assignment>/) for one case."""
    folder.mkdir(parents=True)
    kind = getattr(case, "folder", "notebook")
    if kind == "empty":
        return
    if kind == "no-notebook":
        (folder / "answers.txt").write_text("I did it all in my head.\n")
        return
    name = case.notebook_name or notebook
    if case.raw_notebook is not None:
        (folder / name).write_bytes(case.raw_notebook)
        return
    answers = {
        _grade_id(c): _strip_markers(c.source)
        for c in source_nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    answers.update(case.replace)
    answers.update(getattr(case, "edit_cells", {}))
    deleted = set(getattr(case, "delete_cells", ()))
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    cells = []
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in deleted:
            continue
        if gid in answers:
            cell.source = answers[gid].strip("\n") + "\n"
        cells.append(cell)
    nb.cells = cells
    nbformat.write(nb, folder / name)


# ----------------------------------------------------------------------------- the run


def make_course(tmp: Path, assignment: str) -> Path:
    root = tmp / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(
        ROOT / "source" / assignment,
        root / "source" / assignment,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"generate_assignment failed:\n{done.stdout}\n{done.stderr}"
    return root


def read_gradebook(root: Path, assignment: str) -> dict:
    """student -> {grade cell: (score or None when unscored, max score)} for every notebook."""
    from nbgrader.api import Gradebook
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    out = {}
    with Gradebook(f"sqlite:///{root}/gradebook.db", cfg.CourseDirectory.course_id) as gb:
        for sub in gb.assignment_submissions(assignment):
            out[sub.student.id] = {
                g.name: (
                    None if g.auto_score is None and g.manual_score is None else float(g.score),
                    float(g.max_score),
                )
                for nb in sub.notebooks
                for g in nb.grades
            }
    return out


def grader_comments(root: Path, assignment: str, student: str) -> list[str]:
    """The comments the grading left on a student's cells (the trusted check's reasons among
    them): printed with a case that scored unlike expected, so a CI log says why."""
    from nbgrader.api import Gradebook, MissingEntry
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    with Gradebook(f"sqlite:///{root}/gradebook.db", cfg.CourseDirectory.course_id) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return []
        return [
            f"{c.name}: {text}"
            for nb in sub.notebooks
            for c in nb.comments
            for text in (c.manual_comment, c.auto_comment)
            if text
        ]


def cell_errors(path: Path) -> list[str]:
    """``grade_id: ename: evalue`` of every graded cell of an autograded notebook that erred."""
    if not path.exists():
        return []
    return [
        f"{cell['metadata']['nbgrader']['grade_id']}: {out['ename']}: {out['evalue'][:300]}"
        for cell in json.loads(path.read_text())["cells"]
        if cell["metadata"].get("nbgrader", {}).get("grade")
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def output_chars(path: Path) -> int:
    """Characters of output (text streams and text/plain) stored in a notebook."""
    nb = json.loads(path.read_text())
    total = 0
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain") or ""
            total += len("".join(text) if isinstance(text, list) else text)
    return total


def output_text(path: Path) -> str:
    """Every output a notebook stores, as text: streams, text/plain, errors with tracebacks."""
    parts = []
    for cell in json.loads(path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            for text in (out.get("text"), out.get("data", {}).get("text/plain"), out.get("evalue")):
                parts.append("".join(text) if isinstance(text, list) else text or "")
            parts += out.get("traceback", [])
    return "\n".join(parts)


def secret_lines(source_nb) -> set[str]:
    """Lines of source/'s solution and hidden-test regions (16 characters or more: shorter ones
    such as ``return H`` are too common to be evidence of a leak)."""
    found, inside = set(), False
    for cell in source_nb.cells:
        for line in cell.source.splitlines():
            text = line.strip()
            if text.startswith("### BEGIN"):
                inside = True
            elif text.startswith("### END"):
                inside = False
            elif inside and len(text) >= 16:
                found.add(text)
    return found


def sandbox_problems(case, autograded: Path, source_nb, server_hits: list) -> list[str]:
    """What a sandbox attack case got past the sandbox, from its autograded notebook, the
    host's processes and the server it tried to reach."""
    problems = []
    text = output_text(autograded) if autograded.exists() else ""
    wanted = getattr(case, "output_has", ()) + getattr(case, "output_lacks", ())
    if wanted and not autograded.exists():
        problems.append("no autograded notebook to check its outputs")
    problems += [f"output lacks {w!r}" for w in getattr(case, "output_has", ()) if w not in text]
    problems += [f"output shows {w!r}" for w in getattr(case, "output_lacks", ()) if w in text]
    if getattr(case, "no_solution_in_output", False):
        leaked = sorted(line for line in secret_lines(source_nb) if line in text)
        problems += [f"output shows a line of source/: {line!r}" for line in leaked[:3]]
    marker = getattr(case, "leaves_no_process", None)
    if marker:
        procs = psutil.process_iter(["cmdline"])
        alive = [p.pid for p in procs if marker in " ".join(p.info["cmdline"] or [])]
        if alive:
            problems.append(f"its detached process is still running (pids {alive})")
    if getattr(case, "server", False) and server_hits:
        problems.append(f"reached the host's server: {server_hits}")
    return problems


class LoopbackServer:
    """A TCP server on the host's 127.0.0.1 that records what connects to it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.hits.append(conn.recv(64))
                except OSError:
                    self.hits.append(b"")

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def judge(case, scores: dict | None, status: str, tests: dict, extra: dict) -> tuple[str, str]:
    """(expected, mismatch or "") for one case from its scores {cell: (score, max)}."""
    want = getattr(case, "status", "graded")
    unscored = want in ("kernel-died", "timeout", "not-a-notebook", "error")
    unscored = unscored or getattr(case, "unscored", False)
    if unscored:
        expected = f"status {want}, every test cell unscored" + (
            " (or 0)" if want.endswith("-limit") else ""
        )
    elif want in ("empty", "no-notebook"):
        expected = f"status {want}, every test cell 0"
    else:
        lost = [c for c in tests if c in case.loses]
        expected = ("loses " + ", ".join(lost) if lost else "full marks") + (
            f" (status {want})" if want != "graded" else ""
        )
    if scores is None:
        return expected, "no record in the gradebook"
    problems = []
    if status != want:
        problems.append(f"status {status}, expected {want}")
    for cell in tests:
        got, top = scores.get(cell, (None, None))
        if unscored:
            # a kernel that a sandbox limit stopped is left unscored, or, when nbgrader still
            # reached the later cells of a kernel that no longer answers, scored 0 throughout
            # (seen for the fork bomb): either way nothing counts and the status names the limit
            ok = got is None or (want.endswith("-limit") and got == 0)
        elif want in ("empty", "no-notebook"):
            ok = got == 0
        elif cell in case.loses:
            ok = got is not None and got < top
        else:
            ok = got is not None and got == top
        if not ok:
            problems.append(f"{cell} scored {_fmt(got)}/{_fmt(top)}")
    limit = getattr(case, "max_output_chars", None)
    if limit is not None and extra.get("output_chars", 0) > limit:
        problems.append(f"{extra['output_chars']} output characters kept (limit {limit})")
    return expected, "; ".join(problems)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:g}"


def scored_text(scores: dict | None, status: str, tests: dict, message: str) -> str:
    if scores is None:
        return "no record"
    below = [
        f"{c} {_fmt(scores.get(c, (None,))[0])}/{_fmt(scores.get(c, (None, None))[1])}"
        for c in tests
        if scores.get(c, (None, None))[0] != scores.get(c, (None, None))[1]
    ]
    text = "full marks" if not below else ", ".join(below)
    if status != "graded":
        text = f"[{status}] {text}"
    if message and status != "graded":
        text += f" ({message[:120]})"
    elif "flagged for review" in message:
        text += " (flagged for review)"
    return text


# One section per assignment. Under pytest-xdist several processes grade assignments at once:
# each writes its own section file, then rebuilds the report from this run's sections (the
# files tagged with the run's id) while it holds a lock.
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"


def write_report(assignment: str, section: str) -> None:
    import fcntl

    parts = REPORT.parent / "catalogue-report.d"
    parts.mkdir(parents=True, exist_ok=True)
    with open(parts / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for old in parts.glob(f"{assignment}.*.md"):
            old.unlink()
        (parts / f"{assignment}.{RUN_ID}.md").write_text(section)
        sections = [p.read_text() for p in sorted(parts.glob(f"*.{RUN_ID}.md"))]
        REPORT.write_text(
            "# Catalogue report\n\nEach case is a student graded by `grader.grade_class`; "
            "expected vs scored per autograded test cell.\n\n" + "\n\n".join(sections) + "\n"
        )


@pytest.mark.parametrize("assignment", catalogue_assignments())
def test_catalogue(assignment, tmp_path):
    root = make_course(tmp_path, assignment)
    (nb_path,) = sorted((root / "source" / assignment).glob("*.ipynb"))
    source_nb = nbformat.read(nb_path, as_version=4)
    release_nb = nbformat.read(root / "release" / assignment / nb_path.name, as_version=4)
    tests = autograded_cells(source_nb)

    cases = load_cases(assignment)
    taken: set[str] = set()
    students = {}
    server = LoopbackServer()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as control:
        control.sendall(b"control")  # the server answers the host
    for case in cases:
        sid = student_id(case.name, taken)
        students[sid] = case
        folder = root / "submitted" / sid / assignment
        build_submission(case, release_nb, source_nb, folder, nb_path.name)
        if getattr(case, "server", False):
            (folder / "server_port.txt").write_text(str(server.port))

    done = subprocess.run(
        [sys.executable, "-m", "grader.grade_class", assignment, "--root", str(root),
         "--jobs", JOBS, "--no-feedback"],
        capture_output=True,
        text=True,
        timeout=60 * 60,
    )  # fmt: skip
    server.close()
    assert done.returncode == 0, f"the class command failed:\n{done.stdout}\n{done.stderr}"
    server_hits = [hit for hit in server.hits if hit != b"control"]

    gradebook = read_gradebook(root, assignment)
    with open(root / "grades" / f"{assignment}.csv", newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}

    lines = [
        f"## {assignment}: {len(cases)} cases",
        "",
        "| ok | case | expected | scored |",
        "| --- | --- | --- | --- |",
    ]
    mismatches = []
    for sid, case in students.items():
        row = rows.get(sid, {})
        status, message = row.get("status", "missing"), row.get("message", "")
        extra = {}
        autograded = root / "autograded" / sid / assignment / nb_path.name
        if autograded.exists():
            extra["output_chars"] = output_chars(autograded)
        problems = case_problems(case, source_nb)
        problems += sandbox_problems(case, autograded, source_nb, server_hits)
        expected, mismatch = judge(case, gradebook.get(sid), status, tests, extra)
        mismatch = "; ".join(p for p in [*problems, mismatch] if p)
        scored = scored_text(gradebook.get(sid), status, tests, message)
        lines.append(
            f"| {'ok' if not mismatch else '**NO**'} | {case.name} | {expected} | {scored} |"
        )
        if mismatch:
            why = grader_comments(root, assignment, sid) + cell_errors(autograded)
            said = "".join(f"\n    {line}" for line in why)
            mismatches.append(f"{case.name}: {mismatch}{said}")
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    lines += ["", f"Class run: {tail}"]
    section = "\n".join(lines)
    write_report(assignment, section)
    print("\n" + section)
    assert not mismatches, f"{len(mismatches)} case(s) scored unlike expected:\n" + "\n".join(
        mismatches
    )


def test_ci_scope_keeps_every_adversarial_case_and_a_quarter_of_each_exercise():
    for assignment in catalogue_assignments():
        every = in_scope(_all_cases(assignment), "full")
        kept = in_scope(every, "ci")
        adversarial = [c for c in every if c.name.split(":")[0].strip() in ADVERSARIAL]
        assert all(c in kept for c in adversarial), assignment
        for group in {c.name.split(":")[0].strip() for c in every} - ADVERSARIAL:
            mine = [c for c in every if c.name.split(":")[0].strip() == group]
            assert [c for c in kept if c in mine] == mine[::CI_STRIDE], (assignment, group)
    with pytest.raises(ValueError, match="CATALOGUE_SCOPE"):
        in_scope([], "most")


def _all_cases(assignment: str) -> list:
    cases = list(importlib.import_module(f"catalogue.{assignment}").CASES)
    hostile = importlib.import_module("catalogue.hostile")
    return cases + (list(hostile.CASES) if hostile.ASSIGNMENT == assignment else [])
