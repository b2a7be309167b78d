"""The student edition (``python -m grader.student_edition OUT_DIR``): what students get.

Built once into a temporary folder by the real command. Checked: its layout (no source/,
grader/, tests/; release/ and course_utils/ byte for byte), that no file of it holds a line of a
solution or hidden-test region of source/, that it is deterministic and refuses to overwrite,
that its README sends Binder users to the edition, and that it *works on its own*: course_utils
imports from the edition with the instructor's packages out of reach, a lesson's first cells
run there, nbgrader's Validate passes a filled-in lesson with no bubblewrap on PATH, and
repo2docker accepts its binder/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader import student_edition as se

ROOT = Path(__file__).resolve().parents[1]
REPO = "alice/rnn-course-student"
VALIDATED_LESSON = "lesson2_concat"  # the quickest lesson to run top to bottom (~3 s)
TOP_LEVEL = {
    ".gitignore",
    "Makefile",
    "README.md",
    "binder",
    "course_utils",
    "nbgrader_config.py",
    "pyproject.toml",
    "release",
    "requirements.txt",
} | {p.name for p in ROOT.glob("LICENSE*")}
# Removes the instructor checkout's editable install (course_utils *and* grader) from a Python
# started with this folder on PYTHONPATH, as if only the edition had been installed.
SITECUSTOMIZE = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path_hooks[:] = [h for h in sys.path_hooks if "Editable" not in getattr(h, "__qualname__", "")]
sys.path_importer_cache.clear()
"""


def run_edition_command(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader.student_edition", str(out), "--binder-repo", REPO, *extra],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "rnn-course-student"
    start = time.perf_counter()
    result = run_edition_command(out)
    print(f"\nstudent edition written in {time.perf_counter() - start:.1f} s: {result.stdout}")
    assert result.returncode == 0, f"the edition command failed:\n{result.stderr}"
    return out


@pytest.fixture(scope="module")
def student_env(tmp_path_factory, edition) -> dict:
    """The environment of a student's machine: the edition on PYTHONPATH, the instructor's
    editable install hidden, no bubblewrap on PATH, an empty home."""
    hooks = tmp_path_factory.mktemp("hooks")
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    home = tmp_path_factory.mktemp("home")
    path = f"{Path(sys.executable).parent}:{tmp_path_factory.mktemp('bin')}"
    assert shutil.which("bwrap", path=path) is None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER", "COV"))}
    env.update(PYTHONPATH=f"{hooks}:{edition}", PATH=path, HOME=str(home), MPLBACKEND="Agg")
    env.setdefault("COURSE_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    return env


# --------------------------------------------------------------------------- contents


def test_layout_is_the_student_side_only(edition):
    assert {p.name for p in edition.iterdir()} == TOP_LEVEL
    for name in ("release", "course_utils", "binder"):
        ours = {k: v for k, v in tree_digest(ROOT / name).items() if "__pycache__" not in k}
        ours = {k: v for k, v in ours.items() if not k.endswith((".pyc", ".ipynb_checkpoints"))}
        assert tree_digest(edition / name) == ours, f"{name}/ differs from the project's"
    assert os.access(edition / "binder" / "postBuild", os.X_OK)
    assert not se.grader_only_modules(edition / "course_utils")
    assert not list(edition.rglob("*.pyc")) and not list(edition.rglob("__pycache__"))


def test_no_file_holds_a_solution_or_hidden_test_line(edition):
    secrets = se.secret_lines(ROOT / "source")
    per_notebook = {}
    for path in sorted((ROOT / "source").glob("*/*.ipynb")):
        lines = {se.code_of(ln) for ln in se.notebook_lines(path)}
        per_notebook[path.parent.name] = len(lines & secrets)
    assert all(per_notebook.values()), f"a source notebook gave no secret lines: {per_notebook}"
    found = []
    for path in sorted(p for p in edition.rglob("*") if p.is_file()):
        relpath = path.relative_to(edition).as_posix()
        for number, line in enumerate(se.file_lines(relpath, path.read_bytes()), 1):
            if se.code_of(line) in secrets or "### BEGIN" in line or "### END" in line:
                found.append(f"{relpath}:{number}: {line.strip()[:100]}")
    print(f"\n{len(secrets)} secret lines searched: {per_notebook}")
    assert not found, "the edition shows instructor content:\n" + "\n".join(found)


def test_the_leak_search_finds_a_planted_line():
    secrets = se.secret_lines(ROOT / "source")
    planted = sorted(secrets)[len(secrets) // 2]
    files = {"course_utils/extra.py": (f"x = 1\n    {planted}  # note\n".encode(), 0o644)}
    assert se.leaks(files, secrets) == [f"course_utils/extra.py:2: {planted[:100]}"]
    assert se.leaks({"grader/x.py": (b"", 0o644)}, secrets), "a grader/ path must be refused"


def test_readme_badge_points_at_the_edition(edition):
    readme = (edition / "README.md").read_text()
    urls = re.findall(r"\((https://mybinder\.org/v2/gh/[^)]+)\)", readme)
    assert urls == [
        f"https://mybinder.org/v2/gh/{REPO}/main?urlpath=lab/tree/"
        "release/lesson1_hidden_state/hidden_state.ipynb"
    ]
    for lesson in se.lessons(ROOT):
        assert f"]({lesson.notebook})" in readme and (edition / lesson.notebook).exists()
        assert all(f"`{name}`" in readme for name in lesson.exercises)
    for word in ("source/", "grader/", "grade_class", "autograde", "gradebook", "hidden test"):
        assert word not in readme, f"the student README mentions {word!r}"
    assert "make lab" in readme


def test_default_badge_is_a_placeholder_for_the_edition_repository():
    files = se.assemble(ROOT)
    assert "mybinder.org/v2/gh/OWNER/REPO-student/main" in files["README.md"][0].decode()


def test_student_files_have_no_instructor_settings(edition):
    config = (edition / "nbgrader_config.py").read_text()
    for word in ("bwrap", "sandbox", "kernel_manager", "provisioner", "db_url", "source"):
        assert word not in config, f"the student nbgrader_config.py mentions {word!r}"
    pyproject = (edition / "pyproject.toml").read_text()
    assert 'include = ["course_utils*"]' in pyproject and "grader" not in pyproject
    makefile = (edition / "Makefile").read_text()
    assert re.search(r"^lab: setup$", makefile, re.M) and "test" not in makefile.split()


def test_deterministic_and_refuses_to_overwrite(edition, tmp_path):
    again = tmp_path / "again"
    assert run_edition_command(again).returncode == 0
    assert tree_digest(again) == tree_digest(edition)
    refused = run_edition_command(again)
    assert refused.returncode == 2 and "--force" in refused.stderr
    (again / ".git").mkdir()
    (again / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (again / "stale.txt").write_text("from an older edition")
    assert run_edition_command(again, "--force").returncode == 0
    assert (again / ".git" / "HEAD").exists() and not (again / "stale.txt").exists()
    assert tree_digest(again) == tree_digest(edition)


def test_refuses_the_instructor_repository_and_a_bad_binder_repo(tmp_path):
    with pytest.raises(se.EditionError, match="instructor repository"):
        se.write(ROOT, {}, force=True)
    with pytest.raises(se.EditionError, match="OWNER/REPO"):
        se.assemble(ROOT, binder_repo="not a repo")


# --------------------------------------------------------------------------- it works alone


@pytest.mark.slow
def test_course_utils_and_a_lesson_start_from_the_edition(edition, student_env):
    notebook = edition / "release" / VALIDATED_LESSON
    (path,) = notebook.glob("*.ipynb")
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    first = []
    for cell in cells:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            break
        first.append("".join(cell["source"]))
    probe = textwrap.dedent("""
        import importlib.util, json, sys
        import course_utils
        assert importlib.util.find_spec("grader") is None, "grader is importable"
        ns = {"__name__": "__main__"}
        for source in json.loads(sys.argv[1]):
            exec(compile(source, "<lesson cell>", "exec"), ns)
        print("course_utils from", course_utils.__file__)
    """)
    result = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(first)],
        capture_output=True, text=True, timeout=300, cwd=notebook, env=student_env,
    )  # fmt: skip
    assert result.returncode == 0, f"the lesson's first cells failed:\n{result.stderr[-3000:]}"
    assert f"course_utils from {edition}/course_utils/__init__.py" in result.stdout
    assert len(first) >= 1


VALIDATE = """
import json, os, sys
from jupyter_core.paths import jupyter_config_path
from nbgrader.apps import NbGrader
from nbgrader.validator import Validator

# what nbgrader's Validate button does (server_extensions/validate_assignment/handlers.py)
paths = jupyter_config_path()
paths.insert(0, os.getcwd())
app = NbGrader()
app.config_file_paths.append(paths)
app.load_config_file()
validator = Validator(config=app.config)
print("TIMEOUT", validator.config.Execute.timeout)
print("RESULT", json.dumps(validator.validate(sys.argv[1])))
"""


def filled_in(edition: Path, tmp: Path) -> Path:
    """The edition's lesson notebook with every solution cell holding the instructor's answer."""
    (path,) = (edition / "release" / VALIDATED_LESSON).glob("*.ipynb")
    (source,) = (ROOT / "source" / VALIDATED_LESSON).glob("*.ipynb")
    answers = {}
    for cell in json.loads(source.read_text())["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            lines = "".join(cell["source"]).splitlines()
            answers[meta["grade_id"]] = "\n".join(ln for ln in lines if "### " not in ln)
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers.pop(grade_id)
    assert not answers, f"solution cells missing from the release: {sorted(answers)}"
    out = tmp / path.name
    out.write_text(json.dumps(nb))
    return out


def validate(edition: Path, notebook: Path, env: dict) -> tuple[str, dict]:
    result = subprocess.run(
        [sys.executable, "-c", VALIDATE, str(notebook)],
        capture_output=True, text=True, timeout=600, cwd=edition, env=env,
    )  # fmt: skip
    assert result.returncode == 0, f"validate crashed:\n{result.stderr[-3000:]}"
    lines = dict(ln.split(" ", 1) for ln in result.stdout.splitlines() if " " in ln)
    return lines["TIMEOUT"], json.loads(lines["RESULT"])


@pytest.mark.slow
def test_validate_passes_a_filled_in_lesson_without_bubblewrap(edition, student_env, tmp_path):
    notebook = filled_in(edition, tmp_path)
    start = time.perf_counter()
    timeout, result = validate(edition, notebook, student_env)
    print(f"\nvalidate of {VALIDATED_LESSON}: {time.perf_counter() - start:.1f} s")
    assert timeout == "120", "the edition's nbgrader_config.py was not read"
    assert result == {}, f"validation failed on the instructor's answers: {result}"
    (untouched,) = (edition / "release" / VALIDATED_LESSON).glob("*.ipynb")
    _, result = validate(edition, untouched, student_env)
    assert result.get("failed"), f"an untouched lesson validated: {result}"


@pytest.mark.slow
def test_repo2docker_accepts_the_edition(edition):
    result = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--no-run",
         "--user-id", "1000", "--user-name", "jovyan", str(edition)],
        capture_output=True, text=True, timeout=300, cwd=edition,
    )  # fmt: skip
    assert result.returncode == 0, f"repo2docker --no-build failed:\n{result.stderr[-3000:]}"
    dockerfile = result.stdout
    assert re.search(r'pip install .*-r "?binder/requirements\.txt"?', dockerfile)
    assert re.search(r"^RUN \./binder/postBuild\s*$", dockerfile, re.M)
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile
