"""Run one command inside a fresh bubblewrap sandbox, with limits, and report what happened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.bwrap import bwrap_argv, check_available
from grader.sandbox.cgroup import PidsCgroup
from grader.sandbox.limits import DEFAULT_LIMITS, Limits, limit_from_exit

MAX_OUTPUT = 4 * 1024 * 1024  # bytes of stdout / stderr kept (each); the rest is cut


@dataclass
class SandboxResult:
    """What a sandboxed command did.

    returncode: its exit status (negative: killed by that signal; -9 after a wall-time kill)
    stdout, stderr: its output, decoded, at most ``MAX_OUTPUT`` bytes each
    limit: ``None``, or the limit it hit: "memory", "processes", "file size", "cpu time",
        "wall time"
    """

    returncode: int
    stdout: str
    stderr: str
    limit: str | None = None


def sandbox_env(workdir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment inside: a clean one (nothing of the grader's), HOME and TMPDIR in the work
    folder, the venv's ``bin`` first on PATH, the corpus variable, then ``env`` on top."""
    inside = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir / ".tmp"),
        "USER": "student",
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "MPLCONFIGDIR": str(workdir / ".tmp" / "matplotlib"),
    }
    # nbgrader sets NBGRADER_EXECUTION (and NBGRADER_VALIDATING) around its kernels: the lessons
    # read it to cut their training to the grading budget (cu.grading.budget). Without it a
    # sandboxed lesson 3 trained for its full 20 s (a 30 s kernel instead of 10 s).
    for name in (
        "COURSE_DATA_DIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TZ",
        "NBGRADER_EXECUTION", "NBGRADER_VALIDATING",
    ):  # fmt: skip
        if os.environ.get(name):
            inside[name] = os.environ[name]
    if inside.get("COURSE_DATA_DIR"):
        # The corpus is bound at its real path: a COURSE_DATA_DIR that goes through a symlink
        # would name nothing inside, and course_utils would then try to download the book.
        inside["COURSE_DATA_DIR"] = str(Path(inside["COURSE_DATA_DIR"]).resolve())
    inside.update(env or {})
    inside.pop("JPY_PARENT_PID", None)
    return inside


def sandbox_command(
    argv: Sequence[str],
    *,
    workdir: Path,
    readonly: Sequence[str | Path] = (),
    writable: Sequence[str | Path] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[str], list[int], PidsCgroup | None]:
    """The full host command line for ``argv`` in a sandbox, the descriptors to pass, and the
    pids cgroup (or ``None``). Raises :class:`SandboxUnavailable` when bwrap cannot start."""
    bwrap = check_available()
    workdir = Path(workdir).resolve()
    (workdir / ".tmp").mkdir(exist_ok=True)
    args, fds = bwrap_argv(
        bwrap, workdir, tuple(Path(p).resolve() for p in readonly), tuple(Path(p) for p in writable)
    )
    cgroup = PidsCgroup.create(limits.processes) if limits.processes is not None else None
    prefix = cgroup.shell_prefix() if cgroup is not None else []
    return prefix + args + limits.prlimit_argv() + list(argv), fds, cgroup


def _read_capped(file) -> str:
    file.seek(0)
    data = file.read(MAX_OUTPUT + 1)
    text = data[:MAX_OUTPUT].decode("utf-8", errors="replace")
    return text + ("\n[output cut]" if len(data) > MAX_OUTPUT else "")


def run_sandboxed(
    argv: Sequence[str],
    *,
    workdir: str | Path,
    readonly: Sequence[str | Path] = (),
    env: Mapping[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    timeout: float,
) -> SandboxResult:
    """Run ``argv`` in a fresh sandbox whose only writable folder is ``workdir`` (also its cwd,
    HOME and TMPDIR), and wait for it; at most ``timeout`` seconds of wall time.

    Nothing started inside outlives the call: on return (or timeout) the PID namespace is gone.
    Raises :class:`SandboxUnavailable` (with what to install) when bwrap cannot start.
    """
    workdir = Path(workdir).resolve()
    if not workdir.is_dir():
        raise ValueError(f"run_sandboxed: workdir {workdir} is not a folder; create it first")
    command, fds, cgroup = sandbox_command(argv, workdir=workdir, readonly=readonly, limits=limits)
    limit = None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=sandbox_env(workdir, env),
                pass_fds=fds,
                start_new_session=True,
            )
        finally:
            for fd in fds:
                os.close(fd)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            limit = "wall time"
            _kill_group(proc)
            returncode = proc.wait()
        stdout, stderr = _read_capped(out), _read_capped(err)
    if cgroup is not None:
        if limit is None and cgroup.hit_limit():
            limit = "processes"
        cgroup.remove()
    if limit is None and returncode != 0:
        limit = limit_from_exit(returncode, stderr)
    return SandboxResult(returncode, stdout, stderr, limit)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the sandbox's outer process group; ``--die-with-parent`` and the PID namespace take
    every process inside with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    time.sleep(0)
