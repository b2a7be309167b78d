"""Results into the course's real gradebook and folders; scores back out of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from grader.grade_class.course import Course
from grader.grade_class.results import StudentResult


def merge_result(course: Course, result: StudentResult) -> None:
    """Write one student's result into the course's gradebook (one record per student)."""
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
            for comment in nb.comments:
                if comment.name in comments:
                    comment.auto_comment = comments[comment.name]
            if name in result.penalties and result.penalties[name] is not None:
                nb.late_submission_penalty = result.penalties[name]
            if name in result.flagged_notebooks:
                nb.flagged = True  # shows in the formgrader; a human clears it
        gb.db.commit()


def copy_back(course: Course, result: StudentResult) -> None:
    """Replace the course's autograded/ and feedback/ folders of this student with this run's."""
    for step in (course.coursedir.autograded_directory, course.coursedir.feedback_directory):
        target = course.path(step, result.student)
        if target.exists():
            shutil.rmtree(target)
            if not any(target.parent.iterdir()):
                target.parent.rmdir()  # autograded/<student>/ held only this assignment
        if result.workdir is None or result.failed:
            continue
        made = Path(result.workdir) / os.path.relpath(target, course.root)
        if made.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(made, target)
            shutil.rmtree(made)


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
