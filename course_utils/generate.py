"""Generating text with a character language model (语言模型).

- ``sample_text``: warm the hidden state (隐藏状态) up on a prefix, then draw characters one at a
  time from softmax(logits / temperature) (温度); temperature 0 is greedy decoding. Seeded, and
  batched: ``num_samples`` continuations of one prefix are drawn in parallel.
- ``next_char_distribution``: the probabilities of the next character after a prefix, for the
  temperature slider.

Both work with any model following ``logits, state = model(X, state)``.

``sample_text`` does what lesson 3's ``predict`` does (the sampling slider uses it until the
student's own ``predict`` exists); it is disabled while a lesson 3 submission is checked.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["next_char_distribution", "sample_text"]


def _check_temperature(fn: str, temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(
            f"{fn}: temperature must be a number >= 0, got {type(temperature).__name__}."
        )
    if temperature < 0 or temperature != temperature:  # negative or NaN
        raise ValueError(
            f"{fn}: temperature must be >= 0 (0 = greedy, 1 = the model's own distribution, "
            f"> 1 = flatter), got {temperature}."
        )
    return float(temperature)


def _encode_prefix(fn: str, vocab, prefix) -> list[int]:
    if not isinstance(prefix, str):
        raise TypeError(f"{fn}: prefix must be a str, got {type(prefix).__name__}.")
    if not prefix:
        raise ValueError(
            f"{fn}: prefix is empty; the model needs at least one character to start from "
            "(use ' ' to start at a word boundary)."
        )
    known = vocab.token_to_idx
    unknown = sorted({ch for ch in prefix if ch not in known or ch == "<unk>"})
    if unknown:
        raise ValueError(
            f"{fn}: prefix holds characters that are not in the vocabulary: {unknown}; the "
            "course's vocabulary has lowercase letters and spaces only (try "
            "course_utils.data.preprocess(prefix))."
        )
    return [known[ch] for ch in prefix]


def _check_model(fn: str, model, vocab) -> torch.device:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}: model must be an nn.Module, got {type(model).__name__}.")
    size = getattr(model, "vocab_size", None)
    if size is not None and size != len(vocab):
        raise ValueError(
            f"{fn}: the model predicts {size} tokens but the vocabulary has {len(vocab)}; use the "
            "vocabulary the model was trained with."
        )
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _as_generator(fn: str, generator) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(
        f"{fn}: generator must be None, an int seed or a torch.Generator, got "
        f"{type(generator).__name__}."
    )


def _probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Probabilities (..., vocab) from logits (..., vocab); temperature 0 puts 1 on the argmax."""
    logits = logits.float()
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    return torch.softmax(logits / temperature, dim=-1)


def sample_text(
    model: nn.Module,
    vocab,
    prefix: str,
    num_chars: int,
    temperature: float = 1.0,
    generator=None,
    num_samples: int = 1,
):
    """Continue ``prefix`` by ``num_chars`` characters drawn from the model.

    The model first reads the whole prefix (warm-up: its hidden state then summarises the
    prefix), then each new character is drawn from softmax(logits / temperature) and fed back.

    Args:
        model: ``logits, state = model(X, state)``, X (batch, num_steps) long.
        vocab: the model's vocabulary (``Vocab``).
        prefix: non-empty str of characters in the vocabulary (else ValueError).
        num_chars: characters to generate, >= 0.
        temperature: >= 0; 0 is greedy (argmax), 1 the model's distribution; negative raises
            ValueError.
        generator: None (torch's global generator), an int seed or a ``torch.Generator`` (CPU):
            the same seed gives the same text.
        num_samples: continuations drawn in parallel (one batch row each).

    Returns:
        ``prefix + generated`` (a str), or a list of ``num_samples`` such strings when
        ``num_samples > 1``. The ``'<unk>'`` token is never drawn. The model's train/eval mode is
        restored afterwards.
    """
    fn = "sample_text"
    device = _check_model(fn, model, vocab)
    ids = _encode_prefix(fn, vocab, prefix)
    if isinstance(num_chars, bool) or not isinstance(num_chars, int) or num_chars < 0:
        raise ValueError(f"{fn}: num_chars must be an int >= 0, got {num_chars!r}.")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"{fn}: num_samples must be an int >= 1, got {num_samples!r}.")
    temperature = _check_temperature(fn, temperature)
    gen = _as_generator(fn, generator)
    unk = vocab.token_to_idx.get("<unk>")

    was_training = model.training
    model.eval()
    out = torch.empty(num_samples, num_chars, dtype=torch.long)  # (samples, num_chars)
    try:
        with torch.no_grad():
            X = torch.tensor([ids] * num_samples, device=device)  # (samples, len(prefix))
            logits, state = model(X, None)  # warm-up on the whole prefix
            for t in range(num_chars):
                last = logits[:, -1, :].float().cpu()  # (samples, vocab)
                if unk is not None:
                    last[:, unk] = float("-inf")
                if temperature == 0:
                    nxt = last.argmax(-1)  # (samples,)
                else:
                    probs = torch.softmax(last / temperature, dim=-1)
                    nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
                out[:, t] = nxt
                if t + 1 < num_chars:
                    logits, state = model(nxt.view(-1, 1).to(device), state)
    finally:
        model.train(was_training)
    texts = [prefix + vocab.decode(row) for row in out]
    return texts[0] if num_samples == 1 else texts


def next_char_distribution(model: nn.Module, vocab, prefix: str, temperature: float = 1.0):
    """The model's distribution of the character that follows ``prefix``.

    Returns ``(tokens, probs)``: ``tokens`` the vocabulary's tokens in index order (list of
    vocab_size str) and ``probs`` a CPU float tensor (vocab_size,) = softmax(logits / temperature)
    summing to 1; temperature 0 puts all the mass on the most likely character; negative raises
    ValueError. ``prefix``: non-empty, characters of the vocabulary only.
    """
    fn = "next_char_distribution"
    device = _check_model(fn, model, vocab)
    ids = _encode_prefix(fn, vocab, prefix)
    temperature = _check_temperature(fn, temperature)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, _ = model(torch.tensor([ids], device=device), None)  # (1, len, vocab)
    finally:
        model.train(was_training)
    probs = _probs(logits[0, -1].cpu(), temperature)  # (vocab,)
    return list(vocab.idx_to_token), probs
