"""What the class command does before and around grading, kept cheap: the course bundle's
gradebook, the LocalCluster's settings, and the cluster started while the class is planned.

These are speed fixes (benchmarks/README.md gives the figures); the tests check that each one
does what it says and changes no result, not how fast it is.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from test_grade_class import add_student, copy_course, make_tiny_course

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_tiny_course(tmp_path_factory.mktemp("template") / "course")


def test_the_bundle_gradebook_is_stamped_without_running_alembic(template, monkeypatch):
    """nbgrader stamps a new gradebook by running `alembic heads` in a subprocess; the bundle's
    copy takes the version from the course's gradebook instead and holds the whole assignment."""
    import nbgrader.api
    from nbgrader.api import Gradebook

    from grader.grade_class.bundle import make_bundle
    from grader.grade_class.course import open_course

    def tripwire():
        raise AssertionError("make_bundle ran `alembic heads`")

    monkeypatch.setattr(nbgrader.api, "get_alembic_version", tripwire)
    course = open_course(template, "tiny")
    bundle = make_bundle(course)
    db = template.parent / "bundle-gradebook.db"
    db.write_bytes(bundle["gradebook"])

    def version(path: Path) -> list:
        with sqlite3.connect(path) as con:
            return con.execute("SELECT version_num FROM alembic_version").fetchall()

    assert version(db) == version(template / "gradebook.db")
    assert len(version(db)) == 1

    def cells(gb) -> set:
        return {
            (nb.name, c.name, c.max_score)
            for nb in gb.find_assignment("tiny").notebooks
            for c in nb.grade_cells
        }

    with Gradebook(course.db_url) as src, Gradebook(f"sqlite:///{db}") as out:
        want, got = cells(src), cells(out)
        assert got == want and want, f"bundle gradebook cells {got} != course's {want}"
        assert not out.students, "the bundle's gradebook must hold no student"


def test_the_local_cluster_runs_without_dask_s_interactive_extras():
    """The scheduler runs no work stealing; the workers (spawned, through their nannies) run no
    profiler, no memory manager, and a 1 s event-loop tick."""
    from grader.grade_class.cluster import _client

    client, cluster = _client(None, 1)
    try:

        def settings() -> dict:
            import dask

            keys = ("worker.profile.enabled", "worker.memory.terminate", "admin.tick.interval")
            return {k: dask.config.get(f"distributed.{k}") for k in keys}

        for address, got in client.run(settings).items():
            assert got == {
                "worker.profile.enabled": False,
                "worker.memory.terminate": False,
                "admin.tick.interval": "1s",
            }, f"worker {address}: {got}"
        extensions = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.extensions))
        assert "stealing" not in extensions, extensions
    finally:
        client.close()
        cluster.close()


def test_an_early_cluster_is_handed_over_once_and_closed_when_not_taken():
    """EarlyCluster starts the workers in a thread and has them import the grading code;
    take() hands the cluster over (then close() leaves it alone); one never taken is closed."""
    from grader.grade_class.cluster import EarlyCluster

    early = EarlyCluster(1)
    client, cluster = early.take()
    try:
        imported = client.run(lambda: __import__("sys").modules.get("nbgrader.apps") is not None)
        assert list(imported.values()) == [True], imported
        early.close()  # taken: not closed here
        assert client.status == "running"
    finally:
        client.close()
        cluster.close()

    unused = EarlyCluster(1)
    unused.close()
    assert unused._started is None
    with pytest.raises(RuntimeError, match="already taken or closed"):
        unused.take()


def test_a_run_with_nothing_to_grade_closes_its_early_cluster(template, tmp_path):
    """Every student already merged by an interrupted run: the early cluster is closed and
    nothing is graded. Errors before grading (no submissions) close it as well."""
    import threading

    import psutil

    from grader.grade_class import grade_class
    from grader.grade_class.results import GradingError

    def workers() -> set[int]:
        return {p.pid for p in psutil.Process().children(recursive=True)}

    root = copy_course(template, tmp_path / "course")
    before, before_pids = {t.name for t in threading.enumerate()}, workers()
    with pytest.raises(GradingError, match="no submissions"):
        grade_class(root, "tiny", jobs=1, echo=lambda *_: None)
    add_student(root, "empty-folder", empty=True)
    results = grade_class(root, "tiny", jobs=1, check=False, echo=lambda *_: None)
    assert [(r.student, r.status) for r in results] == [("empty-folder", "empty")]
    assert "early-cluster" not in {t.name for t in threading.enumerate()} - before
    deadline = time.monotonic() + 10
    while workers() - before_pids and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not workers() - before_pids, "the early cluster's worker processes outlived the run"
