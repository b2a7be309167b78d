"""The class command's report: the plain-text table, the CSV, one line per student."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.grade_class.course import Course
from grader.grade_class.results import STATUS_TEXT, UNSANDBOXED, StudentResult


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:g}"


def _columns(course: Course) -> list[str]:
    multi = len(course.notebooks) > 1
    return [
        f"{nb}:{cell}" if multi else cell
        for nb, cells in course.notebooks.items()
        for cell, _ in cells
    ]


def write_csv(path: Path, course: Course, results: list[StudentResult], scores: dict) -> None:
    """One row per student: status, one score per graded cell (blank: unscored), total, message."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = _columns(course)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "status", *cols, "total", "max_total", "message"])
        for r in results:
            row = scores.get(r.student, [])
            values = ["" if s is None else f"{s:g}" for _, s, _ in row]
            total = sum(s for _, s, _ in row if s is not None)
            max_total = sum(m for _, _, m in row)
            total_text = "" if r.failed else f"{total:g}"
            message = r.message if r.sandboxed else f"{UNSANDBOXED}: {r.message}".rstrip(": ")
            w.writerow([r.student, r.status, *values, total_text, f"{max_total:g}", message])


def format_table(course: Course, results: list[StudentResult], scores: dict) -> str:
    """A plain-text table: one line per student, one column per graded cell, then the total."""
    cols = _columns(course)
    maxes = [m for cells in course.notebooks.values() for _, m in cells]
    header = ["student", *cols, "total", "status"]
    lines = [header, ["(max)", *[_fmt(m) for m in maxes], _fmt(sum(maxes)), ""]]
    for r in results:
        row = scores.get(r.student, [])
        vals = [_fmt(s) for _, s, _ in row] or ["-"] * len(cols)
        total = None if r.failed else sum(s for _, s, _ in row if s is not None)
        status = r.status if r.sandboxed else f"{r.status} {UNSANDBOXED}"
        lines.append([r.student, *vals, _fmt(total), status])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def describe(result: StudentResult) -> str:
    """One line for an instructor: 'student bob: kernel died (...) - not scored, ...: detail'."""
    text = f"student {result.student}: {STATUS_TEXT.get(result.status, result.status)}"
    if result.unscored:
        text += " - the kernel died of it: not scored, needs manual review"
    if not result.sandboxed:
        text = f"{UNSANDBOXED} {text}"
    return text + (f": {result.message}" if result.message else "")
