"""Judge helpers the lesson check modules share: drawing from the seed's generator, describing a
returned value for a message, comparing tensors, noticing arguments changed in place.

Trusted code only (never placed in a sandbox); references use torch built-ins."""

from __future__ import annotations

import torch

from grader.trusted.spec import Outcome, Unsupported


def draw(gen: torch.Generator, low: int, high: int) -> int:
    """One int in [low, high] from the check's generator."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def describe(value) -> str:
    """A returned value in a few words: "a tensor of shape (2, 3)", "a numpy.ndarray",
    "int 3" (cut to 80 characters)."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, Unsupported):
        return f"a {value.type_name}"
    return f"{type(value).__name__} {value!r}"[:80]


def number(value) -> float | None:
    """A returned Python number (not a bool) or one-element real tensor as a float, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        return float(value.detach().double().reshape(()))
    return None


def close(got, want: torch.Tensor, rtol: float, atol: float, floating_only: bool = False) -> bool:
    """``got`` is a real, finite tensor of ``want``'s shape within ``atol + rtol * |want|`` of
    it, elementwise, in float64 (``floating_only``: an integer tensor never is)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        return False
    if got.is_complex() or (floating_only and not got.is_floating_point()):
        return False
    got, want = got.detach().to(torch.float64), want.to(torch.float64)
    if not bool(torch.isfinite(got).all()):
        return False
    return bool(((got - want).abs() <= atol + rtol * want.abs()).all())


def changed_in_place(outcome: Outcome, originals, names) -> str | None:
    """The name of the first tensor argument the call changed in place (its state after the
    call, ``Call.observe``, differs from ``originals``), else None."""
    for pos, (name, original) in enumerate(zip(names, originals, strict=True)):
        after = outcome.after.get(pos)
        if after is not None and not (
            isinstance(after, torch.Tensor)
            and after.shape == original.shape
            and torch.equal(after.to(original.dtype), original)
        ):
            return name
    return None
