"""A ``pids`` cgroup per sandbox, where one can be made (the grader runs as root, or has a
delegated cgroup v2 subtree). The kernel does not apply ``RLIMIT_NPROC`` to root, so without
this a fork bomb run by a root grader would be bounded by nothing.

The sandbox's process enters the cgroup before ``bwrap`` starts (a one-line ``sh`` prefix that
writes its own pid, then ``exec``s), so every process of the sandbox is counted.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

# Candidate parents: cgroup v1's pids hierarchy, then a cgroup v2 tree with pids enabled.
_PARENTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


def _writable_parent() -> Path | None:
    for parent in _PARENTS:
        own = parent / "pids.max"
        v1 = parent.name == "pids" and (parent / "cgroup.procs").exists()
        v2 = (parent / "cgroup.subtree_control").exists() and "pids" in _read(
            parent / "cgroup.subtree_control"
        )
        if (v1 or v2 or own.exists()) and os.access(parent, os.W_OK):
            return parent
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class PidsCgroup:
    """One sandbox's cgroup: at most ``max_tasks`` processes and threads."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, max_tasks: int) -> PidsCgroup | None:
        """A fresh cgroup limited to ``max_tasks``, or ``None`` where none can be made."""
        parent = _writable_parent()
        if parent is None:
            return None
        _sweep(parent)
        path = parent / f"rnn-sandbox-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_tasks))
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
            return None
        return cls(path)

    def shell_prefix(self) -> list[str]:
        """A command prefix that moves itself into this cgroup, then runs the rest."""
        procs = self.path / "cgroup.procs"
        return ["/bin/sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "sh"]

    def hit_limit(self) -> bool:
        """Whether a fork or clone was refused for reaching ``pids.max``."""
        for line in _read(self.path / "pids.events").splitlines():
            key, _, value = line.partition(" ")
            if key == "max" and value.strip() not in ("", "0"):
                return True
        return False

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroup."""
        for pid in _read(self.path / "cgroup.procs").split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    def remove(self, wait: float = 5.0) -> None:
        """Kill what is left and delete the cgroup (it must be empty first)."""
        deadline = time.monotonic() + wait
        while True:
            self.kill_all()
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)


def remove_stale_cgroups(owner_pid: int) -> None:
    """Delete the cgroups that process ``owner_pid`` made and could not remove (it was killed
    while its sandbox ran): their processes are killed first."""
    parent = _writable_parent()
    if parent is None:
        return
    for path in parent.glob(f"rnn-sandbox-{owner_pid}-*"):
        PidsCgroup(path).remove()


def _sweep(parent: Path) -> None:
    """Delete the sandbox cgroups whose owner process is gone (a kernel that died, or a grader
    that was killed, never removed its own)."""
    for path in parent.glob("rnn-sandbox-*"):
        try:
            owner = int(path.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if not Path(f"/proc/{owner}").exists():
            PidsCgroup(path).remove(wait=1.0)
