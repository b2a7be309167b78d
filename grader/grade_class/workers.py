"""Worker processes: each owns a private course copy and grades one student at a time.

The parent talks to a worker over its stdin (one JSON job per line) and stdout (result lines that
start with ``MARK``); the worker side is :mod:`grader.grade_class.autograde`.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from grader.grade_class.course import Course
from grader.grade_class.merge import collect_files
from grader.grade_class.plan import Plan
from grader.grade_class.results import LIMIT_STATUS, STATUS_TEXT, GradingError, StudentResult
from grader.sandbox.cgroup import remove_stale_cgroups
from grader.sandbox.kernel import EVENTS_ENV, UNSAFE_ENV

# Lines from a worker that carry a result start with this marker; anything else on its stdout
# (a stray print from a library) is ignored.
MARK = "@@grade_class@@ "
WORKER_FLAG = "--_worker"


def kill_tree(pid: int) -> None:
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
        # The sandboxed kernels' scratch folders go under the worker's folder (removed with it,
        # even after a kill), and each kernel notes the limit it hit in the events file.
        (self.dir / "tmp").mkdir(exist_ok=True)
        env.update(TMPDIR=str(self.dir / "tmp"), **{EVENTS_ENV: str(self.dir / "sandbox.jsonl")})
        self.log = open(self.dir / "worker.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grader.grade_class",
                WORKER_FLAG,
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
            if line.startswith(MARK):
                lines.put(json.loads(line[len(MARK) :]))
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
            kill_tree(self.proc.pid)
        self.proc.wait()
        remove_stale_cgroups(self.proc.pid)  # the killed worker's kernels' pids cgroups
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
        result = StudentResult(
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
            sandboxed=not self.env.get(UNSAFE_ENV),
            trusted_flags=reply.get("flagged", []),
            manual_comments=reply.get("manual_comments", {}),
        )
        # The results travel as data: the autograded notebooks and the feedback as bytes.
        result.files = collect_files(c, self.dir, student)
        if reply.get("limit"):
            _name_the_limit(result, reply["limit"])
        return result


def _name_the_limit(result: StudentResult, limit: str) -> None:
    """Give a result that hit a sandbox limit the status naming it. A notebook that nbgrader
    could still score keeps its scores (the cells that hit the limit scored 0); one whose kernel
    died of it is left unscored for a human."""
    if result.failed:
        result.unscored = True
        reason = STATUS_TEXT.get(result.status, result.status)
        result.message = "; ".join(filter(None, [reason, result.message]))
    result.status = LIMIT_STATUS.get(limit, "error")


def worker_env(jobs: int, unsafe: bool = False) -> dict:
    """The workers' environment. ``unsafe``: their kernels run without a sandbox; otherwise a
    ``RNN_COURSE_UNSAFE_NO_SANDBOX`` left in the instructor's shell is dropped."""
    env = dict(os.environ)
    env.pop(UNSAFE_ENV, None)
    if unsafe:
        env[UNSAFE_ENV] = "1"
    bindir = str(Path(sys.executable).parent)  # nbgrader shells out to `alembic`
    if bindir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        # Several kernels share the cores: one torch thread pool per core, not per kernel.
        from course_utils import available_cpus

        env["OMP_NUM_THREADS"] = str(max(1, available_cpus() // jobs))
    return env


def run_workers(course, todo, jobs, timeout, tmp, finish, unsafe: bool = False) -> None:
    """Grade the plans in ``todo`` with ``jobs`` workers; ``finish`` runs in this thread.

    When ``finish`` raises (a fatal error), the workers are killed and the error propagates.
    """
    env = worker_env(jobs, unsafe)
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
                kill_tree(proc.pid)
        raise
    finally:
        for t in threads:
            t.join()
