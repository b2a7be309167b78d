"""Lesson 3's character model against the d2l 1.0.3 recipe, in one process, on one held-out text.

    python benchmarks/bench_training.py               # 3 repeats -> results/training.md
    python benchmarks/bench_training.py --repeats 5
    python benchmarks/bench_training.py --quick       # smoke run: 1 repeat, tiny budgets

Ours: ``CharRNN`` trained with ``course_utils.train.CHAR_RNN_RECIPE`` for ``--budget`` seconds of
training on the first 90% of *The Time Machine*.

d2l 1.0.3's recipe, kept as the book runs it: ``d2l.RNNLMScratch(d2l.RNNScratch(num_inputs=28,
num_hiddens=32), vocab_size=28, lr=1)``, SGD lr 1, batch 1024, num_steps 32, 100 epochs, gradient
clipping 1 with d2l's own ``Trainer.clip_gradients``, on d2l's ``TimeMachine`` training windows
(the first 10,000 length-33 windows of the book, shuffled each epoch, the state reset every
batch). Our loop replaces ``d2l.Trainer.fit`` only to skip its plotting and to time the steps.

Both are scored by ``course_utils.train.evaluate_perplexity`` on the same held-out text, the last
10% of the book (never seen by either), at regular points; "time to reach" counts training
seconds only (evaluation excluded), at the resolution of those points. Runs alternate (ours, d2l,
ours, ...) so that a busy machine slows both alike; medians over the repeats.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"
if "COURSE_DATA_DIR" not in os.environ and (SHARED_DATA / "timemachine.txt").exists():
    os.environ["COURSE_DATA_DIR"] = str(SHARED_DATA)
sys.path.insert(0, str(ROOT))

from course_utils.data import load_corpus, train_val_split  # noqa: E402
from course_utils.rnn import CharRNN, count_parameters  # noqa: E402
from course_utils.train import (  # noqa: E402
    CHAR_RNN_RECIPE,
    History,
    Record,
    evaluate_perplexity,
    train_lm,
)

THRESHOLDS = (8.0, 6.0, 5.0)
D2L_RECIPE = {"num_hiddens": 32, "lr": 1.0, "batch_size": 1024, "num_steps": 32,
              "max_epochs": 100, "clip": 1.0, "num_train": 10000}  # fmt: skip


# --------------------------------------------------------------------------- d2l side


class D2LAdapter(nn.Module):
    """d2l's RNNLMScratch behind our interface: ``logits, state = model(X, state)``.

    X (batch, num_steps) long -> logits (batch, num_steps, vocab) and the last hidden state
    (batch, num_hiddens); d2l's own forward takes no state and returns only the logits.
    """

    def __init__(self, d2l_model):
        super().__init__()
        self.inner = d2l_model
        self.vocab_size = d2l_model.vocab_size

    def forward(self, X, state=None):
        embs = self.inner.one_hot(X)  # (num_steps, batch, vocab)
        outputs, state = self.inner.rnn(embs, None if state is None else (state,))
        return self.inner.output_layer(outputs), state  # (batch, num_steps, vocab)


def train_d2l(corpus, val, epochs: int, seed: int, threads: int, clock: str = "wall",
              eval_every_epochs: int = 1):  # fmt: skip
    """The d2l 1.0.3 recipe (see the module docstring); returns a History like train_lm's."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train_d2l(corpus, val, epochs, seed, clock, eval_every_epochs)
    finally:
        torch.set_num_threads(saved)


def _train_d2l(corpus, val, epochs: int, seed: int, clock: str, eval_every_epochs: int):
    from d2l import torch as d2l

    now = time.perf_counter if clock == "wall" else time.process_time

    r = D2L_RECIPE
    torch.manual_seed(seed)
    model = d2l.RNNLMScratch(d2l.RNNScratch(num_inputs=28, num_hiddens=r["num_hiddens"]),
                             vocab_size=28, lr=r["lr"])  # fmt: skip
    adapter = D2LAdapter(model)
    # d2l.TimeMachine: every length-(num_steps + 1) window; the first num_train ones train
    T = r["num_steps"]
    windows = torch.tensor(corpus[: r["num_train"] + T]).unfold(0, T + 1, 1)[: r["num_train"]]
    X, Y = windows[:, :-1], windows[:, 1:]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X, Y), r["batch_size"], shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    optim = model.configure_optimizers()  # torch.optim.SGD(lr=1)
    history = History(config=dict(r, seed=seed, model="d2l.RNNLMScratch"), label="d2l 1.0.3")
    wall0, train_s, step, tokens = time.perf_counter(), 0.0, 0, 0
    loss_sum = loss_n = 0

    def record(epoch):
        nonlocal loss_sum, loss_n
        train_ppl = float(torch.tensor(loss_sum / loss_n).exp()) if loss_n else None
        history.records.append(
            Record(step, epoch, train_s, tokens, train_ppl, evaluate_perplexity(adapter, val))
        )
        loss_sum = loss_n = 0

    record(0)
    for epoch in range(1, epochs + 1):
        model.train()
        for Xb, Yb in loader:
            t0 = now()
            loss = model.loss(model(Xb), Yb)  # as d2l's training_step, without its plotting
            optim.zero_grad()
            with torch.no_grad():
                loss.backward()
                d2l.Trainer.clip_gradients(None, r["clip"], model)
                optim.step()
            train_s += now() - t0
            step += 1
            tokens += Yb.numel()
            loss_sum += loss.item() * Yb.numel()
            loss_n += Yb.numel()
        if epoch % eval_every_epochs == 0 or epoch == epochs:
            record(epoch)
    history.wall_seconds = time.perf_counter() - wall0
    history.config["params"] = count_parameters(model)
    return history


# --------------------------------------------------------------------------- our side


def train_ours(train, val, vocab, budget: float, seed: int, eval_every_s: float,
               clock: str = "wall") -> History:  # fmt: skip
    torch.manual_seed(seed)
    model = CharRNN(len(vocab), **CHAR_RNN_RECIPE["model"])
    h = train_lm(model, train, val, **CHAR_RNN_RECIPE["train"], time_budget=budget,
                 eval_every_s=eval_every_s, device="cpu", seed=seed, label="ours",
                 clock=clock)  # fmt: skip
    h.config["params"] = count_parameters(model)
    return h


# --------------------------------------------------------------------------- report


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(histories: list[History]) -> dict:
    out = {f"t{p:g}": _median([h.time_to_reach(p) for h in histories]) for p in THRESHOLDS}
    reached = {f"n{p:g}": sum(h.time_to_reach(p) is not None for h in histories)
               for p in THRESHOLDS}  # fmt: skip
    out.update(reached)
    out["final"] = _median([h.final_val_ppl for h in histories])
    out["best"] = _median([h.best_val_ppl for h in histories])
    out["train_s"] = _median([h.train_seconds for h in histories])
    out["tok_s"] = _median([h.tokens_per_second for h in histories])
    out["finals"] = [round(h.final_val_ppl, 3) for h in histories if h.final_val_ppl]
    out["cpu_share"] = _median([h.config.get("cpu_share") for h in histories])
    return out


def _fmt(v, digits=2):
    return "—" if v is None else f"{v:.{digits}f}"


def _ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def header(args) -> list[str]:
    from bench_lessons import cpu_model  # benchmarks/ is on sys.path when run as a script

    cpu = cpu_model()
    import d2l

    return [
        f"# Training benchmark: course recipe vs d2l 1.0.3 ({datetime.date.today()})",
        "",
        f"- machine: {platform.node()}, {os.cpu_count()} CPUs ({cpu}), load average at start "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        f"- versions: Python {platform.python_version()}, torch {torch.__version__}, "
        f"d2l {getattr(d2l, '__version__', '?')}",
        f"- repeats: {args.repeats} (medians), ours: {args.budget:g} s of training, "
        f"d2l: {args.d2l_epochs} epochs; torch threads: ours "
        f"{CHAR_RNN_RECIPE['train'].get('num_threads') or torch.get_num_threads()}, "
        f"d2l {args.d2l_threads}",
        "- held-out: last 10% of the book (17,343 characters), scored by evaluate_perplexity "
        "(exp of the mean NLL, state carried); times are training seconds, evaluation excluded,"
        f" counted on the {args.clock} clock",
        f"- ours: CharRNN {CHAR_RNN_RECIPE['model']}, {CHAR_RNN_RECIPE['train']}",
        f"- d2l: {D2L_RECIPE}",
    ]


def table(ours: dict, d2l: dict) -> list[str]:
    rows = [
        "| metric | ours | d2l 1.0.3 | ours / d2l |",
        "| --- | ---: | ---: | ---: |",
    ]
    for p in THRESHOLDS:
        k, n = f"t{p:g}", f"n{p:g}"
        rows.append(
            f"| time to held-out ppl {p:g} (s) [runs reaching it] | {_fmt(ours[k])} "
            f"[{ours[n]}] | {_fmt(d2l[k])} [{d2l[n]}] | {_ratio(ours[k], d2l[k])} |"
        )
    rows += [
        f"| final held-out ppl | {_fmt(ours['final'], 3)} | {_fmt(d2l['final'], 3)} | "
        f"{_ratio(ours['final'], d2l['final'])} |",
        f"| best held-out ppl | {_fmt(ours['best'], 3)} | {_fmt(d2l['best'], 3)} | "
        f"{_ratio(ours['best'], d2l['best'])} |",
        f"| training time (s) | {_fmt(ours['train_s'], 1)} | {_fmt(d2l['train_s'], 1)} | "
        f"{_ratio(ours['train_s'], d2l['train_s'])} |",
        f"| tokens / s | {_fmt(ours['tok_s'], 0)} | {_fmt(d2l['tok_s'], 0)} | "
        f"{_ratio(ours['tok_s'], d2l['tok_s'])} |",
        f"| final held-out ppl per run | {ours['finals']} | {d2l['finals']} | |",
        f"| CPU share (CPU s / wall s; ~1 = one free core) | {_fmt(ours['cpu_share'])} | "
        f"{_fmt(d2l['cpu_share'])} | |",
    ]
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repeat, tiny budgets")
    parser.add_argument("--budget", type=float, default=20.0, help="our training seconds")
    parser.add_argument("--d2l-epochs", type=int, default=D2L_RECIPE["max_epochs"])
    parser.add_argument("--d2l-threads", type=int, default=1,
                        help="torch threads for the d2l run (ours: the recipe's)")  # fmt: skip
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="what training seconds count: elapsed time, or this process's CPU "
                        "time (on a shared machine, one thread: close to a free core)")  # fmt: skip
    parser.add_argument("--eval-every-s", type=float, default=0.5, help="ours: eval spacing")
    parser.add_argument("--only", choices=("ours", "d2l"), default=None,
                        help="run one side only (its column stays empty)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS / "training.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.budget, args.d2l_epochs = 1, 1.0, 1
        args.eval_every_s = 0.25

    corpus, vocab = load_corpus()
    train, val = train_val_split(corpus, 0.1)
    ours_h, d2l_h = [], []
    for rep in range(args.repeats):
        for name, hs in (("ours", ours_h), ("d2l", d2l_h)):
            if args.only not in (None, name):
                continue
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if name == "ours":
                hs.append(train_ours(train, val, vocab, args.budget, rep, args.eval_every_s,
                                     args.clock))  # fmt: skip
            else:
                hs.append(train_d2l(train, val, args.d2l_epochs, rep, args.d2l_threads,
                                    args.clock))  # fmt: skip
            h = hs[-1]
            h.config["cpu_share"] = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            print(f"run {rep + 1}/{args.repeats} {name}: final held-out ppl "
                  f"{h.final_val_ppl:.3f} after {h.train_seconds:.1f} s of training "
                  f"({h.wall_seconds:.1f} s wall, CPU share {h.config['cpu_share']:.2f})",
                  flush=True)  # fmt: skip
    ours, d2l = summarise(ours_h), summarise(d2l_h)
    lines = header(args) + [""] + table(ours, d2l)
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}")
    return {"ours": ours, "d2l": d2l, "ours_histories": ours_h, "d2l_histories": d2l_h}


if __name__ == "__main__":
    main()
