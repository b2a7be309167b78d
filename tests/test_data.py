"""course_utils.data on the real book (COURSE_DATA_DIR, set by conftest.py): text, vocabulary,
corpus, split and the two minibatch iterators, with their bad-input errors."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import torch

from course_utils import data
from course_utils.data import (
    Vocab,
    load_corpus,
    num_sequential_batches,
    preprocess,
    seq_data_iter_random,
    seq_data_iter_sequential,
    tokenize,
    train_val_split,
)

# --- files -----------------------------------------------------------------------------------


def test_timemachine_path_uses_course_data_dir_and_verifies_hash():
    path = data.timemachine_path(download_if_missing=False)
    assert path.name == "timemachine.txt"
    assert data.sha1_of(path) == data.TIMEMACHINE_SHA1


def test_read_timemachine_gives_the_book():
    text = data.read_timemachine()
    assert len(text) == 178979
    assert text.startswith("The Time Machine, by H. G. Wells")


def test_sha1_of_small_file(tmp_path):
    f = tmp_path / "abc.txt"
    f.write_bytes(b"abc")
    assert data.sha1_of(f) == "a9993e364706816aba3e25717850c26c9cd0d89d"  # FIPS 180 example


def test_cache_dir_default_is_repo_data_and_env_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    repo = Path(data.__file__).resolve().parents[1]
    assert data.cache_dir() == repo / "data"
    target = tmp_path / "nested" / "cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(target))
    assert data.cache_dir() == target
    assert target.is_dir()  # created on demand


# --- text ------------------------------------------------------------------------------------


def test_preprocess_keeps_letters_lowercases_and_collapses_the_rest():
    assert preprocess("The Time-Machine, 1898!") == "the time machine "
    assert preprocess("") == ""
    assert preprocess("é ß") == " "  # non-ASCII letters are not A-Z
    with pytest.raises(TypeError, match="preprocess: text must be a str"):
        preprocess(b"bytes")


def test_tokenize_char_and_word_and_bad_kind():
    assert tokenize("ab c") == ["a", "b", " ", "c"]
    assert tokenize("the time  machine", "word") == ["the", "time", "machine"]
    with pytest.raises(ValueError, match="token must be 'char' or 'word', got 'line'"):
        tokenize("abc", "line")
    with pytest.raises(TypeError, match="tokenize: text must be a str"):
        tokenize(["a", "b"])


# --- vocabulary ------------------------------------------------------------------------------


def test_vocab_index_order_matches_d2l_rule():
    v = Vocab(list("banana"), reserved_tokens=["<bos>"])
    # sorted set of '<unk>', reserved and seen tokens
    assert list(v.idx_to_token) == sorted({"<unk>", "<bos>", "a", "b", "n"})
    assert len(v) == 5
    assert v.token_freqs == [("a", 3), ("n", 2), ("b", 1)]
    assert v["a"] == v.idx_to_token.index("a")
    assert v.unk == v.idx_to_token.index("<unk>")


def test_vocab_min_freq_drops_rare_tokens_to_unk():
    v = Vocab(list("aaabbc"), min_freq=2)
    assert set(v.idx_to_token) == {"<unk>", "a", "b"}
    assert v["c"] == v.unk


def test_vocab_lookup_both_ways_and_unknown_tokens():
    v = Vocab(list("hello world"))
    assert v[["h", "e"]] == [v["h"], v["e"]]
    assert v[("h", "e")] == [v["h"], v["e"]]
    assert v["Z"] == v.unk  # unknown -> <unk>
    assert v.to_tokens(v["h"]) == "h"
    assert v.to_tokens([v["h"], v["o"]]) == ["h", "o"]
    assert v.to_tokens([v["h"]]) == ["h"]  # a one-element list stays a list (d2l returns a str)
    assert v.to_tokens(torch.tensor([v["w"], v["d"]])) == ["w", "d"]
    assert v.to_tokens(torch.tensor(v["w"])) == "w"


def test_vocab_encode_decode_round_trip_and_unknown_chars():
    _, vocab = load_corpus()
    ids = vocab.encode("time machine")
    assert ids == [vocab[c] for c in "time machine"]
    assert vocab.decode(ids) == "time machine"
    assert vocab.decode(torch.tensor(ids)) == "time machine"
    # capitals and digits are not in the vocabulary: they map to <unk> (documented)
    assert vocab.encode("T1") == [vocab.unk, vocab.unk]
    assert vocab.decode(vocab.encode("T")) == "<unk>"


def test_vocab_bad_input():
    v = Vocab(list("abc"))
    with pytest.raises(TypeError, match="not one str"):
        Vocab("abc")
    with pytest.raises(TypeError, match="tokens must be str"):
        Vocab([1, 2, 3])
    with pytest.raises(ValueError, match="min_freq must be an int >= 0"):
        Vocab(list("abc"), min_freq=-1)
    with pytest.raises(TypeError, match="reserved_tokens must be a list of str"):
        Vocab(list("abc"), reserved_tokens="<pad>")
    with pytest.raises(TypeError, match=r"use to_tokens\(\)"):
        v[3]
    with pytest.raises(ValueError, match=r"index 99 is outside the vocabulary \(0 .. 3\)"):
        v.to_tokens(99)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.to_tokens(-1)
    with pytest.raises(TypeError, match="indices must be integers"):
        v.to_tokens(1.5)
    with pytest.raises(TypeError, match="Vocab.encode: text must be a str"):
        v.encode(["a"])
    with pytest.raises(ValueError, match=r"indices must be 1-D, got shape \(2, 2\)"):
        v.decode(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="Vocab.decode: indices must be a list"):
        v.decode(5)


def test_empty_vocab_has_only_unk_and_is_read_only():
    v = Vocab()
    assert list(v.idx_to_token) == ["<unk>"] and len(v) == 1 and v["a"] == 0
    with pytest.raises(TypeError):
        v.token_to_idx["a"] = 5  # read-only mapping
    v.token_freqs.append(("x", 1))  # a fresh list: the vocabulary does not change
    assert v.token_freqs == []


# --- corpus ----------------------------------------------------------------------------------


def test_load_corpus_matches_d2l_figures():
    corpus, vocab = load_corpus()
    assert len(corpus) == 173428
    assert len(vocab) == 28
    assert list(vocab.idx_to_token) == [" ", "<unk>", *string.ascii_lowercase]
    assert vocab.decode(corpus[:16]) == "the time machine"
    assert vocab.unk not in corpus  # every character of the preprocessed book is known


def test_load_corpus_returns_copies_so_the_cache_cannot_be_corrupted():
    corpus, _ = load_corpus()
    corpus[0] = 999
    corpus.append(5)
    again, _ = load_corpus()
    assert again[0] != 999 and len(again) == 173428


def test_load_corpus_max_tokens_and_text():
    head, vocab = load_corpus(max_tokens=100)
    assert len(head) == 100 and len(vocab) == 28
    assert head == load_corpus()[0][:100]
    corpus, vocab = load_corpus(text="Abba, abba!")
    assert vocab.decode(corpus) == "abba abba "
    assert len(vocab) == 4  # ' ', '<unk>', 'a', 'b'


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_load_corpus_rejects_bad_max_tokens(bad):
    with pytest.raises(ValueError, match="max_tokens must be None or an int >= 1"):
        load_corpus(max_tokens=bad)


@pytest.mark.parametrize("empty", ["", "1234 !?", "   "])
def test_load_corpus_on_empty_text_says_so(empty):
    with pytest.raises(ValueError, match="the text is empty"):
        load_corpus(text=empty)


def test_load_corpus_text_must_be_str():
    with pytest.raises(TypeError, match="load_corpus: text must be a str"):
        load_corpus(text=["abc"])


# --- held-out split --------------------------------------------------------------------------


def test_train_val_split_holds_out_the_end_of_the_book():
    corpus, _ = load_corpus()
    train, val = train_val_split(corpus, 0.1)
    assert len(val) == round(0.1 * len(corpus))
    assert train + val == corpus  # nothing lost, nothing shared
    assert val == corpus[-len(val) :]  # the END of the book
    t_train, t_val = train_val_split(torch.tensor(corpus), 0.25)
    assert isinstance(t_val, torch.Tensor) and len(t_val) == round(0.25 * len(corpus))


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_train_val_split_rejects_fractions_outside_0_1(fraction):
    with pytest.raises(ValueError, match="val_fraction must lie strictly between 0 and 1"):
        train_val_split(list(range(100)), fraction)


def test_train_val_split_rejects_empty_parts_and_bad_types():
    with pytest.raises(ValueError, match="leaves an empty part"):
        train_val_split([1, 2, 3], 0.01)
    with pytest.raises(ValueError, match="leaves an empty part"):
        train_val_split([1, 2, 3], 0.99)
    with pytest.raises(TypeError, match="val_fraction must be a float"):
        train_val_split([1, 2, 3], "0.1")
    with pytest.raises(TypeError, match="corpus must be a list or 1-D tensor"):
        train_val_split(42, 0.1)


# --- sequential minibatches ------------------------------------------------------------------


def test_sequential_shift_machin_achine():
    corpus, vocab = load_corpus()
    X, Y = next(seq_data_iter_sequential(corpus, batch_size=2, num_steps=16))
    assert X.dtype == torch.long and X.shape == (2, 16) and Y.shape == (2, 16)
    assert vocab.decode(X[0]) == "the time machine"
    assert vocab.decode(Y[0]) == "he time machine "
    # "machin" -> "achine": the target is the input moved one character on
    assert vocab.decode(X[0, 9:15]) == "machin" and vocab.decode(Y[0, 9:15]) == "achine"
    assert torch.equal(X[:, 1:], Y[:, :-1])


def test_sequential_rows_continue_across_batches():
    corpus, _ = load_corpus(max_tokens=5000)
    batch_size, num_steps = 4, 7
    batches = list(seq_data_iter_sequential(corpus, batch_size, num_steps, offset=3))
    assert len(batches) == num_sequential_batches(len(corpus), batch_size, num_steps, offset=3)
    assert len(batches) == (5000 - 3 - 1) // batch_size // num_steps
    rows = torch.cat([X for X, _ in batches], dim=1)  # (batch_size, all steps)
    targets = torch.cat([Y for _, Y in batches], dim=1)
    row_len = (5000 - 3 - 1) // batch_size
    for b in range(batch_size):
        start = 3 + b * row_len  # row b is one contiguous stretch of the book
        expect = torch.tensor(corpus[start : start + rows.shape[1]])
        assert torch.equal(rows[b], expect)
        assert torch.equal(targets[b], torch.tensor(corpus[start + 1 : start + 1 + rows.shape[1]]))


def test_sequential_accepts_a_tensor_and_offset_changes_the_start():
    corpus = torch.arange(100)
    X0, _ = next(seq_data_iter_sequential(corpus, 2, 5))
    X1, Y1 = next(seq_data_iter_sequential(corpus, 2, 5, offset=1))
    assert X0[0, 0] == 0 and X1[0, 0] == 1 and Y1[0, 0] == 2


def test_sequential_bad_input():
    corpus = list(range(50))
    with pytest.raises(ValueError, match=r"corpus has 50 tokens .* needs at least 61"):
        seq_data_iter_sequential(corpus, batch_size=6, num_steps=10)
    with pytest.raises(ValueError, match="needs at least 51"):
        seq_data_iter_sequential(corpus, batch_size=7, num_steps=7, offset=1)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        seq_data_iter_sequential(corpus, batch_size=0, num_steps=5)
    with pytest.raises(ValueError, match="num_steps must be >= 1, got -2"):
        seq_data_iter_sequential(corpus, batch_size=2, num_steps=-2)
    with pytest.raises(TypeError, match="batch_size must be an int, got float"):
        seq_data_iter_sequential(corpus, batch_size=2.0, num_steps=5)
    with pytest.raises(ValueError, match="offset must be an int >= 0"):
        seq_data_iter_sequential(corpus, 2, 5, offset=-1)
    with pytest.raises(TypeError, match="corpus must be a list of token indices"):
        seq_data_iter_sequential("the time machine", 2, 5)
    with pytest.raises(TypeError, match="corpus must hold int token indices"):
        seq_data_iter_sequential([0.5] * 50, 2, 5)
    with pytest.raises(ValueError, match=r"1-D integer tensor, got torch.float32 of shape \(50,\)"):
        seq_data_iter_sequential(torch.rand(50), 2, 5)
    with pytest.raises(ValueError, match="1-D integer tensor"):
        seq_data_iter_sequential(torch.zeros(5, 10, dtype=torch.long), 2, 2)


def test_num_sequential_batches_bad_input_and_small_corpus():
    assert num_sequential_batches(10, 4, 4) == 0
    assert num_sequential_batches(33, 4, 4) == 2
    with pytest.raises(ValueError, match="num_tokens must be an int >= 0"):
        num_sequential_batches(-1, 2, 2)
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        num_sequential_batches(100, 2, 0)


# --- random minibatches ----------------------------------------------------------------------


def test_random_batches_are_shifted_windows_of_the_corpus():
    corpus = list(range(3000))  # token i sits at position i, so a row's first value is its start
    batches = list(seq_data_iter_random(corpus, 8, 10, torch.Generator().manual_seed(1)))
    offset = batches[0][0][0, 0].item() % 10
    assert len(batches) == (3000 - offset - 1) // 10 // 8
    starts = []
    for X, Y in batches:
        assert X.shape == (8, 10) and Y.shape == (8, 10) and X.dtype == torch.long
        assert torch.equal(Y, X + 1)  # targets are the next tokens
        assert torch.equal(X, X[:, :1] + torch.arange(10))  # each row is a contiguous window
        starts += X[:, 0].tolist()
    assert len(set(starts)) == len(starts)  # non-overlapping windows, each used once
    assert {s % 10 for s in starts} == {offset}  # one shared random offset
    assert starts != sorted(starts)  # shuffled


def test_random_batches_decode_to_book_text():
    corpus, vocab = load_corpus(max_tokens=2000)
    text = vocab.decode(corpus)
    X, Y = next(seq_data_iter_random(corpus, 4, 20, torch.Generator().manual_seed(0)))
    for row, target in zip(X, Y, strict=True):
        x, y = vocab.decode(row), vocab.decode(target)
        assert x in text and x[1:] == y[:-1]


def test_random_iterator_is_deterministic_given_a_generator():
    corpus, _ = load_corpus(max_tokens=20000)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return [(X, Y) for X, Y in seq_data_iter_random(corpus, 16, 12, generator=g)]

    a, b, c = run(7), run(7), run(8)
    assert len(a) == len(b) > 0
    for (x1, y1), (x2, y2) in zip(a, b, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert any(not torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, c, strict=True))


def test_random_iterator_short_corpus_still_gives_one_batch():
    corpus = list(range(21))  # exactly batch_size * num_steps + 1
    for seed in range(5):
        batches = list(seq_data_iter_random(corpus, 2, 10, torch.Generator().manual_seed(seed)))
        assert len(batches) == 1
        assert sorted(batches[0][0][:, 0].tolist()) == [0, 10]


def test_random_bad_input():
    with pytest.raises(ValueError, match=r"corpus has 20 tokens .* needs at least 21"):
        seq_data_iter_random(list(range(20)), 2, 10)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        seq_data_iter_random(list(range(100)), 2, 5, generator=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        seq_data_iter_random(list(range(100)), 0, 5)
    with pytest.raises(TypeError, match="num_steps must be an int"):
        seq_data_iter_random(list(range(100)), 2, None)


def test_vocab_flattens_lines_like_d2l_and_has_a_repr():
    v = Vocab([list("ab"), list("ba c")])
    assert list(v.idx_to_token) == [" ", "<unk>", "a", "b", "c"]
    assert repr(v).startswith("Vocab(size=5")


def test_vocab_to_tokens_rejects_bools_and_float_tensors():
    v = Vocab(list("abc"))
    with pytest.raises(TypeError, match="got a bool"):
        v.to_tokens(True)
    with pytest.raises(TypeError, match="got a tensor torch.float32"):
        v.to_tokens(torch.tensor(1.0))
