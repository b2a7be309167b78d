"""A pytest plugin: how ``make test`` shares the suite among pytest-xdist workers.

``make test`` runs ``pytest -n 3 --dist loadgroup --no-loadscope-reorder``. This plugin gives
every test an ``xdist_group`` (the unit one worker takes whole) and puts the groups in the order
the workers take them.

Groups. By default a test's group is its module, so a module's fixtures (a graded class, a
JupyterLab server and its chromium, a PostgreSQL server, a Dask cluster, a student edition) are
built once, on one worker, and the tests that share them run one after another as before. The
modules in SPLIT hold heavy tests that share nothing: each of their tests (or each value of the
parameter named there) is a group of its own, so that several workers can take them at once.

Order. Workers take groups in collection order; a worker that holds two tests or fewer asks for
the next group. The heaviest groups go first (HEAVY, in seconds measured on the 2-core machine,
see benchmarks/README.md, "Where the test suite's time goes"), so the long ones start at once and
the short ones fill the end. Tests keep their order inside a group.

Nothing here changes what a test does; without ``--dist loadgroup`` (``make test-fast``, a
plain ``pytest``) the plugin does nothing.
"""

from __future__ import annotations

import pytest

# Modules whose tests are split into several groups, and how: a parameter name puts each of its
# values in a group of its own; a fixture name puts the tests that use that fixture in one group;
# every other test of the module (or every test, for "") is a group of its own.
SPLIT = {
    "test_catalogue.py": "assignment",  # one class-command run per lesson
    "test_assignments.py": "course",  # one generated course per lesson
    "test_round_trip.py": "db_url",  # SQLite, PostgreSQL
    "test_grade_class.py": "graded_class",  # the class graded once; the other tests alone
    "test_grade_class_cluster.py": "",  # each test starts its own Dask cluster
    "test_notebooks.py": "",
    "test_no_answers.py": "",
}

# Seconds per group (pytest's --durations on the 2-core machine, tests one after another,
# 2026-12-08).
# Only the order matters: a group not listed costs 0 and runs after every listed one. Refresh
# after a big change: `make test PYTEST_ARGS=--durations=0` prints every test's time.
HEAVY = {
    "tests/test_catalogue.py[lesson1_hidden_state]": 426,
    "tests/test_catalogue.py[lesson3_char_rnn]": 284,
    "tests/test_browser.py": 240,
    "tests/test_no_answers.py::test_nothing_students_have_passes_an_exercise[lesson3_char_rnn]": 94,
    "tests/test_catalogue.py[lesson5_bptt]": 92,
    "tests/test_grade_class.py::test_broken_setups_exit_non_zero": 79,
    "tests/test_round_trip.py[sqlite]": 78,
    "tests/test_round_trip.py[postgresql]": 75,
    "tests/test_grade_class.py::test_wall_clock_limit_kills_a_runaway_submission": 75,
    "tests/test_grade_class_postgres.py": 74,
    "tests/test_catalogue.py[lesson4_perplexity]": 72,
    "tests/test_catalogue.py[lesson2_concat]": 63,
    "tests/test_grade_class.py[graded_class]": 60,
    "tests/test_grade_class_cluster.py::test_a_coordinator_killed_and_rerun_resumes": 56,
    "tests/trusted/test_lesson3_char_rnn.py": 55,
    "tests/test_grade_class_cluster.py::test_a_worker_killed_mid_grading_loses_nothing": 44,
    "tests/test_grade_class_cluster.py::"
    "test_a_class_on_a_cluster_and_a_rerun_that_duplicates_nothing": 36,
    "tests/test_sandbox.py": 35,
    "tests/test_trusted_sandbox.py": 29,
    "tests/test_notebooks.py::test_notebook_runs_clean[lesson3_char_rnn-student]": 28,
    "tests/test_assignments.py[lesson3_char_rnn]": 24,
    "tests/test_no_answers.py::"
    "test_nothing_students_have_passes_an_exercise[lesson1_hidden_state]": 23,
    "tests/test_assignments.py[lesson5_bptt]": 20,
    "tests/test_grade_class_cluster.py::"
    "test_a_refusing_worker_sends_its_students_to_one_that_can_sandbox": 19,
    "tests/test_grade_class.py::test_file_level_problems_get_clear_messages": 19,
    "tests/test_grade_class_startup.py": 17,
    "tests/test_assignments.py[lesson1_hidden_state]": 17,
    "tests/test_grade_class.py::test_unsafe_no_sandbox_grades_and_says_so_on_every_line": 17,
    "tests/test_assignments.py[lesson4_perplexity]": 15,
    "tests/test_assignments.py[lesson2_concat]": 14,
    "tests/test_grade_class.py::test_the_process_pool_engine_gives_the_same_records": 14,
    "tests/test_trusted_nbgrader.py": 13,
    "tests/test_student_edition.py": 13,
    "tests/test_grade_class_cluster.py::test_a_worker_that_cannot_sandbox_refuses_to_grade": 11,
    "tests/test_notebooks.py::test_notebook_runs_clean[lesson5_bptt-student]": 11,
    "tests/test_grade_class.py::test_without_bwrap_the_command_stops_and_says_what_to_install": 10,
}


def group_of(item: pytest.Item) -> str:
    """The item's module (tests/test_x.py); for SPLIT modules tests/test_x.py[value],
    tests/test_x.py[fixture] or the test's own node id."""
    module = item.nodeid.split("::")[0]
    if item.path.name not in SPLIT:
        return module
    key = SPLIT[item.path.name]
    callspec = getattr(item, "callspec", None)
    if key and callspec is not None and key in callspec.params:
        return f"{module}[{callspec.params[key]}]"
    if key and key in item.fixturenames:
        return f"{module}[{key}]"
    return item.nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("dist", "no") != "loadgroup":
        return
    groups = {id(item): group_of(item) for item in items}
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(groups[id(item)]))
    first_seen = {}
    for i, item in enumerate(items):
        first_seen.setdefault(groups[id(item)], i)
    items.sort(key=lambda it: (-HEAVY.get(groups[id(it)], 0), first_seen[groups[id(it)]]))
