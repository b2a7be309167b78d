"""The benchmark suite, one command: lessons, widgets, training, grading.

    python benchmarks/run.py          # full suite (~35 min on 2 CPUs): `make benchmark`
    python benchmarks/run.py --quick  # smoke run, tiny budgets: part of `make test`

Prints the machine and versions, then runs each benchmark script in its own process (so one's
threads and memory do not colour the next), each printing its table; the tables are collected in
benchmarks/results/ (git-ignored) and summarised in benchmarks/results/summary.md. Exits non-zero
only when a benchmark could not run; missed targets are reported in the tables, not as failures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SCRIPTS = ["bench_lessons.py", "bench_widgets.py", "bench_training.py", "bench_grading.py"]


def header() -> str:
    import torch

    import course_utils

    versions = []
    for name in ("torch", "nbgrader", "jupyterlab", "ipywidgets", "matplotlib", "numpy"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except Exception:  # a missing package is reported, not fatal
            versions.append(f"{name} ?")
    from bench_lessons import cpu_model  # benchmarks/ is on sys.path when run as a script

    cpu = cpu_model()
    return (
        f"date {datetime.date.today().isoformat()}; {cpu}; {course_utils.available_cpus()} CPUs "
        f"usable, torch threads {torch.get_num_threads()}; Python {platform.python_version()}; "
        + ", ".join(versions)
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny budgets")
    parser.add_argument("--only", nargs="*", choices=SCRIPTS, default=SCRIPTS)
    args = parser.parse_args(argv)

    top = header()
    print(top, flush=True)
    failed, parts = [], [f"# Benchmark summary\n\n{top}\n"]
    env = dict(os.environ)
    # nbgrader shells out to `alembic`, which lives beside this interpreter in the venv's bin/.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for script in args.only:
        cmd = [sys.executable, str(ROOT / "benchmarks" / script)] + (
            ["--quick"] if args.quick else []
        )
        print(f"\n== {script}{' --quick' if args.quick else ''}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        took = time.perf_counter() - start
        # The tables go to stdout; kernels' chatter goes to stderr and stays out of the summary.
        print(proc.stdout, end="", flush=True)
        ok = proc.returncode == 0
        print(f"-- {script}: exit {proc.returncode} after {took:.0f} s", flush=True)
        if not ok:
            print(proc.stderr[-3000:], file=sys.stderr)
            failed.append(script)
        parts.append(f"\n## {script} ({took:.0f} s, exit {proc.returncode})\n\n{proc.stdout}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "summary-quick.md" if args.quick else "summary.md"
    (RESULTS / name).write_text("".join(parts))
    print(f"\nsummary written to {RESULTS / name}")
    if failed:
        print("benchmarks that did not run cleanly: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
