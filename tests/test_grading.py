"""course_utils.grading: checks, student-facing messages, and resistance to monkeypatching."""

from __future__ import annotations

import builtins
import math

import numpy as np
import pytest
import torch

from course_utils import grading
from course_utils.grading import (
    budget,
    check_close,
    check_equal,
    check_raises,
    check_shape,
    check_type,
    grading_mode,
    rel_error,
)


def test_rel_error_zero_for_equal_and_positive_for_different():
    x = torch.tensor([1.0, 2.0, 3.0])
    assert rel_error(x, x.clone()) == 0.0
    # the worst element is the smallest one: 1e-3 / (1 + 1.001)
    assert rel_error(x, x + 1e-3) == pytest.approx(1e-3 / (2 * 1.0 + 1e-3), rel=1e-3)
    assert rel_error(1.0, np.array([1.5])) == pytest.approx(0.5 / 2.5)
    assert math.isnan(rel_error(float("nan"), 1.0))
    with pytest.raises(ValueError, match="3 elements but y has 2"):
        rel_error([1, 2, 3], [1, 2])


def test_check_shape_message_names_function_shapes_and_hint():
    with pytest.raises(AssertionError) as err:
        check_shape("rnn_step", torch.zeros(4, 3), (3, 4), hint="did you multiply W_hh by H?")
    msg = str(err.value)
    assert msg == (
        "rnn_step: expected a result of shape (3, 4), got (4, 3); did you multiply W_hh by H?"
    )
    check_shape("rnn_step", torch.zeros(3, 4), torch.Size([3, 4]))


def test_check_shape_none_and_non_tensor():
    with pytest.raises(AssertionError, match="returned None.*forget a `return`"):
        check_shape("f", None, (1,))
    with pytest.raises(AssertionError, match="to be a torch tensor, got list"):
        check_shape("f", [1.0], (1,))


def test_check_close_accepts_close_and_rejects_far_with_location():
    a = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    check_close("f", a + 1e-7, a)
    b = a.clone()
    b[2, 3] += 0.5
    with pytest.raises(AssertionError) as err:
        check_close("f", b, a, hint="missing tanh?")
    msg = str(err.value)
    assert "flat index 15" in msg and "missing tanh?" in msg and msg.startswith("f: result")


def test_check_close_shape_scalar_nan_inf_and_types():
    with pytest.raises(AssertionError, match=r"shape \(2,\), got \(1, 2\)"):
        check_close("f", torch.zeros(1, 2), torch.zeros(2))
    with pytest.raises(AssertionError, match="single number"):
        check_close("f", torch.zeros(3), 1.0)
    with pytest.raises(AssertionError, match="contains NaN"):
        check_close("f", float("nan"), 1.0)
    check_close("f", float("inf"), float("inf"))
    with pytest.raises(AssertionError, match="expected inf"):
        check_close("f", 1e30, float("inf"))
    check_close("f", torch.tensor(2.0), 2.0)  # 0-d tensor is a number
    check_close("f", np.float32(2.0), 2.0)
    with pytest.raises(AssertionError, match="expected a number.*got str"):
        check_close("f", "2.0", 2.0)
    with pytest.raises(AssertionError, match="returned None"):
        check_close("f", None, 2.0)


def test_check_equal_numbers_strings_and_int_tensors():
    check_equal("f", 28**3, 21952)
    check_equal("f", torch.tensor(5), 5)
    with pytest.raises(AssertionError, match="expected result 21952, got 784"):
        check_equal("f", 784, 21952)
    check_equal("predict", "time traveller", "time traveller")
    with pytest.raises(AssertionError, match="expected result 'abc', got str 'abd'"):
        check_equal("predict", "abd", "abc")
    check_equal("f", torch.tensor([[1, 2]]), torch.tensor([[1, 2]]))
    with pytest.raises(AssertionError, match="flat index 1: expected 2, got 3"):
        check_equal("f", torch.tensor([[1, 3]]), torch.tensor([[1, 2]]))
    with pytest.raises(AssertionError, match=r"shape \(1, 2\)"):
        check_equal("f", torch.tensor([1, 2]), torch.tensor([[1, 2]]))


def test_check_type_and_raises():
    check_type("f", 3, int)
    with pytest.raises(AssertionError, match="expected a int or float, got str"):
        check_type("f", "3", (int, float))
    with pytest.raises(AssertionError, match="forget a `return`"):
        check_type("f", None, float)
    check_raises("sample_next", ValueError, lambda t: (_ for _ in ()).throw(ValueError()), -1)
    with pytest.raises(AssertionError, match="expected ValueError to be raised, but nothing"):
        check_raises("sample_next", ValueError, lambda t: 0, -1)
    with pytest.raises(AssertionError, match="but it raised TypeError"):
        check_raises("sample_next", ValueError, lambda t: None + 1, -1)


def test_grading_mode_and_budget(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("NBGRADER_VALIDATING", raising=False)
    assert not grading_mode() and budget(20, 2) == 20
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert grading_mode() and budget(20, 2) == 2
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    assert grading_mode()


def _outcome(check, *args, **kwargs):
    try:
        check(*args, **kwargs)
    except AssertionError as err:
        return str(err)
    return "passed"


def test_hostile_rebinding_does_not_fool_the_checks():
    """A student rebinds the usual comparison helpers to pass anything; checks still fail."""
    always = lambda *a, **k: True  # noqa: E731
    patches = [
        (torch, "allclose", always),
        (torch, "equal", always),
        (torch.testing, "assert_close", lambda *a, **k: None),
        (np, "allclose", always),
        (math, "isclose", always),
        (builtins, "abs", lambda x: 0),
        (builtins, "isinstance", always),
        (torch.Tensor, "tolist", lambda self: [0.0]),
        (torch.Tensor, "size", lambda self, *a: torch.Size([2, 2])),
    ]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    wrong, right = torch.zeros(2, 2), torch.ones(2, 2)
    try:  # restore before any assertion: pytest itself needs the real builtins
        for obj, name, fake in patches:
            setattr(obj, name, fake)
        close = _outcome(check_close, "f", wrong, right)
        equal = _outcome(check_equal, "f", torch.tensor([1, 2]), torch.tensor([1, 3]))
        shape = _outcome(check_shape, "f", torch.zeros(4, 3), (3, 4))
        err = grading.rel_error(wrong, right)
    finally:
        for obj, name, original in saved:
            setattr(obj, name, original)
    assert "not close enough" in close
    assert "expected 3, got 2" in equal
    assert "shape (3, 4), got (4, 3)" in shape
    assert err == 1.0


def test_float_subclass_cannot_lie_about_its_value():
    class Liar(float):
        def __sub__(self, other):
            return 0.0

        def __float__(self):
            return 2.0

    with pytest.raises(AssertionError, match="expected 2, got 1"):
        check_close("f", Liar(1.0), 2.0)


def test_is_close_and_is_equal_answer_yes_or_no_even_when_torch_is_patched(monkeypatch):
    a = torch.tensor([1.0, 2.0])
    assert grading.is_close(a, a + 1e-7) and not grading.is_close(a, a + 1.0)
    assert not grading.is_close(a, torch.ones(3))  # shape mismatch is "no", not an error
    assert grading.is_equal(torch.tensor([1, 2]), torch.tensor([1, 2]))
    assert not grading.is_equal(torch.tensor([1, 2]), torch.tensor([1, 3]))
    assert grading.is_equal("abc", "abc") and not grading.is_equal(3, 4)
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(torch, "equal", lambda *a, **k: True)
    assert not grading.is_close(a, a + 1.0)
    assert not grading.is_equal(torch.tensor([1, 2]), torch.tensor([1, 3]))


def test_the_module_refuses_rebinding_its_checks():
    import course_utils.grading as g

    with pytest.raises(AttributeError, match="cannot be replaced"):
        g.check_close = lambda *a, **k: None
    with pytest.raises(AttributeError, match="cannot be deleted"):
        del g.check_shape
    with pytest.raises(AssertionError):
        g.check_close("f", 1.0, 2.0)


# ----------------------------------------------------------------------------- hostile values
# Attacks on the values themselves: what a student's function returns may be a Tensor subclass,
# a list or str subclass, or the student may have pushed a torch function/dispatch mode that
# answers for every tensor. Each attack is kept as a test: the checks must see the real values.


class _LyingTensor(torch.Tensor):
    """Every torch function on it answers what a cheat would want: tolist gives the expected
    ones, size gives the expected shape, comparisons say True, detach/cpu give ones."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name == "tolist":
            return [[1.0, 1.0], [1.0, 1.0]]
        if name in ("size", "__get__") or name == "shape":
            return torch.Size([2, 2])
        if name in ("eq", "__eq__", "allclose", "equal", "isclose"):
            return True
        return torch.ones(2, 2)

    def detach(self):
        return torch.ones(2, 2)

    def tolist(self):
        return [[1.0, 1.0], [1.0, 1.0]]

    def __eq__(self, other):
        return True


def test_a_lying_tensor_subclass_is_compared_by_its_real_values():
    liar = torch.zeros(2, 2).as_subclass(_LyingTensor)  # really zeros
    assert type(liar) is _LyingTensor and liar.tolist() == [[1.0, 1.0], [1.0, 1.0]]  # it lies
    with pytest.raises(AssertionError, match="expected 1, got 0"):
        check_close("f", liar, torch.ones(2, 2))
    assert not grading.is_close(liar, torch.ones(2, 2))
    assert not grading.is_equal(
        torch.zeros(2, 2, dtype=torch.long).as_subclass(_LyingTensor),
        torch.ones(2, 2, dtype=torch.long),
    )
    assert grading.rel_error(liar, torch.ones(2, 2)) == 1.0
    wrong_shape = torch.zeros(4, 3).as_subclass(_LyingTensor)
    with pytest.raises(AssertionError, match=r"shape \(2, 2\), got \(4, 3\)"):
        check_shape("f", wrong_shape, (2, 2))
    with pytest.raises(AssertionError, match="expected 1, got 0"):
        check_close("f", torch.tensor(0.0).as_subclass(_LyingTensor), 1.0)


def test_an_honest_tensor_subclass_still_passes():
    value = torch.nn.Parameter(torch.tensor([1.0, 2.0]))  # requires grad, a Tensor subclass
    check_close("f", value, torch.tensor([1.0, 2.0]))
    check_shape("f", value, (2,))
    check_equal("f", torch.tensor([3, 4]).as_subclass(_LyingTensor), torch.tensor([3, 4]))


def test_torch_function_and_dispatch_modes_cannot_answer_for_tensors():
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    class LyingFunctions(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") == "tolist":
                return [1.0, 1.0]
            return func(*args, **(kwargs or {}))

    class LyingDispatch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            return torch.ones_like(out) if "detach" in str(func) or "alias" in str(func) else out

    got, want = torch.zeros(2), torch.ones(2)
    with LyingFunctions():
        assert got.tolist() == [1.0, 1.0]  # the mode lies...
        function_mode = _outcome(check_close, "f", got, want)
    with LyingDispatch():
        assert got.detach().tolist() == [1.0, 1.0]  # ...and so does this one
        dispatch_mode = _outcome(check_close, "f", got, want)
    assert "expected 1, got 0" in function_mode
    assert "expected 1, got 0" in dispatch_mode


def test_an_object_posing_as_a_tensor_is_not_one():
    class Poser:
        __class__ = torch.Tensor  # isinstance(Poser(), torch.Tensor) is True

        def tolist(self):
            return [1.0, 1.0]

    assert isinstance(Poser(), torch.Tensor)
    with pytest.raises(AssertionError, match="to be a torch tensor, got Poser"):
        check_shape("f", Poser(), (2,))
    with pytest.raises(AssertionError, match="expected a int, got IntPoser"):
        check_type("f", type("IntPoser", (), {"__class__": int})(), int)
    assert not grading.is_close(Poser(), torch.ones(2))


def test_list_and_str_subclasses_cannot_lie_about_equality():
    class AlwaysEqualList(list):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        def __iter__(self):
            return iter([1, 2, 3])

    class AlwaysEqualStr(str):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        __hash__ = str.__hash__

    with pytest.raises(AssertionError, match="expected result"):
        check_equal("f", AlwaysEqualStr("abd"), "abc")
    # a list subclass is not a list (types must match), and its items are read without __iter__
    assert not grading.is_equal(AlwaysEqualList(["x"]), [1, 2, 3])
    assert not grading.is_equal([AlwaysEqualStr("B")], ["A"])
    assert grading.is_equal([AlwaysEqualStr("A")], ["A"])  # equal when the value is equal
    assert grading.rel_error(AlwaysEqualList([0.0]), [1.0]) == 1.0
