"""Shared test setup: the corpus comes from ../shared/data unless COURSE_DATA_DIR says otherwise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

if "COURSE_DATA_DIR" not in os.environ and (SHARED_DATA / "timemachine.txt").exists():
    os.environ["COURSE_DATA_DIR"] = str(SHARED_DATA)

# nbgrader shells out to `alembic`: the venv's bin/ must be on PATH.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The course's default (course_utils.configure_torch_threads): one thread for tiny models,
    which also avoids OpenMP spin-waits on a busy 2-CPU box. Restored after each test."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


# In CI (CI=true) a skipped test fails: see ci_no_skips.py.
from ci_no_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402, F401

# With --dist (make test): which tests share a worker, heaviest groups first. See xdist_plan.py.
from xdist_plan import pytest_collection_modifyitems  # noqa: E402, F401
