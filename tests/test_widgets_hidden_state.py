"""Lesson 1's widget logic: n-gram table vs RNN parameters, hidden-state heatmap, drawings.

The counting functions are lesson 1's exercises, so the widgets take them as arguments; these
tests pass independent references written here.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch

from course_utils.data import load_corpus
from course_utils.rnn import RNNScratch
from course_utils.widgets import hidden_state as hs


def ref_table(vocab_size, n):
    return math.prod([vocab_size] * n)


def ref_params(d, h, q):
    shapes = [(d, h), (h, h), (h,), (h, q), (q,)]
    return sum(math.prod(s) for s in shapes)


def not_written(*args):
    raise NotImplementedError()


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def vocab():
    return load_corpus(max_tokens=10)[1]


# --------------------------------------------------------------------------- growth


def test_growth_rows_table_explodes_rnn_stays_flat():
    rows = hs.growth_rows(ref_table, ref_params, 28, 32, 6)
    assert [r["n"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["ngram_entries"] for r in rows] == [28**n for n in range(1, 7)]
    assert {r["rnn_params"] for r in rows} == {2876}


def test_growth_rows_calls_rnn_count_with_vocab_in_and_out():
    calls = []

    def spy(d, h, q):
        calls.append((d, h, q))
        return 1

    hs.growth_rows(ref_table, spy, 1000, 64, 3)
    assert calls == [(1000, 64, 1000)]


@pytest.mark.parametrize(
    "args, exc",
    [((0, 32, 5), ValueError), ((28, 0, 5), ValueError), ((28, 32, 0), ValueError),
     ((28.0, 32, 5), TypeError), ((28, True, 5), TypeError)],
)  # fmt: skip
def test_growth_rows_rejects_bad_sizes(args, exc):
    with pytest.raises(exc, match="growth_rows"):
        hs.growth_rows(ref_table, ref_params, *args)


def test_real_param_count_counts_a_real_model():
    # W_xh 28x32, W_hh 32x32, b_h 32, W_hq 32x28, b_q 28
    assert hs.real_param_count(28, 32) == 896 + 1024 + 32 + 896 + 28
    assert hs.real_param_count(5, 3) == ref_params(5, 3, 5)


def test_plot_growth_draws_both_curves_on_a_log_axis():
    rows = hs.growth_rows(ref_table, ref_params, 28, 32, 5)
    fig = hs.plot_growth(rows, 28, 32)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == 2
    assert list(lines[0].get_ydata()) == [float(28**n) for n in range(1, 6)]
    assert set(lines[1].get_ydata()) == {2876.0}


def test_plot_growth_skips_non_positive_counts_from_a_wrong_function():
    rows = hs.growth_rows(lambda v, n: 0, ref_params, 28, 8, 4)
    fig = hs.plot_growth(rows, 28, 8)
    table, params = fig.axes[0].get_lines()
    assert len(table.get_xdata()) == 0  # nothing to put on a log axis: the curve stays empty
    assert list(params.get_xdata()) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="plot_growth"):
        hs.plot_growth([], 28, 8)


def test_growth_summary_reports_a_mismatch():
    rows = hs.growth_rows(ref_table, lambda d, h, q: 7, 28, 32, 3)
    assert "does NOT match" in hs._growth_summary(rows, hs.real_param_count(28, 32))
    rows = hs.growth_rows(ref_table, ref_params, 28, 32, 3)
    assert ": matches" in hs._growth_summary(rows, hs.real_param_count(28, 32))


# --------------------------------------------------------------------------- distinct n-grams


def test_distinct_ngrams_small_example():
    corpus = [1, 2, 1, 2, 3]
    # 1-grams {1,2,3}; 2-grams {12, 21, 23}; 3-grams {121, 212, 123}; 4-grams {1212, 2123}
    assert hs.distinct_ngrams(corpus, 4) == [3, 3, 3, 2]
    assert hs.distinct_ngrams(torch.tensor(corpus), 4) == [3, 3, 3, 2]
    big = [c + 1000 for c in corpus]  # indices past 255 take the tuple path
    assert hs.distinct_ngrams(big, 4) == [3, 3, 3, 2]


def test_distinct_ngrams_on_the_book():
    corpus, _ = load_corpus()
    seen = hs.distinct_ngrams(corpus, 3)
    assert seen[0] == len(set(corpus))
    assert seen[1] == len(set(zip(corpus, corpus[1:], strict=False)))
    assert seen[0] < seen[1] < seen[2] < 28**3


def test_distinct_ngrams_rejects_bad_input():
    with pytest.raises(ValueError, match="max_n"):
        hs.distinct_ngrams([1, 2], 0)
    with pytest.raises(ValueError, match="fewer than max_n"):
        hs.distinct_ngrams([1, 2], 3)
    with pytest.raises(ValueError, match="1-D"):
        hs.distinct_ngrams(torch.zeros(2, 2), 1)


def test_plot_table_vs_seen():
    fig = hs.plot_table_vs_seen([28, 784], [27, 471], 1000)
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="plot_table_vs_seen"):
        hs.plot_table_vs_seen([28], [27, 471], 1000)


# --------------------------------------------------------------------------- hidden states


def test_hidden_states_shape_range_and_seed(vocab):
    H = hs.hidden_states("machine", vocab, num_hiddens=16, seed=0)
    assert H.shape == (7, 16)
    assert H.abs().max() < 1
    assert torch.equal(H, hs.hidden_states("machine", vocab, num_hiddens=16, seed=0))
    assert not torch.allclose(H, hs.hidden_states("machine", vocab, num_hiddens=16, seed=1))


def test_hidden_states_match_an_independent_torch_rnn(vocab):
    # The same seeded layer's weights, run through torch.nn.RNN over the one-hot characters.
    torch.manual_seed(3)
    layer = RNNScratch(len(vocab), 8, sigma=0.3)
    rnn = torch.nn.RNN(len(vocab), 8)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(layer.W_xh.T)
        rnn.weight_hh_l0.copy_(layer.W_hh.T)
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
        x = torch.nn.functional.one_hot(torch.tensor(vocab.encode("machine")), len(vocab))
        want, _ = rnn(x.float().unsqueeze(1))
    got = hs.hidden_states("machine", vocab, num_hiddens=8, seed=3, sigma=0.3)
    torch.testing.assert_close(got, want[:, 0, :])


def test_hidden_states_depend_on_the_past_only(vocab):
    full = hs.hidden_states("machine", vocab, 12, seed=2)
    prefix = hs.hidden_states("mach", vocab, 12, seed=2)
    torch.testing.assert_close(prefix, full[:4])  # later characters cannot change earlier states
    other = hs.hidden_states("xachine", vocab, 12, seed=2)
    assert not torch.allclose(other[1], full[1])  # same 'a', different past, different state


def test_hidden_states_leave_the_global_generator_alone(vocab):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    hs.hidden_states("machine", vocab, 10, seed=123)
    assert torch.equal(torch.rand(3), expected)


def test_hidden_states_sigma_controls_saturation(vocab):
    small = hs.hidden_states("machine", vocab, 32, seed=0, sigma=0.01)
    large = hs.hidden_states("machine", vocab, 32, seed=0, sigma=10.0)
    assert small.abs().max() < 0.1
    assert (large.abs() > 0.99).float().mean() > 0.5


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [({"text": ""}, ValueError, "text"), ({"num_hiddens": 0}, ValueError, "num_hiddens"),
     ({"sigma": 0.0}, ValueError, "sigma"), ({"seed": 1.5}, TypeError, "seed")],
)  # fmt: skip
def test_hidden_states_rejects_bad_input(vocab, kwargs, exc, match):
    args = {"text": "machine", "vocab": vocab, **kwargs}
    with pytest.raises(exc, match=match):
        hs.hidden_states(**args)


def test_hidden_states_need_a_character_vocabulary():
    class WordVocab:
        def encode(self, text):
            return [0]

        def __len__(self):
            return 5

    with pytest.raises(ValueError, match="character vocabulary"):
        hs.hidden_states("machine", WordVocab())


# --------------------------------------------------------------------------- the sliders


def test_growth_slider_updates_with_the_sliders():
    w = hs.growth_slider(ref_table, ref_params)
    dropdown, hidden, max_n = w.children[:3]
    assert w.result[-1] == {"n": 8, "ngram_entries": 28**8, "rnn_params": 2876}
    hidden.value = 64
    assert w.result[-1]["rnn_params"] == ref_params(28, 64, 28)
    max_n.value = 3
    assert len(w.result) == 3
    dropdown.value = 10000
    assert w.result[-1]["ngram_entries"] == 10000**3
    assert w.result[-1]["rnn_params"] == ref_params(10000, 64, 10000)


def test_growth_slider_redraws_one_figure_in_place():
    w = hs.growth_slider(ref_table, ref_params)
    _, hidden, max_n = w.children[:3]
    fig = w.picture.fig
    hidden.value = 64
    max_n.value = 3
    assert w.picture.fig is fig and len(fig.axes) == 1
    table, params = w.picture.lines
    assert list(table.get_ydata()) == [28.0, 28.0**2, 28.0**3]
    assert set(params.get_ydata()) == {float(ref_params(28, 64, 28))}
    assert w.picture.ax.get_title() == "|V| = 28, 64 hidden units"
    low, high = w.picture.ax.get_ylim()
    assert low <= 28 and high >= 28.0**3  # rescaled to the new curves
    assert w.picture.png().startswith(b"\x89PNG")
    assert plt.get_fignums() == []  # nothing left open in pyplot, nothing shown twice


def test_growth_slider_waits_for_the_exercises(capsys):
    w = hs.growth_slider(not_written, not_written)
    assert w.result is None
    assert "Write ngram_table_size and rnn_param_count" in capsys.readouterr().out

    def broken(*args):
        raise ValueError("oops")

    w = hs.growth_slider(ref_table, broken)
    assert w.result is None
    assert "ValueError: oops" in capsys.readouterr().out


def test_hidden_state_slider_shows_the_states_read_so_far(vocab):
    w = hs.hidden_state_slider(vocab, "machine")
    steps, hidden, seed, sigma = w.children[:4]
    assert w.result.shape == (7, 16)
    steps.value = 3
    assert w.result.shape == (3, 16)
    torch.testing.assert_close(w.result, hs.hidden_states("machine", vocab, 16, 0)[:3])
    hidden.value = 8
    seed.value = 4
    assert w.result.shape == (3, 8)
    torch.testing.assert_close(w.result, hs.hidden_states("machine", vocab, 8, 4)[:3])
    sigma.value = 2.0
    torch.testing.assert_close(w.result, hs.hidden_states("machine", vocab, 8, 4, 2.0)[:3])
    image = w.picture.image  # the heatmap on screen shows exactly those states
    torch.testing.assert_close(torch.as_tensor(image.get_array()), w.result.T)
    assert [t.get_text() for t in w.picture.ax.get_xticklabels()] == list("mac")
    assert len(w.picture.fig.axes) == 2  # the heatmap and one colorbar, however often it moved
    assert plt.get_fignums() == []


# --------------------------------------------------------------------------- the drawing


def test_draw_unrolled_rnn_labels_every_step():
    fig = hs.draw_unrolled_rnn(list("machine"))
    texts = {t.get_text() for t in fig.axes[0].texts}
    for t in range(1, 8):
        assert f"$H_{{{t}}}$" in texts and f"$O_{{{t}}}$" in texts
    assert "$H_0$" in texts
    assert sum(text == r"$W_{hh}$" for text in (t.get_text() for t in fig.axes[0].texts)) == 7
    with pytest.raises(ValueError, match="tokens"):
        hs.draw_unrolled_rnn([])
