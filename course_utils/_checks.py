"""Argument checks shared by the plotting, diagram and widget modules."""

from __future__ import annotations


def positive_int(fn: str, name: str, value) -> int:
    """Return ``value`` if it is an int >= 1 (bools excluded); otherwise raise, naming ``fn``.

    TypeError for a non-int (``2.0``, ``"3"``, ``True``), ValueError for 0 or a negative int.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__} {value!r}.")
    if value < 1:
        raise ValueError(f"{fn}: {name} must be an int >= 1, got {value}.")
    return value
