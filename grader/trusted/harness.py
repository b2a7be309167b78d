"""The trusted harness: make a lesson's calls on a submission and judge what comes back.

- :func:`outcomes_in_process`: the calls against functions in a namespace of this process, with
  the sandbox's own encoding (for unit tests of judges with trusted reference and deliberately
  wrong implementations; never for student code).
- :func:`run_checks`: a submission notebook, checked in a fresh sandbox
  (``grader/in_sandbox/runner.py``): one :class:`Verdict` per autograded test cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.in_sandbox import calls as sandbox_calls
from grader.in_sandbox import wire
from grader.trusted.spec import Call, Outcome
from grader.trusted.wire_spec import decode_outcomes, encode_calls


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
