"""Recurrent networks: a from-scratch RNN, two character language models, reading an nn.RNN.

Shapes used throughout (d2l's conventions):

- ``inputs`` of an RNN layer: (num_steps, batch, num_inputs), time first;
- a hidden state (隐藏状态) of the scratch RNN: (batch, num_hiddens);
- a language model (语言模型) reads ``X`` (batch, num_steps) of token indices and returns
  ``logits, state = model(X, state)`` with logits (batch, num_steps, vocab_size).

``CharRNNScratch`` and ``CharRNN`` follow that one interface, so ``train_lm``,
``evaluate_perplexity`` and ``sample_text`` work with either.

Nothing here converts scratch weights *into* an ``nn.RNN``: that is lesson 2's exercise
``to_torch_rnn``. ``RNNScratch.forward`` computes what lesson 1's ``rnn_forward`` computes; the
lesson's demos compare against it, and it is disabled while a lesson 1 submission is checked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CharRNN",
    "CharRNNScratch",
    "RNNScratch",
    "check_token_batch",
    "count_parameters",
    "detach_state",
]


# --------------------------------------------------------------------------- input checks


def check_token_batch(X, vocab_size: int, name: str = "X") -> None:
    """Check that ``X`` is a LongTensor-like batch of token indices, shape (batch, num_steps).

    Raises TypeError when ``X`` is not a tensor, ValueError when it is not 2-D, not of an integer
    dtype, empty, or holds an index outside ``[0, vocab_size)``.
    """
    if not isinstance(X, torch.Tensor):
        raise TypeError(
            f"{name}: expected a torch.LongTensor of token indices with shape (batch, num_steps), "
            f"got {type(X).__name__}; wrap it with torch.tensor(..., dtype=torch.long)."
        )
    if X.dim() != 2:
        raise ValueError(
            f"{name}: expected a 2-D tensor of shape (batch, num_steps), got shape "
            f"{tuple(X.shape)}; add a batch dimension with X.unsqueeze(0) for a single sequence."
        )
    if X.dtype == torch.bool or X.dtype.is_floating_point or X.dtype.is_complex:
        raise ValueError(
            f"{name}: expected an integer tensor of token indices (torch.long), got dtype "
            f"{X.dtype}; convert it with X.long() (and do not one-hot encode it yourself)."
        )
    if X.numel() == 0:
        raise ValueError(f"{name}: expected at least one token, got shape {tuple(X.shape)}.")
    lo, hi = int(X.min()), int(X.max())
    if lo < 0 or hi >= vocab_size:
        raise ValueError(
            f"{name}: token indices must lie in [0, {vocab_size}) (the vocabulary size), got "
            f"values in [{lo}, {hi}]; encode the text with the model's own vocabulary."
        )


def _check_state(state, expected_shape: tuple[int, ...], name: str = "state") -> None:
    if not isinstance(state, torch.Tensor):
        raise TypeError(
            f"{name}: expected None or a tensor of shape {expected_shape}, got "
            f"{type(state).__name__}."
        )
    if tuple(state.shape) != tuple(expected_shape):
        raise ValueError(
            f"{name}: expected shape {tuple(expected_shape)}, got {tuple(state.shape)}; pass "
            "None to start from zeros, or the state the model returned for this batch size."
        )


# --------------------------------------------------------------------------- the RNN layer


class RNNScratch(nn.Module):
    """One tanh RNN layer with explicit parameters: H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h).

    Parameters: ``W_xh`` (num_inputs, num_hiddens), ``W_hh`` (num_hiddens, num_hiddens) drawn
    from N(0, sigma^2), and ``b_h`` (num_hiddens,) zeros.
    """

    def __init__(self, num_inputs: int, num_hiddens: int, sigma: float = 0.01):
        super().__init__()
        for arg, value in (("num_inputs", num_inputs), ("num_hiddens", num_hiddens)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"RNNScratch: {arg} must be a positive int, got {value!r}.")
        self.num_inputs, self.num_hiddens, self.sigma = num_inputs, num_hiddens, sigma
        self.W_xh = nn.Parameter(torch.randn(num_inputs, num_hiddens) * sigma)
        self.W_hh = nn.Parameter(torch.randn(num_hiddens, num_hiddens) * sigma)
        self.b_h = nn.Parameter(torch.zeros(num_hiddens))

    def forward(self, inputs: torch.Tensor, state: torch.Tensor | None = None):
        """Run the layer over a sequence.

        inputs: (num_steps, batch, num_inputs) float; state: (batch, num_hiddens) or None (zeros).
        Returns ``outputs`` (num_steps, batch, num_hiddens), every hidden state stacked, and the
        last hidden state (batch, num_hiddens).
        """
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"RNNScratch: inputs must be a tensor, got {type(inputs).__name__}.")
        if inputs.dim() != 3 or inputs.shape[2] != self.num_inputs:
            raise ValueError(
                f"RNNScratch: inputs: expected shape (num_steps, batch, {self.num_inputs}), got "
                f"{tuple(inputs.shape)}; the time axis comes first (transpose a batch-first "
                "tensor with inputs.transpose(0, 1))."
            )
        if not inputs.dtype.is_floating_point:
            raise ValueError(
                f"RNNScratch: inputs: expected a float tensor, got dtype {inputs.dtype}; one-hot "
                "encode token indices first (F.one_hot(X.T, vocab_size).float())."
            )
        batch = inputs.shape[1]
        if state is None:
            H = inputs.new_zeros(batch, self.num_hiddens)  # (batch, num_hiddens)
        else:
            _check_state(state, (batch, self.num_hiddens))
            H = state
        # The input term X_t W_xh does not depend on the state: one product for all steps.
        drive = inputs @ self.W_xh  # (num_steps, batch, num_hiddens)
        states = []
        for step_drive in drive:  # (batch, num_hiddens)
            H = torch.tanh(step_drive + H @ self.W_hh + self.b_h)
            states.append(H)
        return torch.stack(states), H  # (num_steps, batch, num_hiddens), (batch, num_hiddens)

    @classmethod
    def from_torch(cls, rnn: nn.RNN) -> RNNScratch:
        """Build an ``RNNScratch`` from a one-layer, one-direction, tanh, time-first ``nn.RNN``.

        W_xh = weight_ih_l0^T, W_hh = weight_hh_l0^T, b_h = bias_ih_l0 + bias_hh_l0 (zeros when
        the ``nn.RNN`` has no bias). Anything else raises ValueError (TypeError if not an nn.RNN).
        """
        if not isinstance(rnn, nn.RNN):
            raise TypeError(
                f"RNNScratch.from_torch: rnn must be a torch.nn.RNN, got {type(rnn).__name__} "
                "(GRU and LSTM have gates that RNNScratch does not)."
            )
        problems = []
        if rnn.num_layers != 1:
            problems.append(f"num_layers={rnn.num_layers} (expected 1)")
        if rnn.bidirectional:
            problems.append("bidirectional=True (expected False)")
        if rnn.nonlinearity != "tanh":
            problems.append(f"nonlinearity={rnn.nonlinearity!r} (expected 'tanh')")
        if rnn.batch_first:
            problems.append("batch_first=True (expected False: time first)")
        if problems:
            raise ValueError(
                "RNNScratch.from_torch: cannot convert an nn.RNN with "
                + ", ".join(problems)
                + "; RNNScratch is one tanh layer reading (num_steps, batch, num_inputs)."
            )
        weight = rnn.weight_ih_l0
        out = cls(rnn.input_size, rnn.hidden_size).to(device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            out.W_xh.copy_(rnn.weight_ih_l0.T)
            out.W_hh.copy_(rnn.weight_hh_l0.T)
            if rnn.bias:
                out.b_h.copy_(rnn.bias_ih_l0 + rnn.bias_hh_l0)
            else:
                out.b_h.zero_()
        return out


# --------------------------------------------------------------------------- language models


class CharRNNScratch(nn.Module):
    """Character language model from scratch: one-hot inputs -> RNNScratch -> linear output layer.

    O_t = H_t W_hq + b_q with ``W_hq`` (num_hiddens, vocab_size) and ``b_q`` (vocab_size,).
    ``logits, state = model(X, state)``: X (batch, num_steps) long -> logits
    (batch, num_steps, vocab_size), state (batch, num_hiddens).
    """

    def __init__(self, vocab_size: int, num_hiddens: int, sigma: float = 0.01):
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(
                f"CharRNNScratch: vocab_size must be a positive int, got {vocab_size!r}."
            )
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.rnn = RNNScratch(vocab_size, num_hiddens, sigma)
        self.W_hq = nn.Parameter(torch.randn(num_hiddens, vocab_size) * sigma)
        self.b_q = nn.Parameter(torch.zeros(vocab_size))

    def begin_state(self, batch_size: int, device=None) -> torch.Tensor:
        """Zeros of shape (batch_size, num_hiddens), on ``device`` (default: the model's)."""
        device = self.W_hq.device if device is None else device
        return torch.zeros(batch_size, self.num_hiddens, device=device, dtype=self.W_hq.dtype)

    def forward(self, X: torch.Tensor, state: torch.Tensor | None = None):
        """X (batch, num_steps) long; state (batch, num_hiddens) or None.

        Returns logits (batch, num_steps, vocab_size) and the new state (batch, num_hiddens).
        """
        check_token_batch(X, self.vocab_size)
        inputs = F.one_hot(X.T, self.vocab_size).to(self.W_hq.dtype)  # (steps, batch, vocab)
        outputs, state = self.rnn(inputs, state)  # (steps, batch, hiddens), (batch, hiddens)
        logits = outputs @ self.W_hq + self.b_q  # (steps, batch, vocab)
        return logits.transpose(0, 1), state  # (batch, steps, vocab)


class CharRNN(nn.Module):
    """Character language model around ``torch.nn.RNN`` (tanh, possibly stacked).

    Args:
        vocab_size: size of the vocabulary (词表).
        num_hiddens: hidden units per layer.
        num_layers: stacked RNN layers.
        dropout: dropout probability between stacked layers and on the top layer's outputs
            (0 turns it off; active only in ``model.train()`` mode).
        input: ``"onehot"`` (each character a one-hot vector, like the scratch model) or
            ``"embedding"`` (a learned ``nn.Embedding`` of size ``embed_dim``).
        embed_dim: embedding size when ``input="embedding"`` (default 32).

    ``logits, state = model(X, state)``: X (batch, num_steps) long -> logits
    (batch, num_steps, vocab_size), state (num_layers, batch, num_hiddens).
    """

    def __init__(
        self,
        vocab_size: int,
        num_hiddens: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        input: str = "onehot",
        embed_dim: int | None = None,
    ):
        super().__init__()
        for arg, value in (
            ("vocab_size", vocab_size), ("num_hiddens", num_hiddens), ("num_layers", num_layers),
        ):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CharRNN: {arg} must be a positive int, got {value!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"CharRNN: dropout must be in [0, 1), got {dropout!r}.")
        if input not in ("onehot", "embedding"):
            raise ValueError(f"CharRNN: input must be 'onehot' or 'embedding', got {input!r}.")
        self.vocab_size, self.num_hiddens, self.num_layers = vocab_size, num_hiddens, num_layers
        self.input = input
        if input == "embedding":
            embed_dim = 32 if embed_dim is None else embed_dim
            if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1:
                raise ValueError(f"CharRNN: embed_dim must be a positive int, got {embed_dim!r}.")
            self.embedding = nn.Embedding(vocab_size, embed_dim)
            num_inputs = embed_dim
        else:
            self.embedding = None
            num_inputs = vocab_size
        self.rnn = nn.RNN(
            num_inputs, num_hiddens, num_layers, nonlinearity="tanh", batch_first=True,
            dropout=float(dropout) if num_layers > 1 else 0.0,
        )  # fmt: skip
        self.dropout = nn.Dropout(float(dropout))
        self.output = nn.Linear(num_hiddens, vocab_size)

    def begin_state(self, batch_size: int, device=None) -> torch.Tensor:
        """Zeros (num_layers, batch_size, num_hiddens) on ``device`` (default: the model's)."""
        weight = self.output.weight
        device = weight.device if device is None else device
        return torch.zeros(
            self.num_layers, batch_size, self.num_hiddens, device=device, dtype=weight.dtype
        )

    def forward(self, X: torch.Tensor, state: torch.Tensor | None = None):
        """X (batch, num_steps) long; state (num_layers, batch, num_hiddens) or None.

        Returns logits (batch, num_steps, vocab_size) and the new state
        (num_layers, batch, num_hiddens).
        """
        check_token_batch(X, self.vocab_size)
        if state is not None:
            _check_state(state, (self.num_layers, X.shape[0], self.num_hiddens))
        if self.embedding is not None:
            inputs = self.embedding(X)  # (batch, steps, embed_dim)
        else:
            inputs = F.one_hot(X, self.vocab_size).to(self.output.weight.dtype)  # (b, s, vocab)
        outputs, state = self.rnn(inputs, state)  # (batch, steps, hiddens)
        logits = self.output(self.dropout(outputs))  # (batch, steps, vocab)
        return logits, state


# --------------------------------------------------------------------------- small helpers


def detach_state(state):
    """Cut the graph behind a hidden state (truncated backpropagation through time).

    ``state``: None, a tensor (any shape), or a tuple/list of tensors (an LSTM's (h, c)).
    Returns the same structure with every tensor detached; None stays None.
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(
        f"detach_state: state must be None, a tensor or a tuple of tensors, got "
        f"{type(state).__name__}."
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars in ``model`` (requires_grad parameters, shared ones once)."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"count_parameters: model must be an nn.Module, got {type(model).__name__}."
        )
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
