"""Helpers shared by lesson 3's trusted checks (``lesson3_char_rnn.py`` and its two parts).

Also the trusted stand-ins swapped into the sandbox (``Call.swap``) so that one exercise is
graded with a right version of another: ``SAMPLE_NEXT_REF`` for ``predict`` and ``CLIP_REF`` for
``train_step``. They are source text, executed only in the sandbox's trusted swap scope.
"""

from __future__ import annotations

import torch

from grader.trusted.lessons._common import close as _close
from grader.trusted.lessons._common import draw as randint  # noqa: F401 - used by lesson 3's parts
from grader.trusted.lessons._common import number  # noqa: F401 - used by lesson 3's parts
from grader.trusted.spec import Outcome

TOL = 1e-4

SAMPLE_NEXT_REF = """
def sample_next(logits, temperature, generator=None):
    logits = torch.as_tensor(logits).detach().reshape(-1).double()
    if temperature < 0:
        raise ValueError(f"sample_next: temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=0)
    return int(torch.multinomial(probs, 1, generator=generator))
"""

CLIP_REF = """
def clip_gradients(params, theta):
    grads = [p.grad for p in params if p.grad is not None]
    norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    if norm > theta:
        for g in grads:
            g.mul_(theta / norm)
    return norm
"""


def close(got, want: torch.Tensor, tol: float = TOL, atol: float = 1e-6) -> bool:
    """Same shape, real, finite, and within ``atol + tol * |want|`` elementwise (in float64)."""
    return _close(got, want, tol, atol, floating_only=True)


def error_message(fn: str, outcome: Outcome, what: str) -> str | None:
    """The student-facing message for a call that raised, else None."""
    if outcome.error is None:
        return None
    if "not available while your work is checked" in outcome.error:
        return f"{fn}: {what}: {outcome.error}"
    return f"{fn}: {what}: it raised {outcome.error}"
