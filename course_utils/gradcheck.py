"""Numerical gradients by central differences, for checking a backward pass written by hand.

CS231n's recipe: compute ``df/dx`` numerically in float64, compare it with the analytic gradient
through ``course_utils.grading.rel_error``; about 1e-7 or less means the two agree.

    num = numerical_gradient(lambda: float((f(x) * upstream).sum()), x)   # x: float64 tensor

It knows nothing about RNNs: it perturbs one entry of ``x`` at a time and calls ``f``. (It would
also "answer" a backward exercise, slowly: lesson 5's trusted checks disable it.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["numerical_gradient"]


def numerical_gradient(f: Callable[[], float], x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Central-difference gradient of the scalar ``f()`` with respect to every entry of ``x``.

    f: a function of no arguments that reads ``x`` and returns a number (float or 0-d tensor).
    x: a float64 tensor (any shape), changed in place one entry at a time and restored.
    h: the step; 1e-6 suits float64 (float32 would lose most digits: a TypeError says so).
    Returns a float64 tensor of the shape of ``x``: (f(x + h e_i) - f(x - h e_i)) / (2h) at i.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"numerical_gradient: x must be a torch tensor, got {type(x).__name__}.")
    if x.dtype != torch.float64:
        raise TypeError(
            f"numerical_gradient: x must be float64, got {x.dtype}; differences of float32 "
            "values lose about half their digits. Use x.double() (and float64 weights)."
        )
    if not x.is_contiguous():
        raise ValueError("numerical_gradient: x must be contiguous; pass x.contiguous() instead.")
    if not float(h) > 0:
        raise ValueError(f"numerical_gradient: h must be positive, got {h!r}.")
    grad = torch.zeros_like(x)
    flat, out = x.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + h
            plus = float(f())
            flat[i] = old - h
            minus = float(f())
            flat[i] = old
            out[i] = (plus - minus) / (2 * h)
    return grad
