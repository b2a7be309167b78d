"""A real Dask cluster for the tests: ``dask scheduler`` and ``dask worker`` processes from the
venv, on 127.0.0.1 and a free port, each in its own empty folder (no shared course folder).

    with DaskCluster(workers=2, hide=[course_parent]) as cluster:
        cluster.address            # tcp://127.0.0.1:PORT, for --scheduler
        cluster.worker_pids()      # {worker address: pid}

``hide``: folders the workers must not see. Each worker then runs in its own mount namespace
(bubblewrap, everything else bound as it is) with an empty tmpfs over each of them, as if it ran
on another machine that has the course environment but not the course: what grading needs from
the course must reach it as bytes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskCluster:
    """``start()`` a scheduler and ``workers`` single-threaded workers (no nanny: a killed
    worker stays dead); ``stop()`` ends them all."""

    def __init__(
        self,
        workers: int = 2,
        worker_env: dict | list[dict | None] | None = None,
        hide: list[Path] = (),
    ):
        self.n_workers = workers
        self.hide = [Path(p) for p in hide]
        # the workers' environment (default: the scheduler's), or a list: one per worker
        envs = worker_env if isinstance(worker_env, list) else [worker_env] * workers
        assert len(envs) == workers, f"{len(envs)} environments for {workers} workers"
        self.worker_envs = envs
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.base = Path(tempfile.mkdtemp(prefix="rnn-course-dask-"))
        self.procs: list[subprocess.Popen] = []
        self.env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        cwd = self.base / name
        cwd.mkdir()
        log = open(cwd / "log.txt", "wb")
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def start(self) -> DaskCluster:
        dask = str(BIN / "dask")
        self._spawn(
            "scheduler",
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-dashboard"],
        )  # fmt: skip
        apart = []
        if self.hide:
            apart = [shutil.which("bwrap") or "bwrap", "--dev-bind", "/", "/", "--die-with-parent"]
            for folder in self.hide:
                apart += ["--tmpfs", str(folder)]
        for i in range(self.n_workers):
            self._spawn(
                f"worker{i}",
                [*apart, dask, "worker", self.address, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"],
                self.worker_envs[i],
            )  # fmt: skip
        from distributed import Client

        deadline = time.monotonic() + 180
        while True:
            try:
                with Client(self.address, timeout=10) as client:
                    client.wait_for_workers(self.n_workers, timeout=180)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise

    def on_workers(self, fn, *args) -> dict:
        """worker address -> ``fn(*args)`` run in that worker's process."""
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            return client.run(fn, *args)

    def worker_pids(self) -> dict[str, int]:
        return self.on_workers(os.getpid)

    def visible(self, path: Path) -> dict[str, bool]:
        """worker address -> whether ``path`` exists for that worker."""
        return self.on_workers(os.path.exists, str(path))

    def processing(self) -> dict[str, list[str]]:
        """worker address -> keys of the tasks it is running now."""
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            return {w: [str(k) for k in keys] for w, keys in client.processing().items()}

    def stop(self) -> None:
        import shutil

        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 15)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> DaskCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
