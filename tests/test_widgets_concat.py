"""Lesson 2's widget logic: block picture, difference report, product recorder, timing helpers.

The slider is driven headlessly (setting a slider's value re-runs the callback synchronously); the
graded forms are passed in as reference lambdas, the way the notebook passes the student's.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.widgets import concat, concat_mistakes  # noqa: E402


def separate(X, H, W_xh, W_hh):
    return X @ W_xh + H @ W_hh


def fused(X, H, W_xh, W_hh):
    return torch.cat((X, H), dim=1) @ torch.cat((W_xh, W_hh), dim=0)


def not_written(X, H, W_xh, W_hh):
    raise NotImplementedError()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- data


def test_random_operands_shapes_and_seed():
    X, H, W_xh, W_hh = concat.random_operands(2, 3, 4, seed=7)
    assert [tuple(t.shape) for t in (X, H, W_xh, W_hh)] == [(2, 3), (2, 4), (3, 4), (4, 4)]
    assert all(t.dtype == torch.float32 for t in (X, H, W_xh, W_hh))
    again = concat.random_operands(2, 3, 4, seed=7)
    assert all(torch.equal(a, b) for a, b in zip((X, H, W_xh, W_hh), again, strict=True))
    other = concat.random_operands(2, 3, 4, seed=8)
    assert not torch.equal(X, other[0])


def test_random_operands_leaves_global_seed_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    concat.random_operands(5, 5, 5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    "args, exc, words",
    [
        ((0, 3, 4), ValueError, "batch"),
        ((2, -1, 4), ValueError, "num_inputs"),
        ((2, 3, 2.5), TypeError, "num_hiddens"),
        ((True, 3, 4), TypeError, "batch"),
    ],
)
def test_random_operands_rejects_bad_sizes(args, exc, words):
    with pytest.raises(exc, match=words):
        concat.random_operands(*args)


# --------------------------------------------------------------------------- difference


def test_max_abs_difference_is_rounding_for_equal_forms():
    diff = concat.max_abs_difference(separate, fused, 4, 3, 5)
    assert 0.0 <= diff < 1e-5


def test_max_abs_difference_sees_a_wrong_form():
    def wrong_order(X, H, W_xh, W_hh):  # blocks in different orders on the two sides
        return torch.cat((H, X), dim=1) @ torch.cat((W_xh, W_hh), dim=0)

    assert concat.max_abs_difference(separate, wrong_order, 4, 3, 5) > 0.1


def test_max_abs_difference_shape_mismatch_and_non_tensor():
    with pytest.raises(ValueError, match="disagree in shape"):
        concat.max_abs_difference(separate, lambda X, H, a, b: (X @ a).T, 2, 3, 4)
    with pytest.raises(TypeError, match="concat_fn returned"):
        concat.max_abs_difference(separate, lambda *args: 0.0, 2, 3, 4)


def test_max_abs_difference_propagates_not_implemented():
    with pytest.raises(NotImplementedError):
        concat.max_abs_difference(not_written, fused, 2, 3, 4)


# --------------------------------------------------------------------------- products


def test_matrix_products_one_for_fused_two_for_separate():
    X, H, W_xh, W_hh = concat.random_operands(5, 3, 4)
    result, products = concat.matrix_products(fused, X, H, W_xh, W_hh)
    assert torch.allclose(result, separate(X, H, W_xh, W_hh), atol=1e-5)
    assert [(p[1], p[2], p[3]) for p in products] == [((5, 7), (7, 4), 7)]
    _, products = concat.matrix_products(separate, X, H, W_xh, W_hh)
    assert sorted(p[3] for p in products) == [3, 4]


@pytest.mark.parametrize(
    "form",
    [
        lambda X, H, a, b: torch.einsum("bk,kh->bh", torch.hstack((X, H)), torch.vstack((a, b))),
        lambda X, H, a, b: torch.addmm(
            torch.zeros(X.shape[0], a.shape[1]), torch.cat((X, H), 1), torch.cat((a, b))
        ),  # fmt: skip
        lambda X, H, a, b: torch.nn.functional.linear(torch.cat((X, H), 1), torch.cat((a, b)).T),
    ],
    ids=["einsum", "addmm", "linear"],
)
def test_matrix_products_sees_other_spellings(form):
    X, H, W_xh, W_hh = concat.random_operands(5, 3, 4)
    _, products = concat.matrix_products(form, X, H, W_xh, W_hh)
    assert [p[3] for p in products] == [7]


def test_matrix_products_rejects_non_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        concat.matrix_products(42)


# --------------------------------------------------------------------------- report, picture


def test_concat_report_for_working_functions():
    text = concat.concat_report(separate, fused, 2, 3, 4)
    assert "[X | H]: (2, 7)" in text
    assert "[W_xh ; W_hh]: (7, 4)" in text
    assert "matrix products done by your preactivation_concat: 1: mm (2, 7) @ (7, 4)" in text
    diff = float(text.split("on random data: ")[1].split()[0])
    assert diff < 1e-5


def test_concat_report_for_unwritten_and_broken_functions():
    assert "write preactivation_separate" in concat.concat_report(not_written, fused, 2, 3, 4)

    def wrong_axis(X, H, W_xh, W_hh):
        return torch.cat((X, H), dim=0) @ torch.cat((W_xh, W_hh), dim=0)

    text = concat.concat_report(separate, wrong_axis, 2, 3, 4)
    assert "raised RuntimeError" in text


@pytest.mark.parametrize("sizes", [(2, 3, 4), (1, 1, 1), (5, 10, 1), (1, 40, 40)])
def test_draw_concat_blocks_draws_five_blocks_to_scale(sizes):
    b, d, h = sizes
    ax = concat.draw_concat_blocks(b, d, h)
    rects = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    dims = sorted((r.get_width(), r.get_height()) for r in rects)
    assert dims == sorted([(d, b), (h, b), (h, d), (h, h), (h, b)])
    labels = {t.get_text() for t in ax.texts}
    assert {"X", "H", "W_xh", "W_hh", "@", "="} <= labels
    assert f"({b}, {h})" in labels


def test_draw_concat_blocks_uses_given_axes_and_rejects_bad_sizes():
    fig, ax = plt.subplots()
    assert concat.draw_concat_blocks(2, 3, 4, ax=ax) is ax
    with pytest.raises(ValueError, match="num_hiddens"):
        concat.draw_concat_blocks(2, 3, 0)


def test_concat_slider_runs_headless(capsys):
    calls = []

    def counting_fused(*args):
        calls.append(1)
        return fused(*args)

    shown = concat.concat_slider(separate, counting_fused)
    sliders = {w.description: w for w in shown.widget.children if hasattr(w, "description")}
    assert {"num_inputs", "num_hiddens", "batch"} <= set(sliders)
    capsys.readouterr()
    before = len(calls)
    sliders["num_inputs"].value = 6
    sliders["num_hiddens"].value = 2
    out = capsys.readouterr().out
    assert len(calls) > before
    assert "X: (2, 6)" in out and "[W_xh ; W_hh]: (8, 2)" in out
    assert "mm (2, 8) @ (8, 2)" in out


def test_concat_slider_redraws_one_figure_in_place():
    shown = concat.concat_slider(separate, fused)
    sliders = {w.description: w for w in shown.widget.children if hasattr(w, "description")}
    fig = shown.picture.fig
    sliders["num_inputs"].value = 6
    sliders["batch"].value = 5
    assert shown.picture.fig is fig and len(fig.axes) == 1
    (ax,) = fig.axes
    rects = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    dims = sorted((r.get_width(), r.get_height()) for r in rects)
    assert dims == sorted([(6, 5), (4, 5), (4, 6), (4, 4), (4, 5)])  # only the current blocks
    assert shown.picture.png().startswith(b"\x89PNG")
    assert plt.get_fignums() == []


def test_draw_concat_blocks_grid_lines_separate_the_entries():
    ax = concat.draw_concat_blocks(2, 3, 4)
    (X_grid, H_grid, W_xh_grid, W_hh_grid, out_grid) = ax.collections
    assert len(X_grid.get_segments()) == (3 - 1) + (2 - 1)  # X is (2, 3)
    assert len(W_hh_grid.get_segments()) == (4 - 1) + (4 - 1)
    assert len(ax.get_lines()) == 0  # one collection per block, not one Line2D per grid line
    ax = concat.draw_concat_blocks(1, 1, 1)
    assert len(ax.collections) == 0  # 1 x 1 blocks have no inner lines


def test_concat_slider_survives_unwritten_functions(capsys):
    shown = concat.concat_slider(not_written, not_written)
    shown.widget.children[0].value = 5
    assert "write preactivation_separate" in capsys.readouterr().out


# --------------------------------------------------------------------------- timing


def test_time_forms_positive_times_and_nan_for_unwritten():
    X = torch.randn(8, 8)
    out = concat.time_forms(
        {"product": lambda: X @ X, "todo": lambda: not_written(X, X, X, X)},
        repeat=2,
        number=3,
    )
    assert out["product"] > 0 and math.isfinite(out["product"])
    assert math.isnan(out["todo"])


def test_time_forms_calls_number_times_per_run():
    calls = []
    concat.time_forms({"count": lambda: calls.append(1)}, repeat=3, number=4)
    assert len(calls) == 1 + 3 * 4  # one warm-up, then repeat runs of number calls


def test_time_forms_rejects_bad_arguments():
    with pytest.raises(ValueError, match="run_seconds"):
        concat.time_forms({}, run_seconds=0)
    with pytest.raises(ValueError, match="repeat"):
        concat.time_forms({}, repeat=0)


def test_timing_sweep_table_and_threads_restored():
    threads = torch.get_num_threads()

    def make(size):
        A = torch.randn(4, size)
        return {"a": lambda: A.sum(), "b": lambda: A.mean()}

    table = concat.timing_sweep(make, [2, 4, 8], repeat=1, run_seconds=0.001)
    assert set(table) == {"a", "b"}
    assert all(len(v) == 3 and all(s > 0 for s in v) for v in table.values())
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="sizes is empty"):
        concat.timing_sweep(make, [])


def test_plot_timings_lines_and_unwritten_legend():
    table = {"two": [1e-6, 2e-6], "todo": [math.nan, math.nan]}
    ax = concat.plot_timings([16, 32], table)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["two", "todo (not written yet)"]
    line = ax.get_lines()[0]
    assert list(line.get_ydata()) == pytest.approx([1.0, 2.0])


def test_matrix_products_does_not_load_the_compiler():
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from course_utils.widgets import concat\n"
        "X = torch.randn(2, 2)\n"
        "concat.matrix_products(lambda: X @ X)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # the recorder alone must not import torch._dynamo


# --------------------------------------------------------------------------- the table of mistakes


def _outcomes(b, d, h):
    X, H, W_xh, W_hh = concat.random_operands(b, d, h)
    return [
        concat_mistakes.try_variant(v, X, H, W_xh, W_hh) for v in concat_mistakes.WRONG_VARIANTS
    ]


def test_mistakes_with_d_not_h_all_raise_at_the_cat_except_the_order():
    dim0, weights_dim1, both, order = _outcomes(2, 3, 4)
    for outcome in (dim0, weights_dim1, both):
        assert outcome.step == "cat"
        assert "Sizes of tensors must match" in outcome.error
        assert outcome.left_shape is None
    assert order.step is None and order.result_shape == (2, 4)  # silent, for any d and h


def test_mistakes_with_d_equal_h_raise_at_the_product_or_give_a_wrong_shape():
    dim0, weights_dim1, both, order = _outcomes(2, 4, 4)
    assert dim0.step == "product" and dim0.left_shape == (4, 4) and dim0.right_shape == (8, 4)
    assert "cannot be multiplied" in dim0.error
    assert weights_dim1.step == "product" and weights_dim1.right_shape == (4, 8)
    assert both.step is None and both.result_shape == (4, 8)
    assert order.step is None and order.result_shape == (2, 4)


def test_mistakes_report_names_each_variant_and_its_outcome():
    text = concat_mistakes.mistakes_report(batch=2, num_inputs=4, num_hiddens=4)
    assert text.startswith("B = 2, d = 4, h = 4 (d = h)")
    for variant in concat_mistakes.WRONG_VARIANTS:
        assert variant.code in text
    assert "then @ raises: mat1 and mat2 shapes cannot be multiplied (4x4 and 8x4)" in text
    assert "result (4, 8), not (2, 4)" in text
    assert "the right shape, no error at all" in text


def test_no_variant_computes_the_pre_activation():
    # The right form is the exercise: every variant must raise or give other numbers.
    for b, d, h in [(2, 3, 4), (3, 4, 4), (1, 1, 1)]:
        X, H, W_xh, W_hh = concat.random_operands(b, d, h, seed=1)
        right = separate(X, H, W_xh, W_hh)
        for variant in concat_mistakes.WRONG_VARIANTS:
            try:
                left, weights = variant.join(X, H, W_xh, W_hh)
                value = left @ weights
            except RuntimeError:
                continue
            assert value.shape != right.shape or (value - right).abs().max() > 1e-3


def test_mistakes_bad_input():
    with pytest.raises(ValueError, match="num_inputs"):
        concat_mistakes.mistakes_report(2, 0, 3)
    with pytest.raises(TypeError, match="WRONG_VARIANTS"):
        concat_mistakes.try_variant("cat", *concat.random_operands(1, 2, 2))
