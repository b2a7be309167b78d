"""The grading task that runs on a Dask worker: bytes in, plain data out.

``grade_submission(bundle, job)`` materialises the course bundle once per worker process (a
private folder with ``nbgrader_config.py``, ``source/<assignment>`` and a private SQLite
gradebook), writes the submission there, grades it with the same worker process as the local
pool (:class:`grader.grade_class.workers.Worker`: nbgrader's autograde and generate_feedback,
every kernel sandboxed, the per-submission wall-clock limit) and returns the result with the
autograded notebooks and the feedback as ``{relative path: bytes}``. It writes nothing
anywhere else, so running it twice for one student (a retry after a worker died) is harmless:
the coordinator merges whichever result arrives.

A worker that cannot start a sandbox raises :class:`SandboxRefused` instead of grading.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

from grader.grade_class.bundle import write_tree
from grader.grade_class.plan import Plan
from grader.grade_class.results import SandboxRefused

_LOCK = threading.Lock()
_GRADERS: dict = {}  # (bundle digest, timeout, unsafe, omp threads) -> _LocalGrader


class _LocalGrader:
    """A private course made from the bundle, and one grading process working in it."""

    def __init__(self, bundle: dict, timeout: float, unsafe: bool, omp_threads: int | None):
        from grader.grade_class.course import open_course
        from grader.grade_class.workers import Worker, worker_env

        self.base = Path(tempfile.mkdtemp(prefix="grade_class-remote-"))
        root = self.base / "course"
        config = (
            bundle["config"]
            + (
                "\n# grade_class worker: a private gradebook\n"
                f"c.CourseDirectory.db_url = 'sqlite:///{root}/gradebook.db'\n"
            ).encode()
        )
        write_tree(root, {"nbgrader_config.py": config, "gradebook.db": bundle["gradebook"]})
        write_tree(root / bundle["source_dir"], bundle["source"])
        self.course = open_course(root, bundle["assignment"])
        env = worker_env(1, unsafe)
        if omp_threads and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(omp_threads)
        self.worker = Worker(0, self.course, self.base / "tmp", env, timeout)
        atexit.register(self.close)

    def close(self) -> None:
        try:
            self.worker.stop(kill=True)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def grade(self, job: dict) -> dict:
        c = self.course
        student = job["student"]
        folder = c.path(c.coursedir.submitted_directory, student)
        shutil.rmtree(folder, ignore_errors=True)
        write_tree(folder, job["files"])
        try:
            result = self.worker.grade(Plan(student, feedback=job["feedback"]))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        out = asdict(result)
        out["workdir"] = None
        out["worker"] = _worker_name()
        return out


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def grade_submission(bundle: dict, job: dict) -> dict:
    """Grade one submission (``job``: student, files, feedback, timeout, unsafe, omp_threads)."""
    if not job["unsafe"]:
        from grader.sandbox import SandboxUnavailable, check_available

        try:
            check_available()
        except SandboxUnavailable as err:
            raise SandboxRefused(
                f"worker {_worker_name()} cannot start a sandbox and refuses to grade "
                f"unsandboxed: {err}"
            ) from None
    key = (bundle["digest"], job["timeout"], job["unsafe"], job.get("omp_threads"))
    with _LOCK:
        grader = _GRADERS.get(key)
        if grader is None:
            for old in _GRADERS.values():
                old.close()
            _GRADERS.clear()
            grader = _GRADERS[key] = _LocalGrader(
                bundle, job["timeout"], job["unsafe"], job.get("omp_threads")
            )
        return grader.grade(job)
