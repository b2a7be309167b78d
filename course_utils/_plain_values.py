"""Plain values for course_utils.grading: what a check compares, made from what a student returned.

Everything here is captured when the module is first imported (the notebook's first cell, before
any student code): built-ins, ``torch.Tensor``'s base-class methods, numpy's. A value is turned
into plain Python data before any comparison: a ``torch.Tensor`` (subclasses too) is read as a
plain, detached CPU tensor with ``__torch_function__``/``__torch_dispatch__`` handling switched
off, so neither a subclass nor a mode the student pushed can answer for it; list/tuple/str/int/
float subclasses become the built-ins; types are read with ``type``, never ``isinstance``. No
``__eq__``, ``__iter__``, ``tolist`` or ``detach`` of the student's objects ever runs.

Shapes: ``_shape_of`` gives a tuple of ints (or None for a number); ``_flat`` a flat list of
Python numbers in row-major order.
"""

from __future__ import annotations

import builtins
import math
import sys

import numpy as np
import torch

_abs = builtins.abs
_all = builtins.all
_bool = builtins.bool
_float = builtins.float
_int = builtins.int
_issubclass = builtins.issubclass
_len = builtins.len
_max = builtins.max
_range = builtins.range
_repr = builtins.repr
_str = builtins.str
_tuple = builtins.tuple
_type = builtins.type
_zip = builtins.zip
_AssertionError = builtins.AssertionError
_list = builtins.list
_list_copy = builtins.list.copy
_tuple_getitem = builtins.tuple.__getitem__
_str_new = builtins.str.__str__
_str_eq = builtins.str.__eq__
_slice_all = builtins.slice(None)
_isnan = math.isnan
_isinf = math.isinf
_Tensor = torch.Tensor
_tensor_tolist = torch.Tensor.tolist
_tensor_size = torch.Tensor.size
_tensor_detach = torch.Tensor.detach
_tensor_cpu = torch.Tensor.cpu
_tensor_is_complex = torch.Tensor.is_complex
_tensor_dtype = torch.Tensor.dtype.__get__
_tensor_as_subclass = torch.Tensor.as_subclass
_tensor_device = torch.Tensor.device.__get__
_no_torch_function = torch._C.DisableTorchFunction  # subclasses and modes both ignored
_no_torch_dispatch = torch._C._DisableTorchDispatch  # dispatch modes/subclasses ignored
_ndarray = np.ndarray
_ndarray_tolist = np.ndarray.tolist
_ndarray_shape = np.ndarray.shape.__get__
_np_generic = np.generic
_np_generic_item = np.generic.item
_float_value = float.__float__
_int_value = int.__int__


def _is(x, cls) -> bool:
    """``isinstance`` that an object's ``__class__`` attribute cannot fool."""
    return _issubclass(_type(x), cls)


def _is_tensor(x) -> bool:
    return _is(x, _Tensor)


def _plain_tensor(x):
    """A plain, detached ``torch.Tensor`` on the CPU with the values of tensor ``x``.

    Neither a subclass's ``__torch_function__``/``__torch_dispatch__`` nor a mode pushed by the
    student runs: both are switched off while the base-class methods captured at import run.
    """
    with _no_torch_function(), _no_torch_dispatch():
        t = _tensor_as_subclass(x, _Tensor) if _type(x) is not _Tensor else x
        t = _tensor_detach(t)
        if _tensor_device(t).type != "cpu":
            t = _tensor_cpu(t)
    return t


def _tensor_values(x) -> list | float | int | bool:
    """``tolist()`` of tensor ``x``, read from a plain copy (see ``_plain_tensor``)."""
    t = _plain_tensor(x)
    with _no_torch_function(), _no_torch_dispatch():
        if _tensor_is_complex(t):
            return None
        return _tensor_tolist(t)


def _tensor_shape(x) -> tuple:
    with _no_torch_function(), _no_torch_dispatch():
        return _tuple(_int(s) for s in _tensor_size(_plain_tensor(x)))


def _plain_sequence(x) -> list:
    """The items of a list or tuple (subclasses too) as a plain list, without its ``__iter__``."""
    if _is(x, _list):
        return _list_copy(x)
    return _list_copy(_list(_tuple_getitem(x, _slice_all)))


def _shape_of(x):
    """Shape as a tuple of ints, or None for a Python scalar."""
    if _is_tensor(x):
        return _tensor_shape(x)
    if _is(x, _ndarray):
        return _tuple(_ndarray_shape(x))
    return None


def _scalar(x, fn_name: str, what: str):
    """A plain Python number (bool, int, float) from a Python/numpy/0-d torch scalar."""
    t = _type(x)
    if t is _bool or t is _int or t is _float:
        return x
    if _issubclass(t, _bool):
        return _bool(_int_value(x))
    if _issubclass(t, _int):
        return _int_value(x)
    if _issubclass(t, _float):
        return _float_value(x)
    if _is(x, _np_generic):
        return _scalar(_np_generic_item(x), fn_name, what)
    if _is_tensor(x) and _len(_tensor_shape(x)) == 0:
        value = _tensor_values(x)
        if value is None:
            raise _AssertionError(f"{fn_name}: the {what} is complex; expected a real number")
        return value
    raise _AssertionError(
        f"{fn_name}: expected a number for the {what}, got {_describe(x)}; return a Python "
        "number (int or float), e.g. with float(...) or .item()"
    )


def _flat(x, fn_name: str, what: str) -> list:
    """A flat list of plain Python numbers from a tensor, array, list or scalar."""
    if _is_tensor(x):
        data = _tensor_values(x)
        if data is None:
            raise _AssertionError(f"{fn_name}: the {what} is complex; expected real numbers")
    elif _is(x, _ndarray):
        data = _ndarray_tolist(x)
    elif _is(x, (_list, _tuple)):
        data = _plain_sequence(x)
    else:
        return [_scalar(x, fn_name, what)]
    out = []
    stack = [data]
    while stack:  # iterative flatten, depth-first, order preserved
        item = stack.pop()
        if _is(item, (_list, _tuple)):
            items = _plain_sequence(item)
            items.reverse()
            stack.extend(items)
        else:
            out.append(_scalar(item, fn_name, what))
    return out


def _plain(x, depth: int = 0):
    """``x`` rebuilt from plain built-ins (for ``check_equal`` on strings and nested lists):
    str/int/float/bool subclasses become the base type, list/tuple subclasses plain lists/tuples
    of plain items. Anything else comes back unchanged."""
    t = _type(x)
    if x is None or t is _str or t is _bool or t is _int or t is _float:
        return x
    if depth > 50:
        raise _AssertionError("the value is nested too deeply to compare")
    if _issubclass(t, _str):
        return _str_new(x)
    if _issubclass(t, (_bool, _int, _float)):
        return _scalar(x, "", "")
    if _issubclass(t, (_list, _tuple)):
        items = [_plain(v, depth + 1) for v in _plain_sequence(x)]
        return items if _issubclass(t, _list) else _tuple(items)
    return x


def _same(a, b) -> bool:
    """Exact equality of two plain values (see ``_plain``), types included, no ``__eq__`` of
    anything but the built-ins."""
    ta, tb = _type(a), _type(b)
    if ta is not tb:
        return False
    if ta is _list or ta is _tuple:
        return _len(a) == _len(b) and _all(_same(u, v) for u, v in _zip(a, b))
    if ta is _str:
        return _str_eq(a, b)
    if a is None or ta is _bool or ta is _int or ta is _float:
        return a == b
    return False


def _describe(x) -> str:
    if x is None:
        return "None"
    if _is_tensor(x):
        t = _plain_tensor(x)
        with _no_torch_function(), _no_torch_dispatch():
            return f"a tensor of shape {_tensor_shape(t)} and dtype {_tensor_dtype(t)}"
    if _is(x, _ndarray):
        return f"a numpy array of shape {_tuple(_ndarray_shape(x))}"
    return f"{_type(x).__name__} {_short_repr(x)}"


def _short_repr(x) -> str:
    try:
        r = _repr(_plain(x))
        if _type(r) is not _str:
            r = "?"
    except Exception:  # a hostile __repr__
        r = "?"
    return r if _len(r) <= 60 else r[:57] + "..."


class _ReadOnlyModule(_type(sys)):
    """A module that refuses ``module.name = value`` and ``del module.name`` (the plain,
    tempting way to switch a check off; its ``__dict__`` stays reachable, see grading.py)."""

    def __setattr__(self, name, value):
        raise AttributeError(
            f"{self.__name__}.{name} cannot be replaced: the checks are what grade your work"
        )

    def __delattr__(self, name):
        raise AttributeError(f"{self.__name__}.{name} cannot be deleted")


sys.modules[__name__].__class__ = _ReadOnlyModule
