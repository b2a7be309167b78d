"""Bubblewrap sandboxes for every process or kernel that runs student code while grading.

    from grader.sandbox import Limits, SandboxUnavailable, SandboxResult, run_sandboxed
    result = run_sandboxed(["python", "runner.py"], workdir=scratch, timeout=60)
    result.returncode, result.stdout, result.stderr, result.limit

Inside a sandbox: the Python environment, ``course_utils`` and the corpus, read-only; ``workdir``
read-write (cwd, HOME, TMPDIR); the ``readonly`` paths read-only; nothing else of the host. New
user/mount/PID/IPC/network/UTS namespaces, uid 1000, no network, limits on memory, processes,
file size and CPU time; nothing outlives it. Jupyter kernels: :mod:`grader.sandbox.kernel`.

``bwrap`` comes from Debian's ``bubblewrap`` package (``bash scripts/ensure_bwrap.sh``).
"""

from grader.sandbox.bwrap import INSTALL_HINT, SandboxUnavailable, check_available
from grader.sandbox.limits import LIMIT_NAMES, Limits
from grader.sandbox.run import SandboxResult, run_sandboxed

__all__ = [
    "INSTALL_HINT",
    "LIMIT_NAMES",
    "Limits",
    "SandboxResult",
    "SandboxUnavailable",
    "check_available",
    "run_sandboxed",
]
