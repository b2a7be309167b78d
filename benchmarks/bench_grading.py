"""Grading speed: one complete submission, and a class with the class command vs plain nbgrader.

    python benchmarks/bench_grading.py            # -> benchmarks/results/grading.md
    python benchmarks/bench_grading.py --quick    # smoke run: lesson 1 only, 2 students
    python benchmarks/bench_grading.py --students 20 --assignment lesson3_char_rnn

1. One complete submission: the instructor's answers to every lesson, autograded lesson by lesson
   with ``nbgrader autograde <assignment> --student <id>`` (the CLI, as an instructor runs it);
   per lesson (median of ``--one-repeats``, default 3) and in total (the sum of the medians).
   The grading pass alone (``NbGraderAPI.autograde`` inside a process that has already imported
   nbgrader) is timed too.
2. A class of ``--students`` synthetic students for one assignment (a mix of the catalogue's
   cases for it: right answers written differently and typical mistakes, no runaway code), in
   two identical course folders:
   - the class command, ``python -m grader.grade_class <a> --jobs <cpus>`` (its control run
     of the instructor's notebook, autograde, merge, feedback, CSV);
   - plain sequential nbgrader, one student at a time in one course folder:
     ``nbgrader autograde <a>`` then ``nbgrader generate_feedback <a>`` (the same work).
   Ratio = sequential / class command. The two runs alternate over ``--repeats`` (medians).

Timings are wall-clock on a shared machine: noisy. The header names the machine and versions.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the catalogue and its builders

import nbformat  # noqa: E402

from course_utils import available_cpus  # noqa: E402

LESSONS = sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
RUNAWAY = {"hostile", "sandbox"}  # catalogue groups left out of a class mix
ONE_SUBMISSION_TARGET_S = 60.0  # the whole submission, every lesson, CLI times


def _env() -> dict:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)  # nbgrader needs `alembic` on PATH
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def _run(cmd: list[str], cwd: Path | None = None) -> float:
    """Run a command; return its wall time in seconds; fail loudly."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def _nbgrader(*args: str, cwd: Path) -> float:
    return _run([sys.executable, "-m", "nbgrader", *args], cwd=cwd)


def course_with(tmp: Path, assignment: str, cases: list) -> tuple[Path, list[str]]:
    """A generated course with one student per case; returns (root, student ids)."""
    from test_catalogue import make_course

    root = make_course(tmp, assignment)
    return root, add_students(root, assignment, cases)


def add_students(root: Path, assignment: str, cases: list) -> list[str]:
    """submitted/<student>/<assignment>/ for each case (a generated course); the student ids."""
    from test_catalogue import build_submission, student_id

    (nb_path,) = sorted((root / "source" / assignment).glob("*.ipynb"))
    source_nb = nbformat.read(nb_path, as_version=4)
    release_nb = nbformat.read(root / "release" / assignment / nb_path.name, as_version=4)
    taken: set[str] = set()
    for case in cases:
        sid = student_id(case.name, taken)
        folder = root / "submitted" / sid / assignment
        build_submission(case, release_nb, source_nb, folder, nb_path.name)
    return sorted(taken)


def class_mix(assignment: str, n: int) -> list:
    """``n`` catalogue cases spread over the assignment's list (right and wrong answers)."""
    from catalogue import Case
    from test_catalogue import load_cases

    try:
        # no runaway code: the sandbox attacks (fork and memory bombs, a disk filler, a
        # detached process) are the catalogue's business, not a class's typical mix
        cases = [c for c in load_cases(assignment) if c.name.split(":")[0] not in RUNAWAY]
    except ModuleNotFoundError:
        cases = []
    cases = [Case("instructor answers")] + cases
    picked = [cases[round(i * len(cases) / n) % len(cases)] for i in range(n)]
    # distinct names, so distinct students, even when n exceeds the catalogue
    return [Case(f"{c.name} #{i}", c.replace, c.loses) for i, c in enumerate(picked)]


# ----------------------------------------------------------------------------- measurements


_API_TIMER = """
import sys, time
from traitlets.config.loader import PyFileConfigLoader
from nbgrader.apps import NbGraderAPI
root, a, s = sys.argv[1:4]
cfg = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
cfg.CourseDirectory.root = root
api = NbGraderAPI(config=cfg)
t0 = time.perf_counter()
r = api.autograde(a, s, force=True)
assert r["success"], r.get("error")
print("API_SECONDS", time.perf_counter() - t0)
"""


def _run_api_timer(root: Path, lesson: str, sid: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _API_TIMER, str(root), lesson, sid],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("API_SECONDS"))
    return float(line.split()[1])


def one_submission_times(
    lessons: list[str], repeats: int, tmp: Path
) -> list[tuple[str, float, float]]:
    """(lesson, CLI seconds, API grading-pass seconds) for the instructor's answers.

    Each lesson is graded ``repeats`` times in turn (``--force`` regrades the same submission);
    the figures are medians.
    """
    from catalogue import Case

    roots = {}
    for lesson in lessons:
        roots[lesson] = course_with(tmp / f"one-{lesson}", lesson, [Case("complete")])
    cli = {lesson: [] for lesson in lessons}
    api = {lesson: [] for lesson in lessons}
    for _ in range(repeats):
        for lesson, (root, (sid,)) in roots.items():
            seconds = _nbgrader("autograde", lesson, "--student", sid, "--force", cwd=root)
            cli[lesson].append(seconds)
            api[lesson].append(_run_api_timer(root, lesson, sid))
    return [
        (lesson, statistics.median(cli[lesson]), statistics.median(api[lesson]))
        for lesson in lessons
    ]


def class_times(assignment: str, n: int, repeats: int, jobs: int, tmp: Path) -> dict:
    """Median seconds of the class command and of sequential nbgrader on ``n`` students."""
    template, students = course_with(tmp / "template", assignment, class_mix(assignment, n))
    times = {"class": [], "seq_autograde": [], "seq_feedback": []}
    for r in range(repeats):
        a = tmp / f"class-{r}"
        b = tmp / f"seq-{r}"
        shutil.copytree(template, a)
        shutil.copytree(template, b)
        times["class"].append(
            _run(
                [
                    sys.executable,
                    "-m",
                    "grader.grade_class",
                    assignment,
                    "--root",
                    str(a),
                    "--jobs",
                    str(jobs),
                ],
            )  # fmt: skip
        )
        times["seq_autograde"].append(_nbgrader("autograde", assignment, cwd=b))
        times["seq_feedback"].append(_nbgrader("generate_feedback", assignment, cwd=b))
        _same_scores(a, b, assignment, students)
        shutil.rmtree(a)
        shutil.rmtree(b)
    medians = {k: statistics.median(v) for k, v in times.items()}
    return medians | {"students": len(students), "runs": times}


def _same_scores(a: Path, b: Path, assignment: str, students: list[str]) -> None:
    """The class command and plain nbgrader must agree on every score."""
    from test_catalogue import read_gradebook

    ga, gb = read_gradebook(a, assignment), read_gradebook(b, assignment)
    for s in students:
        if ga.get(s) != gb.get(s):
            raise AssertionError(
                f"scores differ for {s}: class {ga.get(s)} vs nbgrader {gb.get(s)}"
            )


# ----------------------------------------------------------------------------- report


def sandbox_overhead(repeats: int, tmp: Path) -> dict:
    """Seconds to start a kernel and run one cell that imports torch, through nbclient (what
    nbgrader's Execute is): sandboxed (grader.sandbox.kernel) vs an ordinary kernel, alternated,
    median of ``repeats`` each."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    from grader.sandbox.kernel import SandboxedKernelManager

    folder = tmp / "overhead"
    folder.mkdir()
    times = {"sandboxed": [], "plain": []}
    for _ in range(repeats):
        for name, manager in (("sandboxed", SandboxedKernelManager), ("plain", AsyncKernelManager)):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch")])
            nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
            client = NotebookClient(
                nb, kernel_manager_class=manager, resources={"metadata": {"path": str(folder)}}
            )
            t0 = time.perf_counter()
            client.execute()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


def header() -> str:
    import nbgrader
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"Measured {datetime.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
        f"({platform.processor() or platform.machine()}, {available_cpus()} CPUs usable, "
        f"load average {load[0]:.1f} at the start); Python {platform.python_version()}, "
        f"nbgrader {nbgrader.__version__}, torch {torch.__version__}."
    )


def _one_submission_lines(one: list, repeats: int) -> list[str]:
    lines = [
        "",
        f"## One complete submission (the instructor's answers, median of {repeats})",
        "",
        "| lesson | `nbgrader autograde` CLI (s) | grading pass alone (s) |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {lesson} | {cli:.1f} | {api:.1f} |" for lesson, cli, api in one]
    total = sum(r[1] for r in one)
    verdict = "ok" if total <= ONE_SUBMISSION_TARGET_S else "MISSED"
    lines.append(
        f"| **all {len(one)} lessons** | **{total:.1f}** ({verdict}: target "
        f"<= {ONE_SUBMISSION_TARGET_S:.0f} s) | **{sum(r[2] for r in one):.1f}** |"
    )
    return lines


def _class_lines(cls: dict, args) -> list[str]:
    seq_all = cls["seq_autograde"] + cls["seq_feedback"]
    runs = ", ".join(
        f"{c:.1f} vs {a + f:.1f}"
        for c, a, f in zip(
            *(cls["runs"][k] for k in ("class", "seq_autograde", "seq_feedback")), strict=True
        )
    )
    return [
        "",
        f"## A class of {cls['students']} synthetic students, {args.assignment} "
        f"(median of {args.repeats})",
        "",
        "| run | seconds | ratio sequential / class command |",
        "| --- | ---: | ---: |",
        f"| class command, --jobs {args.jobs} (instructor control + autograde, merge, "
        "feedback, CSV) | "
        f"{cls['class']:.1f} | |",
        f"| sequential `nbgrader autograde` | {cls['seq_autograde']:.1f} | "
        f"{cls['seq_autograde'] / cls['class']:.2f}x |",
        f"| sequential `nbgrader autograde` + `generate_feedback` | {seq_all:.1f} | "
        f"{seq_all / cls['class']:.2f}x |",
        "",
        f"Each run, class command vs sequential autograde + feedback (s): {runs}.",
        "Scores from the class command and from plain nbgrader were identical for every student.",
        "Both ran every kernel in the bubblewrap sandbox (the course's nbgrader_config.py).",
    ]


def _overhead_lines(overhead: dict, repeats: int) -> list[str]:
    return [
        "",
        f"## Sandbox start-up overhead per notebook (median of {repeats})",
        "",
        "| kernel (start + one cell `import torch`, via nbclient) | seconds |",
        "| --- | ---: |",
        f"| sandboxed (grader.sandbox.kernel) | {overhead['sandboxed']:.2f} |",
        f"| ordinary | {overhead['plain']:.2f} |",
        f"| overhead | {overhead['sandboxed'] - overhead['plain']:+.2f} |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: lesson 1, 2 students")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--assignment", default="lesson1_hidden_state")
    parser.add_argument(
        "--repeats", type=int, default=3, help="class runs, alternating the two ways (median)"
    )
    parser.add_argument(
        "--one-repeats", type=int, default=3, help="runs of the one-submission timing (median)"
    )
    parser.add_argument("--jobs", type=int, default=available_cpus())
    parser.add_argument("--out", default=str(RESULTS / "grading.md"))
    parser.add_argument(
        "--class-only",
        action="store_true",
        help="only the class comparison (-> benchmarks/results/grading-class.md)",
    )
    args = parser.parse_args(argv)
    if args.class_only and args.out == str(RESULTS / "grading.md"):
        args.out = str(RESULTS / "grading-class.md")

    lessons = list(LESSONS)
    if args.quick:
        lessons, args.students, args.repeats, args.one_repeats = lessons[:1], 2, 1, 1
        args.assignment = lessons[0]
    head = header()
    print(head, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_grading-") as tmp:
        tmp = Path(tmp)
        one = [] if args.class_only else one_submission_times(lessons, args.one_repeats, tmp)
        cls = class_times(args.assignment, args.students, args.repeats, args.jobs, tmp)
        overhead = None if args.class_only else sandbox_overhead(args.one_repeats, tmp)

    lines = ["# Grading benchmark", "", head + (" Quick smoke run." if args.quick else "")]
    if one:
        lines += _one_submission_lines(one, args.one_repeats)
    lines += _class_lines(cls, args)
    if overhead:
        lines += _overhead_lines(overhead, args.one_repeats)
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
