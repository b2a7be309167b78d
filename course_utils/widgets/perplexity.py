"""Lesson 4's temperature slider: held-out perplexity of a trained model against a temperature.

Dividing a model's logits by a temperature (温度) ``τ`` keeps the ranking of the next characters
and only sharpens (``τ < 1``) or flattens (``τ > 1``) the predicted distribution. The slider shows
what that does to held-out perplexity (困惑度): which single ``τ`` fits a held-out text best.
Nothing more: ``τ = 1`` is best on the training text only at a stationary point of training, and
one scalar fitting the mean loss is far weaker than calibration (see
``course_utils.plotting.plot_reliability`` for that).

Why the perplexity function is an argument: computing perplexity is lesson 4's graded exercise
(``perplexity(logits, targets)``), and no course_utils function may answer an exercise verbatim.
So nothing here computes perplexity itself. ``temperature_curve`` and ``temperature_slider`` take
the perplexity function to use as an argument: in the notebook that is the student's own
``perplexity``, so the slider is drawn by the student's code (a wrong ``perplexity`` shows up as a
strange curve); the tests pass an independent reference built on ``torch.nn.functional``.

The work is split so that the slider stays fast:

* ``heldout_logits(model, tokens)`` runs the model ONCE over a held-out text and keeps the logits;
* ``temperature_curve`` evaluates the perplexity at many temperatures, once, before the slider;
* the picture of that curve is drawn once; the slider's callback only divides the stored logits
  by one temperature, calls the perplexity function once (a log-softmax over some 17,000
  positions) and draws one marker over the cached picture (no matplotlib redraw).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ._render import LivePicture, encode_png

__all__ = [
    "DEFAULT_TEMPERATURES",
    "heldout_logits",
    "plot_temperature_curve",
    "scale_logits",
    "temperature_curve",
    "temperature_slider",
]

# 0.25, 0.30, ..., 3.00: fine enough for a smooth curve, cheap enough to precompute in well under
# a second for a few thousand held-out positions.
DEFAULT_TEMPERATURES = tuple(round(0.25 + 0.05 * i, 2) for i in range(56))

PerplexityFn = Callable[[torch.Tensor, torch.Tensor], float]


def _as_token_tensor(tokens, name: str) -> torch.Tensor:
    """A 1-D LongTensor from a list of ints or a 1-D integer tensor."""
    if isinstance(tokens, torch.Tensor):
        t = tokens
    else:
        try:
            t = torch.as_tensor(list(tokens))
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name}: expected a list of token indices (ints) or a 1-D LongTensor, "
                f"got {type(tokens).__name__}; pass e.g. the held-out part of load_corpus()"
            ) from err
    if t.dim() != 1 or t.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(
            f"{name}: expected a 1-D sequence of integer token indices, got shape "
            f"{tuple(t.shape)} and dtype {t.dtype}"
        )
    return t.long()


@torch.no_grad()
def heldout_logits(model: torch.nn.Module, tokens, max_len: int | None = None):
    """Run ``model`` once over a held-out text; return its logits and the true next tokens.

    Args:
        model: a language model with the course interface ``logits, state = model(X, state)``,
            X: LongTensor (batch, num_steps), logits: (batch, num_steps, vocab_size).
        tokens: the held-out text as token indices, a list of ints or a LongTensor (L,).
        max_len: if given, only the first ``max_len`` tokens are used (must be >= 2).

    Returns:
        (logits, targets): logits (N, vocab_size) float32 with N = L - 1 (or max_len - 1), where
        row t is the model's prediction after reading tokens[0..t]; targets (N,) LongTensor,
        targets[t] = tokens[t + 1]. The state starts at None (zeros) and is carried through the
        whole text in one forward pass; the model is put in eval mode for the pass and its
        train/eval mode restored afterwards.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module language model, got {type(model)}")
    t = _as_token_tensor(tokens, "tokens")
    if max_len is not None:
        if not isinstance(max_len, int) or max_len < 2:
            raise ValueError(f"max_len: expected an int >= 2 (or None), got {max_len!r}")
        t = t[:max_len]
    if t.numel() < 2:
        raise ValueError(
            f"tokens: need at least 2 tokens (one to read, one to predict), got {t.numel()}"
        )
    device = next(model.parameters()).device
    X = t[:-1].unsqueeze(0).to(device)  # (1, N)
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(X, None)  # (1, N, V)
    finally:
        model.train(was_training)
    if logits.dim() != 3 or logits.shape[:2] != X.shape:
        raise ValueError(
            f"model: expected logits of shape (1, {X.shape[1]}, vocab_size), got "
            f"{tuple(logits.shape)}; does the model follow `logits, state = model(X, state)`?"
        )
    return logits[0].float().cpu(), t[1:].clone()  # (N, V), (N,)


def scale_logits(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature``: logits (..., V) -> (..., V). ``temperature`` must be > 0."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits: expected a tensor (..., vocab_size), got {type(logits)}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature: expected a positive number, got {temperature!r}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"temperature: expected a finite number > 0, got {temperature!r}; τ -> 0 would be "
            "argmax, which gives the true token probability 0 whenever it is wrong"
        )
    return logits / temperature


def _check_pair(logits, targets) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise TypeError(
            f"logits: expected a tensor of shape (N, vocab_size), got "
            f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)}"
        )
    if not isinstance(targets, torch.Tensor) or targets.shape != logits.shape[:1]:
        got = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets)
        raise ValueError(
            f"targets: expected a LongTensor of shape ({logits.shape[0]},) to match logits, "
            f"got {got}; use heldout_logits(model, tokens) to get both"
        )


def temperature_curve(
    logits: torch.Tensor,
    targets: torch.Tensor,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    *,
    perplexity_fn: PerplexityFn,
) -> list[float]:
    """Held-out perplexity of ``logits / τ`` for every τ in ``temperatures``.

    Args:
        logits: (N, V) precomputed logits (see ``heldout_logits``).
        targets: (N,) LongTensor of true next tokens.
        temperatures: positive numbers.
        perplexity_fn: ``perplexity_fn(logits (N, V), targets (N,)) -> float``; in the lesson
            this is the student's own ``perplexity``.

    Returns:
        A list of floats, one perplexity per temperature, in the same order.
    """
    _check_pair(logits, targets)
    if not callable(perplexity_fn):
        raise TypeError(
            f"perplexity_fn: expected a function (logits, targets) -> float, got {perplexity_fn!r}"
        )
    return [float(perplexity_fn(scale_logits(logits, float(tau)), targets)) for tau in temperatures]


def plot_temperature_curve(temperatures, ppls, current=None, ax=None, reference=None):
    """Draw perplexity against temperature; mark ``current`` = (τ, ppl) and its best point.

    Args:
        temperatures, ppls: equal-length sequences of numbers (the precomputed curve).
        current: optional (τ, ppl) pair drawn as a red dot (the slider's position).
        ax: optional matplotlib Axes to draw on (a new figure otherwise).
        reference: optional dict label -> perplexity drawn as horizontal dashed lines.

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    temperatures, ppls = list(temperatures), list(ppls)
    if len(temperatures) != len(ppls) or not temperatures:
        raise ValueError(
            f"temperatures and ppls: expected two non-empty sequences of equal length, got "
            f"{len(temperatures)} and {len(ppls)}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(temperatures, ppls, color="tab:blue", label="held-out perplexity")
    best = min(range(len(ppls)), key=lambda i: ppls[i])
    ax.plot(
        temperatures[best],
        ppls[best],
        "k^",
        label=f"best on the curve: τ = {temperatures[best]:.2f}",
    )
    for label, value in (reference or {}).items():
        ax.axhline(value, linestyle="--", linewidth=1, color="gray")
        ax.text(
            temperatures[-1], value, f" {label}", va="bottom", ha="right", fontsize=8, clip_on=True
        )
    if current is not None:
        tau, p = current
        ax.plot([tau], [p], "o", color="tab:red", markersize=8, label=f"τ = {tau:.2f}: {p:.3f}")
    ax.axvline(1.0, color="gray", linewidth=0.8)
    ax.set_xlabel("temperature τ (logits / τ)")
    ax.set_ylabel("perplexity")
    finite = [p for p in ppls if math.isfinite(p)]
    if finite:
        # The baselines stay inside the axes, with their labels: a barely trained model's curve
        # can sit far above them (a label left outside breaks the figure's layout).
        refs = [v for v in (reference or {}).values() if math.isfinite(v)]
        low = min([*finite, *refs])
        high = max([min(max(finite), 4 * min(finite)), *refs])
        ax.set_ylim(0.9 * low, high * 1.05)
    ax.legend(loc="upper center", fontsize=8)
    return ax


class _CurveImage(LivePicture):
    """The precomputed curve drawn once; each update blits one red dot and encodes a PNG.

    Redrawing a matplotlib figure and encoding it at full compression costs 50-100 ms on a
    2-CPU machine; restoring the cached background, drawing one marker and encoding with
    zlib level 1 costs a few milliseconds.
    """

    def __init__(self, temperatures, ppls, reference=None):
        super().__init__(figsize=(6, 3.2))  # not registered with pyplot: never leaks
        self.ax = self.fig.add_subplot()
        plot_temperature_curve(temperatures, ppls, ax=self.ax, reference=reference)
        self.ax.set_title("held-out perplexity against temperature")
        (self.dot,) = self.ax.plot([], [], "o", color="tab:red", markersize=8, animated=True)
        self.fig.tight_layout()
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def png_at(self, tau: float, ppl: float) -> bytes:
        """PNG bytes of the curve with the red dot at (τ, ppl)."""
        self.canvas.restore_region(self.background)
        self.dot.set_data([tau], [ppl])
        self.ax.draw_artist(self.dot)
        return encode_png(self.canvas)


def temperature_slider(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    perplexity_fn: PerplexityFn,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    reference: dict | None = None,
    display: bool = True,
):
    """A slider over τ that marks the held-out perplexity of ``logits / τ`` on the whole curve.

    The curve is computed once here (``temperature_curve``) and drawn once; each move of the
    slider costs one call of ``perplexity_fn`` on (N, V) logits, one marker drawn over the cached
    picture and one PNG encoding (milliseconds, not a matplotlib redraw).

    Args:
        logits: (N, V) held-out logits, targets: (N,) true next tokens (see ``heldout_logits``).
        perplexity_fn: ``(logits (N, V), targets (N,)) -> float``, the student's ``perplexity``.
        temperatures: the grid of the precomputed curve; the slider spans its range and starts
            at 1.0 (or the grid's nearest point).
        reference: optional dict label -> perplexity drawn as dashed lines (baselines).
        display: show the widget (in a notebook) before returning.

    Returns:
        ``show(τ)``, the function the slider calls (it redraws the picture for temperature τ).
        ``show.widget`` is the widget (a VBox: ``children[0]`` the slider, ``children[1]`` the
        picture, ``children[2]`` a text line, ``children[3]`` an Output that catches errors
        raised while the slider moves); ``show.last`` holds the latest (τ, perplexity) pair and
        ``show.curve`` the precomputed (temperatures, perplexities).
    """
    import ipywidgets as widgets

    temperatures = [float(tau) for tau in temperatures]
    curve = temperature_curve(logits, targets, temperatures, perplexity_fn=perplexity_fn)
    best = min(range(len(curve)), key=lambda i: curve[i])
    picture = _CurveImage(temperatures, curve, reference)
    step = round(temperatures[1] - temperatures[0], 4) if len(temperatures) > 1 else 0.05
    start = min(temperatures, key=lambda tau: abs(tau - 1.0))
    slider = widgets.FloatSlider(
        value=start,
        min=min(temperatures),
        max=max(temperatures),
        step=step,
        description="τ",
        continuous_update=False,
        readout_format=".2f",
    )
    image = widgets.Image(format="png", layout=widgets.Layout(width="540px"))
    text = widgets.HTML()
    errors = widgets.Output()

    def show(tau: float) -> None:
        tau = float(tau)
        ppl = float(perplexity_fn(scale_logits(logits, tau), targets))
        show.last = (tau, ppl)
        image.value = picture.png_at(tau, ppl)
        text.value = (
            f"τ = {tau:.2f}: held-out perplexity <b>{ppl:.3f}</b> "
            f"(best on the curve: {curve[best]:.3f} at τ = {temperatures[best]:.2f})"
        )

    def on_change(change) -> None:
        with errors:  # in a kernel, a traceback lands here instead of vanishing into the log
            errors.clear_output()
            show(change["new"])

    show.last = None
    show.curve = (temperatures, curve)
    show(start)
    slider.observe(on_change, names="value")
    show.widget = widgets.VBox([slider, image, text, errors])
    if display:
        from IPython.display import display as ipy_display

        ipy_display(show.widget)
    return show
