"""A real, throwaway PostgreSQL server for the tests: Debian's binaries, a temporary data folder,
a free port on 127.0.0.1, trust authentication.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the server runs as the
``postgres`` user that Debian's package creates; its data folder lives in a fresh folder under the
system temp folder that this user may enter (pytest's own tmp folders are private to root).
``bash scripts/ensure_postgres.sh`` installs the binaries.

    with PostgresServer() as pg:
        url = pg.create_database("gradebook")  # postgresql+psycopg://postgres@127.0.0.1:PORT/gradebook
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def server_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """Start with ``start()`` (or ``with``), stop with ``stop()``; everything is removed then."""

    def __init__(self):
        self.bin = server_bin_dir()
        if self.bin is None:
            raise RuntimeError(
                "PostgreSQL's server binaries are missing: run `bash scripts/ensure_postgres.sh` "
                "(apt-get install postgresql)"
            )
        self.port = _free_port()
        self.base = Path(tempfile.mkdtemp(prefix="rnn-course-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.log = self.base / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
            os.chmod(self.base, 0o755)
            os.chown(self.base, user.pw_uid, user.pw_gid)

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*self._as_user, *argv], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def start(self) -> PostgresServer:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        (self.sockets).mkdir()
        if self._as_user:
            shutil.chown(self.sockets, "postgres", "postgres")
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=100"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", "60", "-o", options, "start",
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL nbgrader takes in ``CourseDirectory.db_url``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                 "-w", "stop"],
                capture_output=True, timeout=60,
            )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
