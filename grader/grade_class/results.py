"""What the class command reports for each student: statuses, results, its one error type."""

from __future__ import annotations

from dataclasses import dataclass, field

STATUS_TEXT = {
    "graded": "graded",
    "renamed": "graded (notebook was renamed)",
    "missing-notebook": "graded (a notebook is missing: scored 0)",
    "no-notebook": "no notebook submitted - scored 0",
    "empty": "empty submission folder - scored 0",
    "not-a-notebook": "notebook is not valid JSON - not scored, needs manual review",
    "kernel-died": "kernel died (os._exit? a crash?) - not scored, needs manual review",
    "timeout": "ran out of time - not scored, needs manual review",
    "error": "autograde failed - not scored, needs manual review",
    # The sandbox's limits (grader.sandbox.Limits). The cells that hit one score 0 and the rest
    # are graded; if the kernel died of it, the notebook is not scored (``unscored``).
    "memory-limit": "hit the sandbox's memory limit (a memory bomb?)",
    "processes-limit": "hit the sandbox's process limit (a fork bomb?)",
    "file-size-limit": "hit the sandbox's file size limit (filling the disk?)",
    "cpu-time-limit": "hit the sandbox's CPU time limit",
}
# Statuses where the student's grades are left unscored (needs_manual_grade=True).
NOT_SCORED = {"not-a-notebook", "kernel-died", "timeout", "error"}
# grader.sandbox limit name -> status ("wall time" is the class command's own "timeout").
LIMIT_STATUS = {
    "memory": "memory-limit",
    "processes": "processes-limit",
    "file size": "file-size-limit",
    "cpu time": "cpu-time-limit",
    "wall time": "timeout",
}
UNSANDBOXED = "UNSANDBOXED"


class GradingError(RuntimeError):
    """Grading itself failed (configuration, gradebook, assignment): the command exits 1."""


class SandboxRefused(RuntimeError):
    """A grading worker cannot start a sandbox, so it refuses to grade (the message names it)."""


@dataclass
class StudentResult:
    """What happened to one student's submission."""

    student: str
    status: str
    message: str = ""
    seconds: float = 0.0
    # notebook -> grade cell -> {"auto_score": float | None, "needs_manual_grade": bool}
    grades: dict = field(default_factory=dict)
    # notebook -> solution/task cell -> auto_comment
    comments: dict = field(default_factory=dict)
    # notebook -> late_submission_penalty
    penalties: dict = field(default_factory=dict)
    timestamp: str | None = None
    # notebooks whose grades must be left unscored even though others were graded
    unscored_notebooks: list = field(default_factory=list)
    flagged_notebooks: list = field(default_factory=list)  # set nbgrader's "flagged" on these
    errors: dict = field(default_factory=dict)  # grade cell -> the error it showed
    workdir: str | None = None  # worker course copy holding autograded/ and feedback/
    unscored: bool = False  # a limit status whose kernel died: not scored, needs manual review
    sandboxed: bool = True  # False: graded with --unsafe-no-sandbox
    # Set by the trusted checks in the worker's gradebook, carried to the course's gradebook:
    trusted_flags: list = field(default_factory=list)  # notebooks flagged for a human
    manual_comments: dict = field(default_factory=dict)  # notebook -> cell -> manual comment
    # step (autograded, feedback) -> {path under that step's student/assignment folder: bytes}
    files: dict = field(default_factory=dict)
    merge_seconds: float = 0.0  # time to write it into the course (gradebook and folders)

    @property
    def failed(self) -> bool:
        return self.status in NOT_SCORED or self.unscored
