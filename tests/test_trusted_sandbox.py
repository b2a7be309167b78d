"""The trusted check end to end through the real bubblewrap sandbox, with the tiny lesson of
tests/trusted_tiny_lesson.py (a real check module on the lessons' path and a real notebook).

Each test is one sandboxed run of grader/in_sandbox/runner.py (about 5-30 s on a busy 2-CPU box);
the attacks are the ones a hostile student would try from a solution cell."""

from __future__ import annotations

import pytest
import trusted_tiny_lesson as tiny

from grader.trusted.harness import run_checks

pytestmark = pytest.mark.usefixtures("_sandbox_available")


@pytest.fixture
def _sandbox_available():
    from grader.sandbox import SandboxUnavailable, check_available

    try:
        check_available()
    except SandboxUnavailable as err:  # pragma: no cover - the CI machine installs bubblewrap
        pytest.fail(f"bubblewrap is needed for these tests: {err}")


@pytest.fixture
def source(tmp_path, monkeypatch):
    return tiny.install(tmp_path, monkeypatch)


def check(source, tmp_path, answers: dict[str, str], **kwargs) -> dict:
    notebook = tiny.write(tmp_path / "submitted.ipynb", answers)
    verdicts = run_checks("tiny_lesson", notebook, source, unsafe=False, **kwargs)
    return {v.grade_id: v for v in verdicts}


def test_an_honest_submission_passes_every_check(source, tmp_path):
    timing: dict = {}
    verdicts = check(source, tmp_path, {}, timing=timing)
    assert {k: (v.passed, v.message) for k, v in verdicts.items()} == {
        k: (True, "") for k in ("test_double", "test_mean", "test_doubler", "test_spin")
    }
    assert set(timing) >= {"total", "start", "imports", "setup_cells", "solution_cells", "calls"}
    print("trusted run seconds:", timing)


def test_wrong_and_hostile_answers_fail_with_their_reasons(source, tmp_path):
    verdicts = check(
        source,
        tmp_path,
        {
            "double_answer": "def double(x):\n    return x + 1",
            # delegating to a DISABLEd function
            "mean_answer": "def mean_of(xs):\n    return statistics.fmean(xs)",
            # an nn.Linear whose state_dict lies: the real weight is zero
            "doubler_answer": (
                "def make_doubler(n):\n"
                "    net = torch.nn.Linear(n, n, bias=False)\n"
                "    torch.nn.init.zeros_(net.weight)\n"
                "    net.state_dict = lambda *a, **k: {'weight': 2 * torch.eye(n)}\n"
                "    return net"
            ),
            # never returns, and swallows every exception the time limit raises
            "spin_answer": (
                "def spin(k):\n    while True:\n        try:\n            while True:\n"
                "                pass\n        except BaseException:\n            pass"
            ),
        },
    )
    assert not any(v.passed for v in verdicts.values())
    assert "wrong values" in verdicts["test_double"].message
    assert (
        "statistics.fmean is not available while your work is checked: write mean_of yourself"
        in verdicts["test_mean"].message
    )
    assert "2 * torch.eye(n)" in verdicts["test_doubler"].message
    assert "Timeout" in verdicts["test_spin"].message


def test_a_subclass_reading_the_request_and_a_reload_get_nothing(source, tmp_path):
    verdicts = check(
        source,
        tmp_path,
        {
            # correct values inside a subclass whose detach/clone/__torch_function__ lie
            "double_answer": (
                "class Liar(torch.Tensor):\n"
                "    @classmethod\n"
                "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                "        if getattr(func, '__name__', '') in ('detach', 'clone', 'to', 'cpu',\n"
                "                                             'contiguous', 'as_subclass'):\n"
                "            return torch.zeros(1)\n"
                "        return super().__torch_function__(func, types, args, kwargs or {})\n"
                "def double(x):\n    return (2 * x).as_subclass(Liar)"
            ),
            # reload the module that holds the DISABLEd function, then use it at call time
            "mean_answer": (
                "import importlib\nimportlib.reload(statistics)\n"
                "def mean_of(xs):\n    return statistics.fmean(xs)"
            ),
            # the request (the secret inputs) is gone from the folder before any student code
            "spin_answer": (
                "import os\nSEEN = sorted(os.listdir('.'))\n"
                "def spin(k):\n    return k + 1 if not any(n.startswith('request') for n in SEEN)"
                " else -1"
            ),
        },
    )
    assert verdicts["test_double"].passed, verdicts["test_double"].message
    assert any("subclass" in n for n in verdicts["test_double"].notes)
    assert not verdicts["test_mean"].passed and "not available" in verdicts["test_mean"].message
    assert verdicts["test_spin"].passed and verdicts["test_doubler"].passed


def test_forging_the_result_file_needs_the_answers_anyway(source, tmp_path):
    """A cell that replaces the runner's writers: whatever it writes, the judges compare it with
    references computed outside from inputs it never saw before the run."""
    forge = (
        "import sys, json\n"
        "_real_dumps = json.dumps\n"
        "def _forged(tree, *a, **k):\n"
        "    if isinstance(tree, dict) and 'outcomes' in tree:\n"
        "        for o in tree['outcomes']:\n"
        "            o.update(error=None, value=1.0, notes=[])\n"
        "    return _real_dumps(tree, *a, **k)\n"
        "json.dumps = _forged\n"
        "sys.modules['wire'].json.dumps = _forged\n"
        "def mean_of(xs):\n    raise ValueError('not written')"
    )
    verdicts = check(source, tmp_path, {"mean_answer": forge})
    assert not verdicts["test_mean"].passed  # 1.0 is not the mean of secret inputs
    assert not verdicts["test_double"].passed  # the forger overwrote the honest answers too
    assert not verdicts["test_doubler"].passed


def test_a_process_that_dies_fails_every_check_naming_the_cause(source, tmp_path):
    verdicts = check(source, tmp_path, {"spin_answer": "import os\nos._exit(3)"})
    messages = {v.message for v in verdicts.values()}
    assert len(messages) == 1 and not any(v.passed for v in verdicts.values())
    assert "ended with status 3 before writing its results" in messages.pop()


def test_a_memory_bomb_is_stopped_by_the_limit_and_only_its_own_cell_fails(source, tmp_path):
    verdicts = check(
        source, tmp_path, {"spin_answer": "blocks = [bytearray(2**28) for _ in range(64)]"}
    )
    assert not verdicts["test_spin"].passed  # its cell died: spin was never defined
    assert "not defined" in verdicts["test_spin"].message
    assert any("MemoryError" in n for n in verdicts["test_spin"].notes)
    assert verdicts["test_double"].passed and verdicts["test_mean"].passed


def test_a_cell_that_swallows_its_time_limit_is_ended_by_the_watchdog(source, tmp_path):
    stuck = (
        "def spin(k):\n    return k + 1\n"
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass"
    )
    verdicts = check(source, tmp_path, {"spin_answer": stuck}, cell_timeout=3.0)
    assert not any(v.passed for v in verdicts.values())  # no call could run after it
    assert "not run (solution cell 4 never finished)" in verdicts["test_double"].message
    assert any("solution cell 4 raised Timeout" in n for n in verdicts["test_double"].notes)


def test_a_result_that_cannot_be_sent_back_fails_its_own_check_only(source, tmp_path):
    # 10**5000 has more digits than Python writes as text: it once crashed the whole run
    verdicts = check(source, tmp_path, {"double_answer": "def double(x):\n    return 10**5000"})
    assert verdicts["test_double"].message == (
        "double raised the result could not be sent back: int with more than 4300 digits"
    )
    assert all(verdicts[k].passed for k in ("test_mean", "test_doubler", "test_spin"))
