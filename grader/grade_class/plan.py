"""Pre-checks of one submission folder, before any kernel starts: what to grade and how."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.grade_class.course import Course


@dataclass
class Plan:
    """How one submission will be graded, decided before any kernel starts."""

    student: str
    status: str = "graded"  # final unless the worker says otherwise
    notes: list = field(default_factory=list)
    renames: dict = field(default_factory=dict)  # file in the submission -> name it is graded as
    skip: set = field(default_factory=set)  # notebook files not copied to the worker
    unscored_notebooks: list = field(default_factory=list)
    run: bool = True  # False: no worker needed (empty folder, nothing gradable)
    flags: dict = field(default_factory=dict)  # notebook -> suspicious lines, for a human
    source: Path | None = None  # folder to grade instead of submitted/<student>/<assignment>
    feedback: bool = True


def _readable_notebook(path: Path) -> str | None:
    """None when ``path`` is a JSON notebook, else a short reason."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        return f"not UTF-8 text ({err.reason} at byte {err.start})"
    except json.JSONDecodeError as err:
        return f"not JSON ({err.msg} at line {err.lineno}, column {err.colno})"
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "JSON, but not a notebook (no list of cells)"
    return None


# Code that rebinds what test cells rely on: worth a human look even when the checks held.
_WATCHED = r"torch|np|numpy|math|builtins|__builtins__|course_utils|cu|grading|sys\.modules"
_ALIAS = re.compile(
    r"^\s*(?:from\s+(?:torch|numpy|math|builtins|course_utils)[\w.]*\s+)?import\s+"
    r"(?:torch|numpy|math|builtins|course_utils|grading)[\w.]*\s+as\s+(\w+)",
    re.MULTILINE,
)


def _tamper_regex(names: str) -> re.Pattern:
    return re.compile(
        rf"^[ \t]*((?:{names})(?:\s*\.\s*\w+|\s*\[[^\]]*\])+)\s*=(?!=)"
        rf"|\bsetattr\(\s*(?:{names})\b|\b__builtins__\b|\bsys\.modules\b"
        r"|\bvars\s*\(\s*\w+\s*\)\s*\[|\.__dict__\b|\bctypes\b",
        re.MULTILINE,
    )


def tamper_lines(path: Path) -> list[str]:
    """Lines of a notebook's code cells that rebind library functions, e.g. torch.allclose = ...

    Test cells are restored from the gradebook and use checks captured at import time, so such
    lines should change nothing; they are still reported (and the notebook flagged in the
    gradebook) so that a human can look.
    """
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    aliases = {a for src in sources for a in _ALIAS.findall(src)}
    pattern = _tamper_regex("|".join([_WATCHED, *sorted(aliases)]))
    found = []
    for source in sources:
        for m in pattern.finditer(source):
            line = source[source.rfind("\n", 0, m.start()) + 1 :].split("\n", 1)[0].strip()
            if line[:80] not in found:
                found.append(line[:80])
    return found


def plan_submission(course: Course, student: str) -> Plan:
    """Look at one submission folder and decide how to grade it."""
    plan = Plan(student)
    folder = course.path(course.coursedir.submitted_directory, student)
    files = [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []
    found = {p.stem: p for p in files if p.is_file() and p.suffix == ".ipynb"}
    expected = list(course.notebooks)
    if not files:
        plan.status, plan.run = "empty", False
        plan.notes.append(f"the folder {os.path.relpath(folder, course.root)} is empty")
        return plan

    missing = [nb for nb in expected if nb not in found]
    unknown = sorted(stem for stem in found if stem not in course.notebooks)
    if len(missing) == 1 and len(unknown) == 1:
        plan.renames[found[unknown[0]].name] = missing[0] + ".ipynb"
        plan.status = "renamed"
        plan.notes.append(f"notebook {unknown[0]}.ipynb graded as {missing[0]}.ipynb")
        found[missing[0]] = found.pop(unknown[0])
        missing, unknown = [], []
    if unknown:
        plan.notes.append(
            "ignored unknown notebook(s): " + ", ".join(u + ".ipynb" for u in unknown)
        )

    for nb in expected:
        if nb in found:
            reason = _readable_notebook(found[nb])
            if reason is not None:
                plan.skip.add(found[nb].name)
                plan.unscored_notebooks.append(nb)
                plan.notes.append(f"{found[nb].name} is {reason}")
    if plan.unscored_notebooks:
        plan.status = "not-a-notebook"
    for nb in expected:
        if nb in found and nb not in plan.unscored_notebooks:
            lines = tamper_lines(found[nb])
            if lines:
                plan.flags[nb] = lines
                plan.notes.append(
                    f"flagged for review, {found[nb].name} rebinds library code: "
                    + " | ".join(lines[:3])
                )

    if missing:
        plan.notes.append("missing notebook(s): " + ", ".join(m + ".ipynb" for m in missing))
        if plan.status == "graded":
            plan.status = "missing-notebook"
    gradable = [nb for nb in expected if nb in found and nb not in plan.unscored_notebooks]
    if not gradable:
        plan.run = False
        if not plan.unscored_notebooks:
            plan.status = "no-notebook"
    return plan
