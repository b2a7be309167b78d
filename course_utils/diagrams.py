"""Explanatory pictures for lesson 3: how a text becomes training data, and how clipping acts.

Each function draws one static picture from its arguments and returns the matplotlib Figure
(``ax=None`` makes a new one from pyplot). Nothing here trains or samples; the notebook shows the
picture, the tests check what it draws.

* ``draw_lm_windows(text, num_steps)``: non-overlapping windows and their targets, shifted by one.
* ``draw_sequential_batches(text, batch_size, num_steps, num_batches)``: the text cut into
  ``batch_size`` stretches; row b of batch k + 1 continues row b of batch k (the state carried).
* ``draw_clipping(g, theta)``: per-tensor clipping vs global-norm clipping (梯度裁剪) of a 2-D
  gradient.
* ``plot_one_hot(inputs, tokens, text)``: a (num_steps, vocab_size) block of one-hot rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._checks import positive_int
from .plotting import _new_axes, _show_token

__all__ = ["draw_clipping", "draw_lm_windows", "draw_sequential_batches", "plot_one_hot"]


def _glyph(tok: str) -> str:
    """One narrow label per token: the space as ␣, and <unk> as ? (too wide for a column)."""
    return "?" if tok == "<unk>" else _show_token(tok)


def draw_lm_windows(text: str = "the time machine", num_steps: int = 3, ax=None):
    """The windows ``make_lm_pairs(text, num_steps)`` cuts: inputs X[i] and targets Y[i].

    Window i covers characters i*T ... i*T + T - 1 of ``text`` (T = ``num_steps``) and its
    targets the same span one character later; there are m = (len(text) - 1) // T windows, and a
    shorter tail is dropped. One colour per window. Returns the Figure.
    """
    fn = "draw_lm_windows"
    T = positive_int(fn, "num_steps", num_steps)
    m = (len(text) - 1) // T
    if m < 1:
        raise ValueError(
            f"{fn}: text of {len(text)} characters holds no whole window of num_steps = {T} "
            f"(a window needs num_steps + 1 = {T + 1} characters)."
        )
    from matplotlib.patches import Rectangle

    ax = _new_axes(ax, (8.5, 2.2))
    fig = ax.figure
    for i, ch in enumerate(text):
        ax.text(i, 2, _glyph(ch), ha="center", va="center", fontsize=13)
    for w in range(m):
        for row, shift, name in ((1, 0, "X"), (0, 1, "Y")):  # targets: one character later
            start = w * T + shift
            ax.add_patch(
                Rectangle((start - 0.45, row - 0.4), T - 0.1, 0.8, color=f"C{w % 10}", alpha=0.35)
            )
            ax.text(start + (T - 1) / 2, row, f"{name}[{w}]", ha="center", va="center", fontsize=9)
    for row, label in ((2, "text"), (1, "inputs"), (0, "targets")):
        ax.text(-1.2, row, label, ha="right", va="center")
    ax.set(xlim=(-4.5, len(text)), ylim=(-0.7, 2.5))
    ax.axis("off")
    ax.set_title(f"windows of num_steps = {T}; the targets are the inputs shifted by one")
    return fig


def draw_sequential_batches(
    text: str, batch_size: int = 3, num_steps: int = 6, num_batches: int = 4, ax=None
):
    """Sequential minibatches of ``text``: one stretch per row, batch k = k-th block of columns.

    ``text`` is cut into ``batch_size`` stretches of (len(text) - 1) // batch_size characters;
    batch k holds characters k*num_steps ... k*num_steps + num_steps - 1 of every stretch (the
    inputs; the targets are one character later). Arrows join row b of batch k to row b of
    batch k + 1: the hidden state carried, and detached, across them. Returns the Figure.
    """
    fn = "draw_sequential_batches"
    positive_int(fn, "batch_size", batch_size)
    positive_int(fn, "num_steps", num_steps)
    positive_int(fn, "num_batches", num_batches)
    row_len = (len(text) - 1) // batch_size  # characters per stretch
    if num_batches * num_steps > row_len:
        raise ValueError(
            f"{fn}: {num_batches} batches of {num_steps} steps need stretches of at least "
            f"{num_batches * num_steps} characters, but {len(text)} characters in {batch_size} "
            f"rows give {row_len}; pass a longer text or fewer batches."
        )
    from matplotlib.patches import Rectangle

    ax = _new_axes(ax, (9, 2.4))
    fig = ax.figure
    for k in range(num_batches):
        for b in range(batch_size):
            start = b * row_len + k * num_steps
            ax.add_patch(Rectangle((k + 0.04, -b - 0.35), 0.8, 0.7, color=f"C{k % 10}", alpha=0.35))
            ax.text(k + 0.44, -b, repr(text[start : start + num_steps]), ha="center",
                    va="center", family="monospace", fontsize=9)  # fmt: skip
            if k + 1 < num_batches:
                ax.annotate("", xy=(k + 1.04, -b), xytext=(k + 0.84, -b),
                            arrowprops={"arrowstyle": "->"})  # fmt: skip
        ax.text(k + 0.44, 0.6, f"batch {k}", ha="center", fontsize=9)
    ax.text(
        0.04,
        -batch_size,
        "row b of batch k + 1 continues row b of batch k: the state H is carried along "
        "the arrows, and detached there (no gradient flows back across an arrow)",
        fontsize=8.5,
    )
    ax.set(xlim=(0, num_batches), ylim=(-batch_size - 0.3, 0.9))
    ax.axis("off")
    return fig


def draw_clipping(g: Sequence[float] = (2.4, 0.6), theta: float = 1.0):
    """Two panels: a gradient g (2 entries) clipped per tensor vs by its global norm.

    Each entry of ``g`` stands for one parameter tensor. Left: each clipped to [-theta, theta]
    on its own (the direction changes). Right: g * min(1, theta / ||g||) (the direction is
    kept, the length becomes at most theta). The dashed circle has radius theta.
    Returns the Figure; ``fig.clipped`` holds the two clipped vectors (per tensor, global).
    """
    g = torch.as_tensor(g, dtype=torch.float32).reshape(-1)
    if g.numel() != 2:
        raise ValueError(
            f"draw_clipping: g must have 2 entries (the picture is 2-D), got {g.numel()}."
        )
    if not float(theta) > 0:
        raise ValueError(f"draw_clipping: theta must be positive, got {theta!r}.")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    theta = float(theta)
    clip_each = g.clamp(-theta, theta)
    clip_global = g * min(1.0, theta / float(g.norm())) if float(g.norm()) > 0 else g
    (gx, gy), pad = g.tolist(), 0.2 * theta
    xlim = (min(-theta, gx) - pad, max(theta, gx) + 2.5 * pad)  # room for the labels
    ylim = (min(-theta, gy) - pad, max(theta, gy) + 2.5 * pad)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, clipped, title in (
        (axes[0], clip_each, "per-tensor clipping: direction changes"),
        (axes[1], clip_global, "global-norm clipping: direction kept"),
    ):
        ax.add_patch(Circle((0, 0), theta, fill=False, linestyle="--", color="gray"))
        ax.annotate("", xy=tuple(g.tolist()), xytext=(0, 0),
                    arrowprops={"arrowstyle": "->", "color": "C3"})  # fmt: skip
        ax.annotate("", xy=tuple(clipped.tolist()), xytext=(0, 0),
                    arrowprops={"arrowstyle": "->", "color": "C0", "lw": 2})  # fmt: skip
        ax.text(*g.tolist(), " g", color="C3")
        ax.text(*clipped.tolist(), " clipped", color="C0", va="bottom")
        ax.set(xlim=xlim, ylim=ylim, aspect="equal")
        ax.set_title(title, fontsize=9)
    fig.clipped = (clip_each, clip_global)
    return fig


def plot_one_hot(inputs, tokens: Sequence[str], text: str, ax=None):
    """One-hot rows of one sequence as an image: time steps down, vocabulary indices across.

    ``inputs``: (num_steps, vocab_size) tensor, e.g. ``one_hot_inputs(X, V)[:, 0, :]``;
    ``tokens``: the vocabulary's tokens in index order (``vocab.idx_to_token``), the x labels;
    ``text``: the num_steps characters read, the y labels. Returns the Figure.
    """
    fn = "plot_one_hot"
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 2:
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(
            f"{fn}: inputs must be a (num_steps, vocab_size) tensor, got {shape}; for a batch "
            "(num_steps, batch, vocab_size) pick one sequence: inputs[:, 0, :]."
        )
    steps, width = inputs.shape
    if len(tokens) != width or len(text) != steps:
        raise ValueError(
            f"{fn}: inputs {tuple(inputs.shape)} need {width} tokens and {steps} characters of "
            f"text, got {len(tokens)} and {len(text)}."
        )
    ax = _new_axes(ax, (8, 2.6))
    fig = ax.figure
    ax.imshow(inputs.detach().float().cpu().numpy(), cmap="Blues", aspect="auto",
              interpolation="nearest")  # fmt: skip
    ax.set_xticks(range(width), [_glyph(t) for t in tokens])
    ax.set_yticks(range(steps), [f"t={t}: {_glyph(c)}" for t, c in enumerate(text)])
    ax.set_xlabel("vocabulary index")
    ax.grid(False)
    return fig
