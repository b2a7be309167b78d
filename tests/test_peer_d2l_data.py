"""Peer cross-check: our corpus and vocabulary equal what d2l 1.0.3's TimeMachine builds from the
same file. d2l reads `<cwd>/../data/timemachine.txt` and reuses it when its sha1 matches, so we
run it from a tmp folder whose ../data holds a link to the shared file (no network, no copy in
the project)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from course_utils import data
from course_utils.data import Vocab, load_corpus, preprocess, seq_data_iter_sequential, tokenize


@pytest.fixture(scope="module")
def d2l():
    from d2l import torch as d2l  # ~10 s: once per module

    return d2l


@pytest.fixture(scope="module")
def d2l_book(d2l, tmp_path_factory):
    """d2l.TimeMachine(batch_size=2, num_steps=5) built in a tmp folder, with network cut off."""
    tmp = tmp_path_factory.mktemp("d2l")
    (tmp / "data").mkdir()
    (tmp / "work").mkdir()
    src = data.timemachine_path(download_if_missing=False)
    try:
        os.symlink(src, tmp / "data" / "timemachine.txt")
    except OSError:  # no symlinks here: a copy that lives only in tmp
        shutil.copy(src, tmp / "data" / "timemachine.txt")

    def no_network(*args, **kwargs):
        raise AssertionError(f"d2l tried to download {args}: the sha1 check should reuse the file")

    mp = pytest.MonkeyPatch()
    mp.chdir(tmp / "work")  # d2l's DataModule root is '../data'
    mp.setattr(d2l.requests, "get", no_network)
    try:
        book = d2l.TimeMachine(batch_size=2, num_steps=5)
    finally:
        mp.undo()
    return book


def test_d2l_built_the_book_from_the_linked_file(d2l_book):
    # built without the network (requests.get was cut off) from the file under ../data
    first = "".join(d2l_book.vocab.to_tokens(d2l_book.X[0].tolist()))
    assert d2l_book.root == "../data" and first == "the t"


def test_corpus_and_vocab_equal_d2l(d2l_book):
    ours_corpus, ours_vocab = load_corpus()
    theirs_corpus, theirs_vocab = d2l_book.build(data.read_timemachine())
    assert len(ours_corpus) == len(theirs_corpus) == 173428
    assert len(ours_vocab) == len(theirs_vocab) == 28
    assert list(ours_vocab.idx_to_token) == theirs_vocab.idx_to_token
    assert dict(ours_vocab.token_to_idx) == theirs_vocab.token_to_idx
    assert ours_vocab.token_freqs == theirs_vocab.token_freqs
    assert ours_vocab.unk == theirs_vocab.unk
    assert ours_corpus == theirs_corpus
    assert d2l_book.vocab.idx_to_token == theirs_vocab.idx_to_token  # what __init__ built


def test_windows_equal_d2l_windows(d2l_book):
    # d2l's TimeMachine keeps every window: X[i] = corpus[i : i + 5], Y[i] = corpus[i+1 : i + 6].
    corpus, _ = load_corpus()
    assert d2l_book.X.shape == (173428 - 5, 5)
    assert torch.equal(d2l_book.X[:, 1:], d2l_book.Y[:, :-1])
    # our sequential iterator with one row walks the same windows at i = 0, 5, 10, ...
    for k, (X, Y) in enumerate(seq_data_iter_sequential(corpus, 1, 5)):
        if k == 200:
            break
        assert torch.equal(X[0], d2l_book.X[5 * k]) and torch.equal(Y[0], d2l_book.Y[5 * k])


def test_preprocessing_equals_d2l(d2l_book):
    text = "The Time-Machine (1895), by H.G. Wells!\n\nIt was\tlate."
    assert preprocess(text) == d2l_book._preprocess(text)
    assert tokenize(preprocess(text)) == d2l_book._tokenize(d2l_book._preprocess(text))


def test_vocab_equals_d2l_with_min_freq_and_reserved_tokens(d2l):
    words = tokenize(preprocess(data.read_timemachine()), "word")
    ours = Vocab(words, min_freq=3, reserved_tokens=["<pad>", "<bos>"])
    theirs = d2l.Vocab(words, min_freq=3, reserved_tokens=["<pad>", "<bos>"])
    assert list(ours.idx_to_token) == theirs.idx_to_token
    assert ours.token_freqs == theirs.token_freqs
    probe = ["time", "traveller", "zzzz", "<pad>", "the"]
    assert ours[probe] == theirs[probe]  # unknown words map to <unk> in both
    assert ours.to_tokens([3, 10, 100]) == theirs.to_tokens([3, 10, 100])
