"""Trusted checks of lesson 3, a character-level language model (``char_rnn.ipynb``).

One check per autograded test cell: make_lm_pairs, one_hot_inputs, clip_gradients, train_step,
sample_next, predict. Inputs are drawn from the secret seed (shapes and sizes too, so an answer
hard-coded for the visible examples fails). Every reference is computed here with code of this
module (direct loops, float64 formulas, autograd on our own re-implementation of the trusted
models, ``torch.optim`` on our own tensors); nothing comes from ``course_utils``.

Sampling is random, and a correct sampler written differently (inverse CDF, Gumbel-max) draws
other indices than ``torch.multinomial`` for the same seed. So ``sample_next`` is judged by its
distribution (a chi-square test over a few hundred draws, one call each, every call with its own
seeded generator; the harness seeds torch's global generator identically before each call, so a
sampler that ignores its generator draws the same index every time) and by reproducibility
(the same seed twice gives the same index). ``predict`` runs with a trusted ``sample_next``
swapped in, on a trusted model built in the sandbox (``Model`` + ``VocabOf``); its texts are
compared exactly with ours (at temperatures above 0 too: the same generator and the same
probabilities give the same draws, up to float rounding that would have to fall within about
1e-7 of a boundary to matter).

What ``train_step`` can and cannot tell: the detaching (an ``Attached`` state: no gradient may
reach its leaf), the clipping (huge gradients, small theta) and the update (SGD, SGD with
momentum, Adam: the optimizer handed in must do the step) against a reference step here. One
call is one step on a freshly built model, so a missing ``optimizer.zero_grad()`` is invisible
(the gradients start as None); the in-kernel hidden test catches it with stale gradients.
"""

from __future__ import annotations

import math

import torch

from grader.trusted.lessons._lesson3_common import (
    SAMPLE_NEXT_REF,
    TOL,
    close,
    error_message,
    number,
    randint,
)
from grader.trusted.lessons._lesson3_sampling import predict_check, sample_next_check
from grader.trusted.lessons._lesson3_step import train_step_check
from grader.trusted.spec import Call, Check, Outcome, Param

NOTEBOOK = "char_rnn.ipynb"
SETUP_CELLS = 2  # cu.setup_notebook(), then the imports (itertools, math, plt, torch, F, cu.*)
DISABLE: tuple[str, ...] = (
    # answer clip_gradients (and the clipping inside train_step: the lesson says to call your own)
    "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grads_with_norm_",
    "torch.nn.utils.get_total_norm",
    "torch.nn.utils.clip_grad.clip_grad_norm_",
    "torch.nn.utils.clip_grad.clip_grad_norm",
    # seq_data_iter_sequential(corpus, 1, num_steps) yields make_lm_pairs' windows one by one
    "course_utils.data.seq_data_iter_sequential",
    # sample_text is predict; next_char_distribution is softmax(logits / temperature) of a model
    "course_utils.generate.sample_text",
    "course_utils.generate.next_char_distribution",
    # the built-in training loop (carry, detach, clip, step): not for train_step
    "course_utils.train.train_lm",
)


# --------------------------------------------------------------------------- make_lm_pairs


def _pairs_reference(corpus: list[int], T: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys, start = [], [], 0
    while start + T + 1 <= len(corpus):
        xs.append(corpus[start : start + T])
        ys.append(corpus[start + 1 : start + T + 1])
        start += T
    m = len(xs)
    return torch.tensor(xs, dtype=torch.long).reshape(m, T), torch.tensor(ys).reshape(m, T)


def _pairs_check(gen: torch.Generator) -> Check:
    cases = []
    for _ in range(5):
        T = randint(gen, 1, 12)
        cases.append((torch.randint(0, 28, (randint(gen, T + 1, 150),), generator=gen).tolist(), T))
    T = randint(gen, 2, 9)
    m = randint(gen, 2, 12)
    cases.append((torch.randint(0, 28, (m * T + 1,), generator=gen).tolist(), T))  # exact fit
    cases.append((torch.randint(0, 28, (m * T,), generator=gen).tolist(), T))  # last target short
    calls = [Call("make_lm_pairs", args=(corpus, T)) for corpus, T in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (corpus, T), out in zip(cases, outcomes, strict=True):
            what = f"a corpus of {len(corpus)} tokens, num_steps={T}"
            message = error_message("make_lm_pairs", out, what)
            if message:
                return message
            want_X, want_Y = _pairs_reference(corpus, T)
            value = out.value
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                return f"make_lm_pairs: {what}: return the pair (X, Y)"
            for name, got, want in (("X", value[0], want_X), ("Y", value[1], want_Y)):
                if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
                    shape = (
                        tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                    )
                    return (
                        f"make_lm_pairs: {what}: {name} should have shape {tuple(want.shape)} "
                        f"((len(corpus) - 1) // num_steps windows of num_steps), got {shape}"
                    )
                if got.dtype != torch.long:
                    return f"make_lm_pairs: {what}: {name} must be a LongTensor, got {got.dtype}"
                if not torch.equal(got, want):
                    if name == "Y" and torch.equal(got, want_X):
                        return f"make_lm_pairs: {what}: Y equals X; shift the targets by one"
                    return (
                        f"make_lm_pairs: {what}: wrong {name}; row i of X is tokens i*num_steps"
                        " ... i*num_steps + num_steps - 1, and Y the same one token later"
                    )
        return None

    return Check("test_make_lm_pairs", calls, judge)


# --------------------------------------------------------------------------- one_hot_inputs


def _one_hot_check(gen: torch.Generator) -> Check:
    cases = []
    for _ in range(4):
        B, T, V = randint(gen, 1, 9), randint(gen, 1, 9), randint(gen, 2, 30)
        high = randint(gen, 1, V)  # sometimes the last tokens never occur
        cases.append((torch.randint(0, high, (B, T), generator=gen), V))
    calls = [Call("one_hot_inputs", args=(X, V)) for X, V in cases]

    def judge(outcomes: list[Outcome]) -> str | None:
        for (X, V), out in zip(cases, outcomes, strict=True):
            B, T = X.shape
            what = f"X of shape {(B, T)}, vocab_size={V}"
            message = error_message("one_hot_inputs", out, what)
            if message:
                return message
            want = torch.zeros(T, B, V)
            for b in range(B):
                for t in range(T):
                    want[t, b, int(X[b, t])] = 1.0
            got = out.value
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (T, B, V):
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                return (
                    f"one_hot_inputs: {what}: expected shape (num_steps, batch_size, "
                    f"vocab_size) = {(T, B, V)}, got {shape}"
                )
            if not got.is_floating_point():
                return f"one_hot_inputs: {what}: return a float tensor, got {got.dtype}"
            if not torch.equal(got.double(), want.double()):
                return (
                    f"one_hot_inputs: {what}: out[t, b] must be the one-hot vector of X[b, t] "
                    "(time first: transpose, do not reshape)"
                )
        return None

    return Check("test_one_hot_inputs", calls, judge)


# --------------------------------------------------------------------------- clip_gradients


def _clip_check(gen: torch.Generator) -> Check:
    cases = []
    for scale, relative_theta, with_none in (
        (10.0, 0.3, False),
        (0.05, 3.0, False),
        (2.0, 0.5, True),
        (1.0, 0.9, True),
    ):
        grads = []
        for _ in range(randint(gen, 2, 5)):
            shape = tuple(randint(gen, 1, 6) for _ in range(randint(gen, 1, 2)))
            grads.append(scale * torch.randn(shape, generator=gen))
        if with_none:
            grads.insert(randint(gen, 0, len(grads)), None)
        norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads if g is not None))
        cases.append((grads, round(relative_theta * norm, 4)))
    # every tensor below theta on its own, the global norm above it
    each = [torch.randn(randint(gen, 2, 6), generator=gen) for _ in range(3)]
    cases.append(([0.9 * g / g.norm() for g in each], 1.0))
    calls = []
    for grads, theta in cases:
        params = [
            Param(torch.zeros(1)) if g is None else Param(torch.zeros_like(g), g) for g in grads
        ]
        calls.append(Call("clip_gradients", args=(params, theta), observe=(0,)))

    def judge(outcomes: list[Outcome]) -> str | None:
        for (grads, theta), out in zip(cases, outcomes, strict=True):
            present = [g for g in grads if g is not None]
            norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in present))
            factor = theta / norm if norm > theta else 1.0
            what = f"{len(present)} gradients of global norm {norm:.4g}, theta={theta}"
            message = error_message("clip_gradients", out, what)
            if message:
                return message
            value = number(out.value)
            if value is None or abs(value - norm) > TOL * norm + 1e-6:
                return (
                    f"clip_gradients: {what}: returned {out.value!r}; return the global L2 norm "
                    "of ALL gradients (sqrt of the sum of every squared entry), before clipping"
                )
            after = out.after.get(0)
            if not isinstance(after, list) or len(after) != len(grads):
                return f"clip_gradients: {what}: the parameters could not be read back"
            for i, (g, p) in enumerate(zip(grads, after, strict=True)):
                got = p.get("grad") if isinstance(p, dict) else None
                if g is None:
                    if got is not None:
                        return f"clip_gradients: {what}: parameter {i} had no gradient: skip it"
                    continue
                if not close(got, g.double() * factor, atol=1e-7):
                    return (
                        f"clip_gradients: {what}: gradient {i} is wrong after clipping; every "
                        f"gradient is multiplied in place by the same theta / norm = "
                        f"{factor:.4g} when norm > theta (and left alone otherwise)"
                    )
        return None

    return Check("test_clip_gradients", calls, judge)


def checks(seed: int) -> list[Check]:
    """One Check per autograded test cell of the notebook, inputs drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return [
        _pairs_check(gen),
        _one_hot_check(gen),
        _clip_check(gen),
        train_step_check(gen),
        sample_next_check(gen),
        predict_check(gen, SAMPLE_NEXT_REF),
    ]
