"""Lesson 2's table of concatenation mistakes, run instead of asserted.

Each wrong way to build ``[X H] @ [W_xh ; W_hh]`` is tried on real tensors, in two steps (the
``torch.cat`` calls, then the product), and the report says what torch actually did: which step
raised and with which message, or which shape came out. Nothing here computes the right
pre-activation: the right form is lesson 2's exercise, and only the student writes it.

* ``WRONG_VARIANTS``: the mistakes, as (code, builder) pairs.
* ``try_variant(variant, X, H, W_xh, W_hh)``: one mistake on given operands -> ``VariantOutcome``.
* ``mistakes_report(batch, num_inputs, num_hiddens)``: all mistakes on random operands, as text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._checks import positive_int

__all__ = ["WRONG_VARIANTS", "Variant", "VariantOutcome", "mistakes_report", "try_variant"]


@dataclass(frozen=True)
class Variant:
    """A wrong way to fuse the two products. ``join(X, H, W_xh, W_hh)`` returns the two
    concatenations (left factor, right factor); the product is taken afterwards."""

    code: str
    join: Callable


@dataclass(frozen=True)
class VariantOutcome:
    """What torch did: ``step`` is ``"cat"`` or ``"product"`` when that step raised (``error``
    holds the message), ``None`` when everything ran; shapes are ``None`` when not reached."""

    code: str
    step: str | None
    error: str | None
    left_shape: tuple[int, ...] | None
    right_shape: tuple[int, ...] | None
    result_shape: tuple[int, ...] | None


WRONG_VARIANTS = (
    Variant(
        "torch.cat((X, H), dim=0) @ torch.cat((W_xh, W_hh), dim=0)",
        lambda X, H, W_xh, W_hh: (torch.cat((X, H), dim=0), torch.cat((W_xh, W_hh), dim=0)),
    ),
    Variant(
        "torch.cat((X, H), dim=1) @ torch.cat((W_xh, W_hh), dim=1)",
        lambda X, H, W_xh, W_hh: (torch.cat((X, H), dim=1), torch.cat((W_xh, W_hh), dim=1)),
    ),
    Variant(
        "torch.cat((X, H), dim=0) @ torch.cat((W_xh, W_hh), dim=1)",
        lambda X, H, W_xh, W_hh: (torch.cat((X, H), dim=0), torch.cat((W_xh, W_hh), dim=1)),
    ),
    Variant(
        "torch.cat((H, X), dim=1) @ torch.cat((W_xh, W_hh), dim=0)",
        lambda X, H, W_xh, W_hh: (torch.cat((H, X), dim=1), torch.cat((W_xh, W_hh), dim=0)),
    ),
)


def try_variant(variant: Variant, X, H, W_xh, W_hh) -> VariantOutcome:
    """Run one wrong variant on X (B, d), H (B, h), W_xh (d, h), W_hh (h, h) and record what
    torch did. Only RuntimeError (torch's size errors) is caught; anything else propagates."""
    if not isinstance(variant, Variant):
        raise TypeError(
            f"try_variant: variant must be one of WRONG_VARIANTS, got {type(variant).__name__}."
        )
    try:
        left, right = variant.join(X, H, W_xh, W_hh)
    except RuntimeError as err:
        return VariantOutcome(variant.code, "cat", str(err), None, None, None)
    shapes = tuple(left.shape), tuple(right.shape)
    try:
        result = left @ right
    except RuntimeError as err:
        return VariantOutcome(variant.code, "product", str(err), *shapes, None)
    return VariantOutcome(variant.code, None, None, *shapes, tuple(result.shape))


def _describe(outcome: VariantOutcome, expected_shape: tuple[int, int]) -> str:
    if outcome.step == "cat":
        return f"torch.cat raises: {outcome.error}"
    joined = f"the cats run, giving {outcome.left_shape} and {outcome.right_shape}"
    if outcome.step == "product":
        return f"{joined}; then @ raises: {outcome.error}"
    if outcome.result_shape != expected_shape:
        return f"{joined}; @ runs: result {outcome.result_shape}, not {expected_shape}"
    return (
        f"{joined}; @ runs: result {outcome.result_shape}, the right shape, no error at "
        "all; only the values are wrong"
    )


def mistakes_report(batch: int, num_inputs: int, num_hiddens: int, seed: int = 0) -> str:
    """Every ``WRONG_VARIANTS`` entry tried on random X (batch, num_inputs), H (batch,
    num_hiddens), W_xh (num_inputs, num_hiddens), W_hh (num_hiddens, num_hiddens): one line of
    code and one line of what torch did per variant, under a header with B, d and h."""
    b = positive_int("mistakes_report", "batch", batch)
    d = positive_int("mistakes_report", "num_inputs", num_inputs)
    h = positive_int("mistakes_report", "num_hiddens", num_hiddens)
    g = torch.Generator().manual_seed(seed)
    X, H = torch.randn(b, d, generator=g), torch.randn(b, h, generator=g)
    W_xh, W_hh = torch.randn(d, h, generator=g), torch.randn(h, h, generator=g)
    lines = [
        f"B = {b}, d = {d}, h = {h} ({'d != h' if d != h else 'd = h'}); "
        f"the pre-activation is ({b}, {h})"
    ]
    for variant in WRONG_VARIANTS:
        outcome = try_variant(variant, X, H, W_xh, W_hh)
        lines.append(f"  {variant.code}\n      -> {_describe(outcome, (b, h))}")
    return "\n".join(lines)
