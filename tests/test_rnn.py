"""course_utils.rnn: the scratch RNN layer, the two character models, reading an nn.RNN, helpers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.rnn import (
    CharRNN,
    CharRNNScratch,
    RNNScratch,
    check_token_batch,
    count_parameters,
    detach_state,
)

ATOL = 1e-6  # float32, sequences of a few steps


def direct_rnn(inputs, H, W_xh, W_hh, b_h):
    """The formula written out, step by step: the reference these tests compare against."""
    outs = []
    for t in range(inputs.shape[0]):
        H = torch.tanh(inputs[t] @ W_xh + H @ W_hh + b_h)
        outs.append(H)
    return torch.stack(outs), H


# --------------------------------------------------------------------------- RNNScratch


def test_rnn_scratch_parameters_have_the_documented_shapes():
    rnn = RNNScratch(5, 7, sigma=0.5)
    assert rnn.W_xh.shape == (5, 7) and rnn.W_hh.shape == (7, 7) and rnn.b_h.shape == (7,)
    assert isinstance(rnn.W_xh, nn.Parameter) and torch.all(rnn.b_h == 0)
    assert 0.2 < rnn.W_hh.std().item() < 0.8  # drawn with sigma 0.5
    assert count_parameters(rnn) == 5 * 7 + 7 * 7 + 7


def test_rnn_scratch_matches_the_formula_and_carries_the_state():
    torch.manual_seed(0)
    rnn = RNNScratch(4, 6, sigma=0.3)
    with torch.no_grad():
        rnn.b_h.normal_()
    inputs, H0 = torch.randn(5, 3, 4), torch.randn(3, 6)
    outputs, H = rnn(inputs, H0)
    ref_out, ref_H = direct_rnn(inputs, H0, rnn.W_xh, rnn.W_hh, rnn.b_h)
    assert outputs.shape == (5, 3, 6) and H.shape == (3, 6)
    torch.testing.assert_close(outputs, ref_out, atol=ATOL, rtol=0)
    torch.testing.assert_close(H, outputs[-1], atol=0, rtol=0)
    # carrying the state: two halves == the whole
    out1, H1 = rnn(inputs[:2], H0)
    out2, H2 = rnn(inputs[2:], H1)
    torch.testing.assert_close(torch.cat([out1, out2]), outputs, atol=ATOL, rtol=0)
    # None means zeros
    out_none, _ = rnn(inputs)
    out_zero, _ = rnn(inputs, torch.zeros(3, 6))
    torch.testing.assert_close(out_none, out_zero, atol=0, rtol=0)


def test_rnn_scratch_gradients_flow_to_every_parameter():
    rnn = RNNScratch(3, 4, sigma=0.5)
    outputs, _ = rnn(torch.randn(6, 2, 3))
    outputs.sum().backward()
    for name, p in rnn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "inputs, state, exc, words",
    [
        (torch.randn(5, 3), None, ValueError, "(num_steps, batch, 4)"),
        (torch.randn(5, 3, 2), None, ValueError, "(num_steps, batch, 4)"),
        (torch.ones(5, 3, 4, dtype=torch.long), None, ValueError, "float"),
        ([[1.0]], None, TypeError, "tensor"),
        (torch.randn(5, 3, 4), torch.zeros(6, 3), ValueError, "(3, 6)"),
        (torch.randn(5, 3, 4), "state", TypeError, "state"),
    ],
)
def test_rnn_scratch_rejects_bad_input_with_a_clear_message(inputs, state, exc, words):
    rnn = RNNScratch(4, 6)
    with pytest.raises(exc) as info:
        rnn(inputs, state)
    assert words in str(info.value)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_rnn_scratch_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="num_hiddens"):
        RNNScratch(3, bad)


# --------------------------------------------------------------------------- conversions


def test_no_conversion_into_nn_rnn():
    """Building an nn.RNN from scratch weights is lesson 2's exercise (to_torch_rnn)."""
    assert not hasattr(RNNScratch, "to_torch")


def test_from_torch_sums_both_biases_and_round_trips():
    torch.manual_seed(2)
    t = nn.RNN(3, 5)  # random weights and two random biases
    s = RNNScratch.from_torch(t)
    assert torch.equal(s.W_xh, t.weight_ih_l0.T) and torch.equal(s.W_hh, t.weight_hh_l0.T)
    torch.testing.assert_close(s.b_h, t.bias_ih_l0 + t.bias_hh_l0, atol=0, rtol=0)
    inputs, H0 = torch.randn(7, 2, 3), torch.randn(2, 5)
    out_s, H_s = s(inputs, H0)
    out_t, H_t = t(inputs, H0.unsqueeze(0))
    torch.testing.assert_close(out_s, out_t, atol=ATOL, rtol=0)
    torch.testing.assert_close(H_s, H_t[0], atol=ATOL, rtol=0)
    no_bias = RNNScratch.from_torch(nn.RNN(3, 5, bias=False))
    assert torch.all(no_bias.b_h == 0)


@pytest.mark.parametrize(
    "module, words",
    [
        (nn.RNN(3, 5, num_layers=2), "num_layers=2"),
        (nn.RNN(3, 5, bidirectional=True), "bidirectional"),
        (nn.RNN(3, 5, nonlinearity="relu"), "nonlinearity='relu'"),
        (nn.RNN(3, 5, batch_first=True), "batch_first"),
    ],
)
def test_from_torch_rejects_what_it_cannot_represent(module, words):
    with pytest.raises(ValueError) as info:
        RNNScratch.from_torch(module)
    assert words in str(info.value)


def test_from_torch_rejects_gated_cells_with_a_type_error():
    with pytest.raises(TypeError, match="nn.RNN"):
        RNNScratch.from_torch(nn.GRU(3, 5))


# --------------------------------------------------------------------------- CharRNNScratch


def test_char_rnn_scratch_is_one_hot_then_rnn_then_linear():
    torch.manual_seed(3)
    V, H = 6, 8
    model = CharRNNScratch(V, H, sigma=0.3)
    X = torch.tensor([[0, 1, 2, 5], [5, 4, 3, 3]])  # (batch 2, steps 4)
    logits, state = model(X)
    assert logits.shape == (2, 4, V) and state.shape == (2, H)
    inputs = torch.eye(V)[X.T]  # (steps, batch, V), one-hot by indexing the identity
    outs, H_T = direct_rnn(inputs, torch.zeros(2, H), model.rnn.W_xh, model.rnn.W_hh, model.rnn.b_h)
    ref = (outs @ model.W_hq + model.b_q).transpose(0, 1)
    torch.testing.assert_close(logits, ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(state, H_T, atol=ATOL, rtol=0)
    assert torch.equal(model.begin_state(2), torch.zeros(2, H))
    # carried state: two halves == the whole
    l1, s1 = model(X[:, :2])
    l2, _ = model(X[:, 2:], s1)
    torch.testing.assert_close(torch.cat([l1, l2], 1), logits, atol=ATOL, rtol=0)
    assert count_parameters(model) == V * H + H * H + H + H * V + V


# --------------------------------------------------------------------------- CharRNN


@pytest.mark.parametrize("kind", ["onehot", "embedding"])
@pytest.mark.parametrize("layers", [1, 2])
def test_char_rnn_interface_and_state_carry(kind, layers):
    torch.manual_seed(4)
    model = CharRNN(7, num_hiddens=10, num_layers=layers, input=kind).eval()
    X = torch.randint(0, 7, (3, 6))
    logits, state = model(X)
    assert logits.shape == (3, 6, 7) and state.shape == (layers, 3, 10)
    assert torch.equal(model.begin_state(3), torch.zeros(layers, 3, 10))
    l1, s1 = model(X[:, :4])
    l2, s2 = model(X[:, 4:], s1)
    torch.testing.assert_close(torch.cat([l1, l2], 1), logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(s2, state, atol=ATOL, rtol=0)
    assert isinstance(model.rnn, nn.RNN) and model.rnn.nonlinearity == "tanh"


def test_char_rnn_onehot_matches_nn_rnn_plus_linear():
    torch.manual_seed(5)
    model = CharRNN(5, num_hiddens=4)
    X = torch.randint(0, 5, (2, 3))
    out, _ = model.rnn(torch.eye(5)[X])
    torch.testing.assert_close(model(X)[0], model.output(out), atol=ATOL, rtol=0)
    assert count_parameters(model) == (5 * 4 + 4 * 4 + 4 + 4) + (4 * 5 + 5)


def test_char_rnn_defaults_and_embedding_size():
    model = CharRNN(28)
    assert model.num_hiddens == 128 and model.embedding is None and model.rnn.input_size == 28
    emb = CharRNN(28, input="embedding")
    assert emb.embedding.weight.shape == (28, 32) and emb.rnn.input_size == 32
    assert CharRNN(28, input="embedding", embed_dim=8).rnn.input_size == 8


def test_char_rnn_dropout_is_active_only_in_train_mode():
    torch.manual_seed(6)
    model = CharRNN(5, num_hiddens=16, dropout=0.5)
    X = torch.randint(0, 5, (4, 8))
    model.eval()
    assert torch.equal(model(X)[0], model(X)[0])
    model.train()
    assert not torch.equal(model(X)[0], model(X)[0])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"num_hiddens": 0}, "num_hiddens"),
        ({"num_layers": 0}, "num_layers"),
        ({"dropout": 1.0}, "dropout"),
        ({"input": "words"}, "input"),
        ({"input": "embedding", "embed_dim": 0}, "embed_dim"),
    ],
)
def test_char_rnn_rejects_bad_settings(kwargs, words):
    with pytest.raises(ValueError, match=words):
        CharRNN(5, **kwargs)


@pytest.mark.parametrize("model_cls", [CharRNNScratch, CharRNN])
@pytest.mark.parametrize(
    "X, exc, words",
    [
        (torch.tensor([1, 2, 3]), ValueError, "2-D tensor of shape (batch, num_steps)"),
        (torch.zeros(2, 3), ValueError, "integer tensor"),
        (torch.zeros(2, 3, dtype=torch.bool), ValueError, "integer tensor"),
        (torch.tensor([[0, 5]]), ValueError, "[0, 5)"),
        (torch.tensor([[-1, 0]]), ValueError, "[0, 5)"),
        ([[0, 1]], TypeError, "LongTensor"),
        (torch.zeros(0, 3, dtype=torch.long), ValueError, "at least one token"),
    ],
)
def test_language_models_reject_bad_token_batches(model_cls, X, exc, words):
    model = model_cls(5, 4)
    with pytest.raises(exc) as info:
        model(X)
    assert words in str(info.value) and "X" in str(info.value)


@pytest.mark.parametrize("model_cls, bad", [(CharRNNScratch, (1, 4)), (CharRNN, (2, 2, 4))])
def test_language_models_reject_a_state_of_the_wrong_shape(model_cls, bad):
    model = model_cls(5, 4)
    with pytest.raises(ValueError, match="state: expected shape"):
        model(torch.zeros(2, 3, dtype=torch.long), torch.zeros(bad))


def test_check_token_batch_accepts_int32():
    check_token_batch(torch.tensor([[0, 4]], dtype=torch.int32), 5)  # no error
    with pytest.raises(ValueError, match="Y"):
        check_token_batch(torch.tensor([[9]]), 5, name="Y")


# --------------------------------------------------------------------------- helpers


def test_detach_state_cuts_the_graph_and_keeps_structure():
    w = torch.ones(2, requires_grad=True)
    h = w * 2
    assert h.requires_grad and not detach_state(h).requires_grad
    assert torch.equal(detach_state(h), h)
    pair = detach_state((h, h * 3))
    assert isinstance(pair, tuple) and not any(t.requires_grad for t in pair)
    assert detach_state(None) is None
    with pytest.raises(TypeError, match="state"):
        detach_state("h")


def test_count_parameters_skips_frozen_ones_and_rejects_non_modules():
    model = nn.Linear(3, 2)
    assert count_parameters(model) == 8
    model.bias.requires_grad_(False)
    assert count_parameters(model) == 6
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters([torch.zeros(3)])
