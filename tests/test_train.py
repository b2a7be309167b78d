"""course_utils.train: evaluation as exp(mean NLL), the training loop, History, the cached recipe.

Budgets are tiny (epochs of a few batches, or under a second); nothing asserts on timings.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from course_utils import train as train_mod
from course_utils.data import load_corpus
from course_utils.rnn import CharRNN, CharRNNScratch
from course_utils.train import (
    CHAR_RNN_RECIPE,
    GradNormRecorder,
    History,
    Record,
    evaluate_perplexity,
    pretrained_char_rnn,
    train_lm,
)

# --------------------------------------------------------------------------- test models


class FixedLogits(nn.Module):
    """Logits depend only on the current input token (a lookup table): no memory at all."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table.clone())  # (vocab, vocab): row = input token
        self.vocab_size = table.shape[0]

    def forward(self, X, state=None):
        return self.table[X], state  # (batch, steps, vocab)


class Spy(nn.Module):
    """Wraps a model and records the state it is given at every call."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, X, state=None):
        self.seen.append(None if state is None else state.clone())
        self.seen_grad = [] if not hasattr(self, "seen_grad") else self.seen_grad
        self.seen_grad.append(None if state is None else state.requires_grad)
        return self.inner(X, state)


def tiny_text(repeats=40):
    corpus, vocab = load_corpus(text="the cat sat on the mat " * repeats)
    return corpus, vocab


# --------------------------------------------------------------------------- evaluate_perplexity


@pytest.mark.parametrize("batch_size, num_steps", [(1, 5), (4, 3), (16, 64)])
def test_uniform_logits_give_perplexity_equal_to_vocab_size(batch_size, num_steps):
    V = 11
    model = FixedLogits(torch.zeros(V, V))
    corpus = torch.randint(0, V, (257,)).tolist()
    ppl = evaluate_perplexity(model, corpus, batch_size=batch_size, num_steps=num_steps)
    assert ppl == pytest.approx(V, rel=1e-6)


def test_evaluate_is_exp_of_the_mean_not_the_mean_of_per_batch_exps():
    # The model always gives token 0 probability 0.9. First half of the text is all 0s, second
    # half all 1s: per-token NLL is -log 0.9 then -log 0.1.
    p = 0.9
    table = torch.log(torch.tensor([[p, 1 - p], [p, 1 - p]]))
    model = FixedLogits(table)
    corpus = [0] * 11 + [1] * 10  # 20 predictions: 10 of token 0, 10 of token 1
    ppl = evaluate_perplexity(model, corpus, batch_size=1, num_steps=10)
    expected = math.exp(-(10 * math.log(p) + 10 * math.log(1 - p)) / 20)  # = 1 / sqrt(0.09)
    mean_of_exps = (1 / p + 1 / (1 - p)) / 2  # what averaging the two chunks' exp(loss) gives
    assert ppl == pytest.approx(expected, rel=1e-6)
    assert ppl == pytest.approx(1 / 0.3, rel=1e-6)
    assert abs(ppl - mean_of_exps) > 2.0


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_every_token_after_the_first_is_scored_exactly_once(batch_size):
    torch.manual_seed(0)
    V = 5
    model = FixedLogits(torch.randn(V, V))
    corpus = torch.randint(0, V, (103,))
    logp = torch.log_softmax(model.table.detach(), dim=-1)
    nll = -logp[corpus[:-1], corpus[1:]].mean().item()
    ppl = evaluate_perplexity(model, corpus, batch_size=batch_size, num_steps=4)
    assert ppl == pytest.approx(math.exp(nll), rel=1e-5)


def test_evaluate_carries_the_state_and_restores_train_mode():
    torch.manual_seed(1)
    spy = Spy(CharRNN(5, num_hiddens=8))
    spy.train()
    corpus = torch.randint(0, 5, (41,)).tolist()  # 40 predictions
    carried = evaluate_perplexity(spy, corpus, batch_size=1, num_steps=10)
    assert spy.training, "evaluate_perplexity must restore train mode"
    assert spy.seen[0] is None and all(s is not None for s in spy.seen[1:])
    assert len(spy.seen) == 4
    # One pass over the whole text with the RNN gives the same number
    with torch.no_grad():
        logits, _ = spy.inner(torch.tensor([corpus[:-1]]))
    nll = nn.functional.cross_entropy(logits[0], torch.tensor(corpus[1:]))
    assert carried == pytest.approx(math.exp(nll.item()), rel=1e-5)


def test_evaluate_runs_without_gradients_in_eval_mode():
    class Check(FixedLogits):
        def forward(self, X, state=None):
            assert not torch.is_grad_enabled() and not self.training
            return super().forward(X, state)

    evaluate_perplexity(Check(torch.zeros(3, 3)), [0, 1, 2, 0, 1], batch_size=2, num_steps=2)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"corpus": [3]}, ValueError, "at least 2 tokens"),
        ({"corpus": "abc"}, TypeError, "list of token indices"),
        ({"corpus": [0.5, 1.0]}, TypeError, "int token indices"),
        ({"corpus": torch.zeros(2, 3, dtype=torch.long)}, ValueError, "1-D"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"num_steps": -1}, ValueError, "num_steps"),
        ({"model": "model"}, TypeError, "nn.Module"),
    ],
)
def test_evaluate_rejects_bad_input(kwargs, exc, words):
    args = {"model": FixedLogits(torch.zeros(3, 3)), "corpus": [0, 1, 2, 1]}
    args.update(kwargs)
    with pytest.raises(exc, match=words):
        evaluate_perplexity(**args)


def test_evaluate_names_the_interface_when_the_model_returns_wrong_logits():
    class Flat(nn.Module):
        def forward(self, X, state=None):
            return torch.zeros(X.numel(), 3), state  # forgot the (batch, steps) layout

    with pytest.raises(ValueError, match=r"\(batch, num_steps, vocab_size\)"):
        evaluate_perplexity(Flat(), [0, 1, 2, 1], batch_size=1, num_steps=2)


# --------------------------------------------------------------------------- train_lm


def test_training_lowers_the_loss_on_a_repeated_text():
    corpus, vocab = tiny_text()
    torch.manual_seed(0)
    model = CharRNN(len(vocab), num_hiddens=32)
    before = evaluate_perplexity(model, corpus)
    h = train_lm(model, corpus, corpus, batch_size=4, num_steps=8, lr=1e-2, max_epochs=8,
                 device="cpu")  # fmt: skip
    assert h.records[0].val_ppl == pytest.approx(before, rel=1e-6)
    assert h.final_val_ppl < before / 4, (before, h.final_val_ppl)
    assert h.final_train_ppl < h.records[1].train_ppl
    assert [r.epoch for r in h.records] == list(range(9))  # step 0, then once per epoch
    assert h.config["device"] == "cpu" and h.config["optimizer"] == "adam"


def test_training_the_scratch_model_with_sgd_works_too():
    corpus, vocab = tiny_text()
    torch.manual_seed(0)
    model = CharRNNScratch(len(vocab), 32, sigma=0.1)
    h = train_lm(model, corpus, corpus, batch_size=8, num_steps=8, lr=1.0, optimizer="sgd",
                 max_epochs=10, device="cpu")  # fmt: skip
    assert h.final_val_ppl < 0.6 * h.records[0].val_ppl


def test_same_seed_same_history_on_cpu():
    corpus, vocab = tiny_text()
    torch.manual_seed(3)
    model = CharRNN(len(vocab), num_hiddens=16, dropout=0.2, num_layers=2)
    twin = copy.deepcopy(model)
    kw = dict(batch_size=4, num_steps=8, max_epochs=2, eval_every_steps=5, device="cpu", seed=7,
              iterator="random")  # fmt: skip
    h1, h2 = train_lm(model, corpus, corpus, **kw), train_lm(twin, corpus, corpus, **kw)
    strip = [(r.step, r.epoch, r.tokens, r.train_ppl, r.val_ppl) for r in h1.records]
    assert strip == [(r.step, r.epoch, r.tokens, r.train_ppl, r.val_ppl) for r in h2.records]
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
    h3 = train_lm(copy.deepcopy(twin), corpus, corpus, **{**kw, "seed": 8})
    assert [r.val_ppl for r in h3.records] != [r.val_ppl for r in h2.records]


def test_clipping_bounds_the_global_norm_of_the_update():
    """SGD with lr 1 on exactly one batch: the update is minus the (clipped) gradient."""
    corpus, vocab = tiny_text()
    B, T = 2, 5
    data = corpus[: B * T + 1]  # exactly one batch
    torch.manual_seed(0)
    model = CharRNN(len(vocab), num_hiddens=16)
    with torch.no_grad():
        model.output.weight.mul_(30)  # large logits -> large gradients

    # the gradient norm of that batch, computed here directly
    probe = copy.deepcopy(model)
    X, Y = torch.tensor([data[:T], data[T : 2 * T]]), torch.tensor([data[1 : T + 1], data[T + 1 :]])
    loss = nn.functional.cross_entropy(probe(X)[0].reshape(-1, len(vocab)), Y.reshape(-1))
    loss.backward()
    grad_norm = torch.sqrt(sum((p.grad**2).sum() for p in probe.parameters())).item()
    assert grad_norm > 1.0

    def update_norm(clip):
        m = copy.deepcopy(model)
        before = [p.detach().clone() for p in m.parameters()]
        train_lm(m, data, batch_size=B, num_steps=T, lr=1.0, optimizer="sgd", clip=clip,
                 max_epochs=1, device="cpu")  # fmt: skip
        deltas = [p - q for p, q in zip(m.parameters(), before, strict=True)]
        return torch.sqrt(sum((d**2).sum() for d in deltas)).item()

    assert update_norm(0.5) == pytest.approx(0.5, rel=1e-4)
    assert update_norm(None) == pytest.approx(grad_norm, rel=1e-4)
    assert update_norm(10 * grad_norm) == pytest.approx(grad_norm, rel=1e-4)  # never scaled up


def test_sequential_carries_a_detached_state_and_random_resets_it():
    corpus, vocab = tiny_text()
    torch.manual_seed(0)
    spy = Spy(CharRNN(len(vocab), num_hiddens=8))
    train_lm(spy, corpus, batch_size=4, num_steps=8, max_epochs=2, device="cpu",
             iterator="sequential")  # fmt: skip
    starts = [i for i, s in enumerate(spy.seen) if s is None]
    assert starts == [0, starts[1]] and starts[1] > 1  # a fresh state at each epoch only
    assert all(g is False for g in spy.seen_grad if g is not None)  # detached
    spy.seen, spy.seen_grad = [], []
    train_lm(spy, corpus, batch_size=4, num_steps=8, max_epochs=2, device="cpu",
             iterator="random")  # fmt: skip
    assert spy.seen and all(s is None for s in spy.seen)


def _plain_step(calls):
    """A training step with train_step's signature that records what train_lm hands it."""

    def step(model, X, Y, state, optimizer, theta):
        calls.append((tuple(X.shape), state is None, theta, optimizer))
        if state is not None:
            state = state.detach()
        logits, state = model(X, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item(), state.detach()

    return step


def test_train_lm_drives_a_given_step_function():
    corpus, vocab = tiny_text()
    torch.manual_seed(0)
    model = CharRNN(len(vocab), num_hiddens=8)
    calls = []
    history = train_lm(model, corpus, batch_size=4, num_steps=8, max_epochs=2, device="cpu",
                       clip=0.7, step=_plain_step(calls))  # fmt: skip
    assert history.records[-1].step == len(calls) > 2
    assert {c[0] for c in calls} == {(4, 8)}
    assert {c[2] for c in calls} == {0.7}
    assert len({id(c[3]) for c in calls}) == 1  # one optimizer for the whole run
    fresh = [i for i, c in enumerate(calls) if c[1]]
    assert fresh == [0, fresh[1]] and fresh[1] > 1  # state None at each epoch's start only
    assert history.final_train_ppl < history.records[1].train_ppl  # it learned

    calls.clear()
    train_lm(model, corpus, batch_size=4, num_steps=8, max_epochs=1, device="cpu", clip=None,
             iterator="random", step=_plain_step(calls))  # fmt: skip
    assert calls and all(c[1] for c in calls) and {c[2] for c in calls} == {math.inf}


@pytest.mark.parametrize(
    "returned, words",
    [(None, "return (loss, state)"), ((1.0,), "return (loss, state)"), (("x", None), "float")],
)
def test_train_lm_names_a_bad_step_return(returned, words):
    corpus, vocab = tiny_text()
    model = CharRNN(len(vocab), num_hiddens=8)
    with pytest.raises(TypeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        train_lm(model, corpus, batch_size=4, num_steps=8, max_epochs=1, device="cpu",
                 step=lambda *args: returned)  # fmt: skip
    with pytest.raises(TypeError, match="step must be a function"):
        train_lm(model, corpus, batch_size=4, num_steps=8, max_epochs=1, step="train_step")


def test_grad_norm_recorder_sees_the_norm_before_clipping_and_changes_nothing():
    torch.manual_seed(0)
    a, b = nn.Parameter(torch.randn(3, 4)), nn.Parameter(torch.randn(5))
    unused = nn.Parameter(torch.randn(2))
    with GradNormRecorder([a, b, unused, torch.zeros(2)]) as recorder:
        (a.sum() * 3 + (b**2).sum()).backward()
        want = math.sqrt(float((a.grad**2).sum() + (b.grad**2).sum()))
        grads = (a.grad.clone(), b.grad.clone())
        torch.nn.utils.clip_grad_norm_([a, b], 0.1)  # clipping after backward: not seen
        a.grad, b.grad = None, None
        (a**2).sum().backward()  # b not reached: counts as zero
    (a.sum()).backward()  # removed: not recorded
    assert recorder.norms == pytest.approx([want, float((2 * a.detach()).norm())], rel=1e-6)
    assert recorder.norms[0] > 0.1 and torch.equal(grads[0], torch.full((3, 4), 3.0))
    with pytest.raises(ValueError, match="requires_grad"):
        GradNormRecorder([torch.zeros(3)])


def test_cpu_is_the_default_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train_mod.default_device() == torch.device("cpu")
    corpus, vocab = tiny_text(10)
    model = CharRNN(len(vocab), num_hiddens=8)
    h = train_lm(model, corpus, batch_size=2, num_steps=8, max_epochs=1)
    assert h.config["device"] == "cpu" and next(model.parameters()).device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert train_mod.default_device() == torch.device("cuda")


def test_time_budget_and_callback_stop_training():
    corpus, vocab = load_corpus(max_tokens=20000)
    model = CharRNN(len(vocab), num_hiddens=16)
    h = train_lm(model, corpus, batch_size=8, num_steps=16, time_budget=0.3, device="cpu")
    assert h.train_seconds >= 0.3 and h.records[-1].step > 0 and h.final_val_ppl is None
    assert h.wall_seconds >= h.train_seconds
    h = train_lm(model, corpus, batch_size=8, num_steps=16, time_budget=0.2, clock="cpu")
    assert h.train_seconds >= 0.2 and h.config["clock"] == "cpu"

    seen = []

    def stop_at_six(record, m):
        seen.append(record.step)
        return record.step >= 6

    h = train_lm(model, corpus, batch_size=8, num_steps=16, max_epochs=5, eval_every_steps=3,
                 device="cpu", callback=stop_at_six)  # fmt: skip
    assert seen == [0, 3, 6] and h.records[-1].step == 6


def test_num_threads_applies_during_the_run_and_is_restored():
    corpus, vocab = tiny_text(10)
    before = torch.get_num_threads()
    seen = []

    def spy(record, model):
        seen.append(torch.get_num_threads())

    train_lm(CharRNN(len(vocab), 8), corpus, batch_size=2, num_steps=8, max_epochs=1,
             num_threads=1, device="cpu", callback=spy)  # fmt: skip
    assert seen and set(seen) == {1} and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads"):
        train_lm(CharRNN(len(vocab), 8), corpus, max_epochs=1, num_threads=0)


def test_lr_schedules_decay_from_one_to_near_zero():
    f = train_mod._lr_factor
    for schedule in ("cosine", "linear"):
        values = [f(schedule, x / 10, 0.0) for x in range(11)]
        assert values[0] == pytest.approx(1.0) and values[-1] == pytest.approx(0.02)
        assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert f("constant", 0.7, 0.0) == 1.0
    assert f("constant", 0.05, 0.1) == pytest.approx(0.5)  # half-way through the warm-up
    corpus, vocab = tiny_text(10)
    h = train_lm(CharRNN(len(vocab), 8), corpus, batch_size=2, num_steps=8, max_epochs=1,
                 lr_schedule="cosine", warmup=0.1, device="cpu")  # fmt: skip
    assert h.config["lr_schedule"] == "cosine"


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"max_epochs": None}, ValueError, "max_epochs or time_budget"),
        ({"optimizer": "rmsprop"}, ValueError, "'adam' or 'sgd'"),
        ({"iterator": "shuffled"}, ValueError, "'sequential' or 'random'"),
        ({"batch_size": 1000}, ValueError, "needs"),
        ({"lr": 0}, ValueError, "lr"),
        ({"clip": -1.0}, ValueError, "clip"),
        ({"time_budget": -1.0}, ValueError, "time_budget"),
        ({"lr_schedule": "step"}, ValueError, "lr_schedule"),
        ({"val_corpus": "text"}, TypeError, "val_corpus"),
        ({"train_corpus": torch.zeros(50)}, ValueError, "train_corpus"),
        ({"model": None}, TypeError, "nn.Module"),
        ({"eval_every_steps": 0}, ValueError, "eval_every_steps"),
        ({"eval_every_s": 0.0}, ValueError, "eval_every_s"),
        ({"warmup": 1.0}, ValueError, "warmup"),
        ({"clock": "gpu"}, ValueError, "clock"),
    ],
)
def test_train_lm_rejects_bad_settings(kwargs, exc, words):
    corpus, vocab = tiny_text(5)
    args = {"model": CharRNN(len(vocab), 8), "train_corpus": corpus, "val_corpus": None,
            "batch_size": 2, "num_steps": 8, "max_epochs": 1}  # fmt: skip
    args.update(kwargs)
    model, train_corpus, val_corpus = (
        args.pop("model"),
        args.pop("train_corpus"),
        args.pop("val_corpus"),
    )
    with pytest.raises(exc, match=words):
        train_lm(model, train_corpus, val_corpus, **args)


# --------------------------------------------------------------------------- History


def _history():
    recs = [
        Record(0, 0, 0.0, 0, None, 28.0),
        Record(10, 1, 2.0, 1000, 9.0, 8.0),
        Record(20, 1, 4.0, 2000, 6.0, 5.5),
        Record(30, 2, 6.0, 3000, 5.0, 5.8),
    ]
    return History(records=recs, config={"lr": 1e-3}, wall_seconds=7.0, label="x")


def test_history_summaries():
    h = _history()
    assert h.final_val_ppl == 5.8 and h.best_val_ppl == 5.5 and h.final_train_ppl == 5.0
    assert h.tokens_per_second == pytest.approx(500.0) and h.train_seconds == 6.0
    assert h.time_to_reach(8.0) == 2.0 and h.time_to_reach(5.5) == 4.0
    assert h.time_to_reach(5.0) is None
    assert h.column("step") == [0, 10, 20, 30]
    with pytest.raises(ValueError, match="val_ppl"):
        h.column("loss")
    assert History.from_dict(h.to_dict()) == h
    empty = History()
    assert empty.final_val_ppl is None and empty.best_val_ppl is None
    assert empty.tokens_per_second == 0.0 and empty.time_to_reach(100) is None


# --------------------------------------------------------------------------- the cached recipe


def test_recipe_is_a_char_rnn_recipe():
    assert set(CHAR_RNN_RECIPE) >= {"model", "train"}
    model = CharRNN(28, **CHAR_RNN_RECIPE["model"])
    assert isinstance(model.rnn, nn.RNN) and model.rnn.mode == "RNN_TANH"
    assert CHAR_RNN_RECIPE["train"]["clip"] > 0


def test_pretrained_char_rnn_trains_once_then_loads_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    threads = torch.get_num_threads()
    model, vocab, h = pretrained_char_rnn(time_budget=0.3, seed=1)
    assert torch.get_num_threads() == threads  # restored
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt", files  # no temporary file left
    assert len(vocab) == 28 and not model.training and h.final_val_ppl < 28
    again, _, h2 = pretrained_char_rnn(time_budget=0.3, seed=1)
    assert h2 == h
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # a damaged cache file is replaced by a fresh run
    files[0].write_bytes(b"not a checkpoint")
    _, _, h3 = pretrained_char_rnn(time_budget=0.3, seed=1)
    assert h3.final_val_ppl is not None and len(list(tmp_path.iterdir())) == 1
    # a different budget is a different file; cache=False writes nothing
    pretrained_char_rnn(time_budget=0.2, seed=1, cache=False)
    assert len(list(tmp_path.iterdir())) == 1
    with pytest.raises(ValueError, match="time_budget"):
        pretrained_char_rnn(time_budget=0)
