"""Peer cross-check: course_utils' RNNScratch against d2l 1.0.3's RNNScratch and torch.nn.RNN.

With the same weights, ``RNNScratch`` gives the same outputs and final state as
``d2l.RNNScratch`` (d2l 1.0.3: forward(inputs, state) returns a list of per-step states and the
last state; it takes a given state as a one-element tuple); ``from_torch(rnn)`` of a
``torch.nn.RNN`` computes what that ``nn.RNN`` computes. (course_utils has no conversion *into*
``nn.RNN``: that is lesson 2's exercise ``to_torch_rnn``.)

Tolerance: float32 throughout, ``atol=1e-6, rtol=0`` (tanh outputs lie in [-1, 1]; the two
implementations differ only in the order of floating-point operations). Parameters copied by the
conversions must be bit-identical (``torch.equal``).
"""

from __future__ import annotations

import pytest
import torch

from course_utils.rnn import RNNScratch

d2l = pytest.importorskip("d2l.torch")

ATOL, RTOL = 1e-6, 0.0


def _pair(num_inputs, num_hiddens, seed, sigma=0.3):
    torch.manual_seed(seed)
    ours = RNNScratch(num_inputs, num_hiddens, sigma=sigma)
    with torch.no_grad():
        ours.b_h.normal_(0, 0.5)  # a non-zero bias, so a dropped or doubled bias shows
    theirs = d2l.RNNScratch(num_inputs, num_hiddens, sigma=sigma)
    with torch.no_grad():
        theirs.W_xh.copy_(ours.W_xh)
        theirs.W_hh.copy_(ours.W_hh)
        theirs.b_h.copy_(ours.b_h)
    return ours, theirs


@pytest.mark.parametrize(
    "num_steps, batch, num_inputs, num_hiddens, seed",
    [(1, 1, 1, 1, 0), (5, 3, 28, 32, 1), (35, 2, 7, 16, 2), (12, 8, 28, 64, 3)],
)
def test_same_outputs_as_d2l_rnn_scratch(num_steps, batch, num_inputs, num_hiddens, seed):
    ours, theirs = _pair(num_inputs, num_hiddens, seed)
    inputs = torch.randn(num_steps, batch, num_inputs)
    H0 = torch.randn(batch, num_hiddens) * 0.5

    for state in (None, H0):
        out, H = ours(inputs, state)
        d2l_state = None if state is None else (state,)  # d2l unpacks `state, = state`
        d2l_outs, d2l_H = theirs(inputs, d2l_state)
        assert isinstance(d2l_outs, list) and len(d2l_outs) == num_steps
        torch.testing.assert_close(out, torch.stack(d2l_outs), atol=ATOL, rtol=RTOL)
        torch.testing.assert_close(H, d2l_H, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_outputs_as_torch_nn_rnn_through_from_torch(seed):
    torch.manual_seed(seed)
    torch_rnn = torch.nn.RNN(28, 32)  # random weights and two random biases
    ours = RNNScratch.from_torch(torch_rnn)
    inputs, H0 = torch.randn(20, 4, 28), torch.randn(4, 32) * 0.5
    out, H = ours(inputs, H0)
    t_out, t_H = torch_rnn(inputs, H0.unsqueeze(0))  # nn.RNN's state: (layers, batch, hiddens)
    torch.testing.assert_close(out, t_out, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(H, t_H.squeeze(0), atol=ATOL, rtol=RTOL)


def test_from_torch_copies_the_weights_exactly():
    ours, theirs = _pair(5, 9, 4)
    torch_rnn = torch.nn.RNN(5, 9)
    with torch.no_grad():
        torch_rnn.weight_ih_l0.copy_(ours.W_xh.T)
        torch_rnn.weight_hh_l0.copy_(ours.W_hh.T)
        torch_rnn.bias_ih_l0.copy_(ours.b_h)
        torch_rnn.bias_hh_l0.zero_()
    back = RNNScratch.from_torch(torch_rnn)
    for name in ("W_xh", "W_hh", "b_h"):
        assert torch.equal(getattr(back, name), getattr(ours, name)), name
    inputs = torch.randn(6, 2, 5)
    torch.testing.assert_close(back(inputs)[0], torch.stack(theirs(inputs)[0]), atol=ATOL, rtol=0)


def test_d2l_language_model_agrees_with_our_scratch_model_on_logits():
    """d2l.RNNLMScratch (one-hot, W_hq, b_q) and our CharRNNScratch: same weights, same logits."""
    from course_utils.rnn import CharRNNScratch

    torch.manual_seed(5)
    ours = CharRNNScratch(28, 32, sigma=0.3)
    theirs = d2l.RNNLMScratch(d2l.RNNScratch(28, 32, sigma=0.3), vocab_size=28, lr=1)
    with torch.no_grad():
        for a, b in (
            (theirs.rnn.W_xh, ours.rnn.W_xh), (theirs.rnn.W_hh, ours.rnn.W_hh),
            (theirs.rnn.b_h, ours.rnn.b_h), (theirs.W_hq, ours.W_hq), (theirs.b_q, ours.b_q),
        ):  # fmt: skip
            a.copy_(b)
    X = torch.randint(0, 28, (3, 10))
    torch.testing.assert_close(ours(X)[0], theirs(X), atol=ATOL, rtol=RTOL)
