"""The bubblewrap (``bwrap``) command line for one sandbox.

The sandbox's root is an empty read-only tmpfs. Into it go, read-only: the system (``/usr`` and
the merged-``/usr`` links), a few harmless files of ``/etc``, the Python environment (the venv
and the interpreter it was made from), the installed ``course_utils`` package folder, the corpus
folder (``COURSE_DATA_DIR``) and any ``readonly`` paths the caller names; read-write: only the
work folder. ``/dev`` is minimal, ``/proc`` is the sandbox's own. Nothing else of the host is
there: no course folder, no gradebook, no home, no host ``/tmp``, no ``grader/``.

New user, mount, PID, IPC, network, UTS and cgroup namespaces (``--unshare-all``), uid/gid 1000
inside, no network at all (only a loopback of its own), ``--die-with-parent`` and
``--new-session``: when the sandbox's first process ends, or its parent dies, the kernel ends
every process left in the PID namespace.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

INSTALL_HINT = (
    "Student code is graded inside a bubblewrap sandbox. Install it:\n"
    "    sudo apt-get install bubblewrap        (Debian/Ubuntu; or: bash scripts/ensure_bwrap.sh)\n"
    "If bwrap is installed but cannot start, unprivileged user namespaces are off: enable them\n"
    "    sudo sysctl -w kernel.unprivileged_userns_clone=1      (Debian/Ubuntu)\n"
    "    sudo sysctl -w user.max_user_namespaces=15000\n"
    "or, knowing that student code then runs with your own files and network, grade without a\n"
    "sandbox: --unsafe-no-sandbox (class command) or RNN_COURSE_UNSAFE_NO_SANDBOX=1 (nbgrader)."
)

# Files of /etc that programs need and that say nothing about this machine's secrets.
_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "fonts",
    "mime.types",
)
_SANDBOX_USER = (
    "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
    "student:x:1000:1000:student:/nonexistent:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
_SANDBOX_GROUP = "root:x:0:\nstudent:x:1000:\nnogroup:x:65534:\n"


SHM_BYTES = 16 * 1024 * 1024


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot start here; the message says what to install."""


def find_bwrap() -> str:
    """The path of ``bwrap`` on ``PATH``; raises :class:`SandboxUnavailable` when there is none."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bwrap (bubblewrap) is not installed (not on PATH).\n" + INSTALL_HINT
        )
    return path


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str) -> None:
    """Start a trivial sandbox once per bwrap path; raise :class:`SandboxUnavailable` if that
    fails (user namespaces disabled, say)."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--uid", "1000", "--gid", "1000"]
    argv += [
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
    ]
    argv += ["--symlink", "usr/lib64", "/lib64", "--", "/bin/true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bwrap could not start: {exc}.\n{INSTALL_HINT}") from exc
    if done.returncode != 0:
        raise SandboxUnavailable(
            f"bwrap could not start a sandbox: {done.stderr.strip()}\n{INSTALL_HINT}"
        )


def check_available() -> str:
    """The ``bwrap`` path, after checking once that it can start a sandbox here."""
    bwrap = find_bwrap()
    _probe(bwrap)
    return bwrap


def python_paths() -> list[Path]:
    """Folders the sandbox's Python needs: the venv, the interpreter's own prefix, the real
    interpreter binary's folder (a venv's ``python`` is a symlink to it)."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent}
    return sorted(p for p in paths if p.exists())


def course_utils_path() -> Path | None:
    """The installed ``course_utils`` package folder (found without importing it)."""
    spec = importlib.util.find_spec("course_utils")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def corpus_path() -> Path | None:
    """The corpus folder named by ``COURSE_DATA_DIR`` (the folder, if it names the file)."""
    value = os.environ.get("COURSE_DATA_DIR")
    if not value:
        return None
    path = Path(value).resolve()
    if path.is_file():
        path = path.parent
    return path if path.exists() else None


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib32", "lib64", "sbin"):
        link = Path("/") / name
        if link.is_symlink():
            args += ["--symlink", os.readlink(link), str(link)]
        elif link.is_dir():
            args += ["--ro-bind", str(link), str(link)]
    for name in _ETC:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _data_fd(text: str) -> int:
    """A pipe's read end holding ``text`` (bwrap copies it into the sandbox)."""
    read, write = os.pipe()
    os.write(write, text.encode())
    os.close(write)
    return read


def bwrap_argv(
    bwrap: str, workdir: Path, readonly: tuple[Path, ...] = (), writable: tuple[Path, ...] = ()
) -> tuple[list[str], list[int]]:
    """The bwrap command line (up to and including ``--``) and the file descriptors it reads.

    workdir: the only host folder visible read-write (also the working directory)
    readonly: extra host paths bound read-only at the same place
    writable: extra host paths bound read-write (the kernel's connection folder, say)
    The caller passes the descriptors to ``subprocess.Popen(pass_fds=...)`` and closes them.
    """
    fds = [_data_fd(_SANDBOX_USER), _data_fd(_SANDBOX_GROUP)]
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session"]
    args += ["--uid", "1000", "--gid", "1000", "--hostname", "sandbox"]
    # A Jupyter kernel polls JPY_PARENT_PID, which no PID inside the namespace has: it would shut
    # itself down at once. --die-with-parent covers the parent's death instead.
    args += ["--unsetenv", "JPY_PARENT_PID"]
    args += _system_binds()
    args += [
        "--ro-bind-data",
        str(fds[0]),
        "/etc/passwd",
        "--ro-bind-data",
        str(fds[1]),
        "/etc/group",
    ]
    args += [
        "--dev",
        "/dev",
        "--size",
        str(16 * 1024 * 1024),
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
    ]
    args += ["--proc", "/proc"]
    visible = (
        list(python_paths()) + [course_utils_path(), corpus_path()] + [Path(p) for p in readonly]
    )
    for path in visible:
        if path is not None and Path(path).exists():
            args += ["--ro-bind", str(path), str(path)]
    for path in (workdir, *writable):
        args += ["--bind", str(path), str(path)]
    args += ["--chdir", str(workdir), "--remount-ro", "/", "--"]
    return args, fds
