"""Checks for the notebooks' test cells, with messages written for students.

Every check raises ``AssertionError`` with a message that names the function under test, what was
expected, what came, and (through ``hint``) the likely mistake::

    check_shape("rnn_step", H_new, (3, 4), hint="did you multiply H by W_hh, or W_hh by H?")
    # AssertionError: rnn_step: expected a result of shape (3, 4), got (4, 3);
    #                 did you multiply H by W_hh, or W_hh by H?

Hostile submissions: everything these checks rely on (``builtins.abs``, ``isinstance``,
``math.isclose``'s friends, ``torch.Tensor.tolist``, ``Tensor.size``...) is captured when this
module is first imported, which happens in the notebook's first cell, before any student code. A
student who later rebinds ``torch.allclose``, ``torch.testing.assert_close``, ``numpy.allclose``,
``math.isclose`` or ``builtins.abs`` changes nothing here: values are converted to plain Python
numbers with the captured functions and compared in plain Python.

Before a check touches a value it makes it plain: a ``torch.Tensor`` subclass becomes a plain
detached ``torch.Tensor`` (with ``__torch_function__`` and ``__torch_dispatch__`` handling turned
off, so neither the subclass nor a torch function/dispatch mode the student pushed can answer for
it), a ``list``/``tuple``/``str``/``int``/``float`` subclass becomes the plain built-in, and types
are read with ``type(...)``, never with ``isinstance`` (which an object's ``__class__`` can fool).
Its own overrides of ``tolist``, ``detach``, ``__eq__``, ``__sub__``... are never called.

What stays out of reach in-kernel: the student's code shares the process, so it can still rewrite
this module's ``__dict__`` or the test cells themselves. The trusted checks (``grader/trusted/``),
run outside the student's kernel, are what a grade finally rests on.

Grading mode: ``grading_mode()`` is True while nbgrader validates or autogrades a notebook (it sets
``NBGRADER_EXECUTION``); lessons use ``budget(normal, grading)`` to shorten training then.
"""

from __future__ import annotations

import os
import sys as _sys

__all__ = [
    "budget",
    "check_close",
    "check_equal",
    "check_raises",
    "check_shape",
    "check_type",
    "grading_mode",
    "is_close",
    "is_equal",
    "rel_error",
]

# Captured at import time (course_utils/_plain_values.py): a student's later reassignment of any
# of these does not reach us.
from course_utils._plain_values import (  # noqa: E402
    _abs,
    _AssertionError,
    _bool,
    _describe,
    _flat,
    _float,
    _int,
    _is,
    _is_tensor,
    _isinf,
    _isnan,
    _len,
    _max,
    _ndarray,
    _plain,
    _range,
    _ReadOnlyModule,
    _same,
    _scalar,
    _shape_of,
    _short_repr,
    _tensor_shape,
    _tuple,
    _type,
    _zip,
)

_environ_get = os.environ.get


def grading_mode() -> bool:
    """True while nbgrader validates or autogrades (``NBGRADER_EXECUTION`` is set)."""
    return _environ_get("NBGRADER_EXECUTION", "") in ("autograde", "validate") or _bool(
        _environ_get("NBGRADER_VALIDATING", "")
    )


def budget(normal, grading):
    """``grading`` under nbgrader (validate/autograde), ``normal`` otherwise.

    Example: ``train_lm(..., time_budget=budget(20.0, 2.0))`` trains 20 s for a student and 2 s
    while the autograder runs the notebook.
    """
    return grading if grading_mode() else normal


def _fail(fn_name: str, message: str, hint: str = ""):
    text = f"{fn_name}: {message}"
    if hint:
        text += f"; {hint}"
    raise _AssertionError(text)


def _none_check(fn_name: str, got, what: str) -> None:
    if got is None:
        _fail(fn_name, f"returned None instead of the {what}", "did you forget a `return`?")


# ----------------------------------------------------------------------------- checks


def rel_error(x, y) -> float:
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    x, y: tensors, arrays, nested lists or numbers of the same number of elements.
    """
    a = _flat(x, "rel_error", "first argument")
    b = _flat(y, "rel_error", "second argument")
    if _len(a) != _len(b):
        raise ValueError(f"rel_error: x has {_len(a)} elements but y has {_len(b)}")
    worst = 0.0
    for u, v in _zip(a, b):
        if _isnan(u) or _isnan(v):
            return float("nan")
        if u == v:
            continue
        worst = _max(worst, _abs(u - v) / _max(1e-8, _abs(u) + _abs(v)))
    return worst


def check_type(fn_name: str, value, expected_type, hint: str = "") -> None:
    """Fail unless ``value`` is an instance of ``expected_type`` (a type or tuple of types)."""
    if not _is(value, expected_type):
        names = (
            " or ".join(t.__name__ for t in expected_type)
            if _is(expected_type, _tuple)
            else expected_type.__name__
        )
        if value is None:
            hint = hint or "did you forget a `return`?"
        _fail(fn_name, f"expected a {names}, got {_describe(value)}", hint)


def check_shape(fn_name: str, tensor, expected_shape, hint: str = "", what: str = "result") -> None:
    """Fail unless ``tensor`` is a torch tensor of exactly ``expected_shape``."""
    _none_check(fn_name, tensor, what)
    if not _is_tensor(tensor):
        _fail(fn_name, f"expected the {what} to be a torch tensor, got {_describe(tensor)}", hint)
    got = _tensor_shape(tensor)
    want = _tuple(_int(s) for s in expected_shape)
    if got != want:
        _fail(fn_name, f"expected a {what} of shape {want}, got {got}", hint)


def check_close(
    fn_name: str,
    got,
    expected,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hint: str = "",
    what: str = "result",
) -> None:
    """Fail unless ``got`` matches ``expected`` elementwise: ``|g - e| <= atol + rtol * |e|``.

    got, expected: tensors (shapes must match exactly), numpy arrays, or numbers. NaN never
    matches a number; inf matches only the same inf.
    """
    _none_check(fn_name, got, what)
    want_shape = _shape_of(expected)
    got_shape = _shape_of(got)
    if want_shape is not None and _len(want_shape) > 0:
        if got_shape is None:
            _fail(fn_name, f"expected a {what} of shape {want_shape}, got {_describe(got)}", hint)
        if got_shape != want_shape:
            _fail(fn_name, f"expected a {what} of shape {want_shape}, got {got_shape}", hint)
    elif got_shape is not None and _len(got_shape) > 0:
        _fail(fn_name, f"expected a single number for the {what}, got {_describe(got)}", hint)
    g = _flat(got, fn_name, what)
    e = _flat(expected, fn_name, "expected value")
    if _len(g) != _len(e):
        _fail(fn_name, f"expected {_len(e)} numbers in the {what}, got {_len(g)}", hint)
    worst_i, worst_err = -1, 0.0
    for i in _range(_len(g)):
        u, v = _float(g[i]), _float(e[i])
        if _isnan(u):
            if _isnan(v):
                continue
            _fail(fn_name, f"the {what} contains NaN (at flat index {i}), expected {v:.6g}", hint)
        if _isinf(v) or _isinf(u):
            if u == v:
                continue
            _fail(fn_name, f"{what} at flat index {i}: expected {v:.6g}, got {u:.6g}", hint)
        err = _abs(u - v)
        if err > atol + rtol * _abs(v) and err > worst_err:
            worst_i, worst_err = i, err
    if worst_i >= 0:
        u, v = _float(g[worst_i]), _float(e[worst_i])
        where = "" if _len(g) == 1 else f" at flat index {worst_i}"
        _fail(
            fn_name,
            f"{what} is not close enough to the expected value{where}: expected {v:.6g}, "
            f"got {u:.6g} (abs. error {worst_err:.3g}, "
            f"relative error {rel_error(got, expected):.3g})",
            hint,
        )


def check_equal(fn_name: str, got, expected, hint: str = "", what: str = "result") -> None:
    """Fail unless ``got`` equals ``expected`` exactly.

    Works for numbers, strings, (nested) lists/tuples and integer tensors (compared elementwise
    after the shape check). Only built-in equality runs: a value's own ``__eq__`` never does.
    """
    if _is_tensor(expected) or _is(expected, _ndarray):
        _none_check(fn_name, got, what)
        if _shape_of(got) != _shape_of(expected):
            _fail(
                fn_name,
                f"expected a {what} of shape {_shape_of(expected)}, got {_describe(got)}",
                hint,
            )
        g = _flat(got, fn_name, what)
        e = _flat(expected, fn_name, "expected value")
        for i in _range(_len(e)):
            if g[i] != e[i]:
                _fail(fn_name, f"{what} at flat index {i}: expected {e[i]!r}, got {g[i]!r}", hint)
        return
    if _is(expected, (_bool, _int, _float)):
        _none_check(fn_name, got, what)
        value = _scalar(got, fn_name, what)
        if value != _scalar(expected, fn_name, "expected value"):
            _fail(fn_name, f"expected {what} {expected!r}, got {value!r}", hint)
        return
    if _type(got) is not _type(expected) or not _same(_plain(got), _plain(expected)):
        _fail(fn_name, f"expected {what} {_short_repr(expected)}, got {_describe(got)}", hint)


def check_raises(fn_name: str, exc_type, func, *args, hint: str = "", **kwargs) -> None:
    """Fail unless ``func(*args, **kwargs)`` raises ``exc_type``."""
    try:
        func(*args, **kwargs)
    except exc_type:
        return
    except Exception as err:  # the wrong exception
        _fail(
            fn_name,
            f"expected {exc_type.__name__}, but it raised {_type(err).__name__}: {err}",
            hint,
        )
    _fail(fn_name, f"expected {exc_type.__name__} to be raised, but nothing was raised", hint)


def is_close(got, expected, *, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """``check_close`` as a yes/no answer, for test cells that pick a hint or branch on a result.

    Unlike ``torch.allclose``, a student cannot rebind it: it uses the functions captured at import.
    """
    try:
        check_close("is_close", got, expected, rtol=rtol, atol=atol)
    except _AssertionError:
        return False
    return True


def is_equal(got, expected) -> bool:
    """``check_equal`` as a yes/no answer (exact equality, shapes included); see ``is_close``."""
    try:
        check_equal("is_equal", got, expected)
    except _AssertionError:
        return False
    return True


# ``grading.check_close = lambda *a, **k: None`` raises AttributeError. The module's ``__dict__``
# stays reachable (``vars(course_utils.grading)``): no in-kernel check can stop that, which is why
# the grade rests on the trusted checks run outside the student's kernel (grader/trusted/).
_sys.modules[__name__].__class__ = _ReadOnlyModule
