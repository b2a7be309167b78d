"""nbgrader over every assignment in source/, each in a throwaway copy of the course:

- `nbgrader generate_assignment <a> --force` reproduces the committed release/<a>/ byte for byte;
- autograding the instructor's solutions gives full marks on every autograded test cell;
- autograding the untouched release gives 0 on every autograded test cell, and completes.

A toy assignment built here checks the helpers themselves, whatever lessons exist yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbgrader_helpers import (
    ROOT,
    assignments,
    autograde,
    autograded_tests,
    generate,
    make_course,
    scores,
    submit,
    tree_bytes,
)

pytestmark = [
    pytest.mark.slow,
    # nbgrader's own gradebook code trips SQLAlchemy autoflush warnings; not ours to fix
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning"),
]


@pytest.fixture(scope="module", params=assignments(), ids=str)
def course(request, tmp_path_factory):
    """(root, assignment): a course copy in tmp with ``release/<a>/`` freshly generated."""
    name = request.param
    root = make_course(tmp_path_factory.mktemp(name), [name])
    generate(root, name)
    return root, name


def _table(got: dict) -> str:
    return "; ".join(
        f"{nb}: " + ", ".join(f"{gid} {s:g}/{m:g}" for gid, (s, m) in sorted(cells.items()))
        for nb, cells in sorted(got.items())
    )


def test_generate_reproduces_committed_release(course):
    root, name = course
    committed = ROOT / "release" / name
    assert committed.is_dir(), (
        f"release/{name}/ is not committed: run `make release` (nbgrader generate_assignment "
        f"{name} --force) and commit release/{name}/"
    )
    fresh, kept = tree_bytes(root / "release" / name), tree_bytes(committed)
    assert sorted(fresh) == sorted(kept), (
        f"release/{name}/ has files {sorted(kept)} but generating from source/ gives "
        f"{sorted(fresh)}: run `make release`"
    )
    stale = [path for path in fresh if fresh[path] != kept[path]]
    assert not stale, (
        f"release/{name}/{stale} differ from what source/ generates: run `make release`"
    )


def test_instructor_solutions_get_full_marks(course):
    root, name = course
    submit(root, name, "instructor", root / "source" / name)
    autograde(root, name, "instructor")
    got = scores(root, name, "instructor")
    tests = autograded_tests(root, name)
    assert any(tests.values()), f"{name} has no autograded test cells"
    lost = {
        (nb, gid): got[nb][gid]
        for nb, ids in tests.items()
        for gid in ids
        if got[nb][gid][0] < got[nb][gid][1]
    }
    assert not lost, (
        f"{name}: the instructor solution loses points on {sorted(lost)}; all: {_table(got)}"
    )


def test_untouched_release_gets_zero(course):
    root, name = course
    submit(root, name, "untouched", root / "release" / name)
    autograde(root, name, "untouched")  # completes (raises with nbgrader's log otherwise)
    got = scores(root, name, "untouched")
    tests = autograded_tests(root, name)
    scored = {
        (nb, gid): got[nb][gid] for nb, ids in tests.items() for gid in ids if got[nb][gid][0] != 0
    }
    assert not scored, (
        f"{name}: the untouched release scores on {sorted(scored)} (a test that passes without a "
        f"solution checks nothing); all: {_table(got)}"
    )


# --- the machinery on a toy assignment -------------------------------------------------------


def _cell(source: str, **nbgrader) -> dict:
    meta = {"nbgrader": {"schema_version": 3, **nbgrader}} if nbgrader else {}
    return {
        "cell_type": "code",
        "id": nbgrader.get("grade_id", "plain"),  # fixed ids keep generation byte-identical
        "execution_count": None,
        "metadata": meta,
        "outputs": [],
        "source": source,
    }


def _toy_project(project: Path) -> None:
    """project/source/toy/toy.ipynb (one solution cell, one 2-point test cell) and the config."""
    nb = {
        "cells": [
            _cell(
                "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
                grade=False,
                solution=True,
                locked=False,
                grade_id="add",
            ),
            _cell(
                "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(-1, 1) == 0\n"
                "### END HIDDEN TESTS",
                grade=True,
                solution=False,
                locked=True,
                grade_id="test_add",
                points=2,
            ),
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (project / "source" / "toy").mkdir(parents=True)
    (project / "source" / "toy" / "toy.ipynb").write_text(json.dumps(nb, indent=1))
    (project / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())


def test_helpers_on_a_toy_assignment(tmp_path):
    project = tmp_path / "project"
    _toy_project(project)
    assert assignments(project) == ["toy"]
    root = make_course(tmp_path / "work", ["toy"], source_root=project)
    # The toy has no trusted check module (grader/trusted/lessons/): the course's config refuses
    # to grade such an assignment unless the instructor lists it (then flagged for a human).
    with open(root / "nbgrader_config.py", "a") as config:
        config.write('\nc.TrustedChecks.unchecked_assignments = ["toy"]\n')
    release = generate(root, "toy")
    first = tree_bytes(release)
    assert "raise NotImplementedError" in first["toy.ipynb"].decode()
    assert "HIDDEN" not in first["toy.ipynb"].decode()
    assert tree_bytes(generate(root, "toy")) == first  # byte-identical regeneration
    assert autograded_tests(root, "toy") == {"toy": {"test_add"}}

    submit(root, "toy", "instructor", root / "source" / "toy")
    autograde(root, "toy", "instructor")
    assert scores(root, "toy", "instructor") == {"toy": {"test_add": (2.0, 2.0)}}

    submit(root, "toy", "untouched", release)
    autograde(root, "toy", "untouched")
    assert scores(root, "toy", "untouched") == {"toy": {"test_add": (0.0, 2.0)}}
