"""Each lesson's run-all time in a fresh kernel and its kernel's peak memory (RSS).

    python benchmarks/bench_lessons.py              # medians over 3 runs -> results/lessons.md
    python benchmarks/bench_lessons.py --repeats 5
    python benchmarks/bench_lessons.py --quick      # smoke run: 1 run, training cut (grading mode)

Every run starts a new kernel (the venv's python3) and executes the instructor notebook
(source/<lesson>/<nb>.ipynb) top to bottom with nbclient, as "Restart and run all" does; nothing
is written back to the notebook. Timed: the cells alone ("run-all") and kernel start included.
Memory: the kernel's peak resident set (VmHWM from /proc, the kernel's own high-water mark).

By default each run gets an empty course cache (COURSE_CACHE_DIR), so lesson 4 trains its model
as a student's first run does; --warm-cache uses the repository's data/ cache instead.
Targets (issues 5 and 6): each lesson <= 60 s, the course <= 150 s, each kernel < 1.5 GB.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"

LESSONS = {
    "lesson1_hidden_state": "hidden_state.ipynb",
    "lesson2_concat": "concat_equivalence.ipynb",
    "lesson3_char_rnn": "char_rnn.ipynb",
    "lesson4_perplexity": "perplexity.ipynb",
    "lesson5_bptt": "bptt.ipynb",
}

TARGET_LESSON_S = 60.0
TARGET_COURSE_S = 150.0
TARGET_RSS_MB = 1536.0


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (for the benchmark headers), or a best guess."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or "?"


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of process ``pid`` in MiB (``VmHWM`` of /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    raise RuntimeError(f"no VmHWM for process {pid}")


def run_notebook(path: Path, grading: bool, cache_dir: Path | None, timeout: int = 600) -> dict:
    """Execute ``path`` in a fresh kernel; returns seconds (cells, total) and peak kernel MiB."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    env_changes = {"MPLBACKEND": None, "NBGRADER_EXECUTION": "autograde" if grading else None}
    if cache_dir is not None:
        env_changes["COURSE_CACHE_DIR"] = str(cache_dir)
    if "COURSE_DATA_DIR" not in os.environ and (SHARED_DATA / "timemachine.txt").exists():
        env_changes["COURSE_DATA_DIR"] = str(SHARED_DATA)
    saved = {k: os.environ.get(k) for k in env_changes}
    for key, value in env_changes.items():  # the kernel inherits this process's environment
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        nb = nbformat.read(path, as_version=4)
        km = KernelManager(kernel_name="python3")
        client = NotebookClient(
            nb, km=km, timeout=timeout, startup_timeout=120, allow_errors=False,
            resources={"metadata": {"path": str(path.parent)}},
        )  # fmt: skip
        t0 = time.perf_counter()
        with client.setup_kernel():
            pid = km.provisioner.process.pid
            t1 = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            t2 = time.perf_counter()
            peak = peak_rss_mb(pid)
        return {"cells_s": t2 - t1, "total_s": t2 - t0, "rss_mb": peak}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def bench(lessons: list[str], repeats: int, grading: bool, warm_cache: bool) -> list[dict]:
    """Run each lesson ``repeats`` times; one row per lesson with medians and the worst peak."""
    rows = []
    for lesson in lessons:
        path = ROOT / "source" / lesson / LESSONS[lesson]
        runs = []
        for r in range(repeats):
            with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
                run = run_notebook(path, grading, None if warm_cache else Path(tmp))
            runs.append(run)
            print(
                f"  {lesson} run {r + 1}/{repeats}: cells {run['cells_s']:.1f} s, "
                f"with kernel start {run['total_s']:.1f} s, peak RSS {run['rss_mb']:.0f} MiB",
                flush=True,
            )
        cells = [r["cells_s"] for r in runs]
        rows.append(
            {
                "lesson": lesson,
                "cells_s": statistics.median(cells),
                "cells_min": min(cells),
                "cells_max": max(cells),
                "total_s": statistics.median(r["total_s"] for r in runs),
                "rss_mb": max(r["rss_mb"] for r in runs),
            }
        )
    return rows


def header(args) -> list[str]:
    """Date, machine and versions, for the top of the table."""
    import importlib.metadata as md

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "-"

    cpu = cpu_model()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    mode = "grading mode (NBGRADER_EXECUTION=autograde)" if args.grading else "normal mode"
    cache = "warm (repository data/)" if args.warm_cache else "cold (empty COURSE_CACHE_DIR)"
    return [
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.node()}, {os.cpu_count()} CPUs ({cpu}), load average {load}",
        f"- python {platform.python_version()}, torch {version('torch')}, "
        f"nbclient {version('nbclient')}, ipykernel {version('ipykernel')}, "
        f"matplotlib {version('matplotlib')}, ipywidgets {version('ipywidgets')}",
        f"- {mode}; cache {cache}; medians over {args.repeats} run(s), each in a fresh kernel",
    ]


def table(rows: list[dict]) -> list[str]:
    """A markdown table of the rows plus the course total, with the targets checked."""

    def mark(ok: bool) -> str:
        return "ok" if ok else "**over**"

    lines = [
        "| lesson | run-all (median) | min-max | with kernel start | peak kernel RSS | target |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        ok = r["cells_s"] <= TARGET_LESSON_S and r["rss_mb"] < TARGET_RSS_MB
        lines.append(
            f"| {r['lesson']} | {r['cells_s']:.1f} s | {r['cells_min']:.1f}-{r['cells_max']:.1f} s"
            f" | {r['total_s']:.1f} s | {r['rss_mb']:.0f} MiB | {mark(ok)} |"
        )
    course = sum(r["cells_s"] for r in rows)
    course_total = sum(r["total_s"] for r in rows)
    lines.append(
        f"| **course** | {course:.1f} s | | {course_total:.1f} s "
        f"| {max(r['rss_mb'] for r in rows):.0f} MiB (max) | {mark(course <= TARGET_COURSE_S)} |"
    )
    lines.append("")
    lines.append(
        f"Targets: each lesson <= {TARGET_LESSON_S:.0f} s and < {TARGET_RSS_MB:.0f} MiB, "
        f"the course <= {TARGET_COURSE_S:.0f} s (2-CPU machine)."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per lesson (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 run, grading mode")
    parser.add_argument("--grading", action="store_true", help="NBGRADER_EXECUTION=autograde")
    parser.add_argument("--warm-cache", action="store_true", help="use the repository's cache")
    parser.add_argument("--lessons", nargs="+", choices=list(LESSONS), default=list(LESSONS))
    parser.add_argument("--out", type=Path, help="markdown file (default results/lessons.md)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.quick:
        args.repeats, args.grading = 1, True
    out = args.out or RESULTS / ("lessons_quick.md" if args.quick else "lessons.md")

    missing = [lesson for lesson in args.lessons if not (ROOT / "source" / lesson).is_dir()]
    if missing:
        parser.error(f"lessons not found under source/: {missing}")
    print("Lesson run-all time and peak kernel memory", flush=True)
    rows = bench(args.lessons, args.repeats, args.grading, args.warm_cache)
    text = ["# Lessons: run-all time and peak kernel memory", "", *header(args), "", *table(rows)]
    print("\n".join(text))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(text) + "\n")
    print(f"\nwritten to {out}")
    over = [r["lesson"] for r in rows if r["rss_mb"] >= TARGET_RSS_MB]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
