"""Lesson 2's trusted checks (grader/trusted/lessons/lesson2_concat.py), run in-process.

The instructor's solutions (exec'd from the source notebook's solution cells) pass every check
for several seeds; right alternatives pass; each typical wrong answer fails exactly its own
check(s), with a message that names the mistake; answers hard-coded for the visible examples fail.
"""

from __future__ import annotations

import json

import lesson_tools
import pytest
import torch
from lesson_tools import LessonTools
from torch import nn

from grader.trusted.lessons import lesson2_concat as lesson
from grader.trusted.spec import Check

tools = LessonTools(lesson, torch=torch, nn=nn)
solutions, with_answer, failing = tools.solutions, tools.with_answer, tools.failing
ROOT, SOURCE = lesson_tools.ROOT, tools.source

SEP = "test_preactivation_separate"
CAT = "test_preactivation_concat"
ONE = "test_preactivation_concat_one_product"
SPLIT = "test_split_weights"
RNN = "test_to_torch_rnn"


def test_one_check_per_autograded_cell():
    got = [check.grade_id for check in lesson.checks(0)]
    assert got == tools.graded_ids()
    assert all(isinstance(c, Check) and c.calls for c in lesson.checks(0))


def test_inputs_follow_the_seed_shapes_included():
    def shapes(seed):
        return [
            tuple(tuple(a.shape) for a in call.args if isinstance(a, torch.Tensor))
            for check in lesson.checks(seed)
            for call in check.calls
        ]

    assert shapes(3) == shapes(3)
    assert shapes(3) != shapes(4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_instructor_solutions_pass(seed):
    assert failing(solutions(), seed) == {}


RIGHT = {
    "separate with torch.mm and torch.add": """
def preactivation_separate(X, H, W_xh, W_hh):
    return torch.add(torch.mm(X, W_xh), torch.mm(H, W_hh))
""",
    "separate in float64": """
def preactivation_separate(X, H, W_xh, W_hh):
    return X.double() @ W_xh.double() + H.double() @ W_hh.double()
""",
    "concat with hstack, vstack and einsum": """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.einsum("bk,kh->bh", torch.hstack((X, H)), torch.vstack((W_xh, W_hh)))
""",
    "concat with F.linear on the transposed stack": """
def preactivation_concat(X, H, W_xh, W_hh):
    W = torch.cat((W_xh, W_hh), dim=0)
    return torch.nn.functional.linear(torch.cat((X, H), dim=1), W.T)
""",
    "split with torch.split": """
def split_weights(W, num_inputs):
    return torch.split(W, [num_inputs, W.shape[0] - num_inputs], dim=0)
""",
    "split as a list of copies": """
def split_weights(W, num_inputs):
    return [W[:num_inputs].clone(), W[num_inputs:].clone()]
""",
    "to_torch_rnn with load_state_dict, bias in the recurrent half": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(*W_xh.shape)
    rnn.load_state_dict({"weight_ih_l0": W_xh.T, "weight_hh_l0": W_hh.T,
                         "bias_ih_l0": torch.zeros_like(b_h), "bias_hh_l0": b_h})
    return rnn
""",
    "to_torch_rnn with an uneven bias split": """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1])
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh.T)
        rnn.bias_ih_l0.copy_(b_h - 0.3)
        rnn.bias_hh_l0.fill_(0.3)
    return rnn
""",
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_alternatives_pass(name):
    assert failing(with_answer(RIGHT[name]), seed=5) == {}


def rnn_answer(options="", weight_hh="W_hh.T", bias_hh="torch.zeros_like(b_h)", cls="nn.RNN"):
    """A to_torch_rnn that loads a state_dict, with one part changed (a wrong answer, mostly)."""
    return f"""
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = {cls}(W_xh.shape[0], W_xh.shape[1]{options})
    rnn.load_state_dict({{"weight_ih_l0": W_xh.T, "weight_hh_l0": {weight_hh},
                         "bias_ih_l0": b_h, "bias_hh_l0": {bias_hh}}})
    return rnn
"""


# name -> (code, the checks it must fail, a word its first message must contain)
WRONG = {
    "separate with tanh": (
        """
def preactivation_separate(X, H, W_xh, W_hh):
    return torch.tanh(X @ W_xh + H @ W_hh)
""",
        {SEP},
        "tanh",
    ),
    "separate with W_hh transposed": (
        """
def preactivation_separate(X, H, W_xh, W_hh):
    return X @ W_xh + H @ W_hh.T
""",
        {SEP},
        "transposed",
    ),
    "separate without the memory term": (
        """
def preactivation_separate(X, H, W_xh, W_hh):
    return X @ W_xh
""",
        {SEP},
        "H @ W_hh is missing",
    ),
    "separate changes X in place": (
        """
def preactivation_separate(X, H, W_xh, W_hh):
    out = X @ W_xh + H @ W_hh
    X.zero_()
    return out
""",
        {SEP},
        "in place",
    ),
    "concat along dim 0 for X and H": (
        """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.cat((X, H), dim=0) @ torch.cat((W_xh, W_hh), dim=0)
""",
        {CAT, ONE},
        "dim=1",
    ),
    "concat with the weights side by side": (
        """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.cat((X, H), dim=1) @ torch.cat((W_xh, W_hh), dim=1)
""",
        {CAT, ONE},
        "dim=0",
    ),
    "concat with the blocks in different orders": (
        """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.cat((H, X), dim=1) @ torch.cat((W_xh, W_hh), dim=0)
""",
        {CAT},
        "order",
    ),
    "concat that is the separate form again": (
        """
def preactivation_concat(X, H, W_xh, W_hh):
    return X @ W_xh + H @ W_hh
""",
        {ONE},
        "2 matrix products",
    ),
    "concat, then the pieces multiplied separately": (
        """
def preactivation_concat(X, H, W_xh, W_hh):
    d = X.shape[1]
    XH, W = torch.cat((X, H), 1), torch.cat((W_xh, W_hh), 0)
    return XH[:, :d] @ W[:d] + XH[:, d:] @ W[d:]
""",
        {ONE},
        "separate form",
    ),
    "concat without any torch product": (
        """
def preactivation_concat(X, H, W_xh, W_hh):
    XH, W = torch.cat((X, H), 1), torch.cat((W_xh, W_hh), 0)
    return (XH[:, :, None] * W[None]).sum(dim=1)
""",
        {ONE},
        "no matrix product",
    ),
    "split along the columns": (
        """
def split_weights(W, num_inputs):
    return W[:, :num_inputs], W[:, num_inputs:]
""",
        {SPLIT},
        "ROWS",
    ),
    "split in the wrong order": (
        """
def split_weights(W, num_inputs):
    return W[num_inputs:], W[:num_inputs]
""",
        {SPLIT},
        "swapped",
    ),
    "split after num_hiddens rows": (
        """
def split_weights(W, num_inputs):
    return W[:W.shape[1]], W[W.shape[1]:]
""",
        {SPLIT},
        "num_hiddens rows",
    ),
    "rnn with the transposes forgotten": (rnn_answer(weight_hh="W_hh"), {RNN}, "W_hh.T"),
    "rnn with b_h in both biases": (rnn_answer(bias_hh="b_h"), {RNN}, "both biases"),
    "rnn batch first": (rnn_answer(", batch_first=True"), {RNN}, "batch_first"),
    "rnn with relu": (rnn_answer(', nonlinearity="relu"'), {RNN}, "tanh"),
    "rnn never given the weights": (
        """
def to_torch_rnn(W_xh, W_hh, b_h):
    return nn.RNN(W_xh.shape[0], W_xh.shape[1])
""",
        {RNN},
        "weight_ih_l0",
    ),
    "rnn as a GRU": (
        """
def to_torch_rnn(W_xh, W_hh, b_h):
    return nn.GRU(W_xh.shape[0], W_xh.shape[1])
""",
        {RNN},
        "nn.RNN",
    ),
    "rnn subclass": ("class MyRNN(nn.RNN):\n    pass\n" + rnn_answer(cls="MyRNN"), {RNN}, "nn.RNN"),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_answers_fail_exactly_their_checks(name):
    code, fails, word = WRONG[name]
    got = failing(with_answer(code), seed=7)
    assert set(got) == fails, got
    assert any(word in message for message in got.values()), got


# Answers that return what the visible test cells expect, whatever the inputs.
HARD_CODED = {
    "separate": (
        """
def preactivation_separate(X, H, W_xh, W_hh):
    return torch.tensor([[5.0, 0.0], [1.0, 3.0]])
""",
        {SEP},
    ),
    "concat": (
        """
def preactivation_concat(X, H, W_xh, W_hh):
    return torch.cat((torch.ones(2, 3), torch.ones(2, 2)), 1) @ torch.ones(5, 2) * 0 + torch.tensor(
        [[5.0, 0.0], [1.0, 3.0]])
""",
        {CAT},
    ),
    "split": (
        """
def split_weights(W, num_inputs):
    W = torch.arange(15.0).reshape(5, 3)
    return W[:2], W[2:]
""",
        {SPLIT},
    ),
    "rnn": (
        """
def to_torch_rnn(W_xh, W_hh, b_h):
    rnn = nn.RNN(2, 3)
    rnn.load_state_dict({
        "weight_ih_l0": torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]]),
        "weight_hh_l0": torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        "bias_ih_l0": torch.tensor([0.5, -1.0, 2.0]), "bias_hh_l0": torch.zeros(3)})
    return rnn
""",
        {RNN},
    ),
}


@pytest.mark.parametrize("name", sorted(HARD_CODED))
def test_answers_hard_coded_for_the_visible_examples_fail(name):
    code, fails = HARD_CODED[name]
    assert set(failing(with_answer(code), seed=11)) == fails


def test_a_missing_function_fails_with_its_name():
    namespace = solutions()
    del namespace["split_weights"]
    got = failing(namespace)
    assert set(got) == {SPLIT}
    assert "split_weights" in got[SPLIT]


HOSTILE = {
    "the visible call_concat helper pasted, pointed at preactivation_separate": (
        """
def preactivation_concat(X, H, W_xh, W_hh):
    try:
        return preactivation_separate(X, H, W_xh, W_hh)
    except RuntimeError as err:
        raise AssertionError(f"preactivation_concat raised RuntimeError: {err}") from None
""",
        {ONE},
    ),
    "frame peeking: any tensor of the right shape up the stack": (
        """
import sys

def preactivation_separate(X, H, W_xh, W_hh):
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, torch.Tensor) and value.shape == (X.shape[0], W_hh.shape[1]):
                return value
        frame = frame.f_back
    return torch.zeros(X.shape[0], W_hh.shape[1])
""",
        {SEP},
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_answers_gain_nothing(name):
    code, fails = HOSTILE[name]
    assert set(failing(with_answer(code), seed=13)) == fails


@pytest.mark.slow
def test_through_the_sandbox_solutions_pass_and_a_wrong_answer_fails_its_check():
    from grader.trusted.harness import run_checks

    source = ROOT / "source"
    verdicts = run_checks("lesson2_concat", SOURCE, source, seed=21, unsafe=False)
    assert [v.message for v in verdicts if not v.passed] == []
    notebook = json.loads(SOURCE.read_text())
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "to_torch_rnn":
            cell["source"] = rnn_answer(weight_hh="W_hh")
    failed = {
        v.grade_id: v.message
        for v in run_checks("lesson2_concat", notebook, source, seed=22, unsafe=False)
        if not v.passed
    }
    assert set(failed) == {RNN}
    assert "W_hh.T" in failed[RNN]
