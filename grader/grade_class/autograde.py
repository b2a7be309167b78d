"""Inside a worker process: nbgrader's own autograde and feedback, one student at a time."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from grader.grade_class.course import load_config
from grader.grade_class.workers import MARK
from grader.sandbox.kernel import EVENTS_ENV
from grader.sandbox.limits import limit_from_text
from grader.sandbox.nbgrader import sandboxed_preprocessors


def worker_main(workdir: str, assignment: str) -> int:
    """Inside a worker process: grade the students named on stdin, one per line."""
    workdir = str(Path(workdir).resolve())
    cfg = load_config(Path(workdir) / "nbgrader_config.py")
    cfg.CourseDirectory.root = workdir
    cfg.CourseDirectory.db_url = f"sqlite:///{workdir}/gradebook.db"
    # Every kernel is sandboxed, whatever the course's config says (RNN_COURSE_UNSAFE_NO_SANDBOX,
    # set by --unsafe-no-sandbox only, makes those kernels ordinary ones).
    cfg.Autograde.autograde_preprocessors = sandboxed_preprocessors(
        cfg.Autograde.get("autograde_preprocessors")
    )
    from nbgrader.apps import NbGraderAPI

    api = NbGraderAPI(config=cfg)
    _end_with_parent()
    out = sys.stdout
    sys.stdout = sys.stderr  # anything else printed goes to the worker log
    out.write(MARK + json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        reply = _autograde_one(api, cfg, assignment, job["student"], job["feedback"])
        out.write(MARK + json.dumps(reply) + "\n")
        out.flush()
    return 0


def _end_with_parent() -> None:
    """When the process that started this worker dies (a Dask worker SIGKILLed, say), end this
    worker and every kernel it started: nothing keeps grading for a coordinator that is gone."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="end-with-parent").start()


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

    events = Path(os.environ[EVENTS_ENV]) if os.environ.get(EVENTS_ENV) else None
    if events is not None:
        events.write_text("")
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
            manual = {c.name: c.manual_comment for c in nb.comments if c.manual_comment}
            if manual:  # the trusted check's reasons
                reply.setdefault("manual_comments", {})[nb.name] = manual
            if nb.flagged:  # set by the trusted check
                reply.setdefault("flagged", []).append(nb.name)
    folder = Path(
        api.coursedir.format_path(api.coursedir.autograded_directory, student, assignment)
    )
    reply["errors"] = _cell_errors(folder)
    limit = _sandbox_limit(events, folder)
    if limit is not None:
        reply["limit"] = limit
    return reply


def _sandbox_limit(events: Path | None, folder: Path) -> str | None:
    """The sandbox limit this student's kernels hit, if any: from what the kernel manager noted
    at shutdown (processes, CPU time, a signal), else from the errors the cells showed
    (``MemoryError``, ``File too large``, ``Resource temporarily unavailable``)."""
    if events is not None and events.exists():
        for line in events.read_text().splitlines():
            try:
                limit = json.loads(line).get("limit")
            except ValueError:
                continue
            if limit:
                return limit
    for _, error in _error_outputs(folder):
        limit = limit_from_text(error)
        if limit:
            return limit
    return None


def _error_outputs(folder: Path):
    """(cell, "Ename: evalue") for every error output of the notebooks in ``folder``."""
    for path in sorted(folder.glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            continue
        for cell in cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    yield cell, f"{out.get('ename')}: {out.get('evalue')}"


def _cell_errors(folder: Path) -> dict:
    """grade cell -> "Ename: evalue" of the first error it shows, from autograded notebooks."""
    errors = {}
    for cell, error in _error_outputs(folder):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id") not in errors:
            errors[meta.get("grade_id")] = error[:300]
    return errors
