"""Training and evaluating character language models (语言模型).

- ``train_lm``: Adam or SGD, gradient clipping (梯度裁剪) by the global L2 norm, the hidden state
  (隐藏状态) carried across sequential batches and detached (truncated BPTT), a time or epoch
  budget, held-out perplexity (困惑度) at regular points, an optional live plot; returns a
  ``History``. ``step=`` lets a lesson drive it with the student's own training step.
- ``GradNormRecorder``: records the global gradient norm of every backward pass (lesson 3's
  picture of exploding gradients), through autograd hooks, without touching the gradients.
- ``evaluate_perplexity``: exp of the mean negative log-likelihood over a whole held-out corpus.
- ``CHAR_RNN_RECIPE`` and ``pretrained_char_rnn``: the course's recommended recipe, trained once
  and cached.

Every model follows ``logits, state = model(X, state)`` with X (batch, num_steps) long and logits
(batch, num_steps, vocab_size).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .rnn import detach_state

__all__ = [
    "CHAR_RNN_RECIPE",
    "GradNormRecorder",
    "History",
    "Record",
    "evaluate_perplexity",
    "pretrained_char_rnn",
    "train_lm",
]


# --------------------------------------------------------------------------- history


class Record(NamedTuple):
    """One evaluation point of a training run.

    ``seconds`` counts training time only (evaluation and plotting excluded); ``train_ppl`` is
    exp of the mean training loss since the previous record (None at step 0); ``val_ppl`` is the
    held-out perplexity (None without a held-out corpus).
    """

    step: int
    epoch: int
    seconds: float
    tokens: int
    train_ppl: float | None
    val_ppl: float | None


@dataclass
class History:
    """What ``train_lm`` saw: a list of ``Record`` (step, epoch, seconds, tokens, train_ppl,
    val_ppl), the run's settings, its wall time (evaluation included) and an optional label."""

    records: list[Record] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    label: str | None = None

    def column(self, name: str) -> list:
        """One field of every record, e.g. ``history.column("val_ppl")``."""
        if name not in Record._fields:
            raise ValueError(f"History.column: name must be one of {Record._fields}, got {name!r}.")
        return [getattr(r, name) for r in self.records]

    @property
    def final_val_ppl(self) -> float | None:
        """Held-out perplexity at the last record (None if never evaluated)."""
        vals = [r.val_ppl for r in self.records if r.val_ppl is not None]
        return vals[-1] if vals else None

    @property
    def best_val_ppl(self) -> float | None:
        """Lowest held-out perplexity recorded (None if never evaluated)."""
        vals = [r.val_ppl for r in self.records if r.val_ppl is not None]
        return min(vals) if vals else None

    @property
    def final_train_ppl(self) -> float | None:
        """Training perplexity over the last stretch between records."""
        vals = [r.train_ppl for r in self.records if r.train_ppl is not None]
        return vals[-1] if vals else None

    @property
    def train_seconds(self) -> float:
        """Training time of the run (evaluation excluded)."""
        return self.records[-1].seconds if self.records else 0.0

    @property
    def tokens_per_second(self) -> float:
        """Training throughput: tokens (batch * num_steps per step) per training second."""
        if not self.records or self.records[-1].seconds <= 0:
            return 0.0
        return self.records[-1].tokens / self.records[-1].seconds

    def time_to_reach(self, ppl: float) -> float | None:
        """Training seconds at the first record whose held-out perplexity is <= ``ppl``, or None."""
        for r in self.records:
            if r.val_ppl is not None and r.val_ppl <= ppl:
                return r.seconds
        return None

    def to_dict(self) -> dict:
        """Plain dict (records as lists): JSON- and ``torch.load(weights_only=True)``-safe."""
        d = asdict(self)
        d["records"] = [list(r) for r in self.records]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """Inverse of ``to_dict``."""
        return cls(
            records=[Record(*r) for r in d.get("records", [])],
            config=dict(d.get("config", {})),
            wall_seconds=float(d.get("wall_seconds", 0.0)),
            label=d.get("label"),
        )


# --------------------------------------------------------------------------- helpers


def _as_corpus(fn: str, name: str, corpus, min_len: int = 2) -> torch.Tensor:
    """``corpus`` (list of ints or 1-D integer tensor) as a 1-D LongTensor on the CPU."""
    if isinstance(corpus, torch.Tensor):
        if corpus.dim() != 1 or corpus.dtype.is_floating_point or corpus.dtype == torch.bool:
            raise ValueError(
                f"{fn}: {name} must be a 1-D integer tensor of token indices, got dtype "
                f"{corpus.dtype} with shape {tuple(corpus.shape)}."
            )
        data = corpus.detach().to("cpu", torch.long)
    elif isinstance(corpus, Sequence) and not isinstance(corpus, (str, bytes)):
        if any(isinstance(i, bool) or not isinstance(i, int) for i in corpus):
            raise TypeError(f"{fn}: {name} must hold int token indices; use vocab.encode(text).")
        data = torch.tensor(list(corpus), dtype=torch.long)
    else:
        raise TypeError(
            f"{fn}: {name} must be a list of token indices or a 1-D LongTensor, got "
            f"{type(corpus).__name__}; use load_corpus() or vocab.encode(text)."
        )
    if len(data) < min_len:
        raise ValueError(f"{fn}: {name} needs at least {min_len} tokens, got {len(data)}.")
    return data


def _positive_int(fn: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive int, got {value!r}.")
    return value


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- gradient norms


class GradNormRecorder:
    """Record the global L2 norm of the gradients of ``params`` at every backward pass.

    ``norms[k]`` is sqrt(sum over all params of the squared entries of the gradient that the
    k-th backward pass computed), as a Python float: the norm *before* any clipping, since the
    hook runs inside ``backward()``. Parameters the pass did not reach count as zero. The
    gradients themselves are not changed. Call ``remove()`` (or use ``with``) when done.

        recorder = GradNormRecorder(model.parameters())
        loss.backward()          # recorder.norms == [norm of this backward]
        recorder.remove()
    """

    def __init__(self, params):
        params = [p for p in params if isinstance(p, torch.Tensor) and p.requires_grad]
        if not params:
            raise ValueError("GradNormRecorder: params holds no tensor with requires_grad=True.")
        self.norms: list[float] = []
        self._handle = torch.autograd.graph.register_multi_grad_hook(params, self._record)

    def _record(self, grads) -> None:
        total = sum(float(g.detach().double().pow(2).sum()) for g in grads if g is not None)
        self.norms.append(math.sqrt(total))

    def remove(self) -> None:
        """Stop recording (the norms recorded so far stay)."""
        self._handle.remove()

    def __enter__(self) -> GradNormRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


# --------------------------------------------------------------------------- evaluation


def evaluate_perplexity(
    model: nn.Module, corpus, batch_size: int = 16, num_steps: int = 64, device=None
) -> float:
    """Perplexity (困惑度) of ``model`` on a whole corpus: exp(total NLL / number of predictions).

    ``corpus``: list or 1-D LongTensor of token indices (at least 2). Every token after the first
    is predicted exactly once: the targets ``corpus[1:]`` are cut into ``batch_size`` contiguous
    streams (the last one padded and the padding masked), each read in chunks of ``num_steps``
    with its hidden state carried from chunk to chunk. (Each stream starts from a zero state, so
    a few of its first predictions are harder; ``batch_size=1`` reads the text in one stream.)

    This is exp of the mean loss, not the mean of per-batch exp(loss) (which is larger, by
    Jensen's inequality). Runs under ``torch.no_grad`` in ``model.eval()`` mode and restores the
    model's mode afterwards. ``device``: default the model's device.
    """
    fn = "evaluate_perplexity"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}: model must be an nn.Module, got {type(model).__name__}.")
    data = _as_corpus(fn, "corpus", corpus, min_len=2)
    _positive_int(fn, "batch_size", batch_size)
    _positive_int(fn, "num_steps", num_steps)
    device = _model_device(model) if device is None else torch.device(device)

    inputs, targets = data[:-1], data[1:]
    n = len(targets)
    batch_size = min(batch_size, n)
    length = math.ceil(n / batch_size)  # tokens per stream
    pad = batch_size * length - n
    X = torch.cat([inputs, inputs.new_zeros(pad)]).view(batch_size, length).to(device)
    Y = torch.cat([targets, targets.new_full((pad,), -100)]).view(batch_size, length).to(device)

    was_training = model.training
    model.eval()
    total_nll, state = 0.0, None
    try:
        with torch.no_grad():
            for i in range(0, length, num_steps):
                logits, state = model(X[:, i : i + num_steps], state)  # (batch, steps, vocab)
                _check_logits(fn, logits, X[:, i : i + num_steps])
                total_nll += F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]).float(),
                    Y[:, i : i + num_steps].reshape(-1),
                    ignore_index=-100,
                    reduction="sum",
                ).item()
    finally:
        model.train(was_training)
    return math.exp(total_nll / n)


def _check_logits(fn: str, logits, X) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != X.shape:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"{fn}: the model must return (logits, state) with logits of shape "
            f"(batch, num_steps, vocab_size) = ({X.shape[0]}, {X.shape[1]}, V), got {got}."
        )


# --------------------------------------------------------------------------- training


def _make_optimizer(fn: str, optimizer, params, lr: float, weight_decay: float):
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"{fn}: optimizer must be 'adam' or 'sgd', got {optimizer!r}.")


def _lr_factor(schedule: str, progress: float, warmup: float) -> float:
    """Multiplier of the base learning rate at ``progress`` in [0, 1] of the budget."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 0.05)
    if schedule == "constant":
        return 1.0
    rest = (progress - warmup) / max(1e-12, 1.0 - warmup)
    if schedule == "cosine":
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * rest))
    return 0.02 + 0.98 * (1.0 - rest)  # linear


def _epoch_batches(iterator: str, data: torch.Tensor, batch_size: int, num_steps: int, gen):
    from . import data as data_mod

    offset_max = min(num_steps, len(data) - batch_size * num_steps - 1)
    if iterator == "sequential":
        offset = int(torch.randint(0, max(1, offset_max), (1,), generator=gen))
        return data_mod.seq_data_iter_sequential(data, batch_size, num_steps, offset=offset)
    return data_mod.seq_data_iter_random(data, batch_size, num_steps, generator=gen)


def train_lm(
    model: nn.Module,
    train_corpus,
    val_corpus=None,
    *,
    batch_size: int = 64,
    num_steps: int = 32,
    lr: float = 3e-3,
    optimizer: str = "adam",
    clip: float | None = 1.0,
    max_epochs: int | None = None,
    time_budget: float | None = None,
    eval_every_s: float | None = None,
    eval_every_steps: int | None = None,
    lr_schedule: str = "constant",
    warmup: float = 0.0,
    weight_decay: float = 0.0,
    device=None,
    seed: int = 0,
    iterator: str = "sequential",
    plot: bool = False,
    callback: Callable | None = None,
    label: str | None = None,
    eval_batch_size: int = 16,
    eval_num_steps: int = 64,
    num_threads: int | None = None,
    clock: str = "wall",
    step: Callable | None = None,
) -> History:
    """Train a language model; return its ``History``.

    Args:
        model: follows ``logits, state = model(X, state)`` (X (batch, num_steps) long, logits
            (batch, num_steps, vocab_size)). Moved to ``device`` in place.
        train_corpus, val_corpus: lists or 1-D LongTensors of token indices; ``val_corpus``
            (optional) is scored with ``evaluate_perplexity`` at every evaluation point.
        batch_size, num_steps: minibatch shape (batch_size, num_steps).
        lr, optimizer: learning rate and ``"adam"`` or ``"sgd"``; ``weight_decay`` passes on.
        clip: rescale all gradients together when their global L2 norm exceeds ``clip``
            (gradient clipping, 梯度裁剪); None or 0 turns it off.
        max_epochs, time_budget: stop after this many passes over ``train_corpus`` and/or this
            many seconds of training (evaluation and plotting excluded); give at least one.
        eval_every_s, eval_every_steps: evaluate every so many training seconds or steps
            (default: 20 points over ``time_budget``, at most 4 a second; else once per
            epoch). There is always a record at step 0 and one at the end.
        lr_schedule: ``"constant"``, ``"cosine"`` or ``"linear"`` decay (to 2% of ``lr``) over the
            budget; ``warmup``: fraction of the budget with a linear warm-up.
        device: default CUDA when available, else CPU.
        seed: seeds torch's global generator (dropout) and the batch order. On the CPU, with
            ``max_epochs`` and ``eval_every_steps`` (no time budget), two runs from the same
            initial weights give identical histories apart from the seconds.
        iterator: ``"sequential"`` (state carried from batch to batch, detached, reset each
            epoch) or ``"random"`` (shuffled windows, state reset every batch).
        plot: draw a live perplexity plot in a notebook (``LivePerplexityPlot``).
        callback: ``callback(record, model)`` after each evaluation; returning True stops.
        label: name stored in the history (used as the legend of plots).
        eval_batch_size, eval_num_steps: passed to ``evaluate_perplexity``.
        num_threads: torch intra-op threads during the run (restored afterwards); None leaves
            them alone. Small RNNs train fastest on one thread (see ``CHAR_RNN_RECIPE``).
        clock: what ``time_budget``, ``eval_every_s`` and the recorded seconds count:
            ``"wall"`` (elapsed time, default) or ``"cpu"`` (this process's CPU time: on a
            shared machine, with one thread, close to what a free core would take).
        step: one training step to use instead of the built-in one, called as
            ``loss, state = step(model, X, Y, state, optimizer, theta)`` (lesson 3's
            ``train_step``): X, Y (batch_size, num_steps) long, ``state`` None on the first
            batch of an epoch (and on every batch with ``iterator="random"``), ``theta`` =
            ``clip`` (``math.inf`` when clipping is off); it must return the loss as a float
            and the new state. The learning-rate schedule still applies (it sets the
            optimizer's lr before each step).

    Returns:
        ``History``; the model is left trained, in ``train()`` mode.
    """
    if num_threads is not None:
        _positive_int("train_lm", "num_threads", num_threads)
    saved_threads = torch.get_num_threads()
    if num_threads is not None and num_threads != saved_threads:
        torch.set_num_threads(num_threads)
    try:
        # every argument but num_threads goes on to the loop itself
        return _train_lm(**{k: v for k, v in locals().items() if k not in _NOT_ARGS})
    finally:
        if torch.get_num_threads() != saved_threads:
            torch.set_num_threads(saved_threads)


_NOT_ARGS = ("num_threads", "saved_threads")


def _train_lm(
    model, train_corpus, val_corpus, *, batch_size, num_steps, lr, optimizer, clip, max_epochs,
    time_budget, eval_every_s, eval_every_steps, lr_schedule, warmup, weight_decay, device, seed,
    iterator, plot, callback, label, eval_batch_size, eval_num_steps, clock, step,
) -> History:  # fmt: skip
    fn = "train_lm"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}: model must be an nn.Module, got {type(model).__name__}.")
    data = _as_corpus(fn, "train_corpus", train_corpus)
    val = None if val_corpus is None else _as_corpus(fn, "val_corpus", val_corpus)
    _positive_int(fn, "batch_size", batch_size)
    _positive_int(fn, "num_steps", num_steps)
    if len(data) < batch_size * num_steps + 1:
        raise ValueError(
            f"{fn}: train_corpus has {len(data)} tokens but one batch of batch_size={batch_size}"
            f" x num_steps={num_steps} needs {batch_size * num_steps + 1}; use a smaller batch."
        )
    if max_epochs is None and time_budget is None:
        raise ValueError(f"{fn}: give max_epochs or time_budget (seconds), or both.")
    if max_epochs is not None:
        _positive_int(fn, "max_epochs", max_epochs)
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"{fn}: time_budget must be a positive number of seconds.")
    if not lr > 0:
        raise ValueError(f"{fn}: lr must be positive, got {lr!r}.")
    if iterator not in ("sequential", "random"):
        raise ValueError(f"{fn}: iterator must be 'sequential' or 'random', got {iterator!r}.")
    if lr_schedule not in ("constant", "cosine", "linear"):
        raise ValueError(
            f"{fn}: lr_schedule must be 'constant', 'cosine' or 'linear', got {lr_schedule!r}."
        )
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"{fn}: warmup must be a fraction in [0, 1), got {warmup!r}.")
    if clip is not None and clip < 0:
        raise ValueError(f"{fn}: clip must be None, 0 (off) or a positive norm, got {clip!r}.")
    if eval_every_steps is not None:
        _positive_int(fn, "eval_every_steps", eval_every_steps)
    if eval_every_s is not None and not eval_every_s > 0:
        raise ValueError(f"{fn}: eval_every_s must be positive seconds, got {eval_every_s!r}.")
    if clock not in ("wall", "cpu"):
        raise ValueError(f"{fn}: clock must be 'wall' or 'cpu', got {clock!r}.")
    if step is not None and not callable(step):
        raise TypeError(
            f"{fn}: step must be a function like train_step, got {type(step).__name__}."
        )
    now = time.perf_counter if clock == "wall" else time.process_time
    if eval_every_s is None and eval_every_steps is None and time_budget is not None:
        eval_every_s = max(time_budget / 20, 0.25)

    device = default_device() if device is None else torch.device(device)
    model.to(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = _make_optimizer(fn, optimizer, model.parameters(), lr, weight_decay)
    params = [p for p in model.parameters() if p.requires_grad]
    from .data import num_sequential_batches

    steps_per_epoch = num_sequential_batches(len(data), batch_size, num_steps)
    total_steps = max_epochs * max(1, steps_per_epoch) if max_epochs is not None else None

    config = dict(
        batch_size=batch_size, num_steps=num_steps, lr=lr, optimizer=optimizer, clip=clip,
        max_epochs=max_epochs, time_budget=time_budget, lr_schedule=lr_schedule, warmup=warmup,
        weight_decay=weight_decay, iterator=iterator, seed=seed, device=str(device),
        model=type(model).__name__, clock=clock, threads=torch.get_num_threads(),
    )  # fmt: skip
    history = History(config=config, label=label)
    live = None
    if plot:
        from .plotting import LivePerplexityPlot

        live = LivePerplexityPlot(title=label)

    wall_start = time.perf_counter()
    train_s, steps, tokens = 0.0, 0, 0
    loss_sum, loss_count = 0.0, 0  # training loss since the last record (token-weighted)
    stop = False

    def record(epoch: int) -> bool:
        nonlocal loss_sum, loss_count
        train_ppl = math.exp(loss_sum / loss_count) if loss_count else None
        val_ppl = (
            evaluate_perplexity(model, val, eval_batch_size, eval_num_steps, device)
            if val is not None
            else None
        )
        rec = Record(steps, epoch, train_s, tokens, train_ppl, val_ppl)
        history.records.append(rec)
        loss_sum, loss_count = 0.0, 0
        if live is not None:
            live.update(history)
        return bool(callback(rec, model)) if callback is not None else False

    model.train()
    stop = record(0)
    next_eval_s = eval_every_s
    epoch = 0
    while not stop:
        if max_epochs is not None and epoch >= max_epochs:
            break
        epoch += 1
        state = None
        for X, Y in _epoch_batches(iterator, data, batch_size, num_steps, gen):
            t0 = now()
            X, Y = X.to(device), Y.to(device)
            if lr_schedule != "constant" or warmup > 0:
                progress = max(
                    steps / total_steps if total_steps else 0.0,
                    train_s / time_budget if time_budget else 0.0,
                )
                for group in opt.param_groups:
                    group["lr"] = lr * _lr_factor(lr_schedule, progress, warmup)
            if iterator != "sequential":
                state = None
            if step is not None:
                loss_value, state = _call_step(step, model, X, Y, state, opt, clip or math.inf)
            else:
                state = detach_state(state)
                logits, state = model(X, state)  # (batch, steps, vocab)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(params, clip)
                opt.step()
                loss_value = loss.item()
            loss_sum += loss_value * Y.numel()
            loss_count += Y.numel()
            steps += 1
            tokens += Y.numel()
            train_s += now() - t0

            out_of_time = time_budget is not None and train_s >= time_budget
            due = (eval_every_steps is not None and steps % eval_every_steps == 0) or (
                eval_every_s is not None and train_s >= next_eval_s
            )
            if out_of_time:
                stop = True
                break
            if due:
                if eval_every_s is not None:
                    while next_eval_s <= train_s:
                        next_eval_s += eval_every_s
                if record(epoch):
                    stop = True
                    break
        else:  # the epoch ran to its end
            if eval_every_s is None and eval_every_steps is None:
                stop = record(epoch)  # one record per epoch
    if not history.records or history.records[-1].step != steps:
        record(epoch)
    history.wall_seconds = time.perf_counter() - wall_start
    if live is not None:
        live.update(history, force=True)
    model.train()
    return history


def _call_step(step, model, X, Y, state, optimizer, theta):
    """``step(...)``, checked: returns (loss as a float, state)."""
    out = step(model, X, Y, state, optimizer, theta)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(
            "train_lm: step must return (loss, state), got "
            f"{type(out).__name__}; end train_step with `return loss.item(), state.detach()`."
        )
    loss, state = out
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        loss = loss.item()
    if isinstance(loss, bool) or not isinstance(loss, (int, float)):
        raise TypeError(
            f"train_lm: step must return the loss as a float, got {type(loss).__name__}."
        )
    return float(loss), state


# --------------------------------------------------------------------------- the course recipe

#: The course's recommended recipe for a character RNN on *The Time Machine*. ``model`` goes to
#: ``CharRNN``, ``train`` to ``train_lm`` (add ``time_budget`` or ``max_epochs``).
#: Chosen from a sweep on a shared 2-CPU machine (20 s of one thread's CPU time each; hidden size,
#: one-hot vs embedding, lr and schedule, batch size, num_steps, sequential vs random): held-out
#: perplexity (last 10% of the book) 5.0 after about 3 s and 4.26 after 20 s (3 seeds: 4.25-4.26),
#: where d2l 1.0.3's recipe ends at 8.4 after its 100 epochs (30 s). The learned embedding and the
#: cosine-decayed lr 1e-2 gave most of the gain over one-hot inputs with a constant lr 3e-3
#: (4.90); one thread beat two by about 2x on this machine (small matrices, busy cores).
CHAR_RNN_RECIPE: dict = {
    "model": {"num_hiddens": 128, "num_layers": 1, "input": "embedding", "embed_dim": 32},
    "train": {
        "batch_size": 64,
        "num_steps": 32,
        "lr": 1e-2,
        "optimizer": "adam",
        "clip": 1.0,
        "lr_schedule": "cosine",
        "iterator": "sequential",
        "num_threads": 1,
    },
}


def _recipe_key(recipe: dict, time_budget: float, seed: int) -> str:
    blob = json.dumps(
        {"recipe": recipe, "budget": time_budget, "seed": seed, "torch": torch.__version__},
        sort_keys=True,
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def pretrained_char_rnn(time_budget: float = 20.0, seed: int = 0, cache: bool = True):
    """A ``CharRNN`` trained with ``CHAR_RNN_RECIPE`` on the first 90% of *The Time Machine*.

    Loads it from ``cache_dir()`` when a run with the same recipe, budget, seed and torch version
    was saved before; otherwise trains for ``time_budget`` seconds on the CPU (held-out
    perplexity measured on the last 10%) and, with ``cache=True``, saves it atomically.
    Returns ``(model, vocab, history)``; the model is in ``eval()`` mode on the CPU.
    """
    from .data import cache_dir, load_corpus, train_val_split
    from .rnn import CharRNN

    if not time_budget or time_budget <= 0:
        raise ValueError(f"pretrained_char_rnn: time_budget must be positive, got {time_budget!r}.")
    corpus, vocab = load_corpus()
    model = CharRNN(len(vocab), **CHAR_RNN_RECIPE["model"])
    path = cache_dir() / f"char_rnn_{_recipe_key(CHAR_RNN_RECIPE, time_budget, seed)}.pt"
    if cache and path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["state_dict"])
            model.eval()
            return model, vocab, History.from_dict(saved["history"])
        except Exception:  # a damaged cache file: train again and overwrite it
            pass
    train, val = train_val_split(corpus, 0.1)
    torch.manual_seed(seed)
    model = CharRNN(len(vocab), **CHAR_RNN_RECIPE["model"])
    history = train_lm(
        model, train, val, **CHAR_RNN_RECIPE["train"], time_budget=time_budget, device="cpu",
        seed=seed, label="CharRNN (course recipe)",
    )  # fmt: skip
    model.eval()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save({"state_dict": model.state_dict(), "history": history.to_dict()}, f)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    return model, vocab, history
