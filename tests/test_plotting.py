"""course_utils.plotting: check the artists drawn (images, colorbars, bars, lines), headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.plotting import (  # noqa: E402
    LivePerplexityPlot,
    plot_hidden_states,
    plot_next_char_distribution,
    plot_perplexity,
    plot_reliability,
    reliability_bins,
    update_hidden_states,
)
from course_utils.train import History, Record  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(label=None, scale=1.0):
    recs = [
        Record(0, 0, 0.0, 0, None, 28.0 * scale),
        Record(10, 1, 1.0, 640, 9.0 * scale, 8.0 * scale),
        Record(20, 1, 2.0, 1280, 6.0 * scale, 5.5 * scale),
    ]
    return History(records=recs, label=label)


def test_hidden_states_heatmap_has_tokens_units_and_a_diverging_colorbar():
    H = torch.tanh(torch.randn(7, 12))  # (num_steps, num_hiddens)
    ax = plot_hidden_states(H, "machine")
    (image,) = ax.get_images()
    assert image.get_array().shape == (12, 7)  # units on y, tokens on x
    assert image.get_clim() == (-1.0, 1.0) and image.get_cmap().name == "RdBu_r"
    assert [t.get_text() for t in ax.get_xticklabels()] == list("machine")
    assert image.colorbar is not None and len(ax.figure.axes) == 2
    np.testing.assert_allclose(image.get_array(), H.numpy().T, rtol=1e-6)


def test_update_hidden_states_redraws_the_same_heatmap():
    ax = plot_hidden_states(torch.zeros(7, 12), "machine")
    (image,) = ax.get_images()
    H = torch.tanh(torch.randn(3, 5))
    update_hidden_states(image, H, "mac")
    assert ax.get_images() == [image] and len(ax.figure.axes) == 2
    np.testing.assert_allclose(image.get_array(), H.numpy().T, rtol=1e-6)
    assert image.get_extent() == [-0.5, 2.5, 4.5, -0.5]
    assert ax.get_xlim() == (-0.5, 2.5) and ax.get_ylim() == (4.5, -0.5)
    assert [t.get_text() for t in ax.get_xticklabels()] == list("mac")
    with pytest.raises(ValueError, match="update_hidden_states: tokens"):
        update_hidden_states(image, H, "ma")


def test_hidden_states_shows_spaces_and_caps_the_number_of_units():
    fig, ax = plt.subplots()
    out = plot_hidden_states(np.zeros((3, 100)), ["a", " ", "b"], ax=ax, max_units=10)
    assert out is ax and out.get_images()[0].get_array().shape == (10, 3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "␣", "b"]


@pytest.mark.parametrize(
    "H, tokens, exc, words",
    [
        (torch.zeros(2, 3, 4), "ab", ValueError, "(num_steps, num_hiddens)"),
        (torch.zeros(3, 4), "ab", ValueError, "num_steps = 3"),
        ("H", "ab", TypeError, "H must be"),
    ],
)
def test_hidden_states_rejects_bad_shapes(H, tokens, exc, words):
    with pytest.raises(exc) as info:
        plot_hidden_states(H, tokens)
    assert words in str(info.value)


def test_perplexity_plot_draws_held_out_and_train_lines_for_each_history():
    ax = plot_perplexity({"ours": _history(), "d2l": _history(scale=1.3)}, target=5.0)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["ours (held-out)", "ours (train)", "d2l (held-out)", "d2l (train)",
                      "perplexity 5"]  # fmt: skip
    held_out = ax.get_lines()[0]
    assert list(held_out.get_xdata()) == [0.0, 1.0, 2.0]
    assert list(held_out.get_ydata()) == [28.0, 8.0, 5.5]
    assert len(ax.get_lines()[1].get_xdata()) == 2  # train ppl is None at step 0: skipped
    assert ax.get_yscale() == "log" and ax.get_legend() is not None


def test_perplexity_plot_options():
    fig, ax = plt.subplots()
    out = plot_perplexity(_history("run"), ax=ax, log=False, x="tokens", train=False)
    assert out is ax and ax.get_yscale() == "linear" and len(ax.get_lines()) == 1
    assert list(ax.get_lines()[0].get_xdata()) == [0, 640, 1280]
    ax2 = plot_perplexity([_history(), _history()], labels=["a", "b"], x="step")
    assert len(ax2.get_lines()) == 4
    with pytest.raises(ValueError, match="x must be"):
        plot_perplexity(_history(), x="minutes")
    with pytest.raises(TypeError, match="History"):
        plot_perplexity([1, 2])
    with pytest.raises(ValueError, match="labels"):
        plot_perplexity([_history()], labels=["a", "b"])


def test_next_char_bars_count_order_and_highlight():
    tokens = [" ", "<unk>", "a", "b", "c"]
    probs = torch.tensor([0.1, 0.0, 0.5, 0.3, 0.1])
    ax = plot_next_char_distribution(tokens, probs)
    assert len(ax.patches) == 5
    assert [t.get_text() for t in ax.get_xticklabels()] == ["␣", "<unk>", "a", "b", "c"]
    fig, ax = plt.subplots()
    plot_next_char_distribution(tokens, probs, ax=ax, top_k=2, highlight="b")
    bars = ax.patches
    assert len(bars) == 2 and [round(b.get_height(), 3) for b in bars] == [0.5, 0.3]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert bars[0].get_facecolor() != bars[1].get_facecolor()  # 'b' highlighted


@pytest.mark.parametrize(
    "tokens, probs, kwargs, words",
    [
        (["a", "b"], torch.ones(3) / 3, {}, "one entry per token"),
        (["a", "b"], torch.ones(2, 2), {}, "1-D"),
        (["a", "b"], torch.ones(2) / 2, {"top_k": 0}, "top_k"),
    ],
)
def test_next_char_rejects_bad_input(tokens, probs, kwargs, words):
    with pytest.raises(ValueError, match=words):
        plot_next_char_distribution(tokens, probs, **kwargs)


def test_live_plot_redraws_in_place_at_a_limited_rate_and_silently(capsys):
    live = LivePerplexityPlot(title="training", min_interval=60.0)
    assert live.update(_history()) is True
    assert live.update(_history()) is False  # too soon
    assert live.update(_history(), force=True) is True
    assert live.num_draws == 2 and len(live.ax.get_lines()) == 2  # cleared, not stacked
    assert live.ax.get_title() == "training"
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""  # outside a notebook: nothing printed


def test_train_lm_with_plot_true_is_silent_outside_a_notebook(capsys):
    from course_utils.data import load_corpus
    from course_utils.rnn import CharRNN
    from course_utils.train import train_lm

    corpus, vocab = load_corpus(text="abc abd " * 50)
    h = train_lm(CharRNN(len(vocab), 8), corpus, corpus, batch_size=2, num_steps=8,
                 max_epochs=2, plot=True, device="cpu")  # fmt: skip
    assert len(h.records) == 3
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""


def test_live_plot_in_a_notebook_displays_once_then_updates_the_same_output(monkeypatch):
    import IPython.display

    calls = []

    class Handle:
        def update(self, obj):
            calls.append(("update", obj))

    def fake_display(obj, display_id=False):
        calls.append(("display", obj))
        assert display_id is True
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(LivePerplexityPlot, "_in_notebook", lambda self: True)
    live = LivePerplexityPlot(min_interval=0.0)
    for _ in range(3):
        live.update(_history())
    assert [c[0] for c in calls] == ["display", "update", "update"]
    assert all(isinstance(c[1], IPython.display.Image) for c in calls)
    assert calls[0][1].data[:8] == b"\x89PNG\r\n\x1a\n"


def test_not_in_a_notebook_when_plain_python():
    assert LivePerplexityPlot()._in_notebook() is False


# --------------------------------------------------------------------------- reliability diagram


def test_reliability_bins_by_hand():
    # Top probabilities 0.8 (right), 0.8 (wrong), 0.5 (right; tie broken towards index 0), 1/3.
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.8, 0.1, 0.1], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    conf, acc, counts = reliability_bins(probs.log(), torch.tensor([0, 2, 0, 1]), num_bins=4)
    assert counts.tolist() == [0, 2, 0, 2]  # bins (0, .25], (.25, .5], (.5, .75], (.75, 1]
    assert np.isnan(conf[0]) and np.isnan(acc[0]) and np.isnan(conf[2])
    assert conf[1] == pytest.approx((0.5 + 1 / 3) / 2) and acc[1] == pytest.approx(0.5)
    assert conf[3] == pytest.approx(0.8) and acc[3] == pytest.approx(0.5)


def test_reliability_of_samples_drawn_from_the_model_lies_on_the_diagonal():
    g = torch.Generator().manual_seed(0)
    logits = 2 * torch.randn(20000, 6, generator=g)
    targets = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)[:, 0]
    conf, acc, counts = reliability_bins(logits, targets, num_bins=5)
    full = counts > 500
    assert full.sum() >= 3 and counts.sum() == 20000
    assert np.abs(conf[full] - acc[full]).max() < 0.03  # calibrated by construction
    # Sharpening the same logits makes the model over-confident: accuracy below confidence.
    conf2, acc2, counts2 = reliability_bins(3 * logits, targets, num_bins=5)
    full2 = counts2 > 500
    assert (acc2[full2] < conf2[full2] - 0.03).sum() >= 2


def test_reliability_diagram_draws_one_bar_per_non_empty_bin_and_the_diagonal():
    probs = torch.tensor([[0.8, 0.2], [0.8, 0.2], [0.6, 0.4]])
    ax = plot_reliability(probs.log(), torch.tensor([0, 1, 0]), num_bins=10)
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == [0.5, 1.0]  # bin (0.7, 0.8]: 1 of 2 right; bin (0.5, 0.6]: 1 of 1
    assert [list(line.get_xdata()) for line in ax.get_lines()][0] == [0, 1]
    assert "3 predictions" in ax.get_title()


@pytest.mark.parametrize(
    "logits, targets, bins, words",
    [
        (torch.zeros(3), torch.zeros(3, dtype=torch.long), 10, "shape \\(N, V\\)"),
        (torch.zeros(3, 2), torch.zeros(4, dtype=torch.long), 10, "shape \\(3,\\)"),
        (torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), 0, "num_bins"),
    ],
)
def test_reliability_rejects_bad_input(logits, targets, bins, words):
    with pytest.raises(ValueError, match=words):
        reliability_bins(logits, targets, bins)
