"""nbgrader preprocessors that put the trusted verdict into nbgrader's own grading.

``TrustedChecks`` goes into ``c.Autograde.autograde_preprocessors`` after the (sandboxed)
execution and before ``SaveAutoGrades``. For the notebook nbgrader is grading it runs
``grader.trusted.harness.run_checks`` on the executed notebook (a fresh sandbox, fresh secret
inputs) and, for every autograded test cell:

- trusted check failed: an error output ``Trusted check: <message>`` goes first in the cell's
  outputs, so nbgrader scores the cell 0 and the gradebook, formgrader, ``nbgrader export`` and
  feedback all show the trusted result;
- the kernel's own test passed but the trusted check failed (or the other way round): the
  notebook is also flagged for a human (``SubmittedNotebook.flagged`` in the gradebook) and the
  reason is written as a ``[trusted check]`` paragraph of the manual comment of the exercise's
  answer cell (the nearest solution cell above the test cell), which formgrader and feedback
  show; the class command reads the flag from the gradebook;
- trusted check passed and the kernel's test passed: nothing changes.

A lesson without ``grader/trusted/lessons/<assignment>.py`` (or a test cell without a check)
stops the autograding of that notebook with a clear error: scores nobody verified are never
written silently. An instructor who wants the kernel's scores alone for such an assignment lists
it in ``c.TrustedChecks.unchecked_assignments``; its notebooks are then graded and flagged.

``HideTestTracebacks`` is for ``c.GenerateFeedback.preprocessors`` (after ``ClearHiddenTests``):
in grade cells that held hidden tests, error outputs keep their error name and message only,
since a traceback quotes the hidden lines it ran.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Float, List, Unicode

from grader.trusted.harness import NoTrustedChecks, load_lesson, run_checks

COMMENT_TAG = "[trusted check]"
TRUSTED_ERROR = "TrustedCheckFailed"  # ename of the error output this plugin adds


class TrustedChecks(NbGraderPreprocessor):
    """Score each autograded test cell by the trusted check (see the module docstring)."""

    unchecked_assignments = List(
        Unicode(),
        default_value=[],
        help="Assignments graded by their notebooks' own tests only (flagged): no trusted checks",
    ).tag(config=True)
    cell_timeout = Float(60.0, help="Seconds per notebook cell in the trusted run").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        assignment, notebook_id = info["assignment"], info["notebook"]
        student, db_url = info["student"], info["db_url"]
        try:
            lesson = load_lesson(assignment)
        except NoTrustedChecks as err:
            if assignment in self.unchecked_assignments:
                self.log.warning("%s; graded by its own tests only (flagged)", err)
                _flag(db_url, assignment, notebook_id, student, nb, {})
                return nb, resources
            self.log.error("%s. Grading stops for this notebook.", err)
            raise
        if Path(lesson.NOTEBOOK).stem != notebook_id:
            self.log.info(
                "trusted checks of %s cover %s, not %s", assignment, lesson.NOTEBOOK, notebook_id
            )
            return nb, resources
        with_grade = [c for c in nb.cells if is_grade(c) and not is_solution(c)]
        submission = json.loads(nbformat.writes(nb))
        verdicts = {
            v.grade_id: v
            for v in run_checks(
                assignment, submission, self._source_root(), cell_timeout=self.cell_timeout
            )
        }
        if any("WITHOUT a sandbox" in n for v in verdicts.values() for n in v.notes):
            self.log.warning("UNSANDBOXED: trusted checks of %s ran without a sandbox", student)
        missing = [
            c.metadata.nbgrader.grade_id
            for c in with_grade
            if c.cell_type == "code" and c.metadata.nbgrader.grade_id not in verdicts
        ]
        if missing:
            message = (
                f"{assignment}: no trusted check for test cells {missing}: add them to "
                f"grader/trusted/lessons/{assignment}.py"
            )
            self.log.error(message)
            raise NoTrustedChecks(message)
        reasons = {}
        ignore = self._ignore_pattern()
        for cell in with_grade:
            verdict = verdicts.get(cell.metadata.nbgrader.grade_id)
            if verdict is None:
                continue
            kernel_passed = _kernel_passed(cell, ignore)
            if not verdict.passed:
                cell.outputs.insert(
                    0,
                    nbformat.v4.new_output(
                        "error",
                        ename="TrustedCheckFailed",
                        evalue=verdict.message,
                        traceback=[f"Trusted check: {verdict.message}"],
                    ),
                )
            if kernel_passed and not verdict.passed:
                reasons[cell.metadata.nbgrader.grade_id] = (
                    f"{COMMENT_TAG} {cell.metadata.nbgrader.grade_id}: the notebook's own test "
                    f"passed but the trusted check failed: {verdict.message}"
                )
            elif verdict.passed and not kernel_passed:
                reasons[cell.metadata.nbgrader.grade_id] = (
                    f"{COMMENT_TAG} {cell.metadata.nbgrader.grade_id}: the trusted check passed "
                    "but the notebook's own test failed (score 0 kept): please look"
                )
            for note in verdict.notes:
                self.log.info("%s %s: %s", student, cell.metadata.nbgrader.grade_id, note)
        if reasons:
            for reason in reasons.values():
                self.log.warning("%s flagged: %s", student, reason)
            _flag(db_url, assignment, notebook_id, student, nb, reasons)
        resources.setdefault("trusted_checks", {})[notebook_id] = {
            "verdicts": {k: (v.passed, v.message, list(v.notes)) for k, v in verdicts.items()},
            "flags": reasons,
        }
        return nb, resources

    def _source_root(self) -> Path:
        """The course's source/ folder, from the converter's CourseDirectory."""
        obj = self
        while obj is not None:
            coursedir = getattr(obj, "coursedir", None)
            if isinstance(coursedir, CourseDirectory):
                break
            obj = getattr(obj, "parent", None)
        else:
            coursedir = CourseDirectory(config=self.config)
        return Path(coursedir.root) / coursedir.source_directory

    def _ignore_pattern(self):
        cfg = self.config.get("IgnorePattern", {})
        if cfg.get("enabled", False) and cfg.get("pattern"):
            return re.compile(cfg["pattern"])
        return None


def _kernel_passed(cell, ignore) -> bool:
    """Whether nbgrader would give the cell its points from the kernel's outputs (no error, no
    stderr left once IgnorePattern drops its matches)."""
    for output in cell.outputs:
        if output.output_type == "error":
            return False
        if output.output_type == "stream" and output.name == "stderr":
            if ignore is None or not ignore.search(output.text):
                return False
    return True


def _flag(db_url, assignment, notebook_id, student, nb, reasons: dict) -> None:
    """Flag the submitted notebook and write each reason into the manual comment of the answer
    cell above its test cell (replacing an earlier [trusted check] paragraph)."""
    by_answer: dict[str, list[str]] = {}
    answer = None
    for cell in nb.cells:
        if is_solution(cell):
            answer = cell.metadata.nbgrader.grade_id
        elif is_grade(cell) and cell.metadata.nbgrader.grade_id in reasons and answer:
            by_answer.setdefault(answer, []).append(reasons[cell.metadata.nbgrader.grade_id])
    with Gradebook(db_url) as gb:
        try:
            submitted = gb.find_submission_notebook(notebook_id, assignment, student)
        except MissingEntry:
            return
        submitted.flagged = True
        for answer_id, lines in by_answer.items():
            try:
                comment = gb.find_comment(answer_id, notebook_id, assignment, student)
            except MissingEntry:
                continue
            kept = [
                p
                for p in (comment.manual_comment or "").split("\n\n")
                if p and not p.startswith(COMMENT_TAG)
            ]
            comment.manual_comment = "\n\n".join(kept + lines)
        gb.db.commit()


class HideTestTracebacks(NbGraderPreprocessor):
    """In feedback: error outputs of grade cells keep only ``ename: evalue`` (a traceback quotes
    the lines of the hidden tests it ran); the trusted check's own output stays as it is. Runs
    after ``ClearHiddenTests``, so it recognises the cells by their grade metadata, not by their
    (already cleared) hidden regions."""

    def preprocess_cell(self, cell, resources, index):
        if is_grade(cell) and cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.output_type == "error" and output.ename != TRUSTED_ERROR:
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
