"""Lesson 1's pictures and sliders: why a hidden state (隐藏状态) beats an n-gram table.

Two sliders and one static drawing:

* ``growth_slider(ngram_table_size, rnn_param_count)``: as the context grows, an n-gram table
  needs ``|V|^n`` entries while an RNN keeps the same parameters. The two counting functions are
  ARGUMENTS: they are lesson 1's graded exercises, and no course_utils function may answer an
  exercise, so the notebook passes the student's own functions (the tests pass references). When
  ``course_utils.rnn`` is importable, the slider also counts the tensors of a real
  ``CharRNNScratch`` as an independent check of the student's ``rnn_param_count``.
* ``hidden_state_slider(vocab)``: an (untrained, randomly initialised) ``RNNScratch`` reads
  "machine" one character at a time; a heatmap shows the hidden state after each step.
* ``draw_unrolled_rnn(tokens)``: the unrolled RNN, the same weights at every step.

Every slider callback only does cheap work (a few integer products, or one forward pass of a
seven-step RNN that is cached per setting) and redraws one small figure that was built once
(``_render.LivePicture``): no new figure per move.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from .._checks import positive_int
from ..plotting import plot_hidden_states, update_hidden_states
from ._render import LivePicture

__all__ = [
    "VOCAB_CHOICES",
    "distinct_ngrams",
    "draw_unrolled_rnn",
    "growth_rows",
    "growth_slider",
    "hidden_state_slider",
    "hidden_states",
    "plot_growth",
    "plot_table_vs_seen",
    "real_param_count",
]

# Vocabulary sizes the growth slider offers: characters of The Time Machine (28 after d2l's
# preprocessing), a small word vocabulary, a typical word vocabulary.
VOCAB_CHOICES = (("characters (28)", 28), ("small words (1000)", 1000), ("words (10000)", 10000))

CountFn = Callable[..., int]


_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def _power_of_ten(value, _pos=None) -> str:
    """Tick label 10^k in plain unicode (mathtext labels make redrawing a slider slow)."""
    if value <= 0:
        return ""
    exponent = round(math.log10(value))
    return "10" + str(exponent).translate(_SUPERSCRIPT)


def _log_y_axes(ax=None, figsize=(6, 3.2)):
    """A figure with one log-y axes, fixed margins and cheap tick labels; returns (fig, ax)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        fig.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.9)
    else:
        fig = ax.figure
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=7))
    ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    ax.yaxis.set_minor_locator(NullLocator())  # a 30-decade axis would redraw hundreds of ticks
    return fig, ax


# --------------------------------------------------------------------------- n-gram vs RNN


def growth_rows(
    ngram_table_size: CountFn,
    rnn_param_count: CountFn,
    vocab_size: int,
    num_hiddens: int,
    max_n: int,
) -> list[dict]:
    """One row per context length n = 1..max_n: table entries of an n-gram model vs RNN params.

    Args:
        ngram_table_size: ``f(vocab_size, n) -> int`` (the student's function in the notebook).
        rnn_param_count: ``f(num_inputs, num_hiddens, num_outputs) -> int`` (the student's).
        vocab_size: |V|; the RNN reads one-hot tokens and predicts logits over V, so it is
            called as ``rnn_param_count(vocab_size, num_hiddens, vocab_size)``.
        num_hiddens: hidden units of the RNN.
        max_n: the longest n-gram (tokens of context + 1) to tabulate.

    Returns:
        ``[{"n": n, "ngram_entries": int, "rnn_params": int}, ...]`` for n = 1..max_n. The RNN
        count is the same in every row: it does not depend on how far back the model looks.
    """
    fn = "growth_rows"
    positive_int(fn, "vocab_size", vocab_size)
    positive_int(fn, "num_hiddens", num_hiddens)
    positive_int(fn, "max_n", max_n)
    rnn_params = rnn_param_count(vocab_size, num_hiddens, vocab_size)
    return [
        {"n": n, "ngram_entries": ngram_table_size(vocab_size, n), "rnn_params": rnn_params}
        for n in range(1, max_n + 1)
    ]


def distinct_ngrams(corpus: Sequence[int], max_n: int) -> list[int]:
    """How many different n-grams really occur in ``corpus``, for n = 1..max_n.

    corpus: token indices (a list of ints or a 1-D integer tensor), e.g. from ``load_corpus()``.
    Returns a list of max_n ints; entry n - 1 counts the distinct windows corpus[i : i + n].
    Compare it with the size of a full n-gram table to see how empty such a table is.
    """
    fn = "distinct_ngrams"
    positive_int(fn, "max_n", max_n)
    if isinstance(corpus, torch.Tensor):
        if corpus.dim() != 1 or corpus.is_floating_point():
            raise ValueError(f"{fn}: corpus must be a 1-D tensor of token indices.")
        corpus = corpus.tolist()
    tokens = list(corpus)
    if len(tokens) < max_n:
        raise ValueError(f"{fn}: corpus has {len(tokens)} tokens, fewer than max_n = {max_n}.")
    if tokens and (min(tokens) < 0 or max(tokens) > 255):
        # any hashable windows will do; bytes are just the fastest for small vocabularies
        seq = tuple(tokens)
    else:
        seq = bytes(tokens)
    return [len({seq[i : i + n] for i in range(len(seq) - n + 1)}) for n in range(1, max_n + 1)]


def plot_table_vs_seen(possible: Sequence[int], seen: Sequence[int], num_tokens: int, ax=None):
    """Log-scale plot: entries of a full n-gram table vs n-grams that really occur in a text.

    possible[n - 1]: entries of the full table for n-grams (from the student's
    ``ngram_table_size``); seen[n - 1]: distinct n-grams in the text (``distinct_ngrams``);
    num_tokens: length of the text (no text of that length can show more distinct n-grams).
    Returns the matplotlib Figure.
    """
    if len(possible) != len(seen) or not seen:
        raise ValueError(
            f"plot_table_vs_seen: possible and seen must be equally long and non-empty, got "
            f"{len(possible)} and {len(seen)} values."
        )
    fig, ax = _log_y_axes(ax)
    ns = list(range(1, len(seen) + 1))
    pos = [(n, float(p)) for n, p in zip(ns, possible, strict=True) if float(p) > 0]
    if pos:
        ax.plot(*zip(*pos, strict=True), "o-", color="tab:red", label="entries of a full table")
    ax.plot(ns, seen, "s-", color="tab:green", label="different n-grams in the book")
    ax.axhline(num_tokens, color="0.4", ls="--", lw=1, label=f"tokens in the book ({num_tokens:,})")
    ax.set_xlabel("n")
    ax.set_ylabel("count")
    ax.legend(loc="upper left", fontsize=8)
    return fig


@functools.lru_cache(maxsize=256)
def real_param_count(vocab_size: int, num_hiddens: int) -> int | None:
    """Count the trainable scalars of a real ``course_utils.rnn.CharRNNScratch``.

    Independent of any exercise: it builds the model (W_xh, W_hh, b_h, W_hq, b_q) on torch's
    meta device (tensors with shapes and no data) and adds up ``numel()`` of its tensors.
    Returns None when ``course_utils.rnn`` is not available. Cached:
    a slider asks again and again for the same sizes.
    """
    try:
        from course_utils.rnn import CharRNNScratch, count_parameters
    except ImportError:  # pragma: no cover - the module ships with the course
        return None
    with torch.device("meta"):  # shapes only: no memory, no random draws, microseconds
        return count_parameters(CharRNNScratch(vocab_size, num_hiddens))


def plot_growth(rows: Sequence[dict], vocab_size: int, num_hiddens: int, ax=None):
    """Log-scale plot of ``growth_rows``' output: n-gram table entries vs RNN parameters.

    Returns the matplotlib Figure. Non-positive counts (a wrong student function) are left out
    of the log-scale plot instead of raising.
    """
    if not rows:
        raise ValueError("plot_growth: rows is empty; build it with growth_rows(..., max_n >= 1).")
    fig, ax = _log_y_axes(ax)
    lines = _growth_lines(ax)
    _set_growth(ax, lines, rows, vocab_size, num_hiddens)
    return fig


def _growth_lines(ax):
    """The two (still empty) curves of the growth plot, with labels, legend and axis titles."""
    (table,) = ax.plot([], [], "o-", color="tab:red", label="n-gram table |V|\u207f")
    (params,) = ax.plot([], [], "s-", color="tab:blue", label="RNN parameters")
    ax.set_xlabel("n (tokens the model conditions on, plus the one it predicts)")
    ax.set_ylabel("numbers to store")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", fontsize=8)
    return table, params


def _set_growth(ax, lines, rows: Sequence[dict], vocab_size: int, num_hiddens: int) -> None:
    """Put ``rows`` into the two curves from ``_growth_lines`` and rescale the axes."""
    for line, key in zip(lines, ("ngram_entries", "rnn_params"), strict=True):
        points = [(r["n"], float(r[key])) for r in rows if float(r[key]) > 0]
        line.set_data([n for n, _ in points], [v for _, v in points])
    ax.set_title(f"|V| = {vocab_size}, {num_hiddens} hidden units", fontsize=10)
    ax.relim()
    ax.autoscale_view()


class _GrowthPicture(LivePicture):
    """The growth plot drawn once; each slider move changes the curves' data and redraws."""

    def __init__(self):
        super().__init__(figsize=(6, 3.2))
        _, self.ax = _log_y_axes(self.fig.add_subplot())
        self.fig.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.9)
        self.lines = _growth_lines(self.ax)

    def update(self, rows: Sequence[dict], vocab_size: int, num_hiddens: int) -> None:
        _set_growth(self.ax, self.lines, rows, vocab_size, num_hiddens)


def _growth_summary(rows: Sequence[dict], real: int | None) -> str:
    last = rows[-1]
    t, p = last["ngram_entries"], last["rnn_params"]
    lines = [
        f"n = {last['n']}: the n-gram table has {t:,} entries; the RNN has {p:,} parameters "
        + (f"({t / p:.3g} times fewer)." if p and t else "."),
    ]
    if real is not None:
        verdict = "matches" if real == p else "does NOT match; check rnn_param_count"
        lines.append(f"Counting the tensors of a real CharRNNScratch gives {real:,}: {verdict}.")
    return "\n".join(lines)


def growth_slider(ngram_table_size: CountFn, rnn_param_count: CountFn):
    """Sliders for hidden size and context length; plot n-gram table size vs RNN parameters.

    Pass the notebook's ``ngram_table_size`` and ``rnn_param_count``. Until they are written
    (they raise NotImplementedError), the slider prints a note instead of a plot. Returns the
    ``ipywidgets.interactive`` box (display it); its ``.result`` holds the last rows and its
    ``.picture`` the figure that every move redraws in place (``.picture.ax``, ``.picture.lines``).
    """
    import ipywidgets as widgets

    picture = _GrowthPicture()

    def show(vocab_size=28, num_hiddens=32, max_n=8):
        try:
            rows = growth_rows(ngram_table_size, rnn_param_count, vocab_size, num_hiddens, max_n)
        except NotImplementedError:
            print("Write ngram_table_size and rnn_param_count above first, then rerun this cell.")
            return None
        except Exception as err:  # a student's function failed: say so, do not crash the widget
            print(f"Your counting functions raised {type(err).__name__}: {err}")
            return None
        picture.update(rows, vocab_size, num_hiddens)
        picture.show()  # the plot first, then the text under it
        print(_growth_summary(rows, real_param_count(vocab_size, num_hiddens)))
        return rows

    box = widgets.interactive(
        show,
        vocab_size=widgets.Dropdown(options=list(VOCAB_CHOICES), value=28, description="|V|"),
        num_hiddens=widgets.IntSlider(
            value=32, min=4, max=512, step=4, description="hidden size", continuous_update=False
        ),
        max_n=widgets.IntSlider(
            value=8, min=1, max=20, description="max n", continuous_update=False
        ),
    )
    box.picture = picture
    return box


# --------------------------------------------------------------------------- hidden states


@functools.lru_cache(maxsize=64)
def _hidden_states_cached(indices: tuple[int, ...], vocab_size: int, num_hiddens: int, seed: int,
                          sigma: float) -> torch.Tensor:  # fmt: skip
    from course_utils.rnn import RNNScratch

    with torch.random.fork_rng(devices=[]):  # do not disturb the notebook's global generator
        torch.manual_seed(seed)
        rnn = RNNScratch(vocab_size, num_hiddens, sigma=sigma)
    X = torch.tensor(indices, dtype=torch.long)  # (T,)
    inputs = F.one_hot(X, vocab_size).float().unsqueeze(1)  # (T, 1, vocab_size)
    with torch.no_grad():
        outputs, _ = rnn(inputs)  # (T, 1, num_hiddens)
    return outputs[:, 0, :]  # (T, num_hiddens)


def hidden_states(
    text: str, vocab, num_hiddens: int = 16, seed: int = 0, sigma: float = 0.3
) -> torch.Tensor:
    """Hidden states of a randomly initialised ``RNNScratch`` reading ``text`` char by char.

    Args:
        text: the characters to read, e.g. "machine" (each must be in ``vocab``).
        vocab: a course vocabulary (词表) with ``encode(str) -> list[int]`` and ``len(vocab)``.
        num_hiddens: hidden units.
        seed: seeds the weights (the notebook's global generator is left untouched).
        sigma: standard deviation of W_xh and W_hh. Small: states stay near 0; large: tanh
            saturates at +-1.

    Returns:
        H: (len(text), num_hiddens) float tensor, row t = the hidden state after reading
        text[: t + 1]. The state starts at zeros; the model is untrained (this shows how the
        state is computed, not what a trained model has learned).
    """
    fn = "hidden_states"
    if not isinstance(text, str) or not text:
        raise ValueError(f"{fn}: text must be a non-empty string, got {text!r}.")
    positive_int(fn, "num_hiddens", num_hiddens)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{fn}: seed must be an int, got {type(seed).__name__}.")
    if not float(sigma) > 0:
        raise ValueError(f"{fn}: sigma must be positive, got {sigma!r}.")
    indices = tuple(int(i) for i in vocab.encode(text))
    if len(indices) != len(text):
        raise ValueError(
            f"{fn}: vocab.encode({text!r}) gave {len(indices)} tokens for {len(text)} characters;"
            " pass a character vocabulary."
        )
    return _hidden_states_cached(indices, len(vocab), num_hiddens, seed, float(sigma)).clone()


class _HeatmapPicture(LivePicture):
    """The hidden-state heatmap with its colorbar drawn once; each move swaps the image data."""

    def __init__(self, H, tokens):
        super().__init__(figsize=(6, 3.2))
        self.fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.95)
        self.ax = plot_hidden_states(H, tokens, ax=self.fig.add_subplot())
        self.image = self.ax.images[0]

    def update(self, H, tokens) -> None:
        update_hidden_states(self.image, H, tokens)


def hidden_state_slider(vocab, text: str = "machine"):
    """Heatmap of the hidden states while an untrained RNN reads ``text`` one character at a time.

    Sliders: how many characters have been read, hidden size, seed and weight scale sigma. The
    callback runs a forward pass of len(text) steps (cached) and redraws one heatmap in place
    (``course_utils.plotting.update_hidden_states``). Returns the ``ipywidgets.interactive`` box;
    its ``.result`` is the (steps, num_hiddens) tensor shown and ``.picture`` the heatmap
    (``.picture.image``).
    """
    import ipywidgets as widgets

    picture = _HeatmapPicture(hidden_states(text, vocab), list(text))

    def show(steps=None, num_hiddens=16, seed=0, sigma=0.3):
        steps = len(text) if steps is None else steps
        H = hidden_states(text, vocab, num_hiddens, seed, sigma)[:steps]  # (steps, num_hiddens)
        picture.update(H, list(text[:steps]))
        picture.show()
        return H

    box = widgets.interactive(
        show,
        steps=widgets.IntSlider(value=len(text), min=1, max=len(text), description="chars read"),
        num_hiddens=widgets.IntSlider(value=16, min=2, max=64, step=2, description="hidden size"),
        seed=widgets.IntSlider(value=0, min=0, max=20, description="seed"),
        sigma=widgets.FloatLogSlider(value=0.3, base=10, min=-2, max=1, description="sigma"),
    )
    box.picture = picture
    return box


# --------------------------------------------------------------------------- the unrolled RNN


def draw_unrolled_rnn(tokens: Sequence[str] = ("m", "a", "c", "h"), ax=None):
    """Draw an RNN unrolled over ``tokens``: inputs, hidden states, outputs, shared weights.

    Each column is one time step t: the input x_t (bottom), the hidden state H_t (middle), the
    output O_t (top). Horizontal arrows carry H_{t-1} into step t through W_hh; the labels show
    that every step uses the same W_xh, W_hh, W_hq. Returns the matplotlib Figure.
    """
    tokens = list(tokens)
    if not tokens:
        raise ValueError("draw_unrolled_rnn: tokens must hold at least one token, got none.")
    T = len(tokens)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.6 * T + 1.6, 3.4))
    else:
        fig = ax.figure
    box = {"boxstyle": "round,pad=0.35", "linewidth": 1.2}
    arrow = {"arrowstyle": "->", "lw": 1.3, "color": "0.25"}

    def node(x, y, text, color):
        ax.text(x, y, text, ha="center", va="center", fontsize=11,
                bbox={**box, "facecolor": color, "edgecolor": "0.3"})  # fmt: skip

    def link(x0, y0, x1, y1, label=None, dx=0.0, dy=0.0):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=arrow)
        if label:
            ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, label, fontsize=8, color="0.2",
                    ha="center", va="center")  # fmt: skip

    y_x, y_h, y_o = 0.0, 1.0, 2.0
    node(-0.6, y_h, r"$H_0$", "0.92")
    for t, tok in enumerate(tokens, start=1):
        x = 1.6 * (t - 1) + 1.0
        node(x, y_x, f"$x_{{{t}}}$ = '{tok}'", "#fde7c8")
        node(x, y_h, f"$H_{{{t}}}$", "#cfe3f7")
        node(x, y_o, f"$O_{{{t}}}$", "#d9f0d3")
        link(x, y_x + 0.2, x, y_h - 0.2, r"$W_{xh}$", dx=0.3)
        link(x, y_h + 0.2, x, y_o - 0.2, r"$W_{hq}$", dx=0.3)
        x_prev = -0.6 if t == 1 else x - 1.6
        link(x_prev + 0.35, y_h, x - 0.35, y_h, r"$W_{hh}$", dy=0.17)
    ax.set_xlim(-1.2, 1.6 * (T - 1) + 1.7)
    ax.set_ylim(-0.5, 2.5)
    ax.axis("off")
    ax.set_title("The same weights at every step; only the hidden state moves along", fontsize=10)
    fig.tight_layout()
    return fig
