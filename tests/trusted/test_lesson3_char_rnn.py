"""Lesson 3's trusted checks (grader/trusted/lessons/lesson3_char_rnn.py), run in-process.

The instructor's solutions (exec'd from the source notebook's solution cells) pass every check
for several seeds; right alternatives pass; each typical wrong answer fails exactly its own
check, with a message that names the mistake; answers hard-coded for the visible examples fail;
answers that delegate to a callable in ``DISABLE`` fail once those are disabled (as the sandbox
does before any student code runs: emulated here with monkeypatch).
"""

from __future__ import annotations

import importlib
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from lesson_tools import LessonTools

import course_utils
import course_utils.data
import course_utils.generate
import course_utils.rnn
import course_utils.train
from grader.trusted.harness import outcomes_in_process
from grader.trusted.lessons import _lesson3_sampling as sampling
from grader.trusted.lessons import lesson3_char_rnn as lesson
from grader.trusted.spec import Check

PAIRS, ONEHOT, CLIP = "test_make_lm_pairs", "test_one_hot_inputs", "test_clip_gradients"
STEP, SAMPLE, PREDICT = "test_train_step", "test_sample_next", "test_predict"


# the namespace the setup cells give (torch, F, math, itertools, cu)
tools = LessonTools(
    lesson, seeded_calls=True, torch=torch, F=F, math=math, itertools=itertools, cu=course_utils
)
solutions, with_answer, failing = tools.solutions, tools.with_answer, tools.failing


@pytest.fixture
def disabled(monkeypatch):
    """The DISABLE callables replaced by raising stubs, as in the sandbox."""
    for dotted in lesson.DISABLE:
        module_name, name = dotted.rsplit(".", 1)
        module = importlib.import_module(module_name)

        def stub(*args, _name=dotted, **kwargs):
            raise RuntimeError(f"{_name} is not available while your work is checked")

        monkeypatch.setattr(module, name, stub)


def test_one_check_per_autograded_cell_and_disabled_names_exist():
    assert [check.grade_id for check in lesson.checks(0)] == tools.graded_ids()
    assert all(isinstance(c, Check) and c.calls for c in lesson.checks(0))
    for dotted in lesson.DISABLE:
        module_name, name = dotted.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module_name), name)), dotted


def test_inputs_follow_the_seed():
    def fingerprint(seed):
        return [repr(call.args)[:2000] for check in lesson.checks(seed) for call in check.calls]

    assert fingerprint(3) == fingerprint(3)
    assert fingerprint(3) != fingerprint(4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_instructor_solutions_pass_every_check(seed, disabled):
    assert failing(solutions(), seed) == {}


def catalogue_cases() -> list:
    """Lesson 3's catalogue (tests/catalogue/lesson3_char_rnn.py): right, wrong, delegating and
    pasted-helper answers, each with the test cells it must lose."""
    return list(importlib.import_module("catalogue.lesson3_char_rnn").CASES)


# Catalogue cases the trusted checks cannot judge as the in-kernel tests do, and why.
IN_KERNEL_ONLY = {
    # one call is one step on a fresh model: gradients start as None, zero_grad changes nothing
    "train_step: no optimizer.zero_grad() (gradients add up)": "zero_grad",
}
# Cases that rebind torch functions in the process: only ever run in a kernel of their own.
PROCESS_WIDE = {"hostile: per-tensor clipping, with torch.allclose and torch.equal rebound to pass"}


def _case_params():
    params = []
    for case in catalogue_cases():
        if case.name in PROCESS_WIDE:
            continue
        params.append(pytest.param(case, id=case.name))
    return params


@pytest.mark.parametrize("case", _case_params())
def test_catalogue_cases_get_what_they_deserve(case, disabled):
    """Each case is judged by the check(s) of the function(s) it replaces (no check calls
    another exercise's function: predict and train_step get trusted stand-ins)."""
    assert case.replace and set(case.replace) <= {"make_lm_pairs", "one_hot_inputs",
        "clip_gradients", "train_step", "sample_next", "predict"}  # fmt: skip
    namespace = solutions()
    for source in case.replace.values():
        exec(source, namespace)  # trusted test code: the catalogue's own answers
    judged = {f"test_{name}" for name in case.replace}
    got = {}
    for check in lesson.checks(17):
        if check.grade_id in judged:
            message = check.judge(outcomes_in_process(check.calls, namespace, 17))
            if message is not None:
                got[check.grade_id] = message
    want = set(case.loses) & judged
    if case.name in IN_KERNEL_ONLY:
        want = set()
    assert set(got) == want, got
    if case.name.startswith("hostile: delegating") or "clip_grad_norm_" in case.name:
        assert all("not available" in message for message in got.values()), got


HARD_CODED = {
    PAIRS: """
        def make_lm_pairs(corpus, num_steps):
            rows = {6: (["machin"], ["achine"]), 3: (["the", " ti", "me ", "mac", "hin"],
                                                     ["he ", "tim", "e m", "ach", "ine"])}
            xs, ys = rows.get(num_steps, (["the"], ["he "]))
            enc = course_utils.data.load_corpus(max_tokens=1)[1].encode
            return torch.tensor([enc(w) for w in xs]), torch.tensor([enc(w) for w in ys])
    """,
    STEP: """
        def train_step(model, X, Y, state, optimizer, theta):
            return 1.72928, torch.tensor([-0.21075, -0.23402])
    """,
    CLIP: """
        def clip_gradients(params, theta):
            return 5.0
    """,
}


@pytest.mark.parametrize("grade_id", sorted(HARD_CODED))
def test_answers_hard_coded_for_the_visible_examples_fail(grade_id, disabled):
    namespace = with_answer(HARD_CODED[grade_id])
    namespace["course_utils"] = course_utils
    assert set(failing(namespace, seed=11)) == {grade_id}


def test_delegating_answers_are_right_when_nothing_is_disabled():
    """So the delegating cases lose their cell because of DISABLE, not because they are wrong."""
    delegating = [c for c in catalogue_cases() if c.name.startswith("hostile: delegating")]
    delegating += [c for c in catalogue_cases() if "clip_grad_norm_" in c.name]
    assert len(delegating) >= 4
    for case in delegating:
        namespace = solutions()
        for source in case.replace.values():
            exec(source, namespace)
        judged = {f"test_{name}" for name in case.replace}
        for check in lesson.checks(19):
            if check.grade_id in judged:
                outcomes = outcomes_in_process(check.calls, namespace, 19)
                assert check.judge(outcomes) is None, case.name


def test_predict_replay_accepts_our_text_and_refuses_a_changed_character():
    """The predict judge forgives a draw that float32 rounding breaks the other way (the
    sandboxed model computes in float32, our reference in float64), and nothing else: the text we
    generate replays, and a character changed to one our draw cannot give does not."""
    from grader.trusted.lessons import _lesson3_sampling as sampling

    cases = [c for c in sampling._predict_cases(torch.Generator().manual_seed(5)) if c["n"]]
    for case in cases:
        want = sampling._generate(case, case["seed"])
        assert sampling._replays(case, want, case["seed"])
        at = len(case["prefix"]) + case["n"] // 2
        others = [t for t in case["idx_to_token"] if t not in ("<unk>", want[at])]
        accepted = [
            t
            for t in others
            if sampling._replays(case, want[:at] + t + want[at + 1 :], case["seed"])
        ]
        # at most one other character: the float32 draw, when it differs from the float64 one
        assert len(accepted) <= 1, (case["kind"], accepted)
        assert not sampling._replays(case, want[:-1], case["seed"])


def test_rare_categories_are_pooled_and_impossible_draws_still_fail():
    """Pearson's statistic is only chi-square distributed with enough expected draws per bin:
    one draw of a category expected 0.01 times added 98 to it, and a right sampler failed."""
    from grader.trusted.lessons._lesson3_sampling import _chi2, _limit

    probs = [0.6, 0.3, 0.09, 0.00995, 0.00005]  # 600 draws: 360, 180, 54, 5.97, 0.03 expected
    right = [0] * 360 + [1] * 180 + [2] * 54 + [3] * 5 + [4]  # the 0.03 category drawn once
    stat, df = _chi2(right, probs)
    assert df == 3 and stat <= _limit(df), (stat, df)  # categories 3 and 4 pooled: 6 expected
    wrong = [0] * 200 + [1] * 200 + [2] * 200  # a flat sampler
    stat, df = _chi2(wrong, probs)
    assert stat > _limit(df), (stat, df)
    stat, _ = _chi2([0] * 599 + [4], [0.6, 0.3, 0.09, 0.01, 0.0])  # a category that cannot happen
    assert stat == math.inf


# Secret seeds 0-299 for which the statistic without pooling fails the instructor's sampler (4
# of 300; 5 of 400 with the earlier 300/300/60 draws): with pooling they pass.
ONCE_FALSELY_FAILED = [238, 252, 269, 287]


@pytest.mark.parametrize("seed", ONCE_FALSELY_FAILED)
def test_a_right_sampler_passes_on_seeds_that_once_failed_it(seed):
    check = next(c for c in lesson.checks(seed) if c.grade_id == SAMPLE)
    assert check.judge(outcomes_in_process(check.calls, solutions(), seed)) is None


# (secret seed, predict case) where the exact continuation, computed in float64, differed from
# our float32 one on the machine where they were found (7 of 1,500 seeds, always past the 30th
# character: the chaotic state amplifies float32 rounding). Before the drift-aware margin the
# judge rejected all seven; a float32 model with other kernels (the sandbox's) does the same kind
# of thing, and once failed the instructor's own predict in CI. Where the two runs part depends on
# the CPU's float32 kernels: on another machine of the same kind only one of the seven parted
# within the case's 40 characters. The tests run each case on to DRIFT_CHARS characters, where
# the runs part on most of these seeds on both machines seen (6 of 7 on the second).
DRIFTED = [(174, 4), (261, 4), (524, 4), (607, 4), (909, 3), (1151, 4), (1496, 4)]
DRIFT_CHARS = 120


def _float32_and_float64_runs(seed: int, which: int) -> tuple[dict, str, str]:
    """The predict case run on to DRIFT_CHARS characters, and its float64 and float32 texts."""
    case = sampling._predict_cases(torch.Generator().manual_seed(seed))[which]
    case = dict(case, n=DRIFT_CHARS)
    exact = dict(case, weights={k: v.double() for k, v in case["weights"].items()})
    return case, sampling._generate(exact, case["seed"]), sampling._generate(case, case["seed"])


@pytest.mark.parametrize("seed, which", DRIFTED)
def test_predict_accepts_a_continuation_that_float_rounding_changed(seed, which):
    case, got, _ = _float32_and_float64_runs(seed, which)
    assert sampling._replays(case, got, case["seed"])


def test_the_float64_runs_really_part_from_ours_on_most_drifted_seeds():
    """Without this the test above could pass on a machine where nothing drifts."""
    parted = [sw for sw in DRIFTED if len(set(_float32_and_float64_runs(*sw)[1:])) == 2]
    assert len(parted) >= 4, f"float64 and float32 runs parted only on {parted}"


def test_predict_still_rejects_a_text_one_character_off():
    """The margin grows only where the two runs drift: one character changed early fails."""
    case = sampling._predict_cases(torch.Generator().manual_seed(174))[4]
    want = sampling._generate(case, case["seed"])
    k = len(case["prefix"]) + 2
    letters = [ch for ch in case["idx_to_token"] if len(ch) == 1 and ch != want[k]]
    for other in letters:
        assert not sampling._replays(case, want[:k] + other + want[k + 1 :], case["seed"]), other
