"""Lesson 5's course_utils code: the slider's logic and pictures, and the numerical gradient.

``state_jacobian_norms`` is lesson 5's exercise, so the slider takes it as an argument; these
tests pass an independent reference written here (autograd Jacobians of the forward map).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from course_utils.gradcheck import numerical_gradient
from course_utils.widgets import bptt


def ref_norms(W_hh, H_all):
    """||dH_T/dH_(T-k)||_2, k = 1..T, from products of explicitly built Jacobians."""
    T, h = H_all.shape
    P, out = torch.eye(h, dtype=W_hh.dtype), []
    for t in reversed(range(T)):
        P = P @ torch.diag(1 - H_all[t] ** 2) @ W_hh.T
        out.append(torch.linalg.svdvals(P)[0])
    return torch.stack(out)


def not_written(W_hh, H_all):
    raise NotImplementedError()


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.3])
def test_recurrent_matrix_has_every_singular_value_equal_to_the_scale(scale):
    W = bptt.recurrent_matrix(16, scale, seed=3)
    assert W.shape == (16, 16) and W.dtype == torch.float64
    assert torch.allclose(torch.linalg.svdvals(W), torch.full((16,), scale, dtype=torch.float64))
    assert torch.allclose(torch.linalg.eigvals(W).abs(), torch.full((16,), scale).double())


def test_recurrent_matrix_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    a = bptt.recurrent_matrix(8, 1.0, seed=1)
    assert torch.rand(1) == expected
    assert torch.equal(a, bptt.recurrent_matrix(8, 1.0, seed=1))
    assert not torch.equal(a, bptt.recurrent_matrix(8, 1.0, seed=2))


def test_sequence_states_follow_the_tanh_recurrence():
    W = bptt.recurrent_matrix(6, 0.9)
    H = bptt.sequence_states(W, 12, input_scale=1.0, seed=4)
    assert H.shape == (12, 6)
    assert (H.abs() < 1).all() and H.abs().max() > 0.1
    # each state is tanh of something: atanh(H_t) - H_(t-1) W_hh is the input part, rank <= 8
    prev = torch.cat([torch.zeros(1, 6, dtype=H.dtype), H[:-1]])
    drive = torch.atanh(H) - prev @ W
    assert torch.linalg.matrix_rank(drive) <= bptt.NUM_INPUTS


def test_zero_inputs_keep_the_states_at_zero_and_the_norms_on_scale_to_the_k():
    W = bptt.recurrent_matrix(8, 1.1)
    H = bptt.sequence_states(W, 20, input_scale=0.0)
    assert torch.equal(H, torch.zeros(20, 8, dtype=torch.float64))
    k = torch.arange(1, 21, dtype=torch.float64)
    assert torch.allclose(ref_norms(W, H), 1.1**k)


def test_saturation_pulls_the_norms_down():
    W = bptt.recurrent_matrix(16, 1.2)
    linear = ref_norms(W, bptt.sequence_states(W, 40, input_scale=0.0))
    saturated = ref_norms(W, bptt.sequence_states(W, 40, input_scale=3.0))
    assert saturated[-1] < 1e-3 * linear[-1]


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: bptt.recurrent_matrix(0, 1.0), ValueError),
        (lambda: bptt.recurrent_matrix(4, -1.0), ValueError),
        (lambda: bptt.recurrent_matrix(4, 1.0, seed=1.5), TypeError),
        (lambda: bptt.sequence_states(torch.zeros(3, 4), 5), ValueError),
        (lambda: bptt.sequence_states(torch.zeros(3, 3), 0), ValueError),
        (lambda: bptt.sequence_states(torch.zeros(3, 3), 5, input_scale=-1), ValueError),
        (lambda: bptt.plot_gradient_norms({}), ValueError),
        (lambda: bptt.draw_bptt_graph(0), ValueError),
        (lambda: bptt.bptt_slider(ref_norms, num_hiddens=0), ValueError),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, error):
    with pytest.raises(error):
        call()


# --------------------------------------------------------------------------- pictures


def test_plot_gradient_norms_draws_one_line_per_curve_and_drops_zeros():
    ax = bptt.plot_gradient_norms(
        {"a": torch.tensor([1.0, 0.5, 0.25]), "b": torch.tensor([2.0, 0.0, 8.0])}
    )
    lines = [line for line in ax.get_lines() if line.get_label() in ("a", "b")]
    assert [len(line.get_xdata()) for line in lines] == [3, 2]
    assert ax.get_yscale() == "log"


def test_draw_bptt_graph_labels_every_state_and_upstream_gradient():
    fig = bptt.draw_bptt_graph(3)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"$H_0$", "$H_{3}$", "$L_{1}$", "dH_all[0]", "dH_all[2]", "$J_{3}^T$"} <= texts


# --------------------------------------------------------------------------- the slider


def test_slider_plots_the_functions_norms_next_to_scale_to_the_k():
    box = bptt.bptt_slider(ref_norms, num_hiddens=8)
    box.update()
    values = box.result
    assert len(values) == 50
    W = bptt.recurrent_matrix(8, 1.0)
    want = ref_norms(W, bptt.sequence_states(W, 50, input_scale=0.5))
    assert torch.allclose(torch.tensor(values, dtype=torch.float64), want)
    norms_line, linear_line = box.picture.norms, box.picture.linear
    assert list(norms_line.get_xdata()) == list(range(1, 51))
    assert list(linear_line.get_ydata()) == [1.0] * 50


def test_slider_moves_redraw_in_place_and_are_timed():
    box = bptt.bptt_slider(ref_norms, num_hiddens=32)
    scale, steps, strength = box.children[:3]
    figure = box.picture.fig
    for value in (0.5, 1.5, 1.0):
        scale.value = value
    steps.value, strength.value = 100, 3.0
    assert box.picture.fig is figure
    assert len(box.result) == 100
    assert len(box.timings) == 6  # the first drawing, then one per move
    ms = sorted(1000 * t for t in box.timings)
    print(f"bptt slider callback: median {ms[3]:.0f} ms, max {ms[-1]:.0f} ms over 6 calls")


def test_slider_explains_an_unwritten_or_failing_function(capsys):
    box = bptt.bptt_slider(not_written, num_hiddens=4)
    box.update()
    assert box.result is None
    assert "Write state_jacobian_norms" in capsys.readouterr().out

    def wrong_shape(W_hh, H_all):
        return torch.zeros(3)

    box = bptt.bptt_slider(wrong_shape, num_hiddens=4)
    box.update()
    assert box.result is None
    assert "expected a tensor of shape (50,)" in capsys.readouterr().out

    def raises(W_hh, H_all):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    box = bptt.bptt_slider(raises, num_hiddens=4)
    box.update()
    assert box.result is None
    assert "raised RuntimeError: mat1" in capsys.readouterr().out


# --------------------------------------------------------------------------- numerical gradient


def test_numerical_gradient_matches_the_analytic_gradient_of_a_tanh_layer():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    W = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    up = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    num = numerical_gradient(lambda: (torch.tanh(X @ W) * up).sum(), W)
    analytic = X.T @ (up * (1 - torch.tanh(X @ W) ** 2))
    assert torch.allclose(num, analytic, rtol=1e-7, atol=1e-9)


def test_numerical_gradient_restores_x():
    x = torch.tensor([[0.5, -1.0], [2.0, 3.0]], dtype=torch.float64)
    before = x.clone()
    num = numerical_gradient(lambda: float((x**3).sum()), x)
    assert torch.equal(x, before)
    assert torch.allclose(num, 3 * before**2, rtol=1e-8)


def test_numerical_gradient_refuses_float32_and_non_tensors():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, torch.zeros(3))
    with pytest.raises(TypeError, match="tensor"):
        numerical_gradient(lambda: 0.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="contiguous"):
        numerical_gradient(lambda: 0.0, torch.zeros(3, 4, dtype=torch.float64).T)
