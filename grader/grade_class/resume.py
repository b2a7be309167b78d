"""Resuming an interrupted run: a state file of what this run already merged.

``<course>/.grade_class/<assignment>.json`` records, while a run is going, each merged student
with the checksum of the submission it graded (its files' names and bytes, the bundle and the
options) and the result shown in the report. A run that is interrupted (Ctrl-C, a killed
coordinator, a lost machine) leaves the file; the next run of the same assignment skips every
student whose submission has not changed since and grades the rest. A run that finishes removes
the file, so an ordinary rerun grades everyone again. ``--restart`` ignores the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path

from grader.grade_class.results import StudentResult

_KEEP = {f.name for f in fields(StudentResult)} - {"files", "workdir"}


class RunState:
    """The students this run (or the interrupted one it resumes) already merged."""

    def __init__(self, course, run_key: str, restart: bool = False):
        self.path = Path(course.root) / ".grade_class" / f"{course.assignment}.json"
        self.run_key = run_key
        self.merged: dict = {}
        if not restart and self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
            except ValueError:
                data = {}
            if data.get("run_key") == run_key:
                self.merged = data.get("merged", {})

    def done(self, student: str, checksum: str) -> StudentResult | None:
        """The merged result of ``student`` if its submission is unchanged, else None."""
        entry = self.merged.get(student)
        if entry is None or entry["checksum"] != checksum:
            return None
        return StudentResult(**entry["result"])

    def record(self, result: StudentResult, checksum: str) -> None:
        """Note one merged student (written at once, atomically)."""
        kept = {k: v for k, v in asdict(result).items() if k in _KEEP}
        self.merged[result.student] = {"checksum": checksum, "result": kept}
        self.path.parent.mkdir(exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"run_key": self.run_key, "merged": self.merged}))
        os.replace(tmp, self.path)

    def finish(self) -> None:
        """The run completed: nothing to resume."""
        self.path.unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()
        except OSError:
            pass
