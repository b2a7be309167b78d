"""The instructor's course as the class command sees it: config, gradebook, submissions."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from grader.grade_class.results import GradingError


@dataclass
class Course:
    """The instructor's course, as read from nbgrader_config.py and the gradebook."""

    root: Path
    assignment: str
    config_file: Path
    course_id: str
    db_url: str
    db_path: Path | None  # the SQLite file, None for a server gradebook (PostgreSQL...)
    coursedir: object  # nbgrader.coursedir.CourseDirectory
    # notebook name -> list of (grade cell name, max score), in notebook order
    notebooks: dict

    @property
    def db_label(self) -> str:
        """The gradebook as the reports name it: a file, or the URL without its password."""
        if self.db_path is not None:
            return str(self.db_path)
        from sqlalchemy.engine import make_url

        return make_url(self.db_url).render_as_string(hide_password=True)

    def source_folder(self) -> Path:
        """source/<assignment>: the instructor's notebooks."""
        cd = self.coursedir
        return Path(cd.format_path(cd.source_directory, ".", self.assignment))

    def path(self, step: str, student: str) -> Path:
        """The folder of ``step`` (submitted, autograded, feedback...) for one student."""
        return Path(self.coursedir.format_path(step, student, self.assignment))


def load_config(config_file: Path):
    from traitlets.config.loader import PyFileConfigLoader

    try:
        return PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    except Exception as err:  # a syntax error in the instructor's config, say
        raise GradingError(f"cannot load {config_file}: {type(err).__name__}: {err}") from err


def _sqlite_path(db_url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :]) if db_url.startswith(prefix) else None


def open_course(root: str | Path, assignment: str) -> Course:
    """Read the course configuration and check that ``assignment`` can be graded.

    Raises GradingError naming what is missing and the command that fixes it.
    """
    root = Path(root).resolve()
    config_file = root / "nbgrader_config.py"
    if not config_file.is_file():
        raise GradingError(
            f"no nbgrader_config.py in {root}; run the command from the course root or pass "
            "--root <course folder>"
        )
    cfg = load_config(config_file)
    cfg.CourseDirectory.root = str(root)
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=cfg)
    db_url = coursedir.db_url
    db_path = _sqlite_path(db_url)  # any other URL nbgrader accepts is a server (PostgreSQL...)
    if db_path is not None and not db_path.is_file():
        raise GradingError(
            f"no gradebook at {db_path}; run `nbgrader generate_assignment {assignment}` first"
        )
    if db_path is not None and (
        not os.access(db_path, os.W_OK) or not os.access(db_path.parent, os.W_OK)
    ):
        raise GradingError(
            f"the gradebook {db_path} (or its folder) is not writable; fix its permissions"
        )
    label = str(db_path) if db_path is not None else db_url.split("@")[-1]
    source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    if not source.is_dir():
        raise GradingError(f"no source folder {source} for assignment {assignment!r}")

    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(db_url, coursedir.course_id) as gb:
            try:
                record = gb.find_assignment(assignment)
            except MissingEntry:
                raise GradingError(
                    f"assignment {assignment!r} is not in the gradebook {label}; run "
                    f"`nbgrader generate_assignment {assignment}` first"
                ) from None
            notebooks = {
                nb.name: [(cell.name, float(cell.max_score)) for cell in nb.grade_cells]
                for nb in record.notebooks
            }
    except GradingError:
        raise
    except Exception as err:  # sqlalchemy errors: a corrupt or locked database
        raise GradingError(f"cannot read the gradebook {label}: {err}") from err
    if not notebooks:
        raise GradingError(
            f"assignment {assignment!r} has no notebooks in the gradebook; run "
            f"`nbgrader generate_assignment {assignment} --force`"
        )
    return Course(
        root=root,
        assignment=assignment,
        config_file=config_file,
        course_id=coursedir.course_id,
        db_url=db_url,
        db_path=db_path,
        coursedir=coursedir,
        notebooks=notebooks,
    )


def list_students(course: Course) -> list[str]:
    """Student ids with a folder ``submitted/<student>/<assignment>/``, sorted."""
    pattern = course.path(course.coursedir.submitted_directory, "*")
    regexp = re.compile(
        course.coursedir.format_path(
            course.coursedir.submitted_directory, "(?P<student>[^/]+)", course.assignment, True
        )
        + "$"
    )
    students = []
    for path in glob.glob(str(pattern)):
        m = regexp.match(path)
        if m and os.path.isdir(path):
            students.append(m.group("student"))
    return sorted(students)
