"""tests/xdist_plan.py: the groups `make test` hands to pytest-xdist workers, read from a real
collection of this suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Collects the suite with --dist loadgroup (no worker is started) and prints, in the order the
# workers would take them, each test's node id and xdist_group.
COLLECT = """
import json, sys, pytest

class Show:
    def pytest_collection_finish(self, session):
        rows = []
        for item in session.items:
            marks = [m.args[0] for m in item.iter_markers("xdist_group")]
            rows.append([item.nodeid, marks])
        print("ROWS" + json.dumps(rows))

sys.exit(pytest.main(["--collect-only", "-q", "--dist", "loadgroup",
                      "-p", "no:cacheprovider", "tests"], plugins=[Show()]))
"""


@pytest.fixture(scope="module")
def plan() -> list[tuple[str, list[str]]]:
    done = subprocess.run(
        [sys.executable, "-c", COLLECT], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("ROWS")), None)
    assert line, f"collection failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return [(nodeid, marks) for nodeid, marks in json.loads(line[4:])]


def _group(plan, nodeid_part: str) -> set[str]:
    return {marks[0] for nodeid, marks in plan if nodeid_part in nodeid}


def test_every_test_has_exactly_one_group(plan):
    assert plan
    odd = [(nodeid, marks) for nodeid, marks in plan if len(marks) != 1]
    assert not odd, odd[:5]


def test_tests_that_share_a_module_fixture_share_a_worker(plan):
    # one JupyterLab server and chromium; one PostgreSQL server; one graded class
    assert len(_group(plan, "tests/test_browser.py::")) == 1
    assert len(_group(plan, "tests/test_grade_class_postgres.py::")) == 1
    graded = [n for n, _ in plan if "test_grade_class.py::test_" in n]
    shared = {m[0] for n, m in plan if n in graded and m[0].endswith("[graded_class]")}
    assert len(shared) == 1
    # one generated course per lesson: its three tests together, lessons apart
    assert "tests/test_assignments.py[lesson1_hidden_state]" in _group(
        plan, "test_assignments.py::"
    )
    assert len(_group(plan, "test_assignments.py::test_generate")) == 5


def test_the_heavy_independent_tests_are_groups_of_their_own(plan):
    assert len(_group(plan, "tests/test_catalogue.py::test_catalogue[")) == 5
    assert len(_group(plan, "tests/test_notebooks.py::test_notebook_runs_clean")) == 10
    assert len(_group(plan, "tests/test_round_trip.py::")) == 2


def test_every_heavy_group_exists_and_the_heaviest_come_first(plan):
    from xdist_plan import HEAVY

    groups = [marks[0] for _, marks in plan]
    missing = sorted(set(HEAVY) - set(groups))
    assert not missing, f"HEAVY names groups that no test has (renamed or gone?): {missing}"
    first = list(dict.fromkeys(groups))
    listed = [g for g in first if g in HEAVY]
    costs = [HEAVY[g] for g in listed]
    assert costs == sorted(costs, reverse=True), f"groups not heaviest first: {listed}"
    assert first[: len(listed)] == listed, "an unlisted group comes before a listed one"
