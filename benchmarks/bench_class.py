"""A whole class through the class command: the process pool vs Dask's LocalCluster, the cost of
one submission broken down, the floor, and a projection to 1,000 students x 5 lessons.

    python benchmarks/bench_class.py                      # 200 students of lesson 1 (long)
    python benchmarks/bench_class.py --students 12        # a smaller class, same figures
    python benchmarks/bench_class.py --breakdown-only --per-variant 3

1. Throughput: ``--students`` synthetic students (a mix of lesson 1's catalogue cases, as in
   bench_grading.py) graded by ``grader.grade_class.grade_class`` with ``--jobs 2`` on the old
   process pool (``engine="pool"``) and on the embedded LocalCluster (``engine="dask"``), in two
   identical course folders: students per minute, and the scores must be the same. A run on the
   LocalCluster with one worker gives the per-worker cost for the projection.
2. Breakdown of one submission (``--per-variant`` students each, one worker, medians of the
   per-student seconds the workers report): the same pipeline (sandboxed autograde, feedback,
   merge) on assignments cut down from the lesson:
       floor      an empty notebook (kernel start and nbgrader's own work)
       imports    + the lesson's setup cells (imports)
       lesson     + every other cell but the test cells (the lesson's own code)
       tests      + the test cells (the whole notebook, no trusted check)
       trusted    + the trusted check (the real pipeline)
   Each step's cost is its difference from the one before; the merge is timed in the
   coordinator.
3. Projection: 1,000 students x 5 lessons on N workers from the one-worker cost (one core per
   worker), checked against the measured 2-worker run on this 2-core machine.

Prints figures; asserts nothing but that the two engines gave the same scores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import nbformat  # noqa: E402

A = "lesson1_hidden_state"
NO_TRUSTED = (
    "\nc.Autograde.autograde_preprocessors = [p for p in c.Autograde.autograde_preprocessors "
    "if not str(p).startswith('grader.trusted')]\n"
)


def quiet(*_args, **_kw) -> None:
    pass


def grade(root: Path, jobs: int, engine: str) -> tuple[float, list]:
    """Grade the course's class; (wall seconds, StudentResults)."""
    from grader.grade_class import grade_class

    t0 = time.perf_counter()
    results = grade_class(root, A, jobs, 600.0, echo=quiet, engine=engine)
    return time.perf_counter() - t0, results


def variant_course(tmp: Path, name: str, cells_kept, trusted: bool) -> Path:
    """A course whose lesson-1 notebook keeps only ``cells_kept(cells)``; generated."""
    root = tmp / name
    src = root / "source" / A
    src.mkdir(parents=True)
    (nb_path,) = sorted((ROOT / "source" / A).glob("*.ipynb"))
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells = cells_kept(nb.cells)
    nbformat.write(nb, src / nb_path.name)
    for extra in (ROOT / "source" / A).iterdir():
        if extra.suffix != ".ipynb" and extra.is_file():
            shutil.copy(extra, src / extra.name)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    if not trusted:
        with open(root / "nbgrader_config.py", "a") as fh:
            fh.write(NO_TRUSTED)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", A, "--force"],
        cwd=root, capture_output=True, text=True, env=env,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stdout + done.stderr)
    return root


def add_students(root: Path, cases: list) -> list[str]:
    from bench_grading import add_students as add

    return add(root, A, cases)


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def breakdown(tmp: Path, per_variant: int) -> dict:
    """Median seconds per submission for each cut-down variant, and the merge."""
    from catalogue import Case

    from grader.trusted.lessons import lesson1_hidden_state as lesson

    def setup_only(cells):
        code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
        kept = set(code[: lesson.SETUP_CELLS])
        return [c for i, c in enumerate(cells) if c.cell_type != "code" or i in kept]

    variants = {
        "floor": (lambda cells: [nbformat.v4.new_markdown_cell("# empty")], False),
        "imports": (setup_only, False),
        "lesson": (lambda cells: [c for c in cells if not _is_test(c)], False),
        "tests": (lambda cells: list(cells), False),
        "trusted": (lambda cells: list(cells), True),
    }
    out = {}
    merges = []
    for name, (keep, trusted) in variants.items():
        root = variant_course(tmp, name, keep, trusted)
        add_students(root, [Case(f"instructor answers {i}") for i in range(per_variant + 1)])
        _, results = grade(root, 1, "dask")
        secs = sorted(r.seconds for r in results)[1:]  # the first start of the grading process
        out[name] = statistics.median(secs) if secs else float("nan")
        merges += [r.merge_seconds for r in results]
        shutil.rmtree(root)
        print(f"  {name:8s} {out[name]:6.2f} s per submission", flush=True)
    out["merge"] = statistics.median(merges)
    return out


def class_runs(tmp: Path, n: int) -> dict:
    from bench_grading import class_mix
    from test_catalogue import read_gradebook

    runs = {}
    base = variant_course(tmp, "base", lambda cells: list(cells), True)
    students = add_students(base, class_mix(A, n))
    scores = {}
    engines = (("pool x2", "pool", 2), ("dask x2", "dask", 2), ("dask x1", "dask", 1))
    for label, engine, jobs in engines:
        root = tmp / label.replace(" ", "-")
        shutil.copytree(base, root)
        wall, results = grade(root, jobs, engine)
        scores[label] = read_gradebook(root, A)
        runs[label] = {"wall": wall, "per_min": 60 * len(students) / wall}
        shutil.rmtree(root)
        print(f"  {label}: {wall:7.1f} s, {runs[label]['per_min']:.2f} students/min", flush=True)
    same = scores["pool x2"] == scores["dask x2"] == scores["dask x1"]
    if not same:
        raise AssertionError("the engines gave different scores")
    runs["students"] = len(students)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--per-variant", type=int, default=4)
    p.add_argument("--breakdown-only", action="store_true")
    p.add_argument("--class-only", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("COURSE_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench_class-") as tmp:
        tmp = Path(tmp)
        if not args.class_only:
            print(f"breakdown of one {A} submission ({args.per_variant} students per variant):")
            b = figures["breakdown"] = breakdown(tmp, args.per_variant)
            steps = ["floor", "imports", "lesson", "tests", "trusted"]
            print("  step                 seconds")
            print(f"  kernel+nbgrader floor {b['floor']:6.2f}")
            for prev, step in zip(steps, steps[1:], strict=False):
                print(f"  {step:20s} {b[step] - b[prev]:+6.2f}")
            print(f"  merge (coordinator)  {b['merge']:6.3f}")
            print(
                f"  the lesson costs {b['trusted']:.2f} s, {b['trusted'] / b['floor']:.1f}x "
                f"the floor ({b['floor']:.2f} s)"
            )
        if not args.breakdown_only:
            print(f"class of {args.students} students, {A}:")
            runs = figures["class"] = class_runs(tmp, args.students)
            per_sub_1 = runs["dask x1"]["wall"] / runs["students"]
            predicted_2 = per_sub_1 / 2 * runs["students"]
            print(
                f"  projection check: 1 worker {per_sub_1:.1f} s/student -> 2 workers "
                f"predicted {predicted_2:.0f} s, measured {runs['dask x2']['wall']:.0f} s"
            )
            for n in (1, 2, 8, 32, 100):
                hours = 5000 * per_sub_1 / n / 3600
                print(f"  1,000 students x 5 lessons on {n:3d} one-core workers: {hours:7.1f} h")
    print(json.dumps(figures, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
