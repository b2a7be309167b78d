"""Lesson 4's trusted checks (grader/trusted/lessons/lesson4_perplexity.py), run in-process.

The instructor's solutions (exec'd from the source notebook's solution cells) pass every check
for several seeds. Every case of the lesson's catalogue (tests/catalogue/lesson4_perplexity.py)
gets the same verdict here as its in-kernel expectation: right alternatives pass every check,
each wrong answer fails exactly the checks it loses, with a message naming the mistake. Answers
hard-coded for the visible worked examples fail, and so does a function that delegates to a
DISABLEd course_utils function.
"""

from __future__ import annotations

import ast
import importlib
import math
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lesson_tools import LessonTools

from grader.trusted.lessons import lesson4_perplexity as lesson
from grader.trusted.spec import Check

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
CATALOGUE = importlib.import_module("catalogue.lesson4_perplexity")

PPL, PROBS, BITS = "test_perplexity", "test_perplexity_from_probs", "test_bits_per_char"
UNI, BI = "test_unigram_perplexity", "test_bigram_perplexity"


# the names the notebook's imports cell provides
tools = LessonTools(lesson, math=math, Counter=Counter, np=np, torch=torch, F=F)
solutions, with_answers, failing = tools.solutions, tools.with_answers, tools.failing


def test_one_check_per_autograded_cell_in_notebook_order():
    checks = lesson.checks(0)
    assert [check.grade_id for check in checks] == tools.graded_ids()
    assert all(isinstance(c, Check) and len(c.calls) >= 5 for c in checks)


def test_inputs_follow_the_seed_shapes_and_sizes_included():
    def fingerprint(seed):
        out = []
        for check in lesson.checks(seed):
            for call in check.calls:
                out.append(
                    tuple(
                        tuple(a.shape) if isinstance(a, torch.Tensor) else
                        len(a) if isinstance(a, list) else a
                        for a in call.args
                    )
                )  # fmt: skip
        return out

    assert fingerprint(3) == fingerprint(3)
    assert fingerprint(3) != fingerprint(4)


@pytest.mark.parametrize("seed", [0, 1, 2, 12345])
def test_instructor_solutions_pass_every_check(seed):
    assert failing(solutions(), seed) == {}


def test_setup_cells_hold_the_imports_the_solutions_use():
    code = [c for c in tools.cells() if c["cell_type"] == "code"][: lesson.SETUP_CELLS]
    text = "\n".join("".join(c["source"]) for c in code)
    for name in ("import math", "Counter", "import torch", "as F", "as np"):
        assert name in text
    assert not any(c["metadata"].get("nbgrader", {}).get("solution") for c in code)


CASES = [
    c
    for c in CATALOGUE.CASES
    if c.replace and c.raw_notebook is None and "delegating" not in c.name
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_catalogue_case_gets_the_same_verdict_from_the_trusted_checks(case):
    """A right alternative passes every check; a wrong answer fails exactly what it loses."""
    got = failing(with_answers(case.replace))
    assert set(got) == set(case.loses), got
    for message in got.values():
        assert "expected" in message or "raised" in message or "return" in message


@pytest.mark.parametrize(
    "grade_id, code, words",
    [
        (
            PPL,
            "def perplexity(logits, targets):\n"
            "    return float(torch.exp(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),"
            " targets.reshape(-1), reduction='sum')))",
            "SUM",
        ),
        (
            PPL,
            "def perplexity(logits, targets):\n"
            "    V = logits.shape[-1]\n"
            "    return float(2 ** F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)))",
            "log bases",
        ),
        (PROBS, "def perplexity_from_probs(p):\n    return float((1 / p).mean())", "averaged 1/p"),
        (BITS, "def bits_per_char(ppl):\n    return math.log10(ppl)", "base 10"),
        (
            UNI,
            "def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):\n"
            "    c = Counter(eval_tokens)\n"
            "    d = len(eval_tokens) + alpha * vocab_size\n"
            "    s = -sum(math.log((c[t] + alpha) / d) for t in eval_tokens)\n"
            "    return math.exp(s / len(eval_tokens))",
            "eval_tokens",
        ),
        (
            BI,
            "def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):\n"
            "    pairs = Counter(zip(train_tokens[:-1], train_tokens[1:]))\n"
            "    starts = Counter(train_tokens)\n"
            "    u = Counter(train_tokens)\n"
            "    d = len(train_tokens) + alpha * vocab_size\n"
            "    s = -math.log((u[eval_tokens[0]] + alpha) / d)\n"
            "    for a, b in zip(eval_tokens[:-1], eval_tokens[1:]):\n"
            "        s -= math.log((pairs[a, b] + alpha) / (starts[a] + alpha * vocab_size))\n"
            "    return math.exp(s / len(eval_tokens))",
            "BIGRAMS starting with a",
        ),
    ],
)
def test_typical_mistakes_fail_their_own_check_with_a_named_hint(grade_id, code, words):
    got = failing(with_answers({grade_id: code}))
    assert set(got) == {grade_id}
    assert words in got[grade_id]


def test_answers_hard_coded_for_the_visible_examples_fail():
    """Each function returns the visible worked answers (looked up by a feature of the input)
    and the instructor's answer for nothing else: every check fails."""
    code = {
        PPL: "def perplexity(logits, targets):\n"
        "    return 28.0 if logits.shape[-1] == 28 else 1.581139",
        PROBS: "def perplexity_from_probs(p):\n"
        "    return {2: 1.581139, 10: 1.0, 7: 28.0}.get(p.numel(), math.inf)",
        BITS: "def bits_per_char(ppl):\n"
        "    return {2.0: 1.0, 1.0: 0.0, 28.0: 4.807355}.get(ppl, 0.0)",
        UNI: "def unigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):\n"
        "    return 3.301927 if vocab_size == 3 else 2.0",
        BI: "def bigram_perplexity(train_tokens, eval_tokens, vocab_size, alpha=1.0):\n"
        "    return 1.75 if len(eval_tokens) == 1 else 1.839283",
    }
    assert set(failing(with_answers(code))) == {PPL, PROBS, BITS, UNI, BI}


def test_returning_a_tensor_a_numpy_float_or_an_int_where_right_is_fine():
    code = {
        PPL: "def perplexity(logits, targets):\n"
        "    V = logits.shape[-1]\n"
        "    return torch.exp(F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)))",
        PROBS: "def perplexity_from_probs(p):\n"
        "    return np.exp(-np.log(p.double().numpy()).mean())",
        BITS: "def bits_per_char(ppl):\n"
        "    return torch.log2(torch.tensor([ppl], dtype=torch.float64))",
    }
    assert failing(with_answers(code)) == {}


def test_non_numbers_and_errors_get_a_message_that_says_so():
    got = failing(
        with_answers(
            {
                PPL: "def perplexity(logits, targets):\n    return 'four'",
                PROBS: "def perplexity_from_probs(p):\n    return torch.log(p)",
                BITS: "def bits_per_char(ppl):\n    raise ValueError('no')",
            }
        )
    )
    assert "single number" in got[PPL] and "str" in got[PPL]
    assert "single number" in got[PROBS] and "tensor of shape" in got[PROBS]
    assert "raised ValueError: no" in got[BITS]


def test_delegating_to_a_disabled_course_utils_function_fails():
    """In the sandbox every DISABLE name raises before student code runs; here a stand-in for
    course_utils.train plays that part, as the runner's stub does."""
    assert lesson.DISABLE == ("course_utils.train.evaluate_perplexity",)
    case = next(c for c in CATALOGUE.CASES if "evaluate_perplexity" in c.name)

    class _Disabled:
        @staticmethod
        def evaluate_perplexity(*args, **kwargs):
            raise RuntimeError("course_utils.train.evaluate_perplexity is not available")

    namespace = with_answers({})
    namespace["cu"] = type("cu", (), {"train": _Disabled})
    exec(textwrap.dedent(case.replace["perplexity"]), namespace)
    got = failing(namespace)
    assert set(got) == {PPL} and "RuntimeError" in got[PPL]


def test_judges_never_import_course_utils():
    tree = ast.parse(Path(lesson.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert imported and not [m for m in imported if m.split(".")[0] == "course_utils"]
