"""Lesson 3's explanatory pictures draw what their captions claim."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from course_utils import diagrams  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_lm_windows_show_every_whole_window_and_its_shifted_targets():
    fig = diagrams.draw_lm_windows("the time machine", 3)
    ax = fig.axes[0]
    texts = _texts(ax)
    assert [f"X[{w}]" in texts and f"Y[{w}]" in texts for w in range(5)] == [True] * 5
    assert "X[5]" not in texts  # (16 - 1) // 3 = 5 windows, no partial one
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    starts = sorted((round(p.get_y() + 0.4), round(p.get_x() + 0.45)) for p in boxes)
    assert starts == [(0, s) for s in (1, 4, 7, 10, 13)] + [(1, s) for s in (0, 3, 6, 9, 12)]
    assert texts.count("␣") == 2  # spaces made visible
    fig = diagrams.draw_lm_windows("machine", 6)
    assert "X[0]" in _texts(fig.axes[0]) and "X[1]" not in _texts(fig.axes[0])


def test_lm_windows_reject_a_text_without_a_whole_window():
    with pytest.raises(ValueError, match="draw_lm_windows: text of 3 characters"):
        diagrams.draw_lm_windows("abc", 3)
    with pytest.raises(ValueError, match="num_steps must be an int >= 1"):
        diagrams.draw_lm_windows("abcdef", 0)


def test_sequential_batches_continue_each_row_from_batch_to_batch():
    text = "".join(chr(ord("a") + i % 26) for i in range(73))
    fig = diagrams.draw_sequential_batches(text, batch_size=3, num_steps=6, num_batches=4)
    ax = fig.axes[0]
    cells = {}
    for t in ax.texts:
        if t.get_text().startswith("'"):
            x, y = t.get_position()
            cells[(round(-y), round(x - 0.44))] = eval(t.get_text())  # repr of a str
    assert len(cells) == 12
    row_len = 72 // 3
    for b in range(3):
        row = "".join(cells[(b, k)] for k in range(4))
        assert row == text[b * row_len : b * row_len + 24]  # batch k + 1 continues batch k
    assert len(ax.patches) == 12 and len([t for t in ax.texts if "batch" in t.get_text()]) == 5


def test_sequential_batches_need_a_long_enough_text():
    with pytest.raises(ValueError, match="pass a longer text"):
        diagrams.draw_sequential_batches("x" * 40, batch_size=3, num_steps=6, num_batches=4)


def test_clipping_keeps_the_direction_only_with_the_global_norm():
    fig = diagrams.draw_clipping((2.4, 0.6), 1.0)
    each, whole = fig.clipped
    assert each.tolist() == pytest.approx([1.0, 0.6])
    assert math.isclose(float(whole.norm()), 1.0, rel_tol=1e-6)
    assert math.isclose(float(whole[0] / whole[1]), 4.0, rel_tol=1e-6)  # same direction as g
    assert len(fig.axes) == 2
    for ax in fig.axes:
        x0, x1 = ax.get_xlim()
        assert x0 < -1.0 and x1 > 2.4  # the circle and the arrow's tip fit
    small = diagrams.draw_clipping((0.3, 0.4), 1.0).clipped[1]
    assert small.tolist() == pytest.approx([0.3, 0.4])  # short gradients are left alone
    with pytest.raises(ValueError, match="2 entries"):
        diagrams.draw_clipping((1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="theta must be positive"):
        diagrams.draw_clipping((1.0, 2.0), 0)


def test_one_hot_picture_shows_the_rows_with_readable_labels():
    tokens = ["<unk>", " ", "a", "c", "e", "h", "i", "m", "n"]
    idx = [tokens.index(c) for c in "machine"]
    inputs = torch.nn.functional.one_hot(torch.tensor(idx), len(tokens)).float()  # (7, 9)
    fig = diagrams.plot_one_hot(inputs, tokens, "machine")
    ax = fig.axes[0]
    assert ax.get_images()[0].get_array().tolist() == inputs.tolist()
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["?", "␣"]
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "t=0: m"
    with pytest.raises(ValueError, match=r"inputs\[:, 0, :\]"):
        diagrams.plot_one_hot(inputs[:, None, :], tokens, "machine")
    with pytest.raises(ValueError, match="need 9 tokens and 7 characters"):
        diagrams.plot_one_hot(inputs, tokens, "machin")
