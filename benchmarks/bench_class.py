"""A whole class through the class command: the process pool vs Dask's LocalCluster, the cost of
one submission broken down, the floor, each lesson's cost, and a projection to 1,000 students x 5
lessons.

    python benchmarks/bench_class.py                      # 200 students of lesson 1 (long)
    python benchmarks/bench_class.py --students 12 --one-worker-students 6   # a smaller class
    python benchmarks/bench_class.py --only breakdown lessons

1. Breakdown of one lesson-1 submission (``--per-variant`` students each, one worker, medians of
   the per-student seconds the workers report): the same pipeline (sandboxed autograde,
   feedback, merge) on assignments cut down from the lesson:
       floor      an empty notebook (kernel start and nbgrader's own work)
       imports    + the lesson's setup cells (imports)
       lesson     + every other cell but the test cells (the lesson's own code)
       tests      + the test cells (the whole notebook, no trusted check)
       trusted    + the trusted check (the real pipeline)
   Each step's cost is its difference from the one before; the merge is timed in the
   coordinator.
2. Lessons: the whole pipeline on ``--per-lesson`` instructor submissions of every lesson, one
   worker: seconds per submission.
3. Throughput: ``--students`` synthetic students (a mix of lesson 1's catalogue cases, as in
   bench_grading.py) graded by ``grader.grade_class.grade_class`` with ``--jobs 2`` on the old
   process pool (``engine="pool"``) and on the embedded LocalCluster (``engine="dask"``), in
   identical course folders: students per minute, and the scores must be the same. The first
   ``--one-worker-students`` again on a one-worker LocalCluster give the per-worker cost.
4. Projection: 1,000 students x 5 lessons on N one-core workers, from the one-worker cost of
   lesson 1's class mix scaled by the lessons' costs, checked against the measured 2-worker run
   on this 2-core machine.

Prints figures; asserts nothing but that the engines gave the same scores.
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


def grade(root: Path, jobs: int, engine: str, assignment: str = A) -> tuple[float, list]:
    """Grade the course's class; (wall seconds, StudentResults)."""
    from grader.grade_class import grade_class

    t0 = time.perf_counter()
    results = grade_class(root, assignment, jobs, 600.0, echo=quiet, engine=engine)
    return time.perf_counter() - t0, results


def variant_course(tmp: Path, name: str, cells_kept, trusted: bool, assignment: str = A) -> Path:
    """A course whose ``assignment`` notebook keeps only ``cells_kept(cells)``; generated."""
    root = tmp / name
    src = root / "source" / assignment
    src.mkdir(parents=True)
    (nb_path,) = sorted((ROOT / "source" / assignment).glob("*.ipynb"))
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells = cells_kept(nb.cells)
    nbformat.write(nb, src / nb_path.name)
    for extra in (ROOT / "source" / assignment).iterdir():
        if extra.suffix != ".ipynb" and extra.is_file():
            shutil.copy(extra, src / extra.name)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    if not trusted:
        with open(root / "nbgrader_config.py", "a") as fh:
            fh.write(NO_TRUSTED)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
        cwd=root, capture_output=True, text=True, env=env,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stdout + done.stderr)
    return root


def add_students(root: Path, cases: list, assignment: str = A) -> list[str]:
    from bench_grading import add_students as add

    return add(root, assignment, cases)


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


def lesson_costs(tmp: Path, per_lesson: int) -> dict:
    """Median seconds of one instructor-answer submission of each lesson, whole pipeline, one
    worker (the first submission, which also starts the grading process, is left out)."""
    from bench_grading import LESSONS
    from catalogue import Case

    out = {}
    for assignment in LESSONS:
        root = variant_course(
            tmp, f"cost-{assignment}", lambda cells: list(cells), True, assignment
        )
        cases = [Case(f"instructor answers {i}") for i in range(per_lesson + 1)]
        add_students(root, cases, assignment)
        _, results = grade(root, 1, "dask", assignment)
        secs = sorted(r.seconds for r in results)[1:]
        out[assignment] = statistics.median(secs) if secs else float("nan")
        shutil.rmtree(root)
        print(f"  {assignment:22s} {out[assignment]:6.2f} s per submission", flush=True)
    return out


def keep_students(root: Path, keep: list[str]) -> None:
    for folder in (root / "submitted").iterdir():
        if folder.name not in keep:
            shutil.rmtree(folder)


def class_runs(tmp: Path, n: int, n_one: int) -> dict:
    """The class on the pool and on the LocalCluster (2 workers each), then its first ``n_one``
    students on a one-worker LocalCluster (the per-worker cost of the projection)."""
    from bench_grading import class_mix
    from test_catalogue import read_gradebook

    runs = {}
    base = variant_course(tmp, "base", lambda cells: list(cells), True)
    students = add_students(base, class_mix(A, n))
    subset = students[: min(n_one, len(students))]
    scores = {}
    engines = (("pool x2", "pool", 2, students), ("dask x2", "dask", 2, students),
               ("dask x1", "dask", 1, subset))  # fmt: skip
    for label, engine, jobs, who in engines:
        root = tmp / label.replace(" ", "-")
        shutil.copytree(base, root)
        keep_students(root, who)
        wall, results = grade(root, jobs, engine)
        scores[label] = read_gradebook(root, A)
        runs[label] = {"wall": wall, "students": len(who), "per_min": 60 * len(who) / wall,
                       "per_student": wall / len(who)}  # fmt: skip
        shutil.rmtree(root)
        print(
            f"  {label} ({len(who)} students): {wall:7.1f} s, {runs[label]['per_min']:.2f} "
            "students/min", flush=True,
        )  # fmt: skip
    if scores["pool x2"] != scores["dask x2"]:
        raise AssertionError("the pool and the LocalCluster gave different scores")
    two = {k: scores["dask x2"].get(k) for k in subset}
    if scores["dask x1"] != two:
        raise AssertionError("one worker and two workers gave different scores")
    print(f"  same scores on both engines: {len(students)} students", flush=True)
    runs["students"] = len(students)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--one-worker-students", type=int, default=40,
                   help="the first N students again on one worker (default 40)")  # fmt: skip
    p.add_argument("--per-variant", type=int, default=4)
    p.add_argument("--per-lesson", type=int, default=3,
                   help="instructor submissions per lesson for the per-lesson costs")  # fmt: skip
    parts = ("breakdown", "lessons", "class")
    p.add_argument("--only", nargs="*", choices=parts, default=list(parts))
    args = p.parse_args(argv)
    os.environ.setdefault("COURSE_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench_class-") as tmp:
        tmp = Path(tmp)
        if "breakdown" in args.only:
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
        if "lessons" in args.only:
            print(f"one submission of each lesson, whole pipeline, 1 worker ({args.per_lesson}):")
            costs = figures["lessons"] = lesson_costs(tmp, args.per_lesson)
            print(f"  all {len(costs)} lessons: {sum(costs.values()):.1f} s per student")
        if "class" in args.only:
            print(f"class of {args.students} students, {A}:")
            runs = figures["class"] = class_runs(tmp, args.students, args.one_worker_students)
            one = runs["dask x1"]["per_student"]
            predicted_2 = one / 2 * runs["students"]
            print(
                f"  projection check: 1 worker {one:.1f} s/student -> 2 workers predicted "
                f"{predicted_2:.0f} s for {runs['students']}, "
                f"measured {runs['dask x2']['wall']:.0f} s"
            )
        if "lessons" in args.only and "class" in args.only:
            # lesson 1's class mix per worker, scaled by each lesson's instructor cost
            costs = figures["lessons"]
            scale = one / costs[A]
            per_student = sum(costs.values()) * scale
            print(
                f"  projection: {per_student:.1f} s per student for all lessons on one worker "
                f"(the lesson costs x {scale:.2f}, lesson 1's class mix over its instructor run)"
            )
            for n in (1, 2, 8, 32, 100):
                hours = 1000 * per_student / n / 3600
                print(
                    f"  1,000 students x {len(costs)} lessons on {n:3d} one-core workers: "
                    f"{hours:7.1f} h"
                )
    print(json.dumps(figures, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
