"""What the trusted check costs per notebook: one sandboxed run of grader/in_sandbox/runner.py
on the instructor's own notebook (every answer right), median of 3 runs per lesson.

    .venv/bin/python benchmarks/bench_trusted.py [lesson ...]     (default: every lesson)

Columns (seconds): total (host wall time of the sandboxed run), start (sandbox + Python start-up
until the runner's first line), imports (torch, course_utils, IPython), setup cells, solution
cells, calls (the checks' calls and encoding). Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.trusted.harness import load_lesson, run_checks  # noqa: E402

COLUMNS = ("total", "start", "imports", "setup_cells", "solution_cells", "calls")


def main(lessons: list[str]) -> None:
    print(f"{'lesson':24}" + "".join(f"{c:>15}" for c in COLUMNS) + "   passed")
    for name in lessons:
        runs, passed = [], None
        for _ in range(3):
            timing: dict = {}
            notebook = ROOT / "source" / name / load_lesson(name).NOTEBOOK
            verdicts = run_checks(name, notebook, ROOT / "source", timing=timing)
            passed = f"{sum(v.passed for v in verdicts)}/{len(verdicts)}"
            runs.append(timing)
        medians = [statistics.median(r.get(c, float("nan")) for r in runs) for c in COLUMNS]
        print(f"{name:24}" + "".join(f"{m:15.2f}" for m in medians) + f"   {passed}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir()))
