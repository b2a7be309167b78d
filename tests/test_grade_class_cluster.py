"""The class command on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes started here on 127.0.0.1 (tests/dask_cluster.py), the tiny assignment of
tests/test_grade_class.py. A worker SIGKILLed while grading, a rerun, a coordinator killed and
rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from dask_cluster import DaskCluster
from test_grade_class import (
    _command,
    add_four_students,
    add_student,
    copy_course,
    gradebook_rows,
    make_tiny_course,
    without_bwrap,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

GOOD = {"test_add": (2.0, False), "test_mul": (1.0, False)}
SLOW_ADD = "import time\ntime.sleep(12)\n\ndef add(a, b):\n    return a + b"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_tiny_course(tmp_path_factory.mktemp("template") / "course")


@pytest.fixture
def cluster(tmp_path_factory):
    """Two workers that cannot see this session's temporary folders (every course copy lives
    there) nor the repository's source/ and release/: no shared course folder."""
    hidden = [tmp_path_factory.getbasetemp(), ROOT / "source", ROOT / "release"]
    with DaskCluster(workers=2, hide=hidden) as c:
        yield c


def grade_on(root: Path, address: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_command(), "tiny", "--root", str(root), "--scheduler", address, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_class_on_a_cluster_and_a_rerun_that_duplicates_nothing(template, tmp_path, cluster):
    root = copy_course(template, tmp_path / "course")
    add_four_students(root)
    done = grade_on(root, cluster.address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 worker(s)" in done.stdout
    rows, counts = gradebook_rows(root)
    assert rows["good"] == GOOD
    assert rows["wrong"] == {"test_add": (0.0, False), "test_mul": (1.0, False)}
    assert rows["crash"] == {"test_add": (None, True), "test_mul": (None, True)}
    assert counts == {"submissions": 4, "grades": 8}
    assert (root / "feedback" / "good" / "tiny" / "tiny.html").is_file()
    assert (root / "autograded" / "wrong" / "tiny" / "tiny.ipynb").is_file()
    # the workers cannot see the course folder (a tmpfs hides it): they graded from bytes
    seen = cluster.visible(root / "nbgrader_config.py")
    assert len(seen) == 2 and not any(seen.values()), seen
    assert all(cluster.visible(ROOT / "course_utils").values())  # the environment they do see
    assert not list(cluster.base.rglob("tiny.ipynb"))  # and they kept no copy

    again = grade_on(root, cluster.address)
    assert again.returncode == 0, again.stdout + again.stderr
    assert gradebook_rows(root) == (rows, counts)


def start_on(root: Path, address: str, **popen) -> subprocess.Popen:
    """The class command on the cluster, in the background (its stderr joins its stdout)."""
    return subprocess.Popen(
        [*_command(), "tiny", "--root", str(root), "--scheduler", address],
        stderr=subprocess.STDOUT,
        **popen,
    )


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"waited {seconds:g} s for {what}")


def test_a_worker_killed_mid_grading_loses_nothing(template, tmp_path, cluster):
    root = copy_course(template, tmp_path / "course", execute_timeout=60)
    add_student(root, "good")
    add_student(root, "slow1", add=SLOW_ADD)
    add_student(root, "slow2", add=SLOW_ADD)
    proc = start_on(root, cluster.address, stdout=subprocess.PIPE, text=True)

    def grading_slow() -> list[str]:
        return [w for w, keys in cluster.processing().items() if any("slow" in k for k in keys)]

    try:
        busy = _wait_for(grading_slow, 300, "a worker grading a slow student")
        time.sleep(2)  # its kernel is running the student's cells now
        os.kill(cluster.worker_pids()[busy[0]], signal.SIGKILL)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    rows, counts = gradebook_rows(root)
    assert rows == {"good": GOOD, "slow1": GOOD, "slow2": GOOD}, out
    assert counts == {"submissions": 3, "grades": 6}


def test_a_coordinator_killed_and_rerun_resumes(template, tmp_path, cluster):
    root = copy_course(template, tmp_path / "course", execute_timeout=60)
    students = ["a1", "a2", "a3", "a4"]
    for s in students:
        add_student(root, s, add=SLOW_ADD if s != "a1" else None)
    state = root / ".grade_class" / "tiny.json"
    proc = start_on(root, cluster.address, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(
            lambda: state.is_file() and json.loads(state.read_text())["merged"],
            300,
            "a first merged student",
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    merged = set(json.loads(state.read_text())["merged"])
    assert merged and merged != set(students)
    done = grade_on(root, cluster.address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming: {len(merged)} student(s) already merged" in done.stdout
    for s in merged:  # not graded again
        assert f"student {s}: graded (" not in done.stdout
    rows, counts = gradebook_rows(root)
    assert rows == {s: GOOD for s in students}
    assert counts == {"submissions": 4, "grades": 8}
    assert not state.exists()  # the run finished: the next one grades everyone


def test_a_worker_that_cannot_sandbox_refuses_to_grade(template, tmp_path):
    root = copy_course(template, tmp_path / "course")
    add_student(root, "good")
    with DaskCluster(workers=1, worker_env=without_bwrap()) as unsafe_cluster:
        done = grade_on(root, unsafe_cluster.address)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot start a sandbox and refuses to grade unsandboxed" in done.stdout
    assert "no worker can start a sandbox" in done.stderr
    rows, counts = gradebook_rows(root)
    assert counts["submissions"] == 0, rows


def test_a_refusing_worker_sends_its_students_to_one_that_can_sandbox(template, tmp_path):
    """One worker without bwrap, one with: the first refuses, every student is graded on the
    second, sandboxed, with one record each."""
    root = copy_course(template, tmp_path / "course")
    add_student(root, "good")
    add_student(root, "wrong", add="def add(a, b):\n    return a - b")
    add_student(root, "other")
    with DaskCluster(workers=2, worker_env=[without_bwrap(), None]) as mixed:
        done = grade_on(root, mixed.address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cannot start a sandbox and refuses to grade unsandboxed" in done.stdout
    assert "unsandboxed" not in done.stdout.replace("refuses to grade unsandboxed", "")
    rows, counts = gradebook_rows(root)
    assert rows == {
        "good": GOOD,
        "other": GOOD,
        "wrong": {"test_add": (0.0, False), "test_mul": (1.0, False)},
    }
    assert counts == {"submissions": 3, "grades": 6}
