"""The trusted check inside real nbgrader (0.9.6), with the course's own nbgrader_config.py:
autograde puts the trusted verdict into the gradebook and flags a disagreement for a human;
feedback shows no hidden test. Uses the tiny lesson of tests/trusted_tiny_lesson.py."""

from __future__ import annotations

import nbformat
import pytest
import trusted_tiny_lesson as tiny
from nbgrader.api import Gradebook
from nbgrader_helpers import _api, _check, autograde, generate, make_course, scores

from grader.trusted.harness import NoTrustedChecks
from grader.trusted.nbgrader_plugin import TrustedChecks

CHEAT = "def double(x):\n    return 2 * x if x.numel() <= 2 else x  # right on the visible sizes"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One course: an honest student and one whose answer passes the notebook's own tests
    (small inputs) but not the trusted check; both autograded, the cheater's feedback made."""
    tmp_path = tmp_path_factory.mktemp("trusted_nbgrader")
    monkeypatch = pytest.MonkeyPatch()
    root = make_course(tmp_path, [])
    tiny.install(tmp_path, monkeypatch, source=root / "source")
    release = generate(root, "tiny_lesson") / "tiny.ipynb"
    honest = root / "submitted" / "honest" / "tiny_lesson" / "tiny.ipynb"
    tiny.fill(release, tiny.ANSWERS, honest)
    cheat = root / "submitted" / "cheater" / "tiny_lesson" / "tiny.ipynb"
    tiny.fill(release, {**tiny.ANSWERS, "double_answer": CHEAT}, cheat)
    for student in ("honest", "cheater"):
        autograde(root, "tiny_lesson", student)
    _check(_api(root).generate_feedback("tiny_lesson", "cheater"), "generate_feedback")
    yield root
    monkeypatch.undo()


def gradebook(root):
    return Gradebook("sqlite:///" + str(root / "gradebook.db"))


def test_honest_keeps_full_marks_and_is_not_flagged(graded):
    assert scores(graded, "tiny_lesson", "honest")["tiny"] == {
        k: (1.0, 1.0) for k in ("test_double", "test_mean", "test_doubler", "test_spin")
    }
    with gradebook(graded) as gb:
        assert not gb.find_submission_notebook("tiny", "tiny_lesson", "honest").flagged


def test_a_pass_in_the_kernel_that_fails_the_trusted_check_scores_0_and_is_flagged(graded):
    got = scores(graded, "tiny_lesson", "cheater")["tiny"]
    assert got["test_double"] == (0.0, 1.0)
    assert got["test_mean"] == got["test_spin"] == (1.0, 1.0)
    with gradebook(graded) as gb:
        assert gb.find_submission_notebook("tiny", "tiny_lesson", "cheater").flagged
        comment = gb.find_comment("double_answer", "tiny", "tiny_lesson", "cheater")
        assert "[trusted check] test_double: the notebook's own test passed" in (
            comment.manual_comment
        )
    nb = nbformat.read(graded / "autograded" / "cheater" / "tiny_lesson" / "tiny.ipynb", 4)
    (cell,) = [
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double"
    ]
    assert cell.outputs[0].output_type == "error"
    assert cell.outputs[0].traceback[0].startswith("Trusted check: double: wrong values")


def test_feedback_shows_the_trusted_result_but_no_hidden_test(graded):
    (html,) = (graded / "feedback" / "cheater" / "tiny_lesson").glob("*.html")
    text = html.read_text()
    assert "Trusted check: double: wrong values" in text
    autograded = (graded / "autograded" / "cheater" / "tiny_lesson" / "tiny.ipynb").read_text()
    assert "HIDDEN-DOUBLE" in autograded  # the hidden test is there to leak...
    assert "HIDDEN-DOUBLE" not in text and "BEGIN HIDDEN TESTS" not in text  # ...and does not


def test_an_assignment_without_trusted_checks_is_refused_not_passed(tmp_path):
    nb = nbformat.v4.new_notebook()
    resources = {
        "nbgrader": {
            "assignment": "no_such_lesson",
            "notebook": "x",
            "student": "s",
            "db_url": f"sqlite:///{tmp_path / 'gb.db'}",
        }
    }
    with pytest.raises(NoTrustedChecks, match="no trusted checks for no_such_lesson"):
        TrustedChecks().preprocess(nb, resources)
    allowed = TrustedChecks(unchecked_assignments=["no_such_lesson"])
    assert allowed.preprocess(nb, resources) == (nb, resources)
