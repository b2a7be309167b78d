"""Lesson 5's pictures and slider: how a gradient fares on its way back through time.

* ``recurrent_matrix(num_hiddens, scale, seed)``: a W_hh whose singular values all equal
  ``scale`` (a scaled random orthogonal matrix), so its spectral radius and its norm are both
  ``scale``.
* ``sequence_states(W_hh, num_steps, input_scale, seed)``: the hidden states H_1 .. H_T of one
  random sequence read by a tanh RNN (``course_utils.rnn.RNNScratch``) with that W_hh. Small
  inputs keep tanh near its linear middle; large ones saturate it.
* ``bptt_slider(state_jacobian_norms)``: the slider. The norms are computed by the function passed
  in, which in the notebook is the student's own ``state_jacobian_norms`` (lesson 5's exercise):
  nothing here computes a Jacobian product or a backward pass.
* ``draw_bptt_graph(num_steps)`` and ``plot_gradient_norms(curves)``: static figures.

The slider's callback runs one forward pass (cached per setting), the student's function, and
redraws a figure built once (``_render.LivePicture``).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import torch

from .._checks import positive_int
from ._render import LivePicture
from .hidden_state import _power_of_ten

__all__ = [
    "NormsFn",
    "bptt_slider",
    "draw_bptt_graph",
    "plot_gradient_norms",
    "recurrent_matrix",
    "sequence_states",
]

NormsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NUM_INPUTS = 8  # inputs per step of the random sequences


def _nonnegative(fn: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{fn}: {name} must be a number >= 0, got {value!r}.")
    return float(value)


def _check_seed(fn: str, seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{fn}: seed must be an int, got {type(seed).__name__} {seed!r}.")
    return seed


def recurrent_matrix(num_hiddens: int, scale: float, seed: int = 0) -> torch.Tensor:
    """A (num_hiddens, num_hiddens) float64 W_hh = scale * Q with Q a random orthogonal matrix.

    Every singular value and every eigenvalue modulus of ``scale * Q`` is ``scale``: its spectral
    radius and its spectral norm are both ``scale``, so with tanh in its linear middle a gradient
    sent back k steps is multiplied by exactly ``scale**k``. The notebook's global random
    generator is left untouched.
    """
    fn = "recurrent_matrix"
    positive_int(fn, "num_hiddens", num_hiddens)
    scale = _nonnegative(fn, "scale", scale)
    gen = torch.Generator().manual_seed(_check_seed(fn, seed))
    A = torch.randn(num_hiddens, num_hiddens, generator=gen, dtype=torch.float64)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sign(torch.diagonal(R))  # a uniformly random orthogonal matrix
    return scale * Q


def sequence_states(
    W_hh: torch.Tensor, num_steps: int, input_scale: float = 1.0, seed: int = 0
) -> torch.Tensor:
    """The hidden states H_1 .. H_T of one random sequence, shape (num_steps, num_hiddens).

    A tanh RNN (``RNNScratch``, bias 0, H_0 = 0) with recurrent matrix ``W_hh``
    (num_hiddens, num_hiddens) reads ``num_steps`` random inputs x_t ~ N(0, I) of size
    ``NUM_INPUTS`` through a random W_xh scaled by ``input_scale / sqrt(NUM_INPUTS)``.
    ``input_scale = 0`` leaves every state at 0 (tanh stays linear, 1 - H_t^2 = 1); larger values
    push the states towards +-1, where tanh saturates. float64; the global generator is untouched.
    """
    fn = "sequence_states"
    if not isinstance(W_hh, torch.Tensor) or W_hh.dim() != 2 or W_hh.shape[0] != W_hh.shape[1]:
        shape = tuple(W_hh.shape) if isinstance(W_hh, torch.Tensor) else type(W_hh).__name__
        raise ValueError(f"{fn}: W_hh must be a square (num_hiddens, num_hiddens) tensor, got "
                         f"{shape}.")  # fmt: skip
    positive_int(fn, "num_steps", num_steps)
    input_scale = _nonnegative(fn, "input_scale", input_scale)
    seed = _check_seed(fn, seed)
    from course_utils.rnn import RNNScratch

    num_hiddens = W_hh.shape[0]
    gen = torch.Generator().manual_seed(seed + 1)
    layer = RNNScratch(NUM_INPUTS, num_hiddens).double()
    inputs = torch.randn(num_steps, 1, NUM_INPUTS, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        layer.W_hh.copy_(W_hh.detach().to(torch.float64))
        layer.W_xh.copy_(
            torch.randn(NUM_INPUTS, num_hiddens, generator=gen, dtype=torch.float64)
            * (input_scale / math.sqrt(NUM_INPUTS))
        )
        outputs, _ = layer(inputs)  # (num_steps, 1, num_hiddens)
    return outputs[:, 0, :]


@functools.lru_cache(maxsize=128)
def _states_cached(
    num_hiddens: int, scale: float, num_steps: int, input_scale: float, seed: int
) -> torch.Tensor:
    """``sequence_states`` for the slider, kept per setting (do not modify the result)."""
    return sequence_states(recurrent_matrix(num_hiddens, scale, seed), num_steps, input_scale, seed)


# --------------------------------------------------------------------------- static figures


def plot_gradient_norms(curves: Mapping[str, torch.Tensor], ax=None):
    """Plot norms against the distance k = 1 .. T on a log axis, one line per entry of ``curves``.

    curves: label -> 1-D tensor of T positive norms (entry k-1 = ||dH_T / dH_{T-k}||). Zeros and
    infinities are left out of the log plot. Returns the matplotlib Axes.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("plot_gradient_norms: curves must be a non-empty dict label -> tensor.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for label, norms in curves.items():
        values = torch.as_tensor(norms).detach().double().flatten()
        k = torch.arange(1, len(values) + 1)
        keep = torch.isfinite(values) & (values > 0)
        ax.plot(k[keep].tolist(), values[keep].tolist(), label=str(label))
    ax.set_yscale("log")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_xlabel("k: steps the gradient travels back")
    ax.set_ylabel(r"$\|\partial H_T / \partial H_{T-k}\|$")
    ax.legend(fontsize=8)
    return ax


def draw_bptt_graph(num_steps: int = 4, ax=None):
    """Draw an RNN unrolled over ``num_steps`` steps with the gradients flowing back (in red).

    Forward (grey): x_t and H_{t-1} make H_t, which makes the loss term L_t. Backward (red): each
    L_t sends dL_t/dH_t down into H_t, and each H_t passes its whole gradient to H_{t-1} through
    the Jacobian J_t^T; the shared weights collect one contribution per step. Returns the Figure.
    """
    positive_int("draw_bptt_graph", "num_steps", num_steps)
    T = num_steps
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.9 * T + 1.6, 3.6))
    else:
        fig = ax.figure
    box = {"boxstyle": "round,pad=0.35", "linewidth": 1.1, "edgecolor": "0.3"}
    fwd = {"arrowstyle": "->", "lw": 1.2, "color": "0.55"}
    back = {"arrowstyle": "->", "lw": 1.6, "color": "tab:red"}

    def node(x, y, text, color):
        ax.text(x, y, text, ha="center", va="center", fontsize=11, bbox={**box, "facecolor": color})

    def arrow(x0, y0, x1, y1, style, label=None, dx=0.0, dy=0.0, color="0.3"):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=style)
        if label:
            ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, label, fontsize=8, color=color,
                    ha="center", va="center")  # fmt: skip

    y_x, y_h, y_l = 0.0, 1.0, 2.0
    node(-0.8, y_h, r"$H_0$", "0.92")
    for t in range(1, T + 1):
        x = 1.9 * (t - 1) + 1.0
        node(x, y_x, f"$x_{{{t}}}$", "#fde7c8")
        node(x, y_h, f"$H_{{{t}}}$", "#cfe3f7")
        node(x, y_l, f"$L_{{{t}}}$", "#d9f0d3")
        arrow(x - 0.12, y_x + 0.22, x - 0.12, y_h - 0.22, fwd)
        arrow(x - 0.12, y_h + 0.22, x - 0.12, y_l - 0.22, fwd)
        arrow(x + 0.12, y_l - 0.22, x + 0.12, y_h + 0.22, back,
              f"dH_all[{t - 1}]", dx=0.55, color="tab:red")  # fmt: skip
        x_prev = -0.8 if t == 1 else x - 1.9
        arrow(x_prev + 0.35, y_h + 0.08, x - 0.35, y_h + 0.08, fwd)
        arrow(x - 0.35, y_h - 0.1, x_prev + 0.35, y_h - 0.1, back,
              f"$J_{{{t}}}^T$", dy=-0.22, color="tab:red")  # fmt: skip
    ax.set_xlim(-1.4, 1.9 * (T - 1) + 2.1)
    ax.set_ylim(-0.45, 2.45)
    ax.axis("off")
    ax.set_title(
        "Forward in grey, backward in red: each state adds its own loss gradient to the one "
        "coming back from the future",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the slider


class _NormPicture(LivePicture):
    """Log-y plot of ||dH_T/dH_{T-k}|| against k, with the linear prediction scale**k dashed."""

    def __init__(self):
        from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

        super().__init__(figsize=(6, 3.3))
        self.ax = self.fig.add_subplot()
        self.fig.subplots_adjust(left=0.13, right=0.97, bottom=0.15, top=0.9)
        self.ax.set_yscale("log")
        self.ax.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
        self.ax.yaxis.set_minor_locator(NullLocator())  # many decades: keep redraws cheap
        self.ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))  # no mathtext: faster
        self.ax.axhline(1.0, color="0.5", lw=0.8)
        # No legend and no title: text is most of the drawing time; the readout says what is what.
        (self.norms,) = self.ax.plot([], [], "-", color="tab:red", lw=1.8)
        (self.linear,) = self.ax.plot([], [], "--", color="tab:blue", lw=1.0)
        self.ax.set_xlabel("k: steps back from H_T")
        self.ax.set_ylabel("||dH_T / dH_(T-k)||")

    def update(self, norms: list[float], scale: float) -> None:
        k = list(range(1, len(norms) + 1))
        points = [(i, v) for i, v in zip(k, norms, strict=True) if 0 < v < math.inf]
        self.norms.set_data([i for i, _ in points], [v for _, v in points])
        linear = [(i, scale**i) for i in k if 0 < scale**i < math.inf]
        self.linear.set_data([i for i, _ in linear], [v for _, v in linear])
        every = [v for _, v in points] + [v for _, v in linear] + [1.0]
        lo, hi = max(min(every), 1e-300), max(every)
        self.ax.set_xlim(0.5, len(norms) + 0.5)
        self.ax.set_ylim(lo / 3, hi * 3)


def _readout(norms: list[float], scale: float, ms: float) -> str:
    last = norms[-1]
    verdict = "vanishes" if last < 1e-3 else "explodes" if last > 1e3 else "survives"
    return (
        "red: your state_jacobian_norms; dashed blue: scale**k (tanh linear, no saturation)\n"
        f"||dH_T/dH_0|| = {last:.3g} after {len(norms)} steps "
        f"(scale**T = {scale ** len(norms):.3g}): the gradient {verdict}.  Callback {ms:.0f} ms."
    )


def bptt_slider(state_jacobian_norms: NormsFn, num_hiddens: int = 32, seed: int = 0):
    """Sliders for the scale of W_hh, the sequence length and the input strength.

    For each setting, a tanh RNN with ``W_hh = recurrent_matrix(num_hiddens, scale, seed)`` reads a
    random sequence (``sequence_states``) and ``state_jacobian_norms(W_hh, H_all)`` (the student's
    function, returning a (num_steps,) tensor) gives ||dH_T/dH_{T-k}||, k = 1..T, plotted on a log
    axis next to scale**k. Until the function is written (NotImplementedError) a note is printed.
    Returns the ``ipywidgets.interactive`` box: ``.result`` holds the last norms (a list of
    floats), ``.picture`` the figure redrawn in place and ``.timings`` the seconds each callback
    took.
    """
    import ipywidgets as widgets

    positive_int("bptt_slider", "num_hiddens", num_hiddens)
    picture = _NormPicture()
    timings: list[float] = []

    def show(scale=1.0, num_steps=50, input_scale=0.5):
        start = time.perf_counter()
        W_hh = recurrent_matrix(num_hiddens, scale, seed)
        H_all = _states_cached(num_hiddens, float(scale), num_steps, float(input_scale), seed)
        try:
            norms = state_jacobian_norms(W_hh, H_all.clone())
        except NotImplementedError:
            print("Write state_jacobian_norms above first, then rerun this cell.")
            return None
        except Exception as err:  # the student's function failed: say so, keep the slider alive
            print(f"state_jacobian_norms raised {type(err).__name__}: {err}")
            return None
        if not isinstance(norms, torch.Tensor) or tuple(norms.shape) != (num_steps,):
            got = tuple(norms.shape) if isinstance(norms, torch.Tensor) else type(norms).__name__
            print(f"state_jacobian_norms returned {got}; expected a tensor of shape ({num_steps},)")
            return None
        values = [float(v) for v in norms.detach().double().tolist()]
        picture.update(values, float(scale))
        picture.show()
        timings.append(time.perf_counter() - start)
        print(_readout(values, float(scale), 1000 * timings[-1]))
        return values

    box = widgets.interactive(
        show,
        scale=widgets.FloatSlider(value=1.0, min=0.5, max=1.5, step=0.05,
                                  description="scale of W_hh", continuous_update=False),
        num_steps=widgets.IntSlider(value=50, min=5, max=100, step=5,
                                    description="steps T", continuous_update=False),
        input_scale=widgets.FloatSlider(value=0.5, min=0.0, max=3.0, step=0.25,
                                        description="input strength", continuous_update=False),
    )  # fmt: skip
    box.picture = picture
    box.timings = timings
    return box
