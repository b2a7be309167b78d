"""Lesson 5's trusted checks (grader/trusted/lessons/lesson5_bptt.py), run in-process.

The instructor's solutions (exec'd from the source notebook's solution cells) pass every check for
several seeds; right alternatives pass; each typical wrong answer fails exactly its own check, with
a message naming the mistake; a wrong rnn_step_backward does not cost rnn_backward (a right step is
swapped in); autograd inside the backward exercises is refused; answers hard-coded for the visible
examples fail.
"""

from __future__ import annotations

import pytest
import torch
from catalogue import lesson5_bptt as catalogue
from lesson_tools import LessonTools

import course_utils
import course_utils.rnn
from grader.in_sandbox.calls import resolve
from grader.trusted.lessons import lesson5_bptt as lesson

GRADE_IDS = [
    "test_rnn_step_backward",
    "test_rnn_backward",
    "test_state_jacobian_norms",
    "test_train_step",
]


tools = LessonTools(lesson, torch=torch, F=torch.nn.functional, cu=course_utils)
solutions, with_answer, failing = tools.solutions, tools.with_answer, tools.failing


def test_one_check_per_autograded_cell_of_the_notebook():
    assert tools.graded_ids() == GRADE_IDS
    assert [check.grade_id for check in lesson.checks(0)] == GRADE_IDS


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_the_instructors_solutions_pass_every_check(seed):
    assert failing(solutions(), seed) == {}


def test_inputs_and_shapes_change_with_the_seed():
    a, b = lesson.checks(1), lesson.checks(2)
    shapes = lambda checks, i: [tuple(c.args[1].shape) for c in checks[i].calls]  # noqa: E731
    assert shapes(a, 0) != shapes(b, 0)
    assert shapes(a, 1) != shapes(b, 1)
    assert [c.args[1].shape for c in a[2].calls] != [c.args[1].shape for c in b[2].calls]


def test_disabled_names_exist():
    for name in lesson.DISABLE:
        assert callable(resolve(name)), name


# The catalogue's cases (tests/catalogue/lesson5_bptt.py) are the right alternatives, typical
# mistakes and hostile answers; here each one meets the trusted checks alone. One mistake only the
# notebook's tests see in the kernel: old gradients never cleared (a trusted Model arrives without
# gradients). ``numerical_gradient`` is disabled only in the sandbox, so its case is tested below
# with the stub in place.
KERNEL_ONLY = {"train_step: old gradients never cleared"}
SANDBOX_ONLY = {"hostile: delegating to course_utils (numerical_gradient in float64)"}
# Words the message must hold, for some cases: the hint names the mistake.
WORDS = {
    "rnn_step_backward: tanh derivative skipped": "1 - H_new**2 first",
    "rnn_step_backward: derivative from H_prev": "NEW state",
    "rnn_step_backward: W_hh not transposed for dH_prev": "W_hh.T",
    "rnn_step_backward: dW_hh from H_new": "not H_new",
    "rnn_step_backward: db_h averaged over the batch": "not the mean",
    "rnn_backward: no gradient carried between steps": "dH_all[t] plus",
    "rnn_backward: H_prev off by one (H_all[t])": "H_all[t - 1]",
    "state_jacobian_norms: Frobenius norms": "Frobenius",
    "state_jacobian_norms: product of the norms (an upper bound)": "J_T J_(T-1)",
    "train_step: no clipping": "clip_grad_norm_",
    "hostile: delegating to torch.autograd.grad": "by hand",
    "hostile: delegating to Tensor.backward": "by hand",
    "hostile: state_jacobian_norms through torch.autograd.functional.jacobian": "by hand",
}


CASES = [pytest.param(c, id=c.name) for c in catalogue.CASES if c.name not in SANDBOX_ONLY]


@pytest.mark.parametrize("case", CASES)
def test_every_catalogue_case_meets_the_trusted_checks_as_expected(case):
    failed = failing(with_answer("\n".join(case.replace.values())))
    expected = set() if case.name in KERNEL_ONLY else set(case.loses)
    assert set(failed) == expected, failed
    if case.name in WORDS:
        assert WORDS[case.name] in next(iter(failed.values())), failed


def test_numerical_gradient_delegation_fails_once_disabled(monkeypatch):
    import course_utils.gradcheck

    def disabled(*args, **kwargs):
        raise RuntimeError("course_utils.gradcheck.numerical_gradient is not available")

    monkeypatch.setattr(course_utils.gradcheck, "numerical_gradient", disabled)
    (case,) = [c for c in catalogue.CASES if c.name in SANDBOX_ONLY]
    assert set(failing(with_answer("\n".join(case.replace.values())))) == set(case.loses)


STEP = "def rnn_step_backward(dH, X, H_prev, H_new, W_xh, W_hh):\n"


def test_a_wrong_step_does_not_cost_rnn_backward():
    failed = failing(with_answer(STEP + "    return dH, dH, W_xh, W_hh, dH.sum(0)\n"))
    assert set(failed) == {"test_rnn_step_backward"}, failed


def test_functional_autograd_is_refused_in_state_jacobian_norms():
    namespace = with_answer("""
        def state_jacobian_norms(W_hh, H_all):
            out = []
            P = torch.eye(W_hh.shape[0], dtype=W_hh.dtype)
            for t in reversed(range(H_all.shape[0])):
                H = H_all[t].clone().requires_grad_()
                J = torch.diag(1 - H.detach() ** 2) @ W_hh.T
                P = P @ J
                out.append(torch.linalg.matrix_norm(P, ord=2))
            return torch.stack(out)
    """)
    failed = failing(namespace)
    assert set(failed) == {"test_state_jacobian_norms"}, failed
    assert "by hand" in failed["test_state_jacobian_norms"]
