"""Small helpers around nbgrader 0.9.6's Python API for the tests (and the class-grading tools).

Every operation runs in a throwaway course folder made by ``make_course``: a copy of the project's
``nbgrader_config.py`` and of ``source/<assignment>/``, with its own ``gradebook.db``. nbgrader's
API never raises; these helpers turn a failed step into an ``AssertionError`` that carries
nbgrader's log.

    root = make_course(tmp_path, ["lesson1_hidden_state"])
    generate(root, "lesson1_hidden_state")
    submit(root, "lesson1_hidden_state", "instructor", root / "source" / "lesson1_hidden_state")
    autograde(root, "lesson1_hidden_state", "instructor")
    scores(root, "lesson1_hidden_state", "instructor")
    # {"hidden_state": {"test_rnn_step": (2.0, 2.0), ...}}
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[1]
CONFIG_NAME = "nbgrader_config.py"
# what nbgrader itself skips when it copies assignment folders (CourseDirectory.ignore)
IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")


def _ensure_alembic_on_path() -> None:
    """nbgrader creates a gradebook by running the `alembic` executable from the venv."""
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")


def assignments(source_root: Path = ROOT) -> list[str]:
    """Names of the folders under ``source/`` that hold at least one notebook, sorted."""
    source = Path(source_root) / "source"
    if not source.is_dir():
        return []
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def source_notebooks(source_root: Path = ROOT) -> list[Path]:
    """Every ``source/<assignment>/*.ipynb``, sorted."""
    return [
        nb
        for a in assignments(source_root)
        for nb in sorted((Path(source_root) / "source" / a).glob("*.ipynb"))
    ]


def make_course(tmp: Path, names: list[str], source_root: Path = ROOT) -> Path:
    """A course folder under ``tmp`` with the project's config and ``source/<name>/`` copies."""
    root = Path(tmp) / "course"
    (root / "source").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(source_root) / CONFIG_NAME, root / CONFIG_NAME)
    for name in names:
        shutil.copytree(Path(source_root) / "source" / name, root / "source" / name, ignore=IGNORE)
    return root


def load_config(root: Path) -> Config:
    """The course's ``nbgrader_config.py`` values, with ``CourseDirectory.root`` set to ``root``."""
    config = PyFileConfigLoader(CONFIG_NAME, path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config


def course_id(root: Path) -> str:
    return load_config(root).CourseDirectory.course_id


def _api(root: Path):
    from nbgrader.apps import NbGraderAPI

    _ensure_alembic_on_path()
    config = load_config(root)
    exchange = Path(root) / "exchange"  # unused, but nbgrader complains when it is unwritable
    exchange.mkdir(exist_ok=True)
    config.Exchange.root = str(exchange)
    return NbGraderAPI(config=config)


def _check(result: dict, what: str) -> dict:
    if not result.get("success"):
        raise AssertionError(
            f"nbgrader {what} failed:\n{result.get('error', '')}\n{result.get('log', '')}"
        )
    return result


def generate(root: Path, name: str) -> Path:
    """``nbgrader generate_assignment <name> --force``; returns ``root/release/<name>``."""
    _check(_api(root).generate_assignment(name, force=True), f"generate_assignment {name}")
    return Path(root) / "release" / name


def submit(root: Path, name: str, student: str, notebooks_dir: Path) -> Path:
    """Copy a folder of notebooks in as ``submitted/<student>/<name>/``; returns that folder."""
    dest = Path(root) / "submitted" / student / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(notebooks_dir, dest, ignore=IGNORE)
    return dest


def autograde(root: Path, name: str, student: str) -> dict:
    """``nbgrader autograde <name> --student <student> --force``; returns nbgrader's result dict.

    Raises AssertionError (with nbgrader's log) when nbgrader reports failure.
    """
    return _check(_api(root).autograde(name, student, force=True), f"autograde {name} {student}")


def _gradebook(root: Path):
    from nbgrader.api import Gradebook

    db_url = "sqlite:///" + str(Path(root).resolve() / "gradebook.db")
    return Gradebook(db_url, course_id(root))


def scores(root: Path, name: str, student: str) -> dict[str, dict[str, tuple[float, float]]]:
    """``{notebook: {grade_id: (score, max_score)}}`` for every grade cell of a submission."""
    with _gradebook(root) as gb:
        submission = gb.find_submission(name, student)
        return {
            nb.name: {g.name: (float(g.score), float(g.max_score)) for g in nb.grades}
            for nb in submission.notebooks
        }


def autograded_tests(root: Path, name: str) -> dict[str, set[str]]:
    """``{notebook: {grade_id}}`` of the autograded test cells (code grade cells, no solution)."""
    with _gradebook(root) as gb:
        out = {}
        for nb in gb.find_assignment(name).notebooks:
            solutions = {c.name for c in nb.solution_cells}
            out[nb.name] = {
                c.name for c in nb.grade_cells if c.cell_type == "code" and c.name not in solutions
            }
        return out


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``folder`` (nbgrader's ignores skipped)."""
    folder = Path(folder)
    skip = {".ipynb_checkpoints", "__pycache__", "feedback"}
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not skip & set(p.relative_to(folder).parts) and p.suffix != ".pyc"
    }
