"""A Jupyter kernel manager whose kernels run in a bubblewrap sandbox.

nbgrader's ``Execute`` preprocessor (an nbclient ``NotebookClient``) starts one kernel per
notebook through ``kernel_manager_class``; :mod:`grader.sandbox.nbgrader` sets it to
:class:`SandboxedKernelManager` for autograding only. For each kernel it:

1. copies the notebook's folder (``autograded/<student>/<assignment>/`` under the course root),
   notebooks left out, to a fresh scratch folder in the host's temporary folder, symlinks copied
   as links (never followed), and starts the kernel there: that copy is the sandbox's only
   writable folder, and nothing else of the course is visible. nbgrader reads every output from
   the kernel's messages, so nothing is copied back;
2. talks to the kernel over the ``ipc`` transport (Unix sockets in the scratch folder): the
   sandbox has a network namespace of its own, so the host's loopback is out of reach; and
   interrupts it with a message (``interrupt_mode = "message"``): a SIGINT from outside would
   reach bwrap, not the kernel;
3. on shutdown, ends everything the kernel started (the PID namespace goes with it), notes which
   limit was hit, if any (``RNN_SANDBOX_EVENTS``, below), and deletes the scratch folder.

Environment variables:

- ``RNN_COURSE_UNSAFE_NO_SANDBOX=1``: start ordinary kernels (student code then runs with the
  grader's user, files and network). Every kernel start logs an ``UNSANDBOXED`` warning.
- ``RNN_SANDBOX_EVENTS=<file>``: append one JSON line per kernel shut down:
  ``{"notebook_dir": ..., "limit": null | "processes" | "cpu time" | ..., "exit": code,
  "sandboxed": true}``. The class command reads it to give a submission a limit status.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from grader.sandbox.bwrap import check_available
from grader.sandbox.limits import Limits, limit_from_exit
from grader.sandbox.run import sandbox_command, sandbox_env

UNSAFE_ENV = "RNN_COURSE_UNSAFE_NO_SANDBOX"
EVENTS_ENV = "RNN_SANDBOX_EVENTS"

# A kernel lives for a whole notebook: its CPU time is the sum of every cell's, on two threads.
# A kernel runs about 13 tasks (threads included); 64 leaves room for a DataLoader or two.
KERNEL_LIMITS = Limits(memory_mb=3072, processes=64, file_size_mb=256, cpu_seconds=1800)


def unsafe_no_sandbox() -> bool:
    """Whether the instructor asked to grade unsandboxed (``RNN_COURSE_UNSAFE_NO_SANDBOX=1``)."""
    return os.environ.get(UNSAFE_ENV, "").strip().lower() in ("1", "true", "yes")


def copy_folder(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` without its notebooks; symlinks stay links (a link to
    ``../../gradebook.db`` then points at nothing inside the sandbox).

    The kernel never needs a notebook file (the client sends it each cell's code), and the
    autograded notebook beside it holds every test cell, hidden tests included, restored from
    the gradebook: student code must not read them from disk."""
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints")
    shutil.copytree(src, dest, symlinks=True, ignore=ignore, ignore_dangling_symlinks=True)


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` that starts its kernel inside a bubblewrap sandbox whose only
    writable folder is a scratch copy of the notebook's folder."""

    _scratch: Path | None = None
    _cgroup = None
    _notebook_dir: str | None = None

    async def _async_pre_start_kernel(self, **kw):
        if unsafe_no_sandbox():
            self.log.warning(
                "UNSANDBOXED: %s=1, this kernel runs student code with your user, files and "
                "network",
                UNSAFE_ENV,
            )
            return await super()._async_pre_start_kernel(**kw)
        check_available()  # SandboxUnavailable, saying what to install, before making anything
        if self._scratch is None:  # a restart reuses the first start's scratch folder
            self._notebook_dir = str(Path(kw.get("cwd") or os.getcwd()).resolve())
            self._scratch = Path(tempfile.mkdtemp(prefix="rnn-sandbox-"))
            copy_folder(Path(self._notebook_dir), self._scratch / "work")
            (self._scratch / "work" / ".kernel").mkdir(exist_ok=True)
        work = self._scratch / "work"
        # A SIGINT sent from outside reaches bwrap, not the kernel (bwrap does not forward it, and
        # would die of it): interrupt through the control channel; the kernel signals itself.
        self.kernel_spec.interrupt_mode = "message"
        self.transport = "ipc"
        self.ip = str(work / ".kernel" / "ipc")
        self.connection_file = str(work / ".kernel" / "connection.json")
        kw["cwd"] = str(work)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        command, fds, self._cgroup = sandbox_command(kernel_cmd, workdir=work, limits=KERNEL_LIMITS)
        kw["env"] = sandbox_env(work)
        kw["cwd"] = str(work)
        kw["pass_fds"] = fds
        # The kernel's own stdout is only its connection banner (it has no JPY_PARENT_PID): drop it.
        kw["stdout"] = subprocess.DEVNULL
        return command, kw

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        fds = kw.get("pass_fds", ())
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        exit_code = None
        if self.provisioner is not None and getattr(self.provisioner, "process", None):
            exit_code = self.provisioner.process.poll()
        await super()._async_cleanup_resources(restart=restart)
        if restart or self._scratch is None:
            return
        limit = None
        if self._cgroup is not None:
            limit = "processes" if self._cgroup.hit_limit() else None
            self._cgroup.remove()
            self._cgroup = None
        if limit is None and exit_code not in (None, 0):
            limit = limit_from_exit(exit_code, "")
        self._record(limit, exit_code)
        shutil.rmtree(self._scratch, ignore_errors=True)
        self._scratch = None

    def _record(self, limit: str | None, exit_code: int | None) -> None:
        path = os.environ.get(EVENTS_ENV)
        if not path:
            return
        event = {"notebook_dir": self._notebook_dir, "limit": limit, "exit": exit_code}
        event["sandboxed"] = True
        with open(path, "a") as out:
            out.write(json.dumps(event) + "\n")
