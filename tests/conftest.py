"""Shared test setup: the corpus comes from ../shared/data unless COURSE_DATA_DIR says otherwise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

if "COURSE_DATA_DIR" not in os.environ and (SHARED_DATA / "timemachine.txt").exists():
    os.environ["COURSE_DATA_DIR"] = str(SHARED_DATA)

# nbgrader shells out to `alembic`: the venv's bin/ must be on PATH.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")
