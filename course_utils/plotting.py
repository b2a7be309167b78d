"""Plots for the lessons: hidden-state heatmaps, perplexity curves, reliability diagrams,
next-character bars, and the live training plot. Each function takes ``ax=None`` (a new figure
from pyplot) and returns the Axes it drew on; nothing here calls ``plt.show()``.
"""

from __future__ import annotations

import time

import numpy as np
import torch

__all__ = [
    "LivePerplexityPlot",
    "plot_hidden_states",
    "plot_next_char_distribution",
    "plot_perplexity",
    "plot_reliability",
    "reliability_bins",
    "update_hidden_states",
]


def _new_axes(ax, figsize=None):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _to_numpy(fn: str, name: str, x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    if isinstance(x, np.ndarray):
        return x.astype(float)
    if isinstance(x, (list, tuple)):
        return np.asarray(x, dtype=float)
    raise TypeError(f"{fn}: {name} must be a tensor, an array or a list, got {type(x).__name__}.")


def _show_token(tok: str) -> str:
    return "␣" if tok == " " else tok


# --------------------------------------------------------------------------- hidden states


def _hidden_state_matrix(fn: str, H, tokens, max_units: int | None):
    """Check ``H`` (num_steps, num_hiddens) against ``tokens``; returns (units x steps, tokens)."""
    data = _to_numpy(fn, "H", H)
    if data.ndim != 2:
        raise ValueError(
            f"{fn}: H must be 2-D (num_steps, num_hiddens), got shape {data.shape}; for a batch, "
            "pick one sequence, e.g. H[:, 0, :] from (num_steps, batch, num_hiddens)."
        )
    if isinstance(tokens, str):
        tokens = list(tokens)
    if not isinstance(tokens, (list, tuple)) or len(tokens) != data.shape[0]:
        got = len(tokens) if isinstance(tokens, (list, tuple)) else type(tokens).__name__
        raise ValueError(
            f"{fn}: tokens must be a list of num_steps = {data.shape[0]} str (one per row of H), "
            f"got {got}."
        )
    if max_units is not None:
        data = data[:, :max_units]
    return data.T, list(tokens)  # (num_units, num_steps): one row per hidden unit


def plot_hidden_states(H, tokens, ax=None, max_units: int | None = 64):
    """Heatmap of hidden states (隐藏状态): tokens along x, hidden units along y.

    ``H``: (num_steps, num_hiddens) tensor or array, one row per token read (values of tanh, so
    in [-1, 1]); ``tokens``: list of num_steps str (or a str of num_steps characters).
    Diverging colormap fixed to [-1, 1] with a colorbar. ``max_units``: show only the first units
    when there are more (None shows all). Returns the Axes; its heatmap is ``ax.images[0]``,
    which ``update_hidden_states`` can redraw with new states without building a new figure.
    """
    _hidden_state_matrix("plot_hidden_states", H, tokens, max_units)  # fail before drawing
    ax = _new_axes(ax)
    image = ax.imshow(np.zeros((1, 1)), cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto",
                      interpolation="nearest")  # fmt: skip
    update_hidden_states(image, H, tokens, max_units)
    ax.set_xlabel("token read at step t")
    ax.set_ylabel("hidden unit")
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label="H_t (tanh)")
    return ax


def update_hidden_states(image, H, tokens, max_units: int | None = 64) -> None:
    """Show new hidden states in the heatmap ``image`` made by ``plot_hidden_states``.

    ``H``: (num_steps, num_hiddens), ``tokens``: num_steps str, as for ``plot_hidden_states``;
    the number of steps and of units may differ from what the heatmap showed before. Changes
    the image's data, extent, the axes' limits and the token labels; nothing is rebuilt, so a
    slider can call it on every move.
    """
    data, tokens = _hidden_state_matrix("update_hidden_states", H, tokens, max_units)
    units, steps = data.shape
    image.set_data(data)
    image.set_extent((-0.5, steps - 0.5, units - 0.5, -0.5))  # unit 0 at the top, like imshow
    ax = image.axes
    ax.set_xlim(-0.5, steps - 0.5)
    ax.set_ylim(units - 0.5, -0.5)
    ax.set_xticks(range(steps), [_show_token(t) for t in tokens])


# --------------------------------------------------------------------------- perplexity curves


def _histories(histories, labels):
    from .train import History

    if isinstance(histories, History):
        histories = [histories]
    elif isinstance(histories, dict):
        labels = list(histories) if labels is None else labels
        histories = list(histories.values())
    if not isinstance(histories, (list, tuple)) or not all(
        isinstance(h, History) for h in histories
    ):
        raise TypeError(
            "plot_perplexity: history must be a History, a list of them or a dict "
            "label -> History (what train_lm returns)."
        )
    if labels is None:
        labels = [h.label or f"run {i + 1}" for i, h in enumerate(histories)]
    if len(labels) != len(histories):
        raise ValueError(
            f"plot_perplexity: got {len(labels)} labels for {len(histories)} histories."
        )
    return list(histories), list(labels)


def plot_perplexity(
    history, ax=None, log: bool = True, x: str = "seconds", labels=None, train: bool = True,
    target: float | None = None,
):  # fmt: skip
    """Perplexity (困惑度) curves of one or more training runs.

    ``history``: a ``History``, a list of them, or a dict label -> History. Held-out perplexity is a
    solid line, training perplexity (``train=True``) a dashed line of the same colour. ``x``:
    ``"seconds"`` (training time), ``"tokens"`` or ``"step"``. ``log``: log-scale y axis.
    ``target``: draw a dotted horizontal line at that perplexity. Returns the Axes.
    """
    if x not in ("seconds", "tokens", "step"):
        raise ValueError(f"plot_perplexity: x must be 'seconds', 'tokens' or 'step', got {x!r}.")
    histories, labels = _histories(history, labels)
    ax = _new_axes(ax)
    for i, (h, label) in enumerate(zip(histories, labels, strict=True)):
        color = f"C{i % 10}"
        for field, style, suffix in (("val_ppl", "-", "held-out"), ("train_ppl", "--", "train")):
            if field == "train_ppl" and not train:
                continue
            pts = [(getattr(r, x), getattr(r, field)) for r in h.records]
            pts = [(a, b) for a, b in pts if b is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, style, color=color, label=f"{label} ({suffix})", marker=".")
    if target is not None:
        ax.axhline(target, color="gray", linestyle=":", label=f"perplexity {target:g}")
    if log:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 5, not 5x10^0
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel({"seconds": "training time (s)", "tokens": "tokens seen", "step": "step"}[x])
    ax.set_ylabel("perplexity")
    if ax.lines:
        ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------- calibration


def _describe(x) -> str:
    """'shape (3, 4)' for a tensor, else the type name."""
    if isinstance(x, torch.Tensor):
        return f"shape {tuple(x.shape)}"
    return type(x).__name__


def reliability_bins(logits, targets, num_bins: int = 10):
    """Group predictions by confidence: the numbers behind a reliability diagram (可靠性图).

    Args:
        logits: float tensor (N, V), the model's scores for the next token at N positions.
        targets: LongTensor (N,), the true next tokens.
        num_bins: the confidence range [0, 1] is cut into this many equal bins.

    Returns:
        (confidence, accuracy, counts), three float64 arrays of shape (num_bins,): for the
        predictions whose confidence (largest softmax probability) falls in bin b, their mean
        confidence, the fraction whose most likely token is the true one, and how many there
        are. Empty bins hold NaN confidence and accuracy and count 0.
    """
    fn = "reliability_bins"
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError(f"{fn}: logits must be a tensor of shape (N, V), got {_describe(logits)}.")
    if not isinstance(targets, torch.Tensor) or tuple(targets.shape) != (logits.shape[0],):
        raise ValueError(
            f"{fn}: targets must be a LongTensor of shape ({logits.shape[0]},) to match the "
            f"logits, got {_describe(targets)}."
        )
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"{fn}: num_bins must be a positive int, got {num_bins!r}.")
    probs = torch.softmax(logits.detach().double().cpu(), dim=-1)  # (N, V)
    conf, top = probs.max(dim=-1)  # (N,), (N,)
    right = (top == targets.cpu()).double()  # (N,)
    # bin b holds confidences in (b / num_bins, (b + 1) / num_bins]; bin 0 also holds 0
    which = (torch.ceil(conf * num_bins).long() - 1).clamp(0, num_bins - 1)  # (N,)
    counts = torch.bincount(which, minlength=num_bins).double()
    sum_conf = torch.bincount(which, weights=conf, minlength=num_bins)
    sum_right = torch.bincount(which, weights=right, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        c, n = sum_conf.numpy(), counts.numpy()
        return c / n, sum_right.numpy() / n, n


def plot_reliability(logits, targets, num_bins: int = 10, ax=None):
    """Reliability diagram: accuracy against confidence of the top prediction, one bar per bin.

    Args:
        logits: (N, V) scores, targets: (N,) true next tokens (see ``reliability_bins``).
        num_bins: number of equal confidence bins in [0, 1].
        ax: Axes to draw on (a new figure otherwise).

    A calibrated model's bars reach the diagonal: among the predictions made with confidence
    about p, a fraction of about p is right. Bars below the diagonal mean over-confidence, above
    it under-confidence. Empty bins are left out. Returns the Axes.
    """
    conf, acc, counts = reliability_bins(logits, targets, num_bins)
    ax = _new_axes(ax, figsize=(4.2, 4.2))
    width = 1.0 / num_bins
    left = np.arange(num_bins) * width
    full = counts > 0
    ax.bar(left[full], acc[full], width=width, align="edge", color="tab:blue",
           edgecolor="white", label="accuracy in the bin")  # fmt: skip
    ax.plot([0, 1], [0, 1], "--", color="gray", label="calibrated")
    ax.plot(conf[full], acc[full], "o", color="tab:red", markersize=4,
            label="(mean confidence, accuracy)")  # fmt: skip
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal")
    ax.set_xlabel("confidence of the top prediction")
    ax.set_ylabel("accuracy (top prediction is right)")
    total = int(counts.sum())
    ax.set_title(f"reliability diagram ({total:,} predictions)", fontsize=10)
    ax.legend(fontsize="small", loc="upper left")
    return ax


# --------------------------------------------------------------------------- next character


def plot_next_char_distribution(tokens, probs, ax=None, top_k: int | None = None, highlight=None):
    """Bar chart of a next-character distribution.

    ``tokens``: list of vocab_size str; ``probs``: (vocab_size,) tensor/array of probabilities.
    ``top_k``: keep the k most likely, sorted (None: all, in vocabulary order). ``highlight``: a
    token (e.g. the true next character) drawn in another colour. The space shows as '␣'.
    Returns the Axes.
    """
    fn = "plot_next_char_distribution"
    p = _to_numpy(fn, "probs", probs)
    if p.ndim != 1 or not isinstance(tokens, (list, tuple)) or len(tokens) != p.shape[0]:
        n = len(tokens) if isinstance(tokens, (list, tuple)) else type(tokens).__name__
        raise ValueError(
            f"{fn}: probs must be 1-D (vocab_size,) with one entry per token; got probs shape "
            f"{p.shape} and {n} tokens."
        )
    order = np.arange(len(p))
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"{fn}: top_k must be None or an int >= 1, got {top_k!r}.")
        order = np.argsort(-p, kind="stable")[:top_k]
    ax = _new_axes(ax)
    names = [_show_token(tokens[i]) for i in order]
    colors = ["C3" if tokens[i] == highlight else "C0" for i in order]
    ax.bar(range(len(order)), p[order], color=colors)
    ax.set_xticks(range(len(order)), names)
    ax.set_ylim(0, max(1e-9, float(p.max())) * 1.1)
    ax.set_xlabel("next character")
    ax.set_ylabel("probability")
    return ax


# --------------------------------------------------------------------------- live plot


class LivePerplexityPlot:
    """A perplexity plot that redraws in place in a notebook while ``train_lm`` runs.

    Draws on a ``matplotlib.figure.Figure`` (not pyplot, so the notebook does not show it a second
    time at the end of the cell) and shows it as a PNG image through an IPython display handle,
    replaced in place at most once every ``min_interval`` seconds (``update(..., force=True)``
    always redraws). Outside a notebook nothing is displayed; the figure is still drawn
    (``.figure``).
    """

    def __init__(self, title: str | None = None, log: bool = True, min_interval: float = 0.4,
                 x: str = "seconds", target: float | None = None):  # fmt: skip
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(6, 3.5), dpi=90)
        self.ax = self.figure.add_subplot()
        self.title, self.log, self.x, self.target = title, log, x, target
        self.min_interval = min_interval
        self.num_draws = 0
        self._last = -float("inf")
        self._handle = None

    def _in_notebook(self) -> bool:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
        return shell is not None and getattr(shell, "kernel", None) is not None

    def update(self, history, force: bool = False) -> bool:
        """Redraw from ``history`` unless the last redraw was under ``min_interval`` ago.

        Returns True when it redrew.
        """
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return False
        self._last = now
        self.ax.clear()
        plot_perplexity(history, ax=self.ax, log=self.log, x=self.x, target=self.target)
        if self.title:
            self.ax.set_title(self.title)
        self.num_draws += 1
        if self._in_notebook():
            from IPython.display import display

            image = self.to_image()
            if self._handle is None:
                self._handle = display(image, display_id=True)
            else:
                self._handle.update(image)
        return True

    def to_image(self):
        """The figure as an ``IPython.display.Image`` (PNG), whatever matplotlib backend is on."""
        import io

        from IPython.display import Image

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", bbox_inches="tight")
        return Image(data=buffer.getvalue(), format="png")
