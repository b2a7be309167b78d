"""Where a grading run's CPU goes: run a command, sample its process tree, print CPU by role.

    .venv/bin/python benchmarks/cpu_by_process.py -- .venv/bin/python -m grader.grade_class \
        lesson1_hidden_state --root /tmp/course --jobs 2
    .venv/bin/python benchmarks/cpu_by_process.py -- nbgrader autograde lesson1_hidden_state

Every ``--interval`` seconds it reads the CPU time (user + system) of every process under the
command, and the whole machine's busy share from /proc/stat. At the end it prints the wall time,
how busy the machine's cores were (CPU-seconds = busy share x cores x wall), the CPU-seconds of
the processes it saw, grouped by role (kernel, trusted check, grading worker, Dask worker,
coordinator, nbgrader CLI), and the samples in which less than ``--busy`` of the cores worked.

A process that starts and ends between two samples is missed, and one that ends is counted up to
its last sample: the per-role figures are a lower bound, the machine figure is exact.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time

import psutil

ROLES = [  # (substring of the command line, role); the first match wins
    ("ipykernel", "kernel"),
    ("grader.in_sandbox", "trusted check"),
    ("--_worker", "grading worker (nbgrader)"),
    ("multiprocessing", "Dask worker"),
    ("grader.grade_class", "coordinator"),
    ("nbgrader", "nbgrader CLI"),
]


def role(proc: psutil.Process) -> str:
    try:
        line = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    return next((name for key, name in ROLES if key in line), " ".join(line.split())[:60])


def machine() -> tuple[int, int]:
    """(all jiffies, idle jiffies) since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return sum(v), v[3] + v[4]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--busy", type=float, default=0.8, help="share of cores called busy")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    cores = psutil.cpu_count()
    t0, first = time.monotonic(), machine()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    top = psutil.Process(child.pid)
    seen: dict[int, tuple[str, float]] = {}
    low, samples, last = [], 0, first
    while child.poll() is None:
        time.sleep(args.interval)
        try:
            procs = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in procs:
            try:
                t = p.cpu_times()
                seen[p.pid] = (seen.get(p.pid, (None,))[0] or role(p), t.user + t.system)
            except psutil.Error:
                pass
        now = machine()
        share = 1 - (now[1] - last[1]) / max(1, now[0] - last[0])
        samples += 1
        if share < args.busy:
            low.append(f"{time.monotonic() - t0:.0f}s:{share * cores:.1f}")
        last = now
    child.wait()
    wall, end = time.monotonic() - t0, machine()
    busy = 1 - (end[1] - first[1]) / max(1, end[0] - first[0])
    by_role = collections.Counter()
    for name, cpu in seen.values():
        by_role[name] += cpu
    print(f"exit {child.returncode}; wall {wall:.1f} s")
    print(f"machine: {busy:.0%} of {cores} cores busy = {busy * cores * wall:.1f} CPU-s")
    print(f"processes seen: {sum(by_role.values()):.1f} CPU-s")
    for name, cpu in by_role.most_common():
        print(f"  {cpu:8.1f}  {name}")
    print(f"samples under {args.busy:.0%} busy: {len(low)} of {samples} ({' '.join(low[:40])})")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
