"""``grade_class()``: plan, grade in parallel workers, merge, report (see the package doc)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from grader.grade_class.bundle import digest, read_tree, submission_files
from grader.grade_class.cluster import EarlyCluster, run_dask
from grader.grade_class.course import Course, list_students, open_course
from grader.grade_class.merge import copy_back, merge_result, read_scores
from grader.grade_class.plan import Plan, plan_submission
from grader.grade_class.progress import Progress
from grader.grade_class.report import describe, format_table, write_csv
from grader.grade_class.results import UNSANDBOXED, GradingError, StudentResult
from grader.grade_class.resume import RunState
from grader.grade_class.workers import run_workers
from grader.sandbox import SandboxUnavailable, check_available

CHECK_ID = "_instructor_check"  # the instructor's own notebook, graded first as a control


def _check_instructor(course: Course, result: StudentResult) -> None:
    """Raise GradingError unless the instructor's solution got every autograded point."""
    lost = []
    for nb, grades in result.grades.items():
        for cell, g in grades.items():
            if g["auto_score"] is not None and g["auto_score"] < g["max_score"]:
                why = result.errors.get(cell, "")
                lost.append(f"{nb}:{cell} {g['auto_score']:g}/{g['max_score']:g} {why}".strip())
    if result.status != "graded" or lost:
        details = "\n  ".join(lost) or f"{result.status}: {result.message}"
        raise GradingError(
            "the instructor's own notebook (source/) does not get full marks in this grading "
            "environment, so student scores could not be trusted; nothing was written. Fix the "
            "environment (the corpus? COURSE_DATA_DIR? a package?) or the notebook, or pass "
            f"--no-check to grade anyway.\n  {details}"
        )


def grade_class(
    root: str | Path,
    assignment: str,
    jobs: int | None = None,
    timeout: float = 600.0,
    csv_path: str | Path | None = None,
    check: bool = True,
    feedback: bool = True,
    echo=print,
    unsafe: bool = False,
    engine: str = "dask",
    scheduler: str | None = None,
    restart: bool = False,
) -> list[StudentResult]:
    """Autograde every submission of ``assignment`` under ``root`` (see the module docstring).

    ``check``: first autograde the instructor's own notebook from source/ and stop (nothing
    written) unless it gets full marks. ``feedback``: run nbgrader's generate_feedback for every
    graded student. ``unsafe``: run the kernels without a sandbox (every report line and CSV
    row then says UNSANDBOXED); otherwise a sandbox that cannot start stops the command with
    what to install. ``engine``: "dask" (the default: ``scheduler``, a Dask scheduler's
    address, or an in-process LocalCluster of ``jobs`` workers) or "pool" (local worker
    processes, no Dask). ``restart``: ignore what an interrupted run already merged. Returns
    one StudentResult per student, sorted by student id. Raises GradingError when grading
    itself fails.
    """
    from course_utils import available_cpus

    if jobs is None:
        jobs = available_cpus()
    if jobs < 1:
        raise ValueError(f"jobs: expected a positive number of worker processes, got {jobs}")
    if engine not in ("dask", "pool"):
        raise ValueError(f"engine: expected 'dask' or 'pool', got {engine!r}")
    if scheduler and engine != "dask":
        raise ValueError("--scheduler grades on a Dask cluster: it needs the dask engine")
    if timeout <= 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout}")
    t_start = time.monotonic()
    # The workers start (and import nbgrader) while this process reads and plans the class.
    early = EarlyCluster(jobs) if engine == "dask" and not scheduler else None
    try:
        course = open_course(root, assignment)
        students = list_students(course)
        if not students:
            pattern = course.path(course.coursedir.submitted_directory, "*")
            raise GradingError(
                f"no submissions match {pattern}; run `nbgrader collect {assignment}`"
            )
        if not unsafe and not scheduler:  # remote workers check their own sandbox
            try:
                check_available()
            except SandboxUnavailable as err:
                raise GradingError(
                    f"{err}\nNothing was graded. (--unsafe-no-sandbox grades without a sandbox.)"
                ) from err
        plans = {s: plan_submission(course, s) for s in students}
        bundle_files = {"nbgrader_config.py": course.config_file.read_bytes()}
        bundle_files.update(read_tree(course.source_folder()))
        run_key = digest(bundle_files) + f":{feedback}:{unsafe}"
        state = RunState(course, run_key, restart)
        checksums = {s: digest(submission_files(course, plans[s])) for s in students}
        resumed = [r for s in students if (r := state.done(s, checksums[s])) is not None]
        if resumed:
            echo(
                f"resuming: {len(resumed)} student(s) already merged by an interrupted run of "
                f"{assignment} (--restart grades everyone again)"
            )
        skip = {r.student for r in resumed}
        todo = [plans[s] for s in students if plans[s].run and s not in skip]
        for plan in todo:
            plan.feedback = feedback
        if check:
            todo.insert(0, Plan(CHECK_ID, source=course.source_folder(), feedback=False))
        jobs = max(1, min(jobs, len(todo)))
        where = f"the Dask cluster at {scheduler}" if scheduler else f"{jobs} worker(s)"
        where += "" if scheduler or engine == "dask" else " (process pool)"
        echo(
            f"grading {assignment}: {len(students)} submissions, {len(todo) - check} to autograde "
            f"on {where}, limit {timeout:g} s each"
            + (" (the instructor's notebook first, as a control)" if check else "")
        )
        if unsafe:
            echo(f"{UNSANDBOXED}: student code runs with your user, files and network")

        done: list[StudentResult] = list(resumed)
        progress = Progress(len(students), echo)
        progress.skipped(len(resumed))
        failures = sum(r.failed for r in resumed)
        held: list[StudentResult] = []  # results that wait for the instructor check
        checked = not check

        def record(result: StudentResult) -> None:
            nonlocal failures
            plan = plans[result.student]
            result.sandboxed = not unsafe
            if plan.unscored_notebooks and result.status in (
                "graded",
                "missing-notebook",
                "renamed",
            ):
                result.status = "not-a-notebook"
            if result.status == "graded" and plan.status != "graded":
                result.status = plan.status
            result.unscored_notebooks = list(plan.unscored_notebooks)
            result.flagged_notebooks = list(plan.flags)
            result.message = "; ".join([*plan.notes, *([result.message] if result.message else [])])
            t0 = time.monotonic()
            try:
                merge_result(course, result)
                copy_back(course, result)
            except Exception as err:
                raise GradingError(
                    f"cannot write {result.student}'s grades into {course.db_label}: {err}"
                ) from err
            result.merge_seconds = time.monotonic() - t0
            result.files = {}
            state.record(result, checksums[result.student])
            done.append(result)
            failures += result.failed
            notable = result.failed or result.status != "graded" or bool(result.flagged_notebooks)
            progress.update(f"{describe(result)} ({result.seconds:.1f} s)", result.failed, notable)

        def finish(result: StudentResult) -> None:
            nonlocal checked
            if result.student == CHECK_ID:
                _check_instructor(course, result)
                checked = True
                echo(f"instructor's notebook: full marks ({result.seconds:.1f} s)")
                for r in held:
                    record(r)
                held.clear()
            elif checked:
                record(result)
            else:
                held.append(result)

        if todo and engine == "pool":
            with tempfile.TemporaryDirectory(prefix="grade_class-") as tmp:
                run_workers(course, todo, jobs, timeout, Path(tmp), finish, unsafe)
        elif todo:
            run_dask(course, todo, jobs, timeout, finish, unsafe, scheduler, echo, early)
        for s in students:  # nothing to run: empty folders, no notebook, unreadable notebooks
            if not plans[s].run and s not in skip:
                record(StudentResult(s, plans[s].status))
        state.finish()

        done.sort(key=lambda r: r.student)
        scores = read_scores(course, students)
        csv_file = Path(csv_path) if csv_path else course.root / "grades" / f"{assignment}.csv"
        write_csv(csv_file, course, done, scores)
        echo("")
        echo(format_table(course, done, scores))
        echo("")
        for r in done:
            if r.failed or r.status != "graded" or r.flagged_notebooks:
                echo(describe(r))
        echo(
            f"{len(done)} students, {failures} not scored, {time.monotonic() - t_start:.1f} s; "
            f"gradebook {course.db_label}; grades {csv_file}"
            + (f" ({UNSANDBOXED}: graded without a sandbox)" if unsafe else "")
        )
        return done
    finally:
        if early is not None:
            early.close()  # not taken: nothing to grade, or an error before grading
