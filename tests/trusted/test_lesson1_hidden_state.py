"""Lesson 1's trusted checks (grader/trusted/lessons/lesson1_hidden_state.py), run in-process.

The instructor's solutions (exec'd from the source notebook's solution cells) pass every check for
several seeds; right alternatives pass; each typical wrong answer fails exactly its own check, with
a message naming the mistake; a wrong rnn_step does not cost rnn_forward (a correct step is swapped
in); answers hard-coded for the visible examples fail.
"""

from __future__ import annotations

import pytest
import torch
from lesson_tools import LessonTools

from grader.in_sandbox.calls import resolve
from grader.trusted.lessons import lesson1_hidden_state as lesson

GRADE_IDS = [
    "test_ngram_table_size",
    "test_rnn_param_count",
    "test_rnn_step",
    "test_rnn_forward",
    "test_answer_hidden_state",
]


tools = LessonTools(lesson, torch=torch)
solutions, with_answer, failing = tools.solutions, tools.with_answer, tools.failing


def test_one_check_per_autograded_cell_of_the_notebook():
    assert tools.graded_ids() == GRADE_IDS
    assert [check.grade_id for check in lesson.checks(0)] == GRADE_IDS


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_the_instructors_solutions_pass_every_check(seed):
    assert failing(solutions(), seed) == {}


def test_inputs_and_shapes_change_with_the_seed():
    a, b = lesson.checks(1), lesson.checks(2)
    assert [c.args for c in a[0].calls] != [c.args for c in b[0].calls]
    shapes = lambda checks: [tuple(c.args[0].shape) for c in checks[2].calls]  # noqa: E731
    assert shapes(a) != shapes(b)


def test_disabled_names_exist():
    for name in lesson.DISABLE:
        assert callable(resolve(name)), name


RIGHT = {
    "ngram_table_size: a loop over the positions": """
        def ngram_table_size(vocab_size, n):
            size = 1
            for _ in range(n):
                size *= vocab_size
            return size
    """,
    "rnn_param_count: factored": """
        def rnn_param_count(num_inputs, num_hiddens, num_outputs):
            h = num_hiddens
            return h * (num_inputs + h + 1 + num_outputs) + num_outputs
    """,
    "rnn_step: one product of the concatenations, float32 inside": """
        def rnn_step(X, H, W_xh, W_hh, b_h):
            XH = torch.cat((X, H), dim=1).float()
            W = torch.cat((W_xh, W_hh), dim=0).float()
            return torch.tanh(XH @ W + b_h.float())
    """,
    "rnn_forward: inline formula, preallocated": """
        def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
            outputs = torch.empty(inputs.shape[0], *H0.shape, dtype=H0.dtype)
            H = H0
            for t in range(inputs.shape[0]):
                H = torch.tanh(inputs[t] @ W_xh + H @ W_hh + b_h)
                outputs[t] = H
            return outputs, H
    """,
    "answer_hidden_state: lower case in a string": 'answer_hidden_state = "a, c, f"',
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_alternatives_pass(name):
    assert failing(with_answer(RIGHT[name])) == {}


WRONG = [
    (
        "ngram: contexts only",
        "test_ngram_table_size",
        "contexts alone",
        """
        def ngram_table_size(vocab_size, n):
            return vocab_size ** (n - 1)
    """,
    ),
    (
        "ngram: base and exponent swapped (a huge int)",
        "test_ngram_table_size",
        "wrong size",
        """
        def ngram_table_size(vocab_size, n):
            return n**vocab_size
    """,
    ),
    (
        "ngram: float",
        "test_ngram_table_size",
        "exact Python int",
        """
        import math
        def ngram_table_size(vocab_size, n):
            return math.pow(vocab_size, n)
    """,
    ),
    (
        "ngram: int of a float",
        "test_ngram_table_size",
        "not exact",
        """
        import math
        def ngram_table_size(vocab_size, n):
            return int(math.pow(vocab_size, n))
    """,
    ),
    (
        "params: W_hh per time step",
        "test_rnn_param_count",
        "add up",
        """
        def rnn_param_count(num_inputs, num_hiddens, num_outputs):
            d, h, q = num_inputs, num_hiddens, num_outputs
            return d * h + 35 * h * h + h + h * q + q
    """,
    ),
    (
        "params: two hidden biases",
        "test_rnn_param_count",
        "twice",
        """
        def rnn_param_count(num_inputs, num_hiddens, num_outputs):
            d, h, q = num_inputs, num_hiddens, num_outputs
            return d * h + h * h + 2 * h + h * q + q
    """,
    ),
    (
        "params: a character model's count (q = d)",
        "test_rnn_param_count",
        "output size",
        """
        def rnn_param_count(num_inputs, num_hiddens, num_outputs):
            d, h = num_inputs, num_hiddens
            return d * h + h * h + h + h * d + d
    """,
    ),
    (
        "step: tanh forgotten",
        "test_rnn_step",
        "forget torch.tanh",
        """
        def rnn_step(X, H, W_xh, W_hh, b_h):
            return X @ W_xh + H @ W_hh + b_h
    """,
    ),
    (
        "step: W_hh transposed",
        "test_rnn_step",
        "W_hh.T",
        """
        def rnn_step(X, H, W_xh, W_hh, b_h):
            return torch.tanh(X @ W_xh + (W_hh @ H.T).T + b_h)
    """,
    ),
    (
        "step: W_hh @ H",
        "test_rnn_step",
        "raised",
        """
        def rnn_step(X, H, W_xh, W_hh, b_h):
            return torch.tanh(X @ W_xh + W_hh @ H + b_h)
    """,
    ),
    (
        "step: right values, H updated in place",
        "test_rnn_step",
        "in place",
        """
        def rnn_step(X, H, W_xh, W_hh, b_h):
            H.copy_(torch.tanh(X @ W_xh + H @ W_hh + b_h))
            return H
    """,
    ),
    (
        "forward: state not carried",
        "test_rnn_forward",
        "starts again from H0",
        """
        def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
            states = [rnn_step(x, H0, W_xh, W_hh, b_h) for x in inputs]
            return torch.stack(states), states[-1]
    """,
    ),
    (
        "forward: starts from zeros",
        "test_rnn_forward",
        "start from zeros",
        """
        def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
            H, states = torch.zeros_like(H0), []
            for x in inputs:
                H = rnn_step(x, H, W_xh, W_hh, b_h)
                states.append(H)
            return torch.stack(states), H
    """,
    ),
    (
        "forward: torch.cat",
        "test_rnn_forward",
        "torch.stack",
        """
        def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
            H, states = H0, []
            for x in inputs:
                H = rnn_step(x, H, W_xh, W_hh, b_h)
                states.append(H)
            return torch.cat(states), H
    """,
    ),
    (
        "forward: H0 updated in place",
        "test_rnn_forward",
        "in place",
        """
        def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
            states = []
            for x in inputs:
                H0.copy_(rnn_step(x, H0, W_xh, W_hh, b_h))
                states.append(H0.clone())
            return torch.stack(states), H0
    """,
    ),
    (
        "question: E added",
        "test_answer_hidden_state",
        "classified wrongly",
        'answer_hidden_state = ["A", "C", "E", "F"]',
    ),
    (
        "question: not letters",
        "test_answer_hidden_state",
        "not statements",
        'answer_hidden_state = ["A", "C", "F", "G"]',
    ),
]


@pytest.mark.parametrize("name, grade_id, words, code", WRONG, ids=[w[0] for w in WRONG])
def test_each_wrong_answer_fails_exactly_its_own_check(name, grade_id, words, code):
    failed = failing(with_answer(code))
    assert set(failed) == {grade_id}, failed
    assert words in failed[grade_id]


def test_a_wrong_step_does_not_cost_rnn_forward():
    """rnn_forward (the instructor's, which calls rnn_step) is graded with a correct step."""
    failed = failing(with_answer("def rnn_step(X, H, W_xh, W_hh, b_h):\n    return X @ W_xh\n"))
    assert set(failed) == {"test_rnn_step"}
    missing = solutions()
    del missing["rnn_step"]  # a student who skipped Exercise 3 entirely
    assert set(failing(missing)) == {"test_rnn_step"}


def test_answers_hard_coded_for_the_visible_examples_fail():
    hard_coded = {
        "test_ngram_table_size": """
            def ngram_table_size(vocab_size, n):
                return {(28, 1): 28, (28, 2): 784, (28, 3): 21952}.get((vocab_size, n), 0)
        """,
        "test_rnn_param_count": """
            def rnn_param_count(num_inputs, num_hiddens, num_outputs):
                return {(28, 32, 28): 2876, (1, 1, 1): 5, (3, 4, 2): 42}.get(
                    (num_inputs, num_hiddens, num_outputs), 0)
        """,
        "test_rnn_step": """
            def rnn_step(X, H, W_xh, W_hh, b_h):
                out = torch.zeros(X.shape[0], W_hh.shape[0])
                out[:, :2] = torch.tensor([0.96402758, 0.46211716])[: out.shape[1]]
                return out
        """,
        "test_rnn_forward": """
            def rnn_forward(inputs, H0, W_xh, W_hh, b_h):
                out = torch.tensor([0.76159416, 0.64201499, 0.56626998])
                out = out[: inputs.shape[0]].reshape(-1, 1, 1).expand(
                    inputs.shape[0], H0.shape[0], H0.shape[1]).clone()
                return out, out[-1]
        """,
    }
    for grade_id, code in hard_coded.items():
        assert set(failing(with_answer(code))) == {grade_id}, grade_id


def test_a_missing_or_unreadable_answer_fails_with_a_message():
    namespace = solutions()
    del namespace["answer_hidden_state"]
    assert "not defined" in failing(namespace)["test_answer_hidden_state"]
    namespace["answer_hidden_state"] = 42
    assert "set of letters" in failing(namespace)["test_answer_hidden_state"]


def test_the_answer_is_read_as_a_set_list_or_string():
    for answer in ({"A", "C", "F"}, frozenset("acf"), ["F", "C", "A"], ("a", "c", "f"), "ACF"):
        assert failing(with_answer(f"answer_hidden_state = {answer!r}")) == {}, answer
    failed = failing(with_answer('answer_hidden_state = {"A", "C"}'))
    assert "1 statement(s) classified wrongly" in failed["test_answer_hidden_state"]
