"""The Time Machine: find or download the book, turn it into tokens, and cut it into minibatches.

Where the book comes from, in this order:

1. ``COURSE_DATA_DIR``: a folder holding ``timemachine.txt`` (or the path of the file itself);
2. the cache folder ``cache_dir()`` (``COURSE_CACHE_DIR``, else ``<repository>/data``, git-ignored);
3. a download from the address the d2l 1.0.3 book uses, checked against a known sha1 and renamed
   into the cache only once the hash matches (so the cache never holds a broken file).

Tokens are characters, as in d2l: ``preprocess`` keeps letters only (every other run of characters
becomes one space) and lowercases, so the vocabulary (词表) has 28 entries: ``' '``, ``'<unk>'``
and ``'a'`` .. ``'z'``; the book becomes 173,428 tokens.

Minibatches are pairs ``(X, Y)`` of LongTensors of shape ``(batch_size, num_steps)`` where ``Y`` is
``X`` shifted by one token: the language model (语言模型) reads ``X[:, t]`` and must predict
``Y[:, t]``.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import MappingProxyType

import torch

__all__ = [
    "DATA_ENV",
    "TIMEMACHINE_SHA1",
    "TIMEMACHINE_URL",
    "DownloadError",
    "Vocab",
    "cache_dir",
    "download",
    "load_corpus",
    "num_sequential_batches",
    "preprocess",
    "read_timemachine",
    "seq_data_iter_random",
    "seq_data_iter_sequential",
    "sha1_of",
    "timemachine_path",
    "tokenize",
    "train_val_split",
]

TIMEMACHINE_URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
TIMEMACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"
TIMEMACHINE_NAME = "timemachine.txt"
DATA_ENV = "COURSE_DATA_DIR"
CACHE_ENV = "COURSE_CACHE_DIR"

_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download failed (HTTP error, dropped connection, timeout, wrong hash); nothing was kept."""


# --------------------------------------------------------------------------------------------
# Files: cache folder, hashes, download
# --------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The folder for downloaded data: ``$COURSE_CACHE_DIR`` or ``<repository>/data``.

    The repository is the folder above the ``course_utils`` package. The folder is created if
    missing.
    """
    env = os.environ.get(CACHE_ENV, "")
    folder = Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "data"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha1_of(path: str | os.PathLike) -> str:
    """Hex sha1 of a file's bytes, read in chunks."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def download(url: str, dest: str | os.PathLike, sha1: str, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest``, keeping the file only if its sha1 equals ``sha1``.

    The bytes are streamed into a temporary file next to ``dest`` and moved into place with
    ``os.replace`` once the hash matches, so ``dest`` is either absent or complete. On any failure
    (HTTP error, refused or dropped connection, timeout, wrong hash) the temporary file is removed
    and ``DownloadError`` says what happened. ``timeout`` (seconds) applies to each network wait.
    Returns ``dest`` as a ``Path``.
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"download: url must be an http(s) address string, got {url!r}")
    if not isinstance(sha1, str) or not re.fullmatch(r"[0-9a-f]{40}", sha1):
        raise ValueError(f"download: sha1 must be 40 lowercase hex digits, got {sha1!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha1()
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            expected = resp.headers.get("Content-Length")
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
        # http.client returns a short body without complaint when the server hangs up early.
        if expected is not None and expected.isdigit() and received != int(expected):
            raise DownloadError(
                f"the connection dropped after {received} of {expected} bytes of {url}"
            )
        got = digest.hexdigest()
        if got != sha1:
            raise DownloadError(
                f"{url} gave a file with sha1 {got}, expected {sha1} "
                f"({received} bytes; a proxy error page or a changed file?)"
            )
        os.replace(tmp, dest)
        return dest
    except DownloadError as err:
        _remove_quietly(tmp)
        raise DownloadError(f"{err}. Nothing was saved at {dest}.") from None
    except urllib.error.HTTPError as err:
        _remove_quietly(tmp)
        raise DownloadError(
            f"{url} answered HTTP {err.code} {err.reason}. Nothing was saved at {dest}."
        ) from err
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets, ...
        _remove_quietly(tmp)
        reason = getattr(err, "reason", None) or err
        raise DownloadError(
            f"could not download {url} ({type(err).__name__}: {reason}). "
            f"Nothing was saved at {dest}."
        ) from err
    except BaseException:  # KeyboardInterrupt and friends: still no half-written file
        _remove_quietly(tmp)
        raise


def _where_to_put_it(cache: Path) -> str:
    return (
        f"Put {TIMEMACHINE_NAME} (sha1 {TIMEMACHINE_SHA1}) in {cache} "
        f"or set {DATA_ENV} to a folder that holds it."
    )


def timemachine_path(download_if_missing: bool = True) -> Path:
    """Path of a verified copy of *The Time Machine* (``timemachine.txt``).

    Looks in ``$COURSE_DATA_DIR`` (a folder or the file itself), then in ``cache_dir()``, then
    downloads ``TIMEMACHINE_URL`` into the cache (unless ``download_if_missing`` is False).
    Every copy is checked against ``TIMEMACHINE_SHA1``: a wrong file under ``COURSE_DATA_DIR``
    raises ``ValueError``; a wrong cached file is deleted and downloaded again.
    Raises ``DownloadError`` when the download fails (offline, say), ``FileNotFoundError`` when
    ``COURSE_DATA_DIR`` points at nothing or the file is missing and downloading is off.
    """
    env = os.environ.get(DATA_ENV, "")
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            path = path / TIMEMACHINE_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"{DATA_ENV}={env} but {path} does not exist; put {TIMEMACHINE_NAME} there, "
                f"or unset {DATA_ENV} to use the cache folder {cache_dir()}"
            )
        got = sha1_of(path)
        if got != TIMEMACHINE_SHA1:
            raise ValueError(
                f"{path} (from {DATA_ENV}) has sha1 {got}, expected {TIMEMACHINE_SHA1}: it is not "
                f"the book d2l uses; replace it with the right file or unset {DATA_ENV}"
            )
        return path

    cache = cache_dir()
    path = cache / TIMEMACHINE_NAME
    if path.is_file():
        if sha1_of(path) == TIMEMACHINE_SHA1:
            return path
        path.unlink()  # a stale or damaged copy: fetch a fresh one
    if not download_if_missing:
        raise FileNotFoundError(f"{path} does not exist. {_where_to_put_it(cache)}")
    try:
        return download(TIMEMACHINE_URL, path, TIMEMACHINE_SHA1)
    except DownloadError as err:
        raise DownloadError(f"{err} {_where_to_put_it(cache)}") from err


def read_timemachine() -> str:
    """The raw text of *The Time Machine* (178,979 characters, ASCII)."""
    return timemachine_path().read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Text: preprocessing, tokens, vocabulary
# --------------------------------------------------------------------------------------------


def _check_str(fn: str, name: str, value) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{fn}: {name} must be a str, got {type(value).__name__}")


def preprocess(text: str) -> str:
    """d2l's character preprocessing: every run of non-letters becomes one space; lowercase.

    >>> preprocess("The Time-Machine, 1898!")
    'the time machine '
    """
    _check_str("preprocess", "text", text)
    return re.sub("[^A-Za-z]+", " ", text).lower()


def tokenize(text: str, token: str = "char") -> list[str]:
    """Split ``text`` into tokens: ``"char"`` gives characters, ``"word"`` whitespace words."""
    _check_str("tokenize", "text", text)
    if token == "char":
        return list(text)
    if token == "word":
        return text.split()
    raise ValueError(f"tokenize: token must be 'char' or 'word', got {token!r}")


def _as_index(fn: str, value) -> int:
    """An int from an int, a numpy integer or a one-element integer tensor; else TypeError."""
    if isinstance(value, bool):
        raise TypeError(f"{fn}: indices must be integers, got a bool")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_floating_point() or value.is_complex():
            raise TypeError(f"{fn}: indices must be integers, got a tensor {value.dtype}")
        return int(value.item())
    if hasattr(value, "__index__"):
        return value.__index__()
    raise TypeError(f"{fn}: indices must be integers, got {type(value).__name__}")


class Vocab:
    """A vocabulary (词表): token <-> index, with ``'<unk>'`` for tokens it has never seen.

    Index order matches d2l 1.0's ``Vocab``: the sorted set of ``'<unk>'``, ``reserved_tokens``
    and every token seen at least ``min_freq`` times. For the book's characters that is
    ``' '`` (0), ``'<unk>'`` (1), ``'a'`` .. ``'z'`` (2 .. 27).

    ``tokens`` is a sequence of str tokens (or a list of such lists, flattened, as in d2l).
    The vocabulary is read-only once built.
    """

    def __init__(self, tokens: Sequence = (), min_freq: int = 0, reserved_tokens: Sequence = ()):
        if isinstance(tokens, str):
            raise TypeError(
                "Vocab: tokens must be a sequence of tokens, not one str; use "
                "tokenize(text) or list(text)"
            )
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 0:
            raise ValueError(f"Vocab: min_freq must be an int >= 0, got {min_freq!r}")
        if isinstance(reserved_tokens, str):
            raise TypeError("Vocab: reserved_tokens must be a list of str, not one str")
        tokens = list(tokens)
        if tokens and isinstance(tokens[0], list):  # d2l accepts lines of tokens
            tokens = [tok for line in tokens for tok in line]
        for tok in [*tokens, *reserved_tokens]:
            if not isinstance(tok, str):
                raise TypeError(f"Vocab: tokens must be str, got {type(tok).__name__} {tok!r}")
        counts = collections.Counter(tokens)
        # most frequent first; ties keep first-seen order (Counter preserves insertion order)
        self._token_freqs = tuple(sorted(counts.items(), key=lambda kv: kv[1], reverse=True))
        kept = {tok for tok, n in self._token_freqs if n >= min_freq}
        self._idx_to_token = tuple(sorted({"<unk>", *reserved_tokens, *kept}))
        self._token_to_idx = MappingProxyType({t: i for i, t in enumerate(self._idx_to_token)})

    # read-only views
    @property
    def idx_to_token(self) -> tuple[str, ...]:
        """Tokens in index order."""
        return self._idx_to_token

    @property
    def token_to_idx(self):
        """Read-only mapping token -> index."""
        return self._token_to_idx

    @property
    def token_freqs(self) -> list[tuple[str, int]]:
        """``[(token, count), ...]`` most frequent first (a fresh list each time)."""
        return list(self._token_freqs)

    @property
    def unk(self) -> int:
        """Index of ``'<unk>'``."""
        return self._token_to_idx["<unk>"]

    def __len__(self) -> int:
        return len(self._idx_to_token)

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, tokens={list(self._idx_to_token[:8])}...)"

    def __getitem__(self, tokens):
        """Index of a token (``'<unk>'``'s index if unknown); a list of indices for a list/tuple."""
        if isinstance(tokens, (list, tuple)):
            return [self[tok] for tok in tokens]
        if not isinstance(tokens, str):
            raise TypeError(
                f"Vocab[...]: expected a str token or a list/tuple of them, got "
                f"{type(tokens).__name__}; to go from indices to tokens use to_tokens()"
            )
        return self._token_to_idx.get(tokens, self.unk)

    def to_tokens(self, indices):
        """Token of one index (int) or list of tokens for a list/tuple/1-D tensor of indices."""
        if isinstance(indices, torch.Tensor) and indices.dim() == 1:
            indices = indices.tolist()
        if isinstance(indices, (list, tuple)):
            return [self.to_tokens(i) for i in indices]
        i = _as_index("Vocab.to_tokens", indices)
        if not 0 <= i < len(self):
            raise ValueError(
                f"Vocab.to_tokens: index {i} is outside the vocabulary (0 .. {len(self) - 1})"
            )
        return self._idx_to_token[i]

    def encode(self, text: str) -> list[int]:
        """Indices of the characters of ``text`` (len(text) ints).

        Characters not in the vocabulary map to ``self.unk``: capitals and punctuation included,
        so pass text through ``preprocess`` first when it may hold them.
        """
        _check_str("Vocab.encode", "text", text)
        return [self[ch] for ch in text]

    def decode(self, indices) -> str:
        """The string spelled by character indices (list of ints or 1-D tensor), joined with ''."""
        if isinstance(indices, torch.Tensor):
            if indices.dim() != 1:
                raise ValueError(
                    f"Vocab.decode: indices must be 1-D, got shape {tuple(indices.shape)}; "
                    "decode one row at a time, e.g. vocab.decode(X[0])"
                )
            indices = indices.tolist()
        if not isinstance(indices, (list, tuple)):
            raise TypeError(
                f"Vocab.decode: indices must be a list or 1-D tensor, got {type(indices).__name__}"
            )
        return "".join(self.to_tokens(list(indices)))


# --------------------------------------------------------------------------------------------
# The corpus and a held-out split
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _book_corpus() -> tuple[tuple[int, ...], Vocab]:
    tokens = tokenize(preprocess(read_timemachine()), "char")
    vocab = Vocab(tokens)
    return tuple(vocab[tokens]), vocab


def load_corpus(max_tokens: int | None = None, text: str | None = None) -> tuple[list[int], Vocab]:
    """Character corpus and vocabulary of *The Time Machine* (or of ``text`` if given).

    Returns ``(corpus, vocab)``: ``corpus`` a list of 173,428 token indices for the book (a fresh
    list each call, so callers may change it), ``vocab`` a ``Vocab`` of 28 characters. With
    ``max_tokens`` only the first ``max_tokens`` indices are returned (the vocabulary still covers
    the whole text). The book is read and encoded once per process.
    """
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ValueError(f"load_corpus: max_tokens must be None or an int >= 1, got {max_tokens!r}")
    if text is None:
        corpus, vocab = _book_corpus()
    else:
        _check_str("load_corpus", "text", text)
        tokens = tokenize(preprocess(text), "char")
        if not "".join(tokens).strip():
            raise ValueError(
                "load_corpus: the text is empty (no letters A-Z after preprocessing); "
                "pass the text of a book"
            )
        vocab = Vocab(tokens)
        corpus = vocab[tokens]
    return list(corpus[:max_tokens]), vocab


def _check_corpus(fn: str, corpus) -> torch.Tensor:
    """``corpus`` as a 1-D LongTensor; TypeError/ValueError naming ``fn`` otherwise."""
    if isinstance(corpus, torch.Tensor):
        if corpus.dim() != 1 or corpus.is_floating_point() or corpus.dtype == torch.bool:
            raise ValueError(
                f"{fn}: corpus must be a 1-D integer tensor, got {corpus.dtype} of shape "
                f"{tuple(corpus.shape)}"
            )
        return corpus.long()
    if isinstance(corpus, (str, bytes)) or not isinstance(corpus, Sequence):
        raise TypeError(
            f"{fn}: corpus must be a list of token indices or a 1-D LongTensor, got "
            f"{type(corpus).__name__}; use load_corpus() or vocab.encode(text)"
        )
    if any(isinstance(i, bool) or not isinstance(i, int) for i in corpus):
        raise TypeError(f"{fn}: corpus must hold int token indices")
    return torch.tensor(list(corpus), dtype=torch.long)


def train_val_split(corpus, val_fraction: float = 0.1):
    """Split ``corpus`` by position: the first part trains, the END of the book is held out.

    Returns ``(train, val)``, slices of the same type as ``corpus`` with
    ``len(val) == round(len(corpus) * val_fraction)``; the validation text is never seen in
    training. ``val_fraction`` must lie in (0, 1) and leave both parts non-empty.
    """
    if isinstance(corpus, (str, bytes)) or not hasattr(corpus, "__len__"):
        raise TypeError(
            f"train_val_split: corpus must be a list or 1-D tensor of token indices, got "
            f"{type(corpus).__name__}"
        )
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise TypeError(
            f"train_val_split: val_fraction must be a float, got {type(val_fraction).__name__}"
        )
    if not 0 < val_fraction < 1:
        raise ValueError(
            f"train_val_split: val_fraction must lie strictly between 0 and 1, got {val_fraction}"
        )
    n = len(corpus)
    n_val = round(n * val_fraction)
    if n_val < 1 or n_val > n - 1:
        raise ValueError(
            f"train_val_split: a corpus of {n} tokens with val_fraction={val_fraction} leaves an "
            f"empty part ({n - n_val} train, {n_val} validation); use a longer corpus"
        )
    return corpus[: n - n_val], corpus[n - n_val :]


# --------------------------------------------------------------------------------------------
# Minibatches (X, Y), Y = X shifted by one token
# --------------------------------------------------------------------------------------------


def _check_positive(fn: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{fn}: {name} must be >= 1, got {value}")


def _check_offset(fn: str, offset) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"{fn}: offset must be an int >= 0, got {offset!r}")


def num_sequential_batches(
    num_tokens: int, batch_size: int, num_steps: int, offset: int = 0
) -> int:
    """Number of (X, Y) batches ``seq_data_iter_sequential`` yields for ``num_tokens`` tokens."""
    fn = "num_sequential_batches"
    _check_positive(fn, "batch_size", batch_size)
    _check_positive(fn, "num_steps", num_steps)
    _check_offset(fn, offset)
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens < 0:
        raise ValueError(f"{fn}: num_tokens must be an int >= 0, got {num_tokens!r}")
    usable = num_tokens - offset - 1  # the last token has no successor
    return max(0, usable // batch_size // num_steps)


def seq_data_iter_sequential(
    corpus, batch_size: int, num_steps: int, offset: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Sequential minibatches: row ``b`` of each batch continues where it stopped in the last one.

    The corpus (from ``offset`` on) is cut into ``batch_size`` contiguous stretches, one per row;
    batch ``i`` holds columns ``i*num_steps .. (i+1)*num_steps - 1`` of every stretch. So a hidden
    state (隐藏状态) carried from one batch to the next belongs to the text that comes right
    before. Yields ``(X, Y)``, both LongTensor ``(batch_size, num_steps)``, ``Y`` = ``X`` shifted
    by one token. Vary ``offset`` (e.g. per epoch) to change where the stretches begin.
    Validates its arguments before returning the iterator.
    """
    fn = "seq_data_iter_sequential"
    data = _check_corpus(fn, corpus)
    _check_positive(fn, "batch_size", batch_size)
    _check_positive(fn, "num_steps", num_steps)
    _check_offset(fn, offset)
    need = offset + batch_size * num_steps + 1
    if len(data) < need:
        raise ValueError(
            f"{fn}: corpus has {len(data)} tokens but one batch of batch_size={batch_size} x "
            f"num_steps={num_steps} with offset={offset} needs at least {need}; use a longer "
            f"corpus or smaller batch_size/num_steps"
        )
    row_len = (len(data) - offset - 1) // batch_size
    Xs = data[offset : offset + batch_size * row_len].reshape(batch_size, row_len)
    Ys = data[offset + 1 : offset + 1 + batch_size * row_len].reshape(batch_size, row_len)
    num_batches = row_len // num_steps

    def batches():
        for i in range(num_batches):
            cols = slice(i * num_steps, (i + 1) * num_steps)
            yield Xs[:, cols].clone(), Ys[:, cols].clone()  # (batch_size, num_steps) each

    return batches()


def seq_data_iter_random(
    corpus, batch_size: int, num_steps: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Random minibatches: a random start, then non-overlapping windows in shuffled order.

    Draws an offset in ``0 .. num_steps - 1`` (as far as the corpus length allows), cuts the rest
    into windows of ``num_steps`` tokens, shuffles them and yields full batches of ``batch_size``
    windows. Neighbouring rows are unrelated, so reset the state every batch. Yields ``(X, Y)``,
    both LongTensor ``(batch_size, num_steps)``, ``Y`` = ``X`` shifted by one token.
    The same ``generator`` state gives the same batches; ``None`` uses torch's global generator.
    """
    fn = "seq_data_iter_random"
    data = _check_corpus(fn, corpus)
    _check_positive(fn, "batch_size", batch_size)
    _check_positive(fn, "num_steps", num_steps)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{fn}: generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    need = batch_size * num_steps + 1
    if len(data) < need:
        raise ValueError(
            f"{fn}: corpus has {len(data)} tokens but one batch of batch_size={batch_size} x "
            f"num_steps={num_steps} needs at least {need}; use a longer corpus or smaller "
            f"batch_size/num_steps"
        )
    max_offset = min(num_steps - 1, len(data) - need)
    offset = int(torch.randint(0, max_offset + 1, (1,), generator=generator))
    num_windows = (len(data) - offset - 1) // num_steps
    starts = offset + num_steps * torch.randperm(num_windows, generator=generator)
    steps = torch.arange(num_steps)

    def batches():
        for i in range(0, num_windows - batch_size + 1, batch_size):
            idx = starts[i : i + batch_size, None] + steps  # (batch_size, num_steps)
            yield data[idx], data[idx + 1]

    return batches()
