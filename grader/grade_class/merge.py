"""Results into the course's real gradebook and folders; scores back out of it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from grader.grade_class.bundle import read_tree, write_tree
from grader.grade_class.course import Course
from grader.grade_class.results import StudentResult


def merge_result(course: Course, result: StudentResult, attempts: int = 5) -> None:
    """Write one student's result into the course's gradebook (one record per student).

    Only the coordinating process calls this. Two instructors grading different assignments
    into one server gradebook may both create the same student at once: the loser of that race
    gets an integrity error, rolls back and tries again."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            _merge_once(course, result)
            return
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _merge_once(course: Course, result: StudentResult) -> None:
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings(), Gradebook(course.db_url, course.course_id) as gb:
        # nbgrader's add_submission trips SQLAlchemy autoflush warnings; they are harmless.
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_student(result.student)
        kwargs = {"timestamp": result.timestamp} if result.timestamp else {}
        sub = gb.update_or_create_submission(course.assignment, result.student, **kwargs)
        for nb in sub.notebooks:
            name = nb.name
            unscored = result.failed and (
                not result.unscored_notebooks or name in result.unscored_notebooks
            )
            new = result.grades.get(name, {})
            for grade in nb.grades:
                if unscored:
                    grade.auto_score, grade.needs_manual_grade = None, True
                elif result.status in ("empty", "no-notebook") or grade.name not in new:
                    grade.auto_score, grade.needs_manual_grade = 0.0, False  # nbgrader's rule
                else:
                    grade.auto_score = new[grade.name]["auto_score"]
                    grade.needs_manual_grade = bool(new[grade.name]["needs_manual_grade"])
            comments = result.comments.get(name, {})
            manual = result.manual_comments.get(name, {})
            for comment in nb.comments:
                if comment.name in comments:
                    comment.auto_comment = comments[comment.name]
                if manual.get(comment.name):  # the trusted check's reasons, for a human
                    comment.manual_comment = manual[comment.name]
            if name in result.penalties and result.penalties[name] is not None:
                nb.late_submission_penalty = result.penalties[name]
            if name in result.flagged_notebooks or name in result.trusted_flags:
                nb.flagged = True  # shows in the formgrader; a human clears it
        gb.db.commit()


def copy_back(course: Course, result: StudentResult) -> None:
    """Replace the course's autograded/ and feedback/ folders of this student with this run's
    (``result.files``, sent back by the worker as bytes)."""
    for step in (course.coursedir.autograded_directory, course.coursedir.feedback_directory):
        target = course.path(step, result.student)
        if target.exists():
            shutil.rmtree(target)
            if not any(target.parent.iterdir()):
                target.parent.rmdir()  # autograded/<student>/ held only this assignment
        if result.failed or not result.files.get(step):
            continue
        write_tree(target, result.files[step])


def collect_files(course: Course, workdir: Path, student: str) -> dict:
    """step -> {relative path: bytes} of a worker course's autograded/ and feedback/ folders
    for one student (removed there)."""
    files = {}
    for step in (course.coursedir.autograded_directory, course.coursedir.feedback_directory):
        made = Path(workdir) / os.path.relpath(course.path(step, student), course.root)
        if made.is_dir():
            files[step] = read_tree(made)
            shutil.rmtree(made)
    return files


def read_scores(course: Course, students: list[str]) -> dict:
    """student -> [(cell name, score or None when unscored, max score)] from the real gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    table = {}
    with Gradebook(course.db_url, course.course_id) as gb:
        for student in students:
            row = []
            try:
                sub = gb.find_submission(course.assignment, student)
            except MissingEntry:
                table[student] = row
                continue
            by_nb = {nb.name: {g.name: g for g in nb.grades} for nb in sub.notebooks}
            for nb, cells in course.notebooks.items():
                for cell, max_score in cells:
                    g = by_nb.get(nb, {}).get(cell)
                    if g is None or (g.auto_score is None and g.manual_score is None):
                        row.append((cell, None, max_score))
                    else:
                        row.append((cell, float(g.score), max_score))
            table[student] = row
    return table
