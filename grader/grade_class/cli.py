"""The command line: ``python -m grader.grade_class <assignment> [options]``."""

from __future__ import annotations

import argparse
import sys

from grader.grade_class.autograde import worker_main
from grader.grade_class.command import grade_class
from grader.grade_class.results import GradingError
from grader.grade_class.workers import WORKER_FLAG


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 unless grading itself failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [WORKER_FLAG]:
        return worker_main(argv[1], argv[2])
    parser = argparse.ArgumentParser(
        prog="python -m grader.grade_class",
        description="Autograde every submission of an nbgrader assignment in parallel.",
    )
    parser.add_argument("assignment", help="assignment name, e.g. lesson1_hidden_state")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs)")
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="grade on an existing Dask cluster (tcp://HOST:PORT of its scheduler); default: an "
        "in-process LocalCluster of --jobs workers",
    )
    parser.add_argument(
        "--engine",
        choices=("dask", "pool"),
        default="dask",
        help="dask (default) or pool: local worker processes without Dask",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="grade everyone, ignoring what an interrupted run of this assignment already merged",
    )
    parser.add_argument("--root", default=".", help="course root holding nbgrader_config.py")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="wall-clock seconds per submission (600)"
    )
    parser.add_argument("--csv", default=None, help="CSV path (default grades/<assignment>.csv)")
    parser.add_argument(
        "--no-feedback", action="store_true", help="skip nbgrader generate_feedback"
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="skip grading the instructor's notebook first (a control that must get full marks)",
    )
    parser.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run student code WITHOUT the bubblewrap sandbox (it can then read and write your "
        "files, the gradebook included, and use the network); every report line says UNSANDBOXED",
    )
    args = parser.parse_args(argv)
    try:
        grade_class(
            args.root,
            args.assignment,
            args.jobs,
            args.timeout,
            args.csv,
            check=not args.no_check,
            feedback=not args.no_feedback,
            unsafe=args.unsafe_no_sandbox,
            engine=args.engine,
            scheduler=args.scheduler,
            restart=args.restart,
        )
    except (GradingError, ValueError) as err:
        print(f"grade_class: error: {err}", file=sys.stderr)
        return 1
    return 0
