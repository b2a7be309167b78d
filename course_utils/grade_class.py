"""Autograde a whole class with nbgrader, in parallel, and believe every score.

Usage (from the course root, the folder holding ``nbgrader_config.py``)::

    python -m course_utils.grade_class lesson1_hidden_state            # all cores
    python -m course_utils.grade_class lesson1_hidden_state --jobs 1   # one worker, sequential
    python -m course_utils.grade_class lesson1_hidden_state --root /srv/course --timeout 900

Before it: ``nbgrader generate_assignment <assignment>`` (the gradebook must know the assignment)
and ``nbgrader collect <assignment>`` (or copy the submissions to
``submitted/<student>/<assignment>/``).

What it does:

0. A control first: the instructor's own notebook (``source/<assignment>``) is autograded like a
   student's. Unless it gets every autograded point, the run stops and writes nothing: a broken
   environment (the corpus missing, a package missing) would otherwise cost every student points.
   ``--no-check`` skips it.
1. Checks each folder ``submitted/<student>/<assignment>/`` first: an empty folder or one without
   any notebook scores 0 (nbgrader's rule for a missing notebook); a notebook that is not JSON is
   not scored and flagged for manual review; a single renamed notebook (``hidden_state-Copy1.ipynb``
   for ``hidden_state.ipynb``) is graded under its expected name, and the report says so. Code
   that rebinds library functions (``torch.allclose = ...``, ``builtins.abs = ...``,
   ``setattr(math, ...)``, ``vars(module)[...]``, ``sys.modules``) is graded as usual but
   reported, and the notebook marked ``flagged`` in the gradebook, for a human to look at.
2. Autogrades the rest in ``--jobs`` worker processes (default: the CPUs this process may use).
   Each worker owns a private copy of the course in a temporary folder (``nbgrader_config.py``,
   ``source/<assignment>``, a copy of ``gradebook.db`` and the submission being graded), so SQLite
   is never written by two processes at once. Each worker runs nbgrader's own ``autograde`` and
   ``generate_feedback`` through ``nbgrader.apps.NbGraderAPI``, one student at a time.
3. Limits each submission's wall-clock time (``--timeout``, default 600 s): a submission that
   overruns (a kernel that ignores interrupts, say) has its worker's whole process tree killed
   (kernel included), is reported as not scored, and the worker is restarted for the next student.
   Inside that limit nbgrader's own per-cell timeout (``c.Execute.timeout``) applies: a cell that
   loops forever is interrupted, scores 0, and later cells still run.
4. Merges every result into the course's real gradebook through ``nbgrader.api.Gradebook``: one
   submission per student, each grade's ``auto_score`` / ``needs_manual_grade`` and each comment
   set from this run, so rerunning the command never duplicates anything and a student graded
   twice keeps one consistent record. ``autograded/<student>/<assignment>`` and
   ``feedback/<student>/<assignment>`` are copied back into the course (a student whose grading
   failed loses any stale copy from an earlier run).
5. Generates feedback with nbgrader's ``generate_feedback`` in the same worker, right after each
   student is graded (``--no-feedback`` skips it).
6. Writes ``grades/<assignment>.csv`` (``--csv``): one row per student, one column per graded
   cell, the total, the status and the message.

It prints one progress line per student (``[done/total]``, status, failures so far) and ends with
a per-student, per-exercise table. A student's code failing, or their kernel dying
("student bob: kernel died (os._exit? a crash?) - not scored, needs manual review"), is reported
but is not a failure of the command: the exit status is 0. It exits 1 only when grading itself
failed: no ``nbgrader_config.py``, no gradebook or an unwritable one, the assignment not generated,
no submissions, the instructor's notebook losing points, or a worker process that cannot start.

Statuses (the ``status`` column of the CSV):

    graded            autograded normally
    renamed           autograded; the notebook had been renamed and was graded under its real name
    missing-notebook  autograded; some notebook of the assignment was missing and scored 0
    no-notebook       no notebook in the folder: scored 0
    empty             empty submission folder: scored 0
    not-a-notebook    a notebook is not readable JSON: not scored, needs manual review
    kernel-died       the kernel died (os._exit, abort, segfault): not scored, needs manual review
    timeout           over the wall-clock limit (killed), or a cell past the per-cell limit whose
                      kernel ignored the interrupt: not scored, needs manual review
    error             nbgrader failed on this submission: not scored, needs manual review
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GradingError", "StudentResult", "grade_class", "main", "STATUS_TEXT"]

# Lines from a worker that carry a result start with this marker; anything else on its stdout
# (a stray print from a library) is ignored.
_MARK = "@@grade_class@@ "
_WORKER_FLAG = "--_worker"

STATUS_TEXT = {
    "graded": "graded",
    "renamed": "graded (notebook was renamed)",
    "missing-notebook": "graded (a notebook is missing: scored 0)",
    "no-notebook": "no notebook submitted - scored 0",
    "empty": "empty submission folder - scored 0",
    "not-a-notebook": "notebook is not valid JSON - not scored, needs manual review",
    "kernel-died": "kernel died (os._exit? a crash?) - not scored, needs manual review",
    "timeout": "ran out of time - not scored, needs manual review",
    "error": "autograde failed - not scored, needs manual review",
}
# Statuses where the student's grades are left unscored (needs_manual_grade=True).
NOT_SCORED = {"not-a-notebook", "kernel-died", "timeout", "error"}


class GradingError(RuntimeError):
    """Grading itself failed (configuration, gradebook, assignment): the command exits 1."""


@dataclass
class StudentResult:
    """What happened to one student's submission."""

    student: str
    status: str
    message: str = ""
    seconds: float = 0.0
    # notebook -> grade cell -> {"auto_score": float | None, "needs_manual_grade": bool}
    grades: dict = field(default_factory=dict)
    # notebook -> solution/task cell -> auto_comment
    comments: dict = field(default_factory=dict)
    # notebook -> late_submission_penalty
    penalties: dict = field(default_factory=dict)
    timestamp: str | None = None
    # notebooks whose grades must be left unscored even though others were graded
    unscored_notebooks: list = field(default_factory=list)
    flagged_notebooks: list = field(default_factory=list)  # set nbgrader's "flagged" on these
    errors: dict = field(default_factory=dict)  # grade cell -> the error it showed
    workdir: str | None = None  # worker course copy holding autograded/ and feedback/

    @property
    def failed(self) -> bool:
        return self.status in NOT_SCORED


# ----------------------------------------------------------------------------- the course


@dataclass
class Course:
    """The instructor's course, as read from nbgrader_config.py and the gradebook."""

    root: Path
    assignment: str
    config_file: Path
    course_id: str
    db_url: str
    db_path: Path
    coursedir: object  # nbgrader.coursedir.CourseDirectory
    # notebook name -> list of (grade cell name, max score), in notebook order
    notebooks: dict

    def source_folder(self) -> Path:
        """source/<assignment>: the instructor's notebooks."""
        cd = self.coursedir
        return Path(cd.format_path(cd.source_directory, ".", self.assignment))

    def path(self, step: str, student: str) -> Path:
        """The folder of ``step`` (submitted, autograded, feedback...) for one student."""
        return Path(self.coursedir.format_path(step, student, self.assignment))


def _load_config(config_file: Path):
    from traitlets.config.loader import PyFileConfigLoader

    try:
        return PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    except Exception as err:  # a syntax error in the instructor's config, say
        raise GradingError(f"cannot load {config_file}: {type(err).__name__}: {err}") from err


def _sqlite_path(db_url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :]) if db_url.startswith(prefix) else None


def open_course(root: str | Path, assignment: str) -> Course:
    """Read the course configuration and check that ``assignment`` can be graded.

    Raises GradingError naming what is missing and the command that fixes it.
    """
    root = Path(root).resolve()
    config_file = root / "nbgrader_config.py"
    if not config_file.is_file():
        raise GradingError(
            f"no nbgrader_config.py in {root}; run the command from the course root or pass "
            "--root <course folder>"
        )
    cfg = _load_config(config_file)
    cfg.CourseDirectory.root = str(root)
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=cfg)
    db_url = coursedir.db_url
    db_path = _sqlite_path(db_url)
    if db_path is None:
        raise GradingError(
            f"grade_class copies the gradebook for each worker and supports SQLite gradebooks "
            f"only; CourseDirectory.db_url is {db_url!r}"
        )
    if not db_path.is_file():
        raise GradingError(
            f"no gradebook at {db_path}; run `nbgrader generate_assignment {assignment}` first"
        )
    if not os.access(db_path, os.W_OK) or not os.access(db_path.parent, os.W_OK):
        raise GradingError(
            f"the gradebook {db_path} (or its folder) is not writable; fix its permissions"
        )
    source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    if not source.is_dir():
        raise GradingError(f"no source folder {source} for assignment {assignment!r}")

    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(db_url, coursedir.course_id) as gb:
            try:
                record = gb.find_assignment(assignment)
            except MissingEntry:
                raise GradingError(
                    f"assignment {assignment!r} is not in the gradebook {db_path}; run "
                    f"`nbgrader generate_assignment {assignment}` first"
                ) from None
            notebooks = {
                nb.name: [(cell.name, float(cell.max_score)) for cell in nb.grade_cells]
                for nb in record.notebooks
            }
    except GradingError:
        raise
    except Exception as err:  # sqlalchemy errors: a corrupt or locked database
        raise GradingError(f"cannot read the gradebook {db_path}: {err}") from err
    if not notebooks:
        raise GradingError(
            f"assignment {assignment!r} has no notebooks in the gradebook; run "
            f"`nbgrader generate_assignment {assignment} --force`"
        )
    return Course(
        root=root,
        assignment=assignment,
        config_file=config_file,
        course_id=coursedir.course_id,
        db_url=db_url,
        db_path=db_path,
        coursedir=coursedir,
        notebooks=notebooks,
    )


def list_students(course: Course) -> list[str]:
    """Student ids with a folder ``submitted/<student>/<assignment>/``, sorted."""
    pattern = course.path(course.coursedir.submitted_directory, "*")
    regexp = re.compile(
        course.coursedir.format_path(
            course.coursedir.submitted_directory, "(?P<student>[^/]+)", course.assignment, True
        )
        + "$"
    )
    import glob

    students = []
    for path in glob.glob(str(pattern)):
        m = regexp.match(path)
        if m and os.path.isdir(path):
            students.append(m.group("student"))
    return sorted(students)


# ----------------------------------------------------------------------------- pre-checks


@dataclass
class Plan:
    """How one submission will be graded, decided before any kernel starts."""

    student: str
    status: str = "graded"  # final unless the worker says otherwise
    notes: list = field(default_factory=list)
    renames: dict = field(default_factory=dict)  # file in the submission -> name it is graded as
    skip: set = field(default_factory=set)  # notebook files not copied to the worker
    unscored_notebooks: list = field(default_factory=list)
    run: bool = True  # False: no worker needed (empty folder, nothing gradable)
    flags: dict = field(default_factory=dict)  # notebook -> suspicious lines, for a human
    source: Path | None = None  # folder to grade instead of submitted/<student>/<assignment>
    feedback: bool = True


def _readable_notebook(path: Path) -> str | None:
    """None when ``path`` is a JSON notebook, else a short reason."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        return f"not UTF-8 text ({err.reason} at byte {err.start})"
    except json.JSONDecodeError as err:
        return f"not JSON ({err.msg} at line {err.lineno}, column {err.colno})"
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "JSON, but not a notebook (no list of cells)"
    return None


# Code that rebinds what test cells rely on: worth a human look even when the checks held.
_WATCHED = r"torch|np|numpy|math|builtins|__builtins__|course_utils|cu|grading|sys\.modules"
_ALIAS = re.compile(
    r"^\s*(?:from\s+(?:torch|numpy|math|builtins|course_utils)[\w.]*\s+)?import\s+"
    r"(?:torch|numpy|math|builtins|course_utils|grading)[\w.]*\s+as\s+(\w+)",
    re.MULTILINE,
)


def _tamper_regex(names: str) -> re.Pattern:
    return re.compile(
        rf"^[ \t]*((?:{names})(?:\s*\.\s*\w+|\s*\[[^\]]*\])+)\s*=(?!=)"
        rf"|\bsetattr\(\s*(?:{names})\b|\b__builtins__\b|\bsys\.modules\b"
        r"|\bvars\s*\(\s*\w+\s*\)\s*\[|\.__dict__\b|\bctypes\b",
        re.MULTILINE,
    )


def tamper_lines(path: Path) -> list[str]:
    """Lines of a notebook's code cells that rebind library functions, e.g. torch.allclose = ...

    Test cells are restored from the gradebook and use checks captured at import time, so such
    lines should change nothing; they are still reported (and the notebook flagged in the
    gradebook) so that a human can look.
    """
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    aliases = {a for src in sources for a in _ALIAS.findall(src)}
    pattern = _tamper_regex("|".join([_WATCHED, *sorted(aliases)]))
    found = []
    for source in sources:
        for m in pattern.finditer(source):
            line = source[source.rfind("\n", 0, m.start()) + 1 :].split("\n", 1)[0].strip()
            if line[:80] not in found:
                found.append(line[:80])
    return found


def plan_submission(course: Course, student: str) -> Plan:
    """Look at one submission folder and decide how to grade it."""
    plan = Plan(student)
    folder = course.path(course.coursedir.submitted_directory, student)
    files = [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []
    found = {p.stem: p for p in files if p.is_file() and p.suffix == ".ipynb"}
    expected = list(course.notebooks)
    if not files:
        plan.status, plan.run = "empty", False
        plan.notes.append(f"the folder {os.path.relpath(folder, course.root)} is empty")
        return plan

    missing = [nb for nb in expected if nb not in found]
    unknown = sorted(stem for stem in found if stem not in course.notebooks)
    if len(missing) == 1 and len(unknown) == 1:
        plan.renames[found[unknown[0]].name] = missing[0] + ".ipynb"
        plan.status = "renamed"
        plan.notes.append(f"notebook {unknown[0]}.ipynb graded as {missing[0]}.ipynb")
        found[missing[0]] = found.pop(unknown[0])
        missing, unknown = [], []
    if unknown:
        plan.notes.append(
            "ignored unknown notebook(s): " + ", ".join(u + ".ipynb" for u in unknown)
        )

    for nb in expected:
        if nb in found:
            reason = _readable_notebook(found[nb])
            if reason is not None:
                plan.skip.add(found[nb].name)
                plan.unscored_notebooks.append(nb)
                plan.notes.append(f"{found[nb].name} is {reason}")
    if plan.unscored_notebooks:
        plan.status = "not-a-notebook"
    for nb in expected:
        if nb in found and nb not in plan.unscored_notebooks:
            lines = tamper_lines(found[nb])
            if lines:
                plan.flags[nb] = lines
                plan.notes.append(
                    f"flagged for review, {found[nb].name} rebinds library code: "
                    + " | ".join(lines[:3])
                )

    if missing:
        plan.notes.append("missing notebook(s): " + ", ".join(m + ".ipynb" for m in missing))
        if plan.status == "graded":
            plan.status = "missing-notebook"
    gradable = [nb for nb in expected if nb in found and nb not in plan.unscored_notebooks]
    if not gradable:
        plan.run = False
        if not plan.unscored_notebooks:
            plan.status = "no-notebook"
    return plan


# ----------------------------------------------------------------------------- workers


def _kill_tree(pid: int) -> None:
    """Kill a process, all its descendants (the kernel too) and its process group."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        procs = []
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)  # the worker leads its own session
    except (ProcessLookupError, PermissionError, AttributeError):
        pass
    psutil.wait_procs(procs, timeout=10)


class Worker:
    """One worker process with its own course copy; grades one student at a time."""

    def __init__(self, index: int, course: Course, tmp: Path, env: dict, timeout: float):
        self.index = index
        self.course = course
        self.dir = tmp / f"worker-{index}"
        self.env = env
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self._make_course_copy()

    def _make_course_copy(self) -> None:
        c = self.course
        self.dir.mkdir(parents=True)
        shutil.copy2(c.config_file, self.dir / "nbgrader_config.py")
        src = c.source_folder()
        dest = self.dir / os.path.relpath(src, c.root)
        shutil.copytree(src, dest)
        shutil.copy2(c.db_path, self.dir / "gradebook.db")
        (self.dir / "runtime").mkdir()

    def start(self) -> None:
        env = dict(self.env, JUPYTER_RUNTIME_DIR=str(self.dir / "runtime"))
        self.log = open(self.dir / "worker.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "course_utils.grade_class",
                _WORKER_FLAG,
                str(self.dir),
                self.course.assignment,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=self.dir,
            text=True,
            start_new_session=True,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()
        reply = self._reply(time.monotonic() + 180)
        if reply is None or not reply.get("ready"):
            self.stop()
            tail = (self.dir / "worker.log").read_text(errors="replace")[-2000:]
            raise GradingError(f"worker {self.index} did not start:\n{tail}")

    @staticmethod
    def _read(proc, lines) -> None:
        for line in proc.stdout:
            if line.startswith(_MARK):
                lines.put(json.loads(line[len(_MARK) :]))
        lines.put(None)  # the worker exited

    def _reply(self, deadline: float):
        """The next result line, or None if the worker died or the deadline passed."""
        try:
            return self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if not kill and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                kill = True
        if kill or self.proc.poll() is None:
            _kill_tree(self.proc.pid)
        self.proc.wait()
        self.proc = None
        self.log.close()

    def grade(self, plan: Plan) -> StudentResult:
        """Autograde one submission (and generate its feedback) in this worker."""
        c = self.course
        student = plan.student
        dest = self.dir / os.path.relpath(c.path(c.coursedir.submitted_directory, student), c.root)
        src = plan.source or c.path(c.coursedir.submitted_directory, student)
        for step in (
            c.coursedir.submitted_directory,
            c.coursedir.autograded_directory,
            c.coursedir.feedback_directory,
        ):  # leftovers of an earlier try in this worker
            stale = self.dir / os.path.relpath(c.path(step, student), c.root)
            if stale.exists():
                shutil.rmtree(stale)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*plan.skip))
        for old, new in plan.renames.items():
            (dest / old).rename(dest / new)

        if self.proc is None:
            self.start()
        t0 = time.monotonic()
        self.proc.stdin.write(json.dumps({"student": student, "feedback": plan.feedback}) + "\n")
        self.proc.stdin.flush()
        reply = self._reply(t0 + self.timeout)
        seconds = time.monotonic() - t0
        if reply is None:
            timed_out = self.proc.poll() is None
            self.stop(kill=True)
            if timed_out:
                return StudentResult(
                    student,
                    "timeout",
                    f"over the {self.timeout:.0f} s limit; worker killed",
                    seconds,
                )
            return StudentResult(student, "error", "the grading process died", seconds)
        return StudentResult(
            student,
            reply["status"],
            reply.get("message", ""),
            seconds,
            grades=reply.get("grades", {}),
            comments=reply.get("comments", {}),
            penalties=reply.get("penalties", {}),
            timestamp=reply.get("timestamp"),
            workdir=str(self.dir),
            errors=reply.get("errors", {}),
        )


def _worker_main(workdir: str, assignment: str) -> int:
    """Inside a worker process: grade the students named on stdin, one per line."""
    workdir = str(Path(workdir).resolve())
    cfg = _load_config(Path(workdir) / "nbgrader_config.py")
    cfg.CourseDirectory.root = workdir
    cfg.CourseDirectory.db_url = f"sqlite:///{workdir}/gradebook.db"
    from nbgrader.apps import NbGraderAPI

    api = NbGraderAPI(config=cfg)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything else printed goes to the worker log
    out.write(_MARK + json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        reply = _autograde_one(api, cfg, assignment, job["student"], job["feedback"])
        out.write(_MARK + json.dumps(reply) + "\n")
        out.flush()
    return 0


def _failure_status(result: dict) -> tuple[str, str]:
    """(status, message) for a failed ``NbGraderAPI.autograde`` result, from its log."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    if "DeadKernelError" in text or "Kernel died" in text:
        return "kernel-died", "the kernel died while running the notebook"
    if "CellTimeoutError" in text or "UnresponsiveKernelError" in text:
        return "timeout", (
            "a cell ran past the per-cell timeout and the kernel did not answer the interrupt "
            "(a loop that catches KeyboardInterrupt?)"
        )
    raised = re.findall(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)\b.*)$", text, re.MULTILINE)
    return "error", (raised[-1].strip()[:300] if raised else "nbgrader autograde failed")


def _autograde_one(api, cfg, assignment: str, student: str, feedback: bool) -> dict:
    from nbgrader.api import Gradebook

    result = api.autograde(assignment, student, force=True, create=True)
    if result["success"]:
        status, message = "graded", ""
        fb = api.generate_feedback(assignment, student, force=True) if feedback else {"success": 1}
        if not fb["success"]:
            message = "feedback failed: " + (fb.get("error") or "").strip().splitlines()[-1]
    else:
        status, message = _failure_status(result)
    reply = {"status": status, "message": message, "grades": {}, "comments": {}, "penalties": {}}
    with Gradebook(cfg.CourseDirectory.db_url, api.coursedir.course_id) as gb:
        sub = gb.find_submission(assignment, student)
        reply["timestamp"] = sub.timestamp.isoformat() if sub.timestamp else None
        for nb in sub.notebooks:
            reply["grades"][nb.name] = {
                g.name: {
                    "auto_score": g.auto_score,
                    "needs_manual_grade": g.needs_manual_grade,
                    "max_score": g.max_score,
                }
                for g in nb.grades
            }
            reply["comments"][nb.name] = {c.name: c.auto_comment for c in nb.comments}
            reply["penalties"][nb.name] = nb.late_submission_penalty
    folder = Path(
        api.coursedir.format_path(api.coursedir.autograded_directory, student, assignment)
    )
    reply["errors"] = _cell_errors(folder)
    return reply


def _cell_errors(folder: Path) -> dict:
    """grade cell -> "Ename: evalue" of the first error it shows, from autograded notebooks."""
    errors = {}
    for path in sorted(folder.glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            continue
        for cell in cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            for out in cell.get("outputs", []):
                if meta.get("grade") and out.get("output_type") == "error":
                    errors[meta.get("grade_id")] = f"{out.get('ename')}: {out.get('evalue')}"[:300]
                    break
    return errors


# ----------------------------------------------------------------------------- merging


def _merge(course: Course, result: StudentResult) -> None:
    """Write one student's result into the course's gradebook (one record per student)."""
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings(), Gradebook(course.db_url, course.course_id) as gb:
        # nbgrader's add_submission trips SQLAlchemy autoflush warnings; they are harmless.
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_student(result.student)
        kwargs = {"timestamp": result.timestamp} if result.timestamp else {}
        sub = gb.update_or_create_submission(course.assignment, result.student, **kwargs)
        for nb in sub.notebooks:
            name = nb.name
            unscored = result.failed and (
                not result.unscored_notebooks or name in result.unscored_notebooks
            )
            new = result.grades.get(name, {})
            for grade in nb.grades:
                if unscored:
                    grade.auto_score, grade.needs_manual_grade = None, True
                elif result.status in ("empty", "no-notebook") or grade.name not in new:
                    grade.auto_score, grade.needs_manual_grade = 0.0, False  # nbgrader's rule
                else:
                    grade.auto_score = new[grade.name]["auto_score"]
                    grade.needs_manual_grade = bool(new[grade.name]["needs_manual_grade"])
            comments = result.comments.get(name, {})
            for comment in nb.comments:
                if comment.name in comments:
                    comment.auto_comment = comments[comment.name]
            if name in result.penalties and result.penalties[name] is not None:
                nb.late_submission_penalty = result.penalties[name]
            if name in result.flagged_notebooks:
                nb.flagged = True  # shows in the formgrader; a human clears it
        gb.db.commit()


def _copy_back(course: Course, result: StudentResult) -> None:
    """Replace the course's autograded/ and feedback/ folders of this student with this run's."""
    for step in (course.coursedir.autograded_directory, course.coursedir.feedback_directory):
        target = course.path(step, result.student)
        if target.exists():
            shutil.rmtree(target)
            if not any(target.parent.iterdir()):
                target.parent.rmdir()  # autograded/<student>/ held only this assignment
        if result.workdir is None or result.failed:
            continue
        made = Path(result.workdir) / os.path.relpath(target, course.root)
        if made.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(made, target)
            shutil.rmtree(made)


# ----------------------------------------------------------------------------- reporting


def read_scores(course: Course, students: list[str]) -> dict:
    """student -> [(cell name, score or None when unscored, max score)] from the real gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    table = {}
    with Gradebook(course.db_url, course.course_id) as gb:
        for student in students:
            row = []
            try:
                sub = gb.find_submission(course.assignment, student)
            except MissingEntry:
                table[student] = row
                continue
            by_nb = {nb.name: {g.name: g for g in nb.grades} for nb in sub.notebooks}
            for nb, cells in course.notebooks.items():
                for cell, max_score in cells:
                    g = by_nb.get(nb, {}).get(cell)
                    if g is None or (g.auto_score is None and g.manual_score is None):
                        row.append((cell, None, max_score))
                    else:
                        row.append((cell, float(g.score), max_score))
            table[student] = row
    return table


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:g}"


def _columns(course: Course) -> list[str]:
    multi = len(course.notebooks) > 1
    return [
        f"{nb}:{cell}" if multi else cell
        for nb, cells in course.notebooks.items()
        for cell, _ in cells
    ]


def write_csv(path: Path, course: Course, results: list[StudentResult], scores: dict) -> None:
    """One row per student: status, one score per graded cell (blank: unscored), total, message."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = _columns(course)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "status", *cols, "total", "max_total", "message"])
        for r in results:
            row = scores.get(r.student, [])
            values = ["" if s is None else f"{s:g}" for _, s, _ in row]
            total = sum(s for _, s, _ in row if s is not None)
            max_total = sum(m for _, _, m in row)
            total_text = "" if r.failed else f"{total:g}"
            w.writerow([r.student, r.status, *values, total_text, f"{max_total:g}", r.message])


def format_table(course: Course, results: list[StudentResult], scores: dict) -> str:
    """A plain-text table: one line per student, one column per graded cell, then the total."""
    cols = _columns(course)
    maxes = [m for cells in course.notebooks.values() for _, m in cells]
    header = ["student", *cols, "total", "status"]
    lines = [header, ["(max)", *[_fmt(m) for m in maxes], _fmt(sum(maxes)), ""]]
    for r in results:
        row = scores.get(r.student, [])
        vals = [_fmt(s) for _, s, _ in row] or ["-"] * len(cols)
        total = None if r.failed else sum(s for _, s, _ in row if s is not None)
        lines.append([r.student, *vals, _fmt(total), r.status])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def describe(result: StudentResult) -> str:
    """One line for an instructor: 'student bob: kernel died (...) - not scored, ...: detail'."""
    text = f"student {result.student}: {STATUS_TEXT.get(result.status, result.status)}"
    return text + (f": {result.message}" if result.message else "")


# ----------------------------------------------------------------------------- the command


def _worker_env(jobs: int) -> dict:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)  # nbgrader shells out to `alembic`
    if bindir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        # Several kernels share the cores: one torch thread pool per core, not per kernel.
        from course_utils import available_cpus

        env["OMP_NUM_THREADS"] = str(max(1, available_cpus() // jobs))
    return env


CHECK_ID = "_instructor_check"  # the instructor's own notebook, graded first as a control


def _check_instructor(course: Course, result: StudentResult) -> None:
    """Raise GradingError unless the instructor's solution got every autograded point."""
    lost = []
    for nb, grades in result.grades.items():
        for cell, g in grades.items():
            if g["auto_score"] is not None and g["auto_score"] < g["max_score"]:
                why = result.errors.get(cell, "")
                lost.append(f"{nb}:{cell} {g['auto_score']:g}/{g['max_score']:g} {why}".strip())
    if result.status != "graded" or lost:
        details = "\n  ".join(lost) or f"{result.status}: {result.message}"
        raise GradingError(
            "the instructor's own notebook (source/) does not get full marks in this grading "
            "environment, so student scores could not be trusted; nothing was written. Fix the "
            "environment (the corpus? COURSE_DATA_DIR? a package?) or the notebook, or pass "
            f"--no-check to grade anyway.\n  {details}"
        )


def grade_class(
    root: str | Path,
    assignment: str,
    jobs: int | None = None,
    timeout: float = 600.0,
    csv_path: str | Path | None = None,
    check: bool = True,
    feedback: bool = True,
    echo=print,
) -> list[StudentResult]:
    """Autograde every submission of ``assignment`` under ``root`` (see the module docstring).

    ``check``: first autograde the instructor's own notebook from source/ and stop (nothing
    written) unless it gets full marks. ``feedback``: run nbgrader's generate_feedback for every
    graded student. Returns one StudentResult per student, sorted by student
    id. Raises GradingError when grading itself fails.
    """
    from course_utils import available_cpus

    if jobs is None:
        jobs = available_cpus()
    if jobs < 1:
        raise ValueError(f"jobs: expected a positive number of worker processes, got {jobs}")
    if timeout <= 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout}")
    t_start = time.monotonic()
    course = open_course(root, assignment)
    students = list_students(course)
    if not students:
        pattern = course.path(course.coursedir.submitted_directory, "*")
        raise GradingError(f"no submissions match {pattern}; run `nbgrader collect {assignment}`")
    plans = {s: plan_submission(course, s) for s in students}
    todo = [plans[s] for s in students if plans[s].run]
    for plan in todo:
        plan.feedback = feedback
    if check:
        todo.insert(0, Plan(CHECK_ID, source=course.source_folder(), feedback=False))
    jobs = max(1, min(jobs, len(todo)))
    echo(
        f"grading {assignment}: {len(students)} submissions, {len(todo) - check} to autograde "
        f"with {jobs} worker(s), limit {timeout:g} s each"
        + (" (the instructor's notebook first, as a control)" if check else "")
    )

    done: list[StudentResult] = []
    failures = 0
    held: list[StudentResult] = []  # results that wait for the instructor check
    checked = not check

    def record(result: StudentResult) -> None:
        nonlocal failures
        plan = plans[result.student]
        if plan.unscored_notebooks and result.status in ("graded", "missing-notebook", "renamed"):
            result.status = "not-a-notebook"
        if result.status == "graded" and plan.status != "graded":
            result.status = plan.status
        result.unscored_notebooks = list(plan.unscored_notebooks)
        result.flagged_notebooks = list(plan.flags)
        result.message = "; ".join([*plan.notes, *([result.message] if result.message else [])])
        try:
            _merge(course, result)
            _copy_back(course, result)
        except Exception as err:
            raise GradingError(
                f"cannot write {result.student}'s grades into {course.db_path}: {err}"
            ) from err
        done.append(result)
        failures += result.failed
        echo(
            f"[{len(done)}/{len(students)}] {describe(result)} ({result.seconds:.1f} s)"
            + (f"  [failures: {failures}]" if failures else "")
        )

    def finish(result: StudentResult) -> None:
        nonlocal checked
        if result.student == CHECK_ID:
            _check_instructor(course, result)
            checked = True
            echo(f"instructor's notebook: full marks ({result.seconds:.1f} s)")
            for r in held:
                record(r)
            held.clear()
        elif checked:
            record(result)
        else:
            held.append(result)

    if todo:
        with tempfile.TemporaryDirectory(prefix="grade_class-") as tmp:
            _run_workers(course, todo, jobs, timeout, Path(tmp), finish)
    for s in students:  # nothing to run: empty folders, no notebook, unreadable notebooks
        if not plans[s].run:
            record(StudentResult(s, plans[s].status))

    done.sort(key=lambda r: r.student)
    scores = read_scores(course, students)
    csv_file = Path(csv_path) if csv_path else course.root / "grades" / f"{assignment}.csv"
    write_csv(csv_file, course, done, scores)
    echo("")
    echo(format_table(course, done, scores))
    echo("")
    for r in done:
        if r.failed or r.status != "graded" or r.flagged_notebooks:
            echo(describe(r))
    echo(
        f"{len(done)} students, {failures} not scored, {time.monotonic() - t_start:.1f} s; "
        f"gradebook {course.db_path}; grades {csv_file}"
    )
    return done


def _run_workers(course, todo, jobs, timeout, tmp, finish) -> None:
    """Grade the plans in ``todo`` with ``jobs`` workers; ``finish`` runs in this thread.

    When ``finish`` raises (a fatal error), the workers are killed and the error propagates.
    """
    env = _worker_env(jobs)
    pending: queue.Queue = queue.Queue()
    for plan in todo:
        pending.put(plan)
    results: queue.Queue = queue.Queue()
    start_errors: list[str] = []
    workers = [Worker(i, course, tmp, env, timeout) for i in range(jobs)]

    def work(worker: Worker) -> None:
        try:
            while True:
                try:
                    plan = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    results.put(worker.grade(plan))
                except GradingError as err:  # the worker could not start
                    start_errors.append(str(err))
                    results.put(StudentResult(plan.student, "error", "worker failed to start"))
                except Exception as err:  # never lose a student
                    message = f"{type(err).__name__}: {err}"
                    results.put(StudentResult(plan.student, "error", message))
        finally:
            worker.stop()

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    try:
        for _ in todo:
            result = results.get()
            if start_errors:
                raise GradingError(start_errors[0])
            finish(result)
    except BaseException:
        while True:  # stop handing out students, and stop the ones being graded
            try:
                pending.get_nowait()
            except queue.Empty:
                break
        for w in workers:
            proc = w.proc
            if proc is not None and proc.poll() is None:
                _kill_tree(proc.pid)
        raise
    finally:
        for t in threads:
            t.join()


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 unless grading itself failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [_WORKER_FLAG]:
        return _worker_main(argv[1], argv[2])
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grade_class",
        description="Autograde every submission of an nbgrader assignment in parallel.",
    )
    parser.add_argument("assignment", help="assignment name, e.g. lesson1_hidden_state")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs)")
    parser.add_argument("--root", default=".", help="course root holding nbgrader_config.py")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="wall-clock seconds per submission (600)"
    )
    parser.add_argument("--csv", default=None, help="CSV path (default grades/<assignment>.csv)")
    parser.add_argument(
        "--no-feedback", action="store_true", help="skip nbgrader generate_feedback"
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="skip grading the instructor's notebook first (a control that must get full marks)",
    )
    args = parser.parse_args(argv)
    try:
        grade_class(
            args.root,
            args.assignment,
            args.jobs,
            args.timeout,
            args.csv,
            check=not args.no_check,
            feedback=not args.no_feedback,
        )
    except (GradingError, ValueError) as err:
        print(f"grade_class: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
