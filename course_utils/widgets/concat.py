"""Lesson 2's pictures, slider and timing: X W_xh + H W_hh as one product of concatenations.

* ``draw_concat_blocks(batch, num_inputs, num_hiddens)``: the block matrices drawn to scale,
  ``[X | H] @ [W_xh ; W_hh] = X W_xh + H W_hh``, every block labelled with its shape.
* ``concat_slider(separate_fn, concat_fn)``: sliders for num_inputs, num_hiddens and batch that
  redraw the picture and show, on random data, the largest difference between the two forms.
  The two forms are ARGUMENTS: they are lesson 2's graded exercises, and no course_utils function
  may answer an exercise, so the notebook passes the student's own functions.
* ``matrix_products(fn, *args)``: a display helper that lists the matrix products a function
  really performed (recorded below torch's Python API), so a student sees "one product of
  (2, 7) @ (7, 4)" instead of taking it on trust.
* ``time_forms`` / ``timing_sweep`` / ``plot_timings``: an ungraded micro-benchmark of callables
  the notebook builds (again from the student's functions); nothing here multiplies X by W_xh.

The table of concatenation mistakes, run on real tensors, is in ``concat_mistakes``. Symbols as in
the lesson: B = batch, d = num_inputs, h = num_hiddens (n is only ever an n-gram's order).

Every slider callback does one forward pass on a handful of numbers and draws one small figure.
"""

from __future__ import annotations

import math
import timeit
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle
from torch.utils._python_dispatch import TorchDispatchMode

from .._checks import positive_int
from ._render import LivePicture

__all__ = [
    "COLORS",
    "concat_report",
    "concat_slider",
    "draw_concat_blocks",
    "matrix_products",
    "max_abs_difference",
    "plot_timings",
    "random_operands",
    "time_forms",
    "timing_sweep",
]

# One colour per block; the weights share their activation's hue, lighter.
COLORS = {
    "X": "#4C72B0",
    "H": "#DD8452",
    "W_xh": "#A6BDDB",
    "W_hh": "#F5C6A5",
    "out": "#8C8C8C",
}

# aten operators that multiply matrices (or vectors): the index of the tensor argument whose
# last dimension is the one summed over (the contraction).
_PRODUCT_OPS = {
    "mm": 0,
    "bmm": 0,
    "matmul": 0,
    "mv": 0,
    "dot": 0,
    "vdot": 0,
    "linear": 0,
    "addmm": 1,
    "addmv": 1,
    "addbmm": 1,
    "baddbmm": 1,
    "_addmm_activation": 1,
}


# --------------------------------------------------------------------------- data


def random_operands(batch: int, num_inputs: int, num_hiddens: int, seed: int = 0):
    """Random float32 ``X`` (batch, num_inputs), ``H`` (batch, num_hiddens), ``W_xh``
    (num_inputs, num_hiddens) and ``W_hh`` (num_hiddens, num_hiddens), drawn from N(0, 1) with
    their own seeded generator (the global torch seed is left alone)."""
    fn = "random_operands"
    positive_int(fn, "batch", batch)
    positive_int(fn, "num_inputs", num_inputs)
    positive_int(fn, "num_hiddens", num_hiddens)
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(batch, num_inputs, generator=g)
    H = torch.randn(batch, num_hiddens, generator=g)
    W_xh = torch.randn(num_inputs, num_hiddens, generator=g)
    W_hh = torch.randn(num_hiddens, num_hiddens, generator=g)
    return X, H, W_xh, W_hh


def max_abs_difference(
    separate_fn: Callable, concat_fn: Callable, batch: int, num_inputs: int, num_hiddens: int,
    seed: int = 0,
) -> float:  # fmt: skip
    """Largest ``|separate_fn(X, H, W_xh, W_hh) - concat_fn(X, H, W_xh, W_hh)|`` on random data.

    Both functions take X (batch, num_inputs), H (batch, num_hiddens), W_xh (num_inputs,
    num_hiddens), W_hh (num_hiddens, num_hiddens) and return (batch, num_hiddens). Exceptions
    from either function propagate; a shape mismatch between the two results raises ValueError.
    """
    X, H, W_xh, W_hh = random_operands(batch, num_inputs, num_hiddens, seed)
    a = separate_fn(X, H, W_xh, W_hh)
    b = concat_fn(X, H, W_xh, W_hh)
    for name, value in (("separate_fn", a), ("concat_fn", b)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"max_abs_difference: {name} returned {type(value).__name__}, "
                            "expected a tensor of shape (batch, num_hiddens).")  # fmt: skip
    if a.shape != b.shape:
        raise ValueError(
            f"max_abs_difference: the two forms disagree in shape: {tuple(a.shape)} vs "
            f"{tuple(b.shape)}; both should be (batch, num_hiddens) = ({batch}, {num_hiddens})."
        )
    return float((a.detach().double() - b.detach().double()).abs().max())


class _ProductRecorder(TorchDispatchMode):
    """Records every matrix product dispatched while active (below torch's Python API, so
    ``@``, ``torch.mm``, ``einsum``, ``F.linear``... all show up as the aten op they run)."""

    @classmethod
    def _should_skip_dynamo(cls):
        # Nothing is compiled here. Without this, torch wraps the handler for its compiler and
        # imports torch._dynamo on first use (seconds); a torch without the hook ignores it.
        return False

    def __init__(self):
        super().__init__()
        self.products: list[tuple[str, tuple, tuple, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in _PRODUCT_OPS:
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            i = _PRODUCT_OPS[name]
            if len(tensors) > i + 1:
                left, right = tensors[i], tensors[i + 1]
                self.products.append(
                    (name, tuple(left.shape), tuple(right.shape), int(left.shape[-1]))
                )
        return func(*args, **(kwargs or {}))


def matrix_products(fn: Callable, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` and list the matrix products it performed (display helper).

    Returns ``(result, products)`` where ``products`` is a list of
    ``(op_name, left_shape, right_shape, contraction_size)``, e.g.
    ``[("mm", (2, 7), (7, 4), 7)]`` for one product of a (2, 7) by a (7, 4) matrix.
    """
    if not callable(fn):
        raise TypeError(f"matrix_products: fn must be callable, got {type(fn).__name__}.")
    with _ProductRecorder() as rec:
        result = fn(*args, **kwargs)
    return result, rec.products


# --------------------------------------------------------------------------- the picture


def draw_concat_blocks(batch: int, num_inputs: int, num_hiddens: int, ax=None):
    """Draw ``[X | H] @ [W_xh ; W_hh] = X W_xh + H W_hh`` to scale (one square per entry).

    X (batch, num_inputs) and H (batch, num_hiddens) sit side by side; W_xh (num_inputs,
    num_hiddens) sits on top of W_hh (num_hiddens, num_hiddens); the result is
    (batch, num_hiddens). Returns the matplotlib Axes.
    """
    fn = "draw_concat_blocks"
    b = positive_int(fn, "batch", batch)
    d = positive_int(fn, "num_inputs", num_inputs)
    h = positive_int(fn, "num_hiddens", num_hiddens)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.2))
    gap = 2.2  # room for the operator between matrices

    def block(x0, y0, width, height, color, label, shape):
        # y grows downwards from the top row (y0 = 0), like matrix row indices.
        ax.add_patch(Rectangle((x0, -y0 - height), width, height, facecolor=color,
                               edgecolor="black", linewidth=1.2))  # fmt: skip
        grid = [[(x0 + i, -y0), (x0 + i, -y0 - height)] for i in range(1, width)]
        grid += [[(x0, -y0 - j), (x0 + width, -y0 - j)] for j in range(1, height)]
        if grid and width <= 32 and height <= 32:  # faint lines between the entries, one artist
            ax.add_collection(LineCollection(grid, colors="white", linewidths=0.5))
        if len(label) > 1 and width < 3:  # a narrow block: its label goes to its left
            ax.text(x0 - 0.3, -y0 - height / 2, label, ha="right", va="center", fontsize=10,
                    fontweight="bold")  # fmt: skip
        else:
            ax.text(x0 + width / 2, -y0 - height / 2, label, ha="center", va="center",
                    fontsize=10, fontweight="bold")  # fmt: skip
        return shape

    def slot(width):  # a matrix is centred in a slot wide enough for its labels
        return max(width, 7)

    x = (slot(d + h) - (d + h)) / 2
    block(x, 0, d, b, COLORS["X"], "X", (b, d))
    block(x + d, 0, h, b, COLORS["H"], "H", (b, h))
    ax.text(x + (d + h) / 2, 0.6, f"[X | H]  ({b}, {d}+{h})", ha="center", va="bottom", fontsize=9)
    x = slot(d + h) + gap
    ax.text(x - gap / 2, -b / 2, "@", ha="center", va="center", fontsize=16)
    x0 = x + (slot(h) - h) / 2
    block(x0, 0, h, d, COLORS["W_xh"], "W_xh", (d, h))
    block(x0, d, h, h, COLORS["W_hh"], "W_hh", (h, h))
    ax.text(x0 + h / 2, 0.6, f"[W_xh ; W_hh]\n({d}+{h}, {h})", ha="center", va="bottom", fontsize=9)
    x += slot(h) + gap
    ax.text(x - gap / 2, -b / 2, "=", ha="center", va="center", fontsize=16)
    x0 = x + (slot(h) - h) / 2
    block(x0, 0, h, b, COLORS["out"], "", (b, h))
    ax.text(x0 + h / 2, -b - 0.4, "X W_xh\n+ H W_hh", ha="center", va="top", fontsize=9)
    ax.text(x0 + h / 2, 0.6, f"({b}, {h})", ha="center", va="bottom", fontsize=9)
    x += slot(h)
    ax.set_xlim(-0.5, x + 0.5)
    ax.set_ylim(-max(b + 3, d + h) - 0.5, 3.0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("X (blue) meets only W_xh, H (orange) meets only W_hh", fontsize=10)
    return ax


# --------------------------------------------------------------------------- the slider


def concat_report(
    separate_fn: Callable, concat_fn: Callable, batch: int, num_inputs: int, num_hiddens: int,
    seed: int = 0,
) -> str:  # fmt: skip
    """The text under the slider's picture: the shapes, the largest difference between the two
    forms on random data, and the matrix products ``concat_fn`` performed.

    A function that still raises NotImplementedError (the unsolved exercise) or any other error
    is reported in the text instead of raising, so the slider keeps working.
    """
    b, d, h = batch, num_inputs, num_hiddens
    lines = [
        f"X: ({b}, {d})   H: ({b}, {h})   [X | H]: ({b}, {d + h})",
        f"W_xh: ({d}, {h})   W_hh: ({h}, {h})   [W_xh ; W_hh]: ({d + h}, {h})",
        f"both forms: ({b}, {h})",
    ]
    try:
        diff = max_abs_difference(separate_fn, concat_fn, b, d, h, seed)
        X, H, W_xh, W_hh = random_operands(b, d, h, seed)
        _, products = matrix_products(concat_fn, X, H, W_xh, W_hh)
    except NotImplementedError:
        lines.append("write preactivation_separate and preactivation_concat above to compare them")
        return "\n".join(lines)
    except Exception as err:  # a student's bug: show it, keep the slider alive
        lines.append(f"your functions raised {type(err).__name__}: {err}")
        return "\n".join(lines)
    lines.append(f"largest |separate - concat| on random data: {diff:.2e} (float32 rounding)")
    shown = ", ".join(f"{op} {left} @ {right}" for op, left, right, _ in products) or "none"
    lines.append(f"matrix products done by your preactivation_concat: {len(products)}: {shown}")
    return "\n".join(lines)


def concat_slider(separate_fn: Callable, concat_fn: Callable, max_size: int = 10):
    """Sliders for num_inputs, num_hiddens and batch; each move redraws the block picture and
    prints ``concat_report`` for the student's two functions. Returns the ``interact`` callback
    (its ``.widget`` holds the sliders, ``.picture`` the figure every move redraws in place)."""
    import ipywidgets as widgets

    positive_int("concat_slider", "max_size", max_size)

    picture = LivePicture(figsize=(7.5, 3.2))
    ax = picture.fig.add_subplot()

    def show(num_inputs=3, num_hiddens=4, batch=2):
        ax.clear()  # the blocks change size and place: redraw them on the same axes
        draw_concat_blocks(batch, num_inputs, num_hiddens, ax=ax)
        picture.show()
        print(concat_report(separate_fn, concat_fn, batch, num_inputs, num_hiddens))

    style = {"description_width": "100px"}
    callback = widgets.interact(
        show,
        num_inputs=widgets.IntSlider(3, 1, max_size, description="num_inputs", style=style),
        num_hiddens=widgets.IntSlider(4, 1, max_size, description="num_hiddens", style=style),
        batch=widgets.IntSlider(2, 1, max(1, max_size // 2), description="batch", style=style),
    )
    callback.picture = picture
    return callback


# --------------------------------------------------------------------------- timing


def time_forms(
    forms: dict[str, Callable],
    repeat: int = 5,
    run_seconds: float = 0.01,
    number: int | None = None,
) -> dict[str, float]:
    """Seconds per call of each zero-argument callable: the best of ``repeat`` runs of
    ``number`` calls each (timeit's convention: noise only ever adds time).

    ``number`` defaults to as many calls as fit in about ``run_seconds`` (measured on one
    warm-up call, at least 1, at most 1000), so a slow form does not blow the time budget:
    the whole measurement takes about ``len(forms) * repeat * run_seconds``.
    A callable that raises NotImplementedError (an exercise not written yet) gets ``nan``.
    """
    positive_int("time_forms", "repeat", repeat)
    if number is not None:
        positive_int("time_forms", "number", number)
    if not run_seconds > 0:
        raise ValueError(f"time_forms: run_seconds must be positive, got {run_seconds!r}.")
    out = {}
    for name, f in forms.items():
        try:
            once = timeit.timeit(f, number=1)  # warm-up and calibration
        except NotImplementedError:
            out[name] = math.nan
            continue
        calls = number or max(1, min(1000, int(run_seconds / max(once, 1e-7))))
        out[name] = min(timeit.repeat(f, number=calls, repeat=repeat)) / calls
    return out


def timing_sweep(
    make_forms: Callable[[int], dict[str, Callable]],
    sizes: Sequence[int],
    repeat: int = 5,
    run_seconds: float = 0.01,
    num_threads: int | None = 1,
) -> dict[str, list[float]]:
    """``time_forms(make_forms(size), repeat, run_seconds)`` for every size:
    ``{form name: [seconds per call, ...]}`` with one entry per size, in order.

    ``num_threads`` (default 1, like ``torch.utils.benchmark.Timer``) is set for the sweep and
    restored afterwards: on a shared machine, small products spread over several threads mostly
    measure how busy the other cores are. ``None`` keeps the current setting.
    """
    if len(sizes) == 0:
        raise ValueError("timing_sweep: sizes is empty; pass e.g. [32, 64, 128].")
    if num_threads is not None:
        positive_int("timing_sweep", "num_threads", num_threads)
    before = torch.get_num_threads()
    table: dict[str, list[float]] = {}
    try:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        for size in sizes:
            for name, seconds in time_forms(make_forms(size), repeat, run_seconds).items():
                table.setdefault(name, []).append(seconds)
    finally:
        torch.set_num_threads(before)
    return table


def plot_timings(
    sizes: Sequence[int], table: dict[str, list[float]], ax=None, xlabel="num_hiddens"
):
    """Microseconds per call against ``sizes`` (log-log), one line per form; forms that are
    all ``nan`` (not written yet) are listed in the legend as such. Returns the Axes."""
    if ax is None:
        _, ax = plt.subplots()
    for name, seconds in table.items():
        if all(math.isnan(s) for s in seconds):
            ax.plot([], [], label=f"{name} (not written yet)")
            continue
        ax.plot(sizes, [s * 1e6 for s in seconds], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes), [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("microseconds per call (best of runs)")
    ax.legend(fontsize=8)
    return ax
