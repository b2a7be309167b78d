"""Resource limits for sandboxed student code, and how to tell which one a run hit.

Limits are set inside the sandbox, right before the student's command starts, with util-linux
``prlimit`` (so no grader code is placed in the sandbox):

- ``memory``: ``RLIMIT_DATA``, the private writable memory of each process (heap, anonymous
  ``mmap``; a torch tensor's storage). ``RLIMIT_AS`` is not used: the CUDA build of torch maps
  more than 2 GiB of address space just to import (measured here: ``import torch`` fails under
  ``--as=2048MiB``, works under 1 GiB of ``RLIMIT_DATA``).
- ``processes``: ``RLIMIT_NPROC`` (tasks, threads included). The kernel does not apply it to
  root, so when the grader runs as root the sandbox also gets a ``pids`` cgroup
  (``grader.sandbox.cgroup``) with the same maximum.
- ``file size``: ``RLIMIT_FSIZE``, the largest file a process may write (Python then gets
  ``OSError: [Errno 27] File too large``).
- ``cpu time``: ``RLIMIT_CPU``, seconds of CPU per process (``SIGXCPU`` ends it).
- ``wall time``: the ``timeout`` of :func:`grader.sandbox.run_sandboxed` (kills the sandbox).
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

PRLIMIT = "/usr/bin/prlimit"

LIMIT_NAMES = ("memory", "processes", "file size", "cpu time", "wall time")


@dataclass(frozen=True)
class Limits:
    """Per-sandbox limits. ``None`` leaves a limit off.

    memory_mb: private writable memory per process (RLIMIT_DATA), MiB; torch needs about 1 GiB
    processes: tasks (processes and threads) of the sandbox's user
    file_size_mb: largest file any process may write, MiB
    cpu_seconds: CPU seconds per process
    """

    memory_mb: int | None = 3072
    processes: int | None = 128
    file_size_mb: int | None = 256
    cpu_seconds: int | None = 900

    def prlimit_argv(self) -> list[str]:
        """The ``prlimit`` command line (without the command) that applies these limits."""
        argv = [PRLIMIT]
        if self.memory_mb is not None:
            argv.append(f"--data={self.memory_mb * 1024 * 1024}")
        if self.processes is not None:
            argv.append(f"--nproc={self.processes}")
        if self.file_size_mb is not None:
            argv.append(f"--fsize={self.file_size_mb * 1024 * 1024}")
        if self.cpu_seconds is not None:
            # SIGXCPU at the soft limit; SIGKILL at the hard one, if SIGXCPU was caught.
            argv.append(f"--cpu={self.cpu_seconds}:{self.cpu_seconds + 5}")
        return argv + ["--"]


DEFAULT_LIMITS = Limits()

# Messages the runtime prints when a limit refuses something. A student could print these on
# purpose, but that only ever changes the status of their own submission.
_MEMORY = re.compile(r"MemoryError|Cannot allocate memory|can't allocate memory|std::bad_alloc")
_PROCESSES = re.compile(r"Resource temporarily unavailable|fork: retry|can't start new thread")
_FILE_SIZE = re.compile(r"File too large")


def _signal_of(returncode: int | None) -> int | None:
    """The signal that ended a process, from its own or a shell's (128 + n) exit status."""
    if returncode is None:
        return None
    if returncode < 0:
        return -returncode
    if returncode > 128:
        return returncode - 128
    return None


def limit_from_exit(returncode: int | None, output: str) -> str | None:
    """Which limit a finished run hit, judged from its exit status and its stderr (or any
    output text): ``"cpu time"``, ``"file size"``, ``"memory"``, ``"processes"`` or ``None``."""
    sig = _signal_of(returncode)
    if sig == signal.SIGXCPU:
        return "cpu time"
    if sig == signal.SIGXFSZ:
        return "file size"
    return limit_from_text(output)


def limit_from_text(output: str) -> str | None:
    """Which limit the messages in ``output`` (a traceback, stderr) say was hit, or ``None``."""
    for name, pattern in (
        ("memory", _MEMORY),
        ("processes", _PROCESSES),
        ("file size", _FILE_SIZE),
    ):
        if pattern.search(output or ""):
            return name
    return None
