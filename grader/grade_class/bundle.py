"""What travels to a grading worker, as plain data: the course bundle and one submission.

A worker needs the course environment (the venv, bubblewrap) and nothing else: no shared
filesystem. The coordinator sends it, once per worker, a *bundle*: ``nbgrader_config.py``, the
files of ``source/<assignment>`` and a private SQLite gradebook that holds only this
assignment's structure (cells, points, checksums, due date), copied from the course's gradebook
whatever its ``db_url`` (SQLite, PostgreSQL...). Each submission goes as ``{relative path:
bytes}`` with the class command's own decisions (renames, unreadable notebooks left out) applied.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from grader.grade_class.course import Course
from grader.grade_class.plan import Plan


def read_tree(folder: Path, skip: set | frozenset = frozenset()) -> dict[str, bytes]:
    """{path relative to ``folder``: bytes} for every file under ``folder`` (``skip``: names)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in skip:
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``{relative path: bytes}`` under ``folder`` (paths that climb out are refused)."""
    folder.mkdir(parents=True, exist_ok=True)
    top = folder.resolve()
    for rel, data in files.items():
        target = (folder / rel).resolve()
        if top != target and top not in target.parents:
            raise ValueError(f"refusing to write {rel!r} outside {folder}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def digest(files: dict[str, bytes]) -> str:
    """A sha256 over the names and contents of ``files`` (what a submission or bundle is)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return h.hexdigest()


def _stamp(sqlite_file: Path, version: str) -> None:
    """Start an empty SQLite gradebook with its alembic version already recorded.

    nbgrader's ``Gradebook`` stamps a new database by running ``alembic heads`` in a subprocess
    (3.6 CPU-seconds in one traced run, while the workers waited for their first task); the
    course's own gradebook already knows the version, so the copy takes it from there."""
    import sqlite3

    with sqlite3.connect(sqlite_file) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (version,))
    db.close()


def copy_assignment(course: Course, sqlite_file: Path) -> None:
    """Copy ``course.assignment``'s structure (no students) into a new SQLite gradebook."""
    from nbgrader.api import Gradebook
    from sqlalchemy import text

    a_name = course.assignment
    with Gradebook(course.db_url, course.course_id) as src:
        version = src.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if version:
            _stamp(sqlite_file, version)
        with Gradebook(f"sqlite:///{sqlite_file}", course.course_id) as out:
            _copy_structure(src, out, a_name)


def _copy_structure(src, out, a_name: str) -> None:
    """The assignment, its notebooks and their cells, from one open gradebook into another."""
    record = src.find_assignment(a_name)
    out.update_or_create_assignment(a_name, duedate=record.duedate)
    for nb in record.notebooks:
        out.update_or_create_notebook(nb.name, a_name)
        for c in nb.grade_cells:
            out.update_or_create_grade_cell(
                c.name, nb.name, a_name, max_score=c.max_score, cell_type=c.cell_type
            )
        for c in nb.solution_cells:
            out.update_or_create_solution_cell(c.name, nb.name, a_name)
        for c in nb.task_cells:
            out.update_or_create_task_cell(
                c.name, nb.name, a_name, max_score=c.max_score, cell_type=c.cell_type
            )
        for c in nb.source_cells:
            out.update_or_create_source_cell(
                c.name,
                nb.name,
                a_name,
                cell_type=c.cell_type,
                locked=c.locked,
                source=c.source,
                checksum=c.checksum,
            )


def make_bundle(course: Course) -> dict:
    """The course as a worker needs it (see the module docstring); ``digest`` names it."""
    with tempfile.TemporaryDirectory(prefix="grade_class-bundle-") as tmp:
        db = Path(tmp) / "gradebook.db"
        copy_assignment(course, db)
        gradebook = db.read_bytes()
    source = course.source_folder()
    bundle = {
        "assignment": course.assignment,
        "config": course.config_file.read_bytes(),
        "source_dir": os.path.relpath(source, course.root),
        "source": read_tree(source),
        "gradebook": gradebook,
    }
    files = {f"source/{k}": v for k, v in bundle["source"].items()}
    files["nbgrader_config.py"] = bundle["config"]
    bundle["digest"] = digest(files)  # the gradebook file's bytes vary; its origin does not
    return bundle


def submission_files(course: Course, plan: Plan) -> dict[str, bytes]:
    """One submission as bytes, with the plan's renames applied and skipped notebooks left out."""
    folder = plan.source or course.path(course.coursedir.submitted_directory, plan.student)
    files = read_tree(Path(folder), plan.skip)
    for old, new in plan.renames.items():
        if old in files:
            files[new] = files.pop(old)
    return files
