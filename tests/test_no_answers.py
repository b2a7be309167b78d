"""Nothing a student is given answers an exercise (issue 10, part 3).

For every lesson with a trusted check module (``grader/trusted/lessons/<lesson>.py``), every
candidate of ``tests/answer_candidates.py`` (the functions of every release notebook's test
cells, every public course_utils callable) whose signature fits is tried as the answer to each
exercise: the check's calls run in-process (``grader.trusted.harness.outcomes_in_process``) with
the lesson's ``DISABLE`` callables replaced by raising stubs, as in the sandbox, and the lesson's
judge decides. None may pass. As a control, the instructor's own solutions (the source notebook's
setup and solution cells, as the sandbox runs them) pass every check, so a failure here is a
real answer, not a broken pipeline.

Also: every lesson in ``source/`` has a check module, every DISABLE name exists, and no release
notebook holds a line of a solution or hidden-test region of ``source/``.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import select
import signal
import time
from pathlib import Path

import answer_candidates as ac
import matplotlib
import pytest

from grader.in_sandbox import calls as sandbox_calls
from grader.in_sandbox.calls import resolve
from grader.student_edition import code_of, file_lines, secret_lines
from grader.trusted import harness

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCE, RELEASE = ROOT / "source", ROOT / "release"
LESSON_MODULES = ROOT / "grader" / "trusted" / "lessons"
SEED = 20261202
TRY_SECONDS = 15.0  # one candidate on one check: honest code takes milliseconds
TRY_BYTES = 2 << 30  # memory a try may add to the test process's address space
SOURCE_LESSONS = sorted(p.name for p in SOURCE.iterdir() if list(p.glob("*.ipynb")))
CHECKED_LESSONS = sorted(p.stem for p in LESSON_MODULES.glob("lesson*.py"))


def lesson_module(lesson: str):
    return importlib.import_module(f"grader.trusted.lessons.{lesson}")


@pytest.mark.parametrize("lesson", SOURCE_LESSONS)
def test_every_lesson_has_a_trusted_check_module(lesson):
    assert (LESSON_MODULES / f"{lesson}.py").exists(), (
        f"source/{lesson}/ has no trusted checks: write grader/trusted/lessons/{lesson}.py "
        "(see grader/trusted/spec.py)"
    )


@pytest.mark.parametrize("lesson", CHECKED_LESSONS)
def test_disable_names_exist(lesson):
    for name in lesson_module(lesson).DISABLE:
        assert callable(resolve(name)), f"{lesson}: DISABLE {name} is not a callable"


# --------------------------------------------------------------------------- disabling


class Disabled:
    """The lesson's DISABLE callables replaced by raising stubs (as the sandbox does), restored
    on exit. A module attribute is replaced in the module's dict (course_utils.grading refuses
    setattr), a method on its class. The harness's trusted classes (``Model`` recipes) are taken
    before, as in the sandbox, so a disabled ``torch.nn.RNN`` still builds trusted models."""

    def __init__(self, names):
        self.names, self.saved = tuple(names), []

    def __enter__(self):
        capture = sandbox_calls.capture_trusted
        trusted = capture()
        self.saved.append((sandbox_calls, vars(sandbox_calls), "capture_trusted", capture))
        vars(sandbox_calls)["capture_trusted"] = lambda: trusted
        for dotted in self.names:
            owner_name, attr = dotted.rsplit(".", 1)
            owner = resolve(owner_name)
            table = vars(owner) if isinstance(owner, type(json)) else None
            original = table[attr] if table is not None else vars(owner)[attr]

            def stub(*args, _name=dotted, **kwargs):
                raise RuntimeError(f"{_name} is not available while your work is checked")

            self.saved.append((owner, table, attr, original))
            if table is not None:
                table[attr] = stub
            else:
                setattr(owner, attr, stub)
        return self

    def __exit__(self, *exc):
        for owner, table, attr, original in reversed(self.saved):
            if table is not None:
                table[attr] = original
            else:
                setattr(owner, attr, original)
        self.saved.clear()


# --------------------------------------------------------------------------- trying candidates


def exercise_names(check) -> list[str]:
    """The globals a check calls (read-only globals such as answer_hidden_state left out)."""
    return sorted({call.fn for call in check.calls if not call.read})


def verdict(check, namespace) -> str | None:
    """The judge's message (None: passed) for the check's calls on ``namespace``."""
    try:
        outcomes = harness.outcomes_in_process(check.calls, namespace, seed=SEED)
        return check.judge(outcomes)
    except Exception as err:  # noqa: BLE001 - a judge that cannot read an outcome did not pass it
        return f"judge raised {type(err).__name__}: {err}"


def verdict_in_child(check, namespace, timeout: float = TRY_SECONDS) -> str | None:
    """:func:`verdict` in a forked child with a memory cap, killed after ``timeout`` seconds.

    A candidate called with the wrong meaning of its arguments can start work that never ends
    inside torch's C code (a QR of a 10^4 x 10^4 matrix), where no Python-level timeout reaches
    it; a child process can always be killed."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: judge, report, leave without running any of pytest's teardown
        try:
            os.close(read_end)
            resource.setrlimit(resource.RLIMIT_AS, (_address_space() + TRY_BYTES,) * 2)
            message = verdict(check, namespace)
            os.write(write_end, json.dumps(message).encode()[:60000])
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], timeout)
        data = os.read(read_end, 65536) if ready else b""
    finally:
        os.close(read_end)
        if not data:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return json.loads(data) if data else f"no verdict within {timeout:g} s (killed)"


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def source_notebook(lesson: str) -> Path:
    return SOURCE / lesson / lesson_module(lesson).NOTEBOOK


def solution_namespace(lesson: str) -> dict:
    """The source notebook's first SETUP_CELLS code cells and its solution cells, executed."""
    module = lesson_module(lesson)
    codes = [c for c in json.loads(source_notebook(lesson).read_text())["cells"]]
    codes = [c for c in codes if c["cell_type"] == "code"]
    chosen = codes[: module.SETUP_CELLS] + [
        c for c in codes[module.SETUP_CELLS :] if c["metadata"].get("nbgrader", {}).get("solution")
    ]
    ns: dict = {"__name__": "__main__"}
    for cell in chosen:
        exec(compile("".join(cell["source"]), f"<{lesson}>", "exec"), ns)  # noqa: S102
    return ns


@pytest.mark.slow
@pytest.mark.parametrize("lesson", CHECKED_LESSONS)
def test_instructor_solutions_pass_every_check(lesson):
    """The control: the pipeline this file uses can say "passed"."""
    module = lesson_module(lesson)
    with Disabled(module.DISABLE):
        ns = solution_namespace(lesson)
        failed = {
            c.grade_id: msg for c in module.checks(SEED) if (msg := verdict(c, ns)) is not None
        }
    plt.close("all")
    assert not failed, f"{lesson}: the instructor's solutions fail trusted checks: {failed}"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", CHECKED_LESSONS)
def test_nothing_students_have_passes_an_exercise(lesson):
    module = lesson_module(lesson)
    signatures = ac.exercise_signatures(source_notebook(lesson))
    disabled = set(module.DISABLE)
    start, tried, passing = time.perf_counter(), 0, []
    with Disabled(disabled):
        library, unbuilt = ac.course_utils_callables()
        candidates = ac.release_helpers(RELEASE) + [c for c in library if c.label not in disabled]
        for check in module.checks(SEED):
            for name in exercise_names(check):
                if name not in signatures:
                    continue  # a global the check reads, not an exercise of this notebook
                for cand in candidates:
                    for how, func in ac.variants(cand, signatures[name]):
                        tried += 1
                        if verdict_in_child(check, {name: func}) is None:
                            passing.append(f"{cand.label} ({how}) passes {check.grade_id}")
                plt.close("all")
    print(
        f"\n{lesson}: {tried} candidate calls of {len(candidates)} candidates in "
        f"{time.perf_counter() - start:.1f} s; disabled {sorted(disabled)}; "
        f"classes not built: {unbuilt}"
    )
    assert not passing, (
        f"{lesson}: a student could submit these instead of writing the exercise:\n  "
        + "\n  ".join(passing)
        + "\nMove the reference out of the release (hidden tests or grader/trusted), or add the "
        "course_utils name to the lesson's DISABLE."
    )


# --------------------------------------------------------------------------- release lines


@pytest.mark.parametrize("notebook", sorted(RELEASE.glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_release_holds_no_solution_or_hidden_test_line(notebook):
    secrets = secret_lines(SOURCE)
    assert len(secrets) > 100, f"only {len(secrets)} secret lines found in source/: parsing broke?"
    relpath = notebook.relative_to(ROOT).as_posix()
    found = [
        f"{relpath}:{n}: {line.strip()}"
        for n, line in enumerate(file_lines(relpath, notebook.read_bytes()), 1)
        if code_of(line) in secrets or "### BEGIN" in line
    ]
    assert not found, "release/ shows lines of source/'s solutions or hidden tests:\n" + "\n".join(
        found
    )


# --------------------------------------------------------------------------- the test can fail


class PlantedRNN(ac.torch.nn.Module):
    """What course_utils.rnn.RNNScratch held before issue 10: a ``to_torch`` method that answers
    lesson 2's ``to_torch_rnn``. Planted here to show the instance adapter finds such a method."""

    def __init__(self, num_inputs, num_hiddens):
        super().__init__()
        nn = ac.torch.nn
        self.W_xh = nn.Parameter(ac.torch.randn(num_inputs, num_hiddens))
        self.W_hh = nn.Parameter(ac.torch.randn(num_hiddens, num_hiddens))
        self.b_h = nn.Parameter(ac.torch.zeros(num_hiddens))

    def to_torch(self):
        rnn = ac.torch.nn.RNN(*self.W_xh.shape)
        with ac.torch.no_grad():
            rnn.weight_ih_l0.copy_(self.W_xh.T)
            rnn.weight_hh_l0.copy_(self.W_hh.T)
            rnn.bias_ih_l0.copy_(self.b_h)
            rnn.bias_hh_l0.zero_()
        return rnn


def planted_converter(b_h, W_hh, W_xh):
    """The same answer as a function whose parameters come in another order (found by name)."""
    return PlantedRNN.to_torch(type("P", (), {"W_xh": W_xh, "W_hh": W_hh, "b_h": b_h})())


@pytest.mark.parametrize(
    "candidate",
    [
        ac.Candidate("planted method", None, cls=PlantedRNN, method="to_torch"),
        ac.Candidate("planted function", lambda: planted_converter),
    ],
    ids=["method", "by-name"],
)
def test_a_planted_answer_is_found(candidate):
    module = lesson_module("lesson2_concat")
    signature = ac.exercise_signatures(source_notebook("lesson2_concat"))["to_torch_rnn"]
    (check,) = [c for c in module.checks(SEED) if "to_torch_rnn" in exercise_names(c)]
    ways = ac.variants(candidate, signature)
    assert ways, f"{candidate.label} was not tried as to_torch_rnn"
    assert any(verdict(check, {"to_torch_rnn": func}) is None for _, func in ways), (
        f"{candidate.label} answers to_torch_rnn but no adapter made it pass: {ways}"
    )


KNOWN_ANSWERS = [  # course_utils code the lessons need, which answers an exercise (issue 10)
    ("lesson1_hidden_state", "rnn_forward", "course_utils.rnn.RNNScratch.forward"),
    ("lesson3_char_rnn", "predict", "course_utils.generate.sample_text"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "lesson, exercise, label", KNOWN_ANSWERS, ids=[k[1] for k in KNOWN_ANSWERS]
)
def test_known_course_utils_answers_are_found_and_disabled(lesson, exercise, label):
    """Without its stub, the sweep finds the course_utils callable that answers the exercise
    (so the sweep sees real course_utils answers), and the lesson's DISABLE lists it."""
    module = lesson_module(lesson)
    assert label in module.DISABLE, f"{lesson}: add {label!r} to DISABLE: it answers {exercise}"
    signature = ac.exercise_signatures(source_notebook(lesson))[exercise]
    (check,) = [c for c in module.checks(SEED) if exercise in exercise_names(c)]
    with Disabled([name for name in module.DISABLE if name != label]):
        library, _ = ac.course_utils_callables()
        (candidate,) = [c for c in library if c.label == label]
        passed = [
            how
            for how, f in ac.variants(candidate, signature)
            if verdict(check, {exercise: f}) is None
        ]
    assert passed, f"{label} no longer passes {check.grade_id}: is it still needed in DISABLE?"
