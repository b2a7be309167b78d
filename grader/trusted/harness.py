"""The trusted harness: make a lesson's calls on a submission and judge what comes back.

- :func:`outcomes_in_process`: the calls against functions in a namespace of this process, with
  the sandbox's own encoding (for unit tests of judges with trusted reference and deliberately
  wrong implementations; never for student code).
- :func:`run_checks`: a submission notebook, checked in a fresh sandbox
  (``grader/in_sandbox/runner.py``): one :class:`Verdict` per autograded test cell.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader.in_sandbox import calls as sandbox_calls
from grader.in_sandbox import wire
from grader.trusted.sandbox_run import (
    RunResult,
    run_runner,
    setup_sources,
    solution_sources,
    write_request,
)
from grader.trusted.spec import Call, Check, Outcome
from grader.trusted.wire_spec import WireError, decode_outcomes, encode_calls


@dataclass(frozen=True)
class Verdict:
    """The trusted result of one autograded test cell."""

    grade_id: str
    passed: bool
    message: str  # "" when passed; else what went wrong, for the student and the instructor
    notes: tuple[str, ...] = ()  # for the instructor (subclass stripped, sandbox facts...)


def outcomes_in_process(calls: list[Call], namespace: dict, seed: int = 0) -> list[Outcome]:
    """Make ``calls`` against the globals in ``namespace``, in this process, and return one
    :class:`Outcome` per call: the recipes are built, results encoded to JSON + safetensors bytes
    and decoded exactly as on the sandbox path (swap calls last, globals restored after).

    Only for trusted test code: a namespace of reference or deliberately wrong implementations
    written in tests. Per-call timeouts work when called from the main thread."""
    tensors: dict = {}
    request = {"calls": encode_calls(list(calls), seed, tensors)}
    request, tensors = wire.load(*wire.dump(request, tensors))
    trusted = sandbox_calls.capture_trusted()
    out_tensors: dict = {}
    records = sandbox_calls.make_calls(request, tensors, namespace, trusted, [], out_tensors)
    tree, out_tensors = wire.load(*wire.dump({"outcomes": records}, out_tensors))
    return decode_outcomes(tree["outcomes"], out_tensors, len(calls))


class NoTrustedChecks(LookupError):
    """The assignment has no module ``grader.trusted.lessons.<assignment>``."""


def load_lesson(assignment: str):
    """The lesson check module of ``assignment``; raises :class:`NoTrustedChecks`."""
    if not assignment.isidentifier():
        raise NoTrustedChecks(f"{assignment!r} is not a lesson module name")
    name = f"grader.trusted.lessons.{assignment}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name in (name, "grader.trusted.lessons"):
            raise NoTrustedChecks(
                f"no trusted checks for {assignment}: write grader/trusted/lessons/"
                f"{assignment}.py (see grader/trusted/spec.py)"
            ) from None
        raise


def run_checks(
    assignment: str,
    submission_notebook_path,
    source_root,
    seed: int | None = None,
    *,
    unsafe: bool | None = None,
    cell_timeout: float = 60.0,
    timing: dict | None = None,
) -> list[Verdict]:
    """Check a submission notebook in a fresh sandbox: one :class:`Verdict` per check (per
    autograded test cell of the lesson), in the lesson's order.

    ``submission_notebook_path``: the submission's .ipynb (or that notebook as a JSON dict).
    ``source_root``: the course's ``source/`` folder (the setup cells are read from
    ``source_root/<assignment>/<NOTEBOOK>``). ``seed``: the inputs' seed, a fresh secret by
    default. ``unsafe``: run without a sandbox (default: the instructor's
    ``RNN_COURSE_UNSAFE_NO_SANDBOX``); the notes of every verdict then say so. When the run hits
    a sandbox limit, crashes or times out, every check fails with a message naming the cause.
    Raises :class:`NoTrustedChecks` when the lesson has no check module, and
    ``grader.sandbox.SandboxUnavailable`` when the sandbox cannot start. ``timing``: a dict that
    receives the run's seconds (``total``; and from the runner ``start`` (sandbox and Python
    start-up), ``imports``, ``setup_cells``, ``solution_cells``, ``calls``)."""
    lesson = load_lesson(assignment)
    seed = secrets.randbits(62) if seed is None else int(seed)
    if unsafe is None:
        from grader.sandbox.kernel import unsafe_no_sandbox

        unsafe = unsafe_no_sandbox()
    checks = list(lesson.checks(seed))
    if isinstance(submission_notebook_path, dict):  # a notebook already read (nbgrader's)
        submission = submission_notebook_path
    else:
        submission = json.loads(Path(submission_notebook_path).read_text())
    source_nb = Path(source_root) / assignment / lesson.NOTEBOOK
    all_calls = [call for check in checks for call in check.calls]
    tensors: dict = {}
    request = {
        "calls": encode_calls(all_calls, seed, tensors),
        "disable": [[e, "this exercise"] if type(e) is str else list(e) for e in lesson.DISABLE],
        "setup_cells": setup_sources(source_nb, int(lesson.SETUP_CELLS)),
        "solution_cells": solution_sources(submission),
        "cell_timeout": float(cell_timeout),
        "sent_at": time.time(),
    }
    cells = len(request["setup_cells"]) + len(request["solution_cells"])
    timeout = 90 + cell_timeout * cells + sum(c.timeout for c in all_calls)
    with tempfile.TemporaryDirectory(prefix="trusted-check-") as scratch:
        workdir = Path(scratch)
        os.chmod(workdir, 0o777)  # the sandbox's uid 1000 writes its results here
        write_request(workdir, request, tensors)
        run = run_runner(workdir, timeout, unsafe=bool(unsafe))
    if timing is not None:
        timing["total"] = round(run.seconds, 3)
        runner_timing = (run.tree or {}).get("timing")
        if type(runner_timing) is dict:
            timing.update({k: v for k, v in runner_timing.items() if type(v) in (int, float)})
    return judge_run(checks, run, unsafe=bool(unsafe))


def judge_run(checks: list[Check], run: RunResult, unsafe: bool = False) -> list[Verdict]:
    """A Verdict per check from one run's results (every check fails when the run failed)."""
    base_notes = ["checked WITHOUT a sandbox (unsafe option)"] if unsafe else []
    total = sum(len(check.calls) for check in checks)
    outcomes, failure = None, run.failure
    if failure is None:
        try:
            outcomes = decode_outcomes(run.tree.get("outcomes"), run.tensors, total)
        except (WireError, RecursionError, TypeError, ValueError) as err:
            failure = f"its results could not be read ({err})"
    if failure is not None:
        message = f"the trusted check of this notebook could not run: {failure}"
        tail = [f"output: {run.output_tail[-500:]}"] if run.output_tail else []
        notes = tuple(base_notes + tail)
        return [Verdict(check.grade_id, False, message, notes) for check in checks]
    base_notes += _cell_notes(run.tree)
    verdicts, start = [], 0
    for check in checks:
        mine = outcomes[start : start + len(check.calls)]
        start += len(check.calls)
        notes = tuple(dict.fromkeys(base_notes + [n for o in mine for n in o.notes]))
        try:
            message = check.judge(mine)
        except Exception as err:  # noqa: BLE001 - a bug in a judge must not pass a student
            message = f"internal error in the trusted check ({type(err).__name__}: {err})"
        if message is not None and type(message) is not str:
            message = str(message)
        verdicts.append(Verdict(check.grade_id, message is None, message or "", notes))
    return verdicts


def _cell_notes(tree: dict) -> list[str]:
    notes = []
    for entry in tree.get("cells", []) if type(tree.get("cells")) is list else []:
        if type(entry) is dict and type(entry.get("error")) is str:
            kind, index = str(entry.get("kind"))[:20], entry.get("index")
            number = index + 1 if type(index) is int else "?"
            notes.append(f"{kind} cell {number} raised {entry['error'][:300]}")
    missing = tree.get("missing_disabled")
    if type(missing) is list and missing:
        notes.append("DISABLE names not found: " + ", ".join(str(m)[:100] for m in missing))
    return notes
