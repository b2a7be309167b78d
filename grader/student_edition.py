"""Write the student edition: the repository students clone or open on Binder.

    python -m grader.student_edition OUT_DIR [--force] [--binder-repo OWNER/REPO-student]

The instructor repository (this one) stays private: it holds ``source/`` (solutions and hidden
tests), ``grader/`` (the trusted checks and their references) and ``tests/``. The edition holds
only what a student needs:

- ``release/`` (the student notebooks, as ``nbgrader generate_assignment`` wrote them),
- ``course_utils/`` (the library the notebooks import; it must hold no grader-only module),
- ``binder/``, ``requirements.txt`` and a ``pyproject.toml`` that installs ``course_utils`` only,
- a student ``README.md`` (local start, Binder badge, lesson table), a ``Makefile`` (``make lab``),
  a ``.gitignore`` and ``LICENSE`` when the project has one,
- a student ``nbgrader_config.py`` for the Validate button: per-cell time limits and nothing else.
  The instructor's config (sandboxed grading kernels) is not shipped: a student's Validate runs
  the student's own code on the student's own machine, where Binder or a laptop usually has no
  bubblewrap.

Everything is assembled in memory, checked (no path of ``source/``, ``grader/`` or ``tests/``, no
nbgrader solution or hidden-test delimiter, no line of a solution or hidden-test region of
``source/``), and only then written. The output is deterministic: the same project gives the same
bytes. The command refuses a non-empty OUT_DIR unless ``--force``, which empties it first (a
``.git`` folder there is kept, so the edition can be a clone that the instructor commits to).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader import edition_files

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BINDER_REPO = "OWNER/REPO-student"
DEFAULT_BRANCH = "main"
# Copied as they are (folders recursively), minus caches.
COPIED = ("release", "course_utils", "binder", "requirements.txt")
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
# A course_utils module that imports one of these runs grading, not a lesson: it belongs in grader/.
GRADER_ONLY_IMPORTS = ("grader", "nbgrader", "sqlalchemy")
FORBIDDEN_TOP = ("source", "grader", "tests", "submitted", "autograded", "feedback")
DELIMITERS = (
    "### BEGIN SOLUTION",
    "### END SOLUTION",
    "### BEGIN HIDDEN TESTS",
    "### END HIDDEN TESTS",
)
_REGIONS = {
    "### BEGIN SOLUTION": "### END SOLUTION",
    "### BEGIN HIDDEN TESTS": "### END HIDDEN TESTS",
}
MIN_SECRET_CHARS = 16  # shorter lines ("H = H0", "return X, Y") are too common to be evidence
# Lines of a solution or hidden-test region that course_utils also holds for a reason of its own.
# Each is an idiom that reveals nothing of an answer; whether a course_utils *function* answers an
# exercise is tests/test_no_answers.py's question, not this list's. Keep it short, give reasons.
COMMON_LINES = {
    # the language-model interface every model in course_utils follows (course_utils/README.md)
    "logits, state = model(X, None)",
    "logits, state = model(X, state)",
    "if state is not None:",
    # the language-model loss that course_utils.train computes for lessons 3 and 4
    "loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))",
    # seeding idioms
    "torch.manual_seed(seed)",
    "g = torch.Generator().manual_seed(seed)",
    "generator = torch.Generator().manual_seed(seed)",
    "with torch.random.fork_rng(devices=[]):",
}


class EditionError(RuntimeError):
    """The edition cannot be written (bad OUT_DIR, a leak, a grader-only module)."""


# --------------------------------------------------------------------------- secret lines


def code_of(line: str) -> str:
    """A line as compared for leaks: a trailing `` # comment`` dropped, spaces collapsed."""
    line = re.sub(r"\s+#(\s.*)?$", "", line)
    return " ".join(line.split())


def notebook_lines(path: Path) -> list[str]:
    """Every source line of every cell of a notebook (outputs left out)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [ln for cell in nb["cells"] for ln in "".join(cell["source"]).splitlines()]


def secret_lines(source_dir: Path) -> set[str]:
    """The non-trivial lines of every solution and hidden-test region of ``source/``.

    A region runs from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` (or the HIDDEN TESTS pair)
    in any cell. Non-trivial: after :func:`code_of`, at least ``MIN_SECRET_CHARS`` characters, a
    letter, not a comment, not also written outside every region (a line the student sees
    anyway, such as ``import torch``) and not one of ``COMMON_LINES``.
    """
    inside, outside = set(), set()
    for path in sorted(source_dir.glob("*/*.ipynb")):
        end = None
        for line in notebook_lines(path):
            mark = line.strip()
            if end is None and mark in _REGIONS:
                end = _REGIONS[mark]
            elif end is not None and mark == end:
                end = None
            else:
                (inside if end else outside).add(code_of(line))
    return {
        ln
        for ln in inside - outside - COMMON_LINES
        if len(ln) >= MIN_SECRET_CHARS and re.search("[A-Za-z]", ln) and not ln.startswith("#")
    }


def file_lines(relpath: str, data: bytes) -> list[str]:
    """The lines of a file as a student would read them: a notebook's cell sources, else text."""
    text = data.decode("utf-8", errors="replace")
    if relpath.endswith(".ipynb"):
        nb = json.loads(text)
        cells = ["".join(c.get("source", "")) for c in nb.get("cells", [])]
        outputs = json.dumps([c.get("outputs", []) for c in nb.get("cells", [])])
        return "\n".join(cells).splitlines() + outputs.split("\\n")
    return text.splitlines()


def leaks(files: dict[str, tuple[bytes, int]], secrets: set[str]) -> list[str]:
    """``"path:line: text"`` for every secret line or nbgrader delimiter found in ``files``."""
    found = []
    for relpath in sorted(files):
        if relpath.split("/")[0] in FORBIDDEN_TOP:
            found.append(f"{relpath}: a path the edition must not hold")
            continue
        for number, line in enumerate(file_lines(relpath, files[relpath][0]), 1):
            code = code_of(line)
            if code in secrets or any(d in line for d in DELIMITERS):
                found.append(f"{relpath}:{number}: {code[:100]}")
    return found


# --------------------------------------------------------------------------- the lessons


@dataclass(frozen=True)
class Lesson:
    """One assignment as the student README lists it."""

    name: str  # "lesson1_hidden_state"
    notebook: str  # "release/lesson1_hidden_state/hidden_state.ipynb"
    title: str  # "the hidden state (隐藏状态)"
    exercises: tuple[str, ...]  # grade_ids of the solution cells, in notebook order


def lessons(root: Path = ROOT) -> list[Lesson]:
    """The released lessons, in folder order, with their titles and exercises."""
    found = []
    for folder in sorted(p for p in (root / "release").iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.ipynb")):
            nb = json.loads(path.read_text(encoding="utf-8"))
            title, exercises = folder.name, []
            for cell in nb["cells"]:
                meta = cell["metadata"].get("nbgrader", {})
                if meta.get("solution") and cell["cell_type"] == "code":
                    exercises.append(meta["grade_id"])
            for line in "".join(nb["cells"][_first_markdown(nb)]["source"]).splitlines():
                if line.startswith("# "):
                    title = re.sub(r"^Lesson \d+\s*[:·.-]\s*", "", line[2:].strip())
                    title = title[:1].upper() + title[1:]
                    break
            relpath = path.relative_to(root).as_posix()
            found.append(Lesson(folder.name, relpath, title, tuple(exercises)))
    if not found:
        raise EditionError(f"no notebooks in {root / 'release'}: run `make release` first.")
    return found


def _first_markdown(nb: dict) -> int:
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            return index
    return 0


# --------------------------------------------------------------------------- assembling


def grader_only_modules(course_utils: Path) -> list[str]:
    """course_utils files that import grading machinery (``grader``, ``nbgrader``, ...)."""
    pattern = re.compile(
        r"^\s*(?:from|import)\s+(" + "|".join(GRADER_ONLY_IMPORTS) + r")\b", re.MULTILINE
    )
    return sorted(
        path.relative_to(course_utils.parent).as_posix()
        for path in course_utils.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    )


def _copied_files(root: Path) -> dict[str, tuple[bytes, int]]:
    files = {}
    for name in COPIED:
        top = root / name
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in paths:
            rel = path.relative_to(root)
            if SKIPPED_PARTS & set(rel.parts) or path.suffix in SKIPPED_SUFFIXES:
                continue
            files[rel.as_posix()] = (
                path.read_bytes(),
                0o755 if path.stat().st_mode & 0o111 else 0o644,
            )
    for path in sorted(root.glob("LICENSE*")):
        files[path.name] = (path.read_bytes(), 0o644)
    return files


def assemble(
    root: Path = ROOT, binder_repo: str = DEFAULT_BINDER_REPO, branch: str = DEFAULT_BRANCH
) -> dict[str, tuple[bytes, int]]:
    """Every file of the edition, ``{relative path: (bytes, mode)}``, checked for leaks."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", binder_repo):
        raise EditionError(
            f"--binder-repo must look like OWNER/REPO (the edition's GitHub path), got "
            f"{binder_repo!r}."
        )
    bad = grader_only_modules(root / "course_utils")
    if bad:
        raise EditionError(
            f"course_utils holds grader-only code that must not reach students: {bad}; move it "
            "into grader/ (course_utils runs in the student's kernel)."
        )
    files = _copied_files(root)
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    course = lessons(root)
    generated = {
        "README.md": edition_files.readme(course, binder_repo, branch),
        "Makefile": edition_files.makefile(course[0].notebook),
        "pyproject.toml": edition_files.pyproject(project),
        "nbgrader_config.py": edition_files.NBGRADER_CONFIG,
        ".gitignore": edition_files.GITIGNORE,
    }
    for name, text in generated.items():
        files[name] = (text.encode("utf-8"), 0o644)
    found = leaks(files, secret_lines(root / "source"))
    if found:
        raise EditionError(
            "the student edition would hold instructor content:\n  " + "\n  ".join(found[:50])
        )
    return files


def write(out_dir: Path, files: dict[str, tuple[bytes, int]], force: bool = False) -> None:
    """Write ``files`` into ``out_dir`` (created if missing; emptied first with ``force``)."""
    out_dir = out_dir.resolve()
    if out_dir == ROOT or out_dir in ROOT.parents:
        raise EditionError(f"{out_dir} holds the instructor repository; choose another folder.")
    if out_dir.exists() and not out_dir.is_dir():
        raise EditionError(f"{out_dir} is a file; give a folder.")
    if out_dir.exists():
        present = sorted(p for p in out_dir.iterdir() if p.name != ".git")
        if present and not force:
            raise EditionError(
                f"{out_dir} is not empty ({len(present)} entries); pass --force to replace its "
                "contents (a .git folder there is kept)."
            )
        for path in present:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for relpath in sorted(files):
        data, mode = files[relpath]
        target = out_dir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader.student_edition",
        description="Write the student-facing repository (release/, course_utils, binder/, "
        "a student README) into OUT_DIR. No source/, grader/, tests/ or solutions.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write (empty, or use --force)")
    parser.add_argument(
        "--force", action="store_true", help="replace the contents of a non-empty OUT_DIR"
    )
    parser.add_argument(
        "--binder-repo",
        default=DEFAULT_BINDER_REPO,
        help="GitHub OWNER/REPO of the edition, for the Binder badge (default: %(default)s)",
    )
    parser.add_argument("--branch", default=DEFAULT_BRANCH, help="branch for the Binder badge")
    args = parser.parse_args(argv)
    try:
        files = assemble(ROOT, args.binder_repo, args.branch)
        write(args.out_dir, files, force=args.force)
    except EditionError as err:
        print(f"student_edition: {err}", file=sys.stderr)
        return 2
    print(f"student edition: {len(files)} files written to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
