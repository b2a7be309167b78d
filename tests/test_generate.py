"""course_utils.generate: seeded sampling with temperature, greedy decoding, next-char odds.

Decision on an empty prefix: ``sample_text`` and ``next_char_distribution`` raise ValueError (a
model needs one character to start from; the message suggests ' ').
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.data import load_corpus
from course_utils.generate import next_char_distribution, sample_text
from course_utils.rnn import CharRNN, CharRNNScratch

_, VOCAB = load_corpus(max_tokens=10)
V = len(VOCAB)


class Bigram(nn.Module):
    """Logits are a function of the last input token only; counts its calls."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(table)
        self.vocab_size = table.shape[0]
        self.calls = 0

    def forward(self, X, state=None):
        self.calls += 1
        return self.table[X], state


def deterministic_chain():
    """After 'a' always 'b', after 'b' always 'c', ..., after 'z' a space, after ' ' an 'a'."""
    table = torch.full((V, V), -1e4)
    letters = "abcdefghijklmnopqrstuvwxyz "
    for a, b in zip(letters, letters[1:] + "a", strict=True):
        table[VOCAB[a], VOCAB[b]] = 0.0
    return Bigram(table)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CharRNN(V, num_hiddens=16).eval()


def test_greedy_follows_the_argmax_and_returns_prefix_plus_text():
    m = deterministic_chain()
    assert sample_text(m, VOCAB, "xy", 5, temperature=0) == "xyz abc"
    # temperature 1 on a (nearly) deterministic model gives the same
    assert sample_text(m, VOCAB, "xy", 5, temperature=1.0, generator=0) == "xyz abc"
    assert sample_text(m, VOCAB, "hello", 0) == "hello"


def test_warm_up_reads_the_whole_prefix_then_one_call_per_new_character():
    m = deterministic_chain()
    sample_text(m, VOCAB, "the time", 4, temperature=0)
    assert m.calls == 1 + 3  # the prefix in one call, then 3 more (the last draw needs none)


def test_greedy_text_is_consistent_with_reading_it_in_one_pass():
    """Warm-up and carried state: each greedy character is the argmax of the model's logits after
    reading everything before it in one call."""
    torch.manual_seed(1)
    m = CharRNN(V, num_hiddens=32).eval()
    with torch.no_grad():
        m.rnn.weight_hh_l0.mul_(4)  # strong recurrence: the whole prefix matters
    text = sample_text(m, VOCAB, "the time machine", 30, temperature=0)
    assert text.startswith("the time machine") and len(text) == 16 + 30
    ids = torch.tensor([VOCAB.encode(text)])
    with torch.no_grad():
        logits, _ = m(ids[:, :-1])
    logits[..., VOCAB.unk] = -float("inf")
    assert logits[0, 15:].argmax(-1).tolist() == ids[0, 16:].tolist()


def test_same_seed_same_text_different_seed_different_text(model):
    one = sample_text(model, VOCAB, "the ", 60, temperature=1.0, generator=3)
    assert one == sample_text(model, VOCAB, "the ", 60, temperature=1.0, generator=3)
    g = torch.Generator().manual_seed(3)
    assert one == sample_text(model, VOCAB, "the ", 60, temperature=1.0, generator=g)
    assert one != sample_text(model, VOCAB, "the ", 60, temperature=1.0, generator=4)


def test_batched_samples_are_independent_draws(model):
    texts = sample_text(model, VOCAB, "the ", 40, temperature=1.5, generator=0, num_samples=4)
    assert isinstance(texts, list) and len(texts) == 4
    assert all(t.startswith("the ") and len(t) == 44 for t in texts)
    assert len(set(texts)) > 1
    greedy = sample_text(model, VOCAB, "the ", 20, temperature=0, num_samples=3)
    assert len(set(greedy)) == 1


def test_low_temperature_concentrates_and_high_temperature_spreads():
    torch.manual_seed(0)
    table = torch.randn(V, V) * 2
    m = Bigram(table)
    _, p1 = next_char_distribution(m, VOCAB, "q", temperature=1.0)
    _, p_low = next_char_distribution(m, VOCAB, "q", temperature=0.2)
    _, p_high = next_char_distribution(m, VOCAB, "q", temperature=5.0)
    torch.testing.assert_close(p1, torch.softmax(table[VOCAB["q"]], -1), atol=1e-6, rtol=0)
    torch.testing.assert_close(p_low, torch.softmax(table[VOCAB["q"]] / 0.2, -1))
    assert p_low.max() > p1.max() > p_high.max()
    tokens, p0 = next_char_distribution(m, VOCAB, "q", temperature=0)
    assert p0.sum() == 1 and p0.max() == 1 and p0.argmax() == table[VOCAB["q"]].argmax()
    assert tokens == list(VOCAB.idx_to_token) and p0.shape == (V,)


def test_sampling_never_emits_unk():
    table = torch.zeros(V, V)
    table[:, VOCAB.unk] = 5.0  # the model loves '<unk>'
    text = sample_text(Bigram(table), VOCAB, "a", 200, temperature=2.0, generator=0)
    assert "<unk>" not in text and len(text) == 201


def test_model_mode_is_restored(model):
    model.train()
    sample_text(model, VOCAB, "a", 3, generator=0)
    next_char_distribution(model, VOCAB, "a")
    assert model.training
    model.eval()


def test_works_with_the_scratch_model_too():
    torch.manual_seed(0)
    text = sample_text(CharRNNScratch(V, 8), VOCAB, "time ", 10, generator=1)
    assert text.startswith("time ") and len(text) == 15


@pytest.mark.parametrize("fn", ["sample", "dist"])
@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"temperature": -0.5}, ValueError, "temperature must be >= 0"),
        ({"temperature": float("nan")}, ValueError, "temperature"),
        ({"temperature": "hot"}, TypeError, "temperature"),
        ({"prefix": ""}, ValueError, "prefix is empty"),
        ({"prefix": "The Time!"}, ValueError, "'!', 'T'"),
        ({"prefix": 42}, TypeError, "prefix must be a str"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(model, fn, kwargs, exc, words):
    args = {"prefix": "the ", "temperature": 1.0, **kwargs}
    with pytest.raises(exc) as info:
        if fn == "sample":
            sample_text(model, VOCAB, args["prefix"], 5, temperature=args["temperature"])
        else:
            next_char_distribution(model, VOCAB, args["prefix"], temperature=args["temperature"])
    assert words in str(info.value)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"num_chars": -1}, ValueError, "num_chars"),
        ({"num_samples": 0}, ValueError, "num_samples"),
        ({"generator": "seed"}, TypeError, "generator"),
    ],
)
def test_sample_text_rejects_bad_counts_and_generators(model, kwargs, exc, words):
    args = {"num_chars": 5, **kwargs}
    with pytest.raises(exc, match=words):
        sample_text(model, VOCAB, "the ", **args)


def test_vocabulary_size_mismatch_is_reported():
    with pytest.raises(ValueError, match="vocabulary"):
        sample_text(CharRNN(V + 3, 8), VOCAB, "the", 5)
    with pytest.raises(TypeError, match="nn.Module"):
        next_char_distribution(lambda X, s: X, VOCAB, "the")
