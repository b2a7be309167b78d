"""The trusted check of lesson 3's ``train_step(model, X, Y, state, optimizer, theta)``.

Each call is one step on a trusted model built in the sandbox from weights drawn here
(``Model``: ``course_utils.rnn.CharRNN`` with one-hot or embedding inputs, or
``CharRNNScratch``), with a trusted optimizer over its parameters (``Optimizer``), a state that is
None or still attached to a graph (``Attached``), and a right ``clip_gradients`` swapped in (a
wrong one costs points in its own test only; clipping inline is fine too). The model comes back
after the step (``observe=(0,)``) and is compared with a reference step computed here: our own
forward pass of the same weights (a one-hot or embedding input, the tanh recurrence, the output
layer, written out), ``F.cross_entropy`` over all positions, autograd, clipping by the global
norm in float64, and ``torch.optim`` on our own tensors. No ``course_utils`` code runs here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from grader.trusted.lessons._lesson3_common import (
    CLIP_REF,
    close,
    error_message,
    randint,
)
from grader.trusted.spec import Attached, Call, Check, Model, ModuleData, Optimizer, Outcome

CHAR_RNN = "course_utils.rnn.CharRNN"
SCRATCH = "course_utils.rnn.CharRNNScratch"
NAMES = {"onehot": "a one-hot CharRNN", "embedding": "a CharRNN with an embedding",
         "scratch": "a CharRNNScratch"}  # fmt: skip


def draw_weights(kind: str, V: int, H: int, E: int, scale: float, gen) -> dict[str, torch.Tensor]:
    """A state_dict for the trusted model ``kind``, entries ~ N(0, scale^2)."""

    def draw(*shape):
        return scale * torch.randn(*shape, generator=gen)

    if kind == "scratch":
        return {
            "rnn.W_xh": draw(V, H),
            "rnn.W_hh": draw(H, H),
            "rnn.b_h": draw(H),
            "W_hq": draw(H, V),
            "b_q": draw(V),
        }
    sd = {}
    if kind == "embedding":
        sd["embedding.weight"] = draw(V, E)
    d = E if kind == "embedding" else V
    sd.update(
        {
            "rnn.weight_ih_l0": draw(H, d),
            "rnn.weight_hh_l0": draw(H, H),
            "rnn.bias_ih_l0": draw(H),
            "rnn.bias_hh_l0": draw(H),
            "output.weight": draw(V, H),
            "output.bias": draw(V),
        }
    )
    return sd


def reference_forward(kind: str, P: dict, X: torch.Tensor, state):
    """Our forward pass: logits (B, T, V) and the last state ((B, H) scratch, (1, B, H) else),
    in the weights' dtype."""
    B, T = X.shape
    if kind == "scratch":
        V = P["b_q"].shape[0]
        dtype = P["b_q"].dtype
        x = torch.eye(V, dtype=dtype)[X]  # (B, T, V)
        h = torch.zeros(B, P["rnn.b_h"].shape[0], dtype=dtype) if state is None else state
        logits = []
        for t in range(T):
            h = torch.tanh(x[:, t] @ P["rnn.W_xh"] + h @ P["rnn.W_hh"] + P["rnn.b_h"])
            logits.append(h @ P["W_hq"] + P["b_q"])
        return torch.stack(logits, 1), h
    V = P["output.bias"].shape[0]
    dtype = P["output.bias"].dtype
    x = P["embedding.weight"][X] if kind == "embedding" else torch.eye(V, dtype=dtype)[X]  # (B,T,d)
    h = torch.zeros(B, P["rnn.bias_hh_l0"].shape[0], dtype=dtype) if state is None else state[0]
    logits = []
    for t in range(T):
        h = torch.tanh(
            x[:, t] @ P["rnn.weight_ih_l0"].T
            + P["rnn.bias_ih_l0"]
            + h @ P["rnn.weight_hh_l0"].T
            + P["rnn.bias_hh_l0"]
        )
        logits.append(h @ P["output.weight"].T + P["output.bias"])
    return torch.stack(logits, 1), h[None]


def _reference_step(case: dict, clip: str = "global", use_state: bool = True):
    """(loss, new state, parameters after the step) of a right step, or of a typical mistake:
    ``clip="none"`` (no clipping) or ``"tensor"`` (each gradient clipped on its own);
    ``use_state=False`` (the state given is dropped)."""
    P = {k: v.clone().requires_grad_(True) for k, v in case["weights"].items()}
    name, kwargs = case["optimizer"]
    opt = getattr(torch.optim, name)(list(P.values()), **kwargs)
    state = case["state"] if use_state else None
    logits, new_state = reference_forward(case["kind"], P, case["X"], state)
    V = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, V), case["Y"].reshape(-1))
    loss.backward()
    grads = [p.grad for p in P.values()]
    theta = case["theta"]
    if clip == "global":
        norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
        if norm > theta:
            for g in grads:
                g.mul_(theta / norm)
    elif clip == "tensor":
        for g in grads:
            own = float(g.double().norm())
            if own > theta:
                g.mul_(theta / own)
    opt.step()
    return loss.item(), new_state.detach(), {k: v.detach() for k, v in P.items()}


def _cases(gen: torch.Generator) -> list[dict]:
    specs = [  # kind, weight scale, optimizer, theta, attached state
        ("onehot", 0.5, ("SGD", {"lr": 0.5}), 1e6, False),
        ("embedding", 0.5, ("Adam", {"lr": 0.01, "eps": 1e-3}), 1.0, True),
        ("scratch", 2.0, ("SGD", {"lr": 1.0}), 0.1, True),  # huge gradients: clipping decides
        ("onehot", 1.5, ("SGD", {"lr": 0.3, "momentum": 0.9}), 0.5, True),
    ]
    cases = []
    for kind, scale, optimizer, theta, attached in specs:
        V, H, E = randint(gen, 4, 9), randint(gen, 3, 8), randint(gen, 2, 5)
        B, T = randint(gen, 1, 4), randint(gen, 2, 6)
        shape = (B, H) if kind == "scratch" else (1, B, H)
        state = torch.tanh(torch.randn(shape, generator=gen)) if attached else None
        cases.append(
            dict(
                kind=kind,
                V=V,
                H=H,
                E=E,
                weights=draw_weights(kind, V, H, E, scale, gen),
                X=torch.randint(0, V, (B, T), generator=gen),
                Y=torch.randint(0, V, (B, T), generator=gen),
                state=state,
                optimizer=optimizer,
                theta=theta,
            )
        )
    return cases


def _call(case: dict) -> Call:
    if case["kind"] == "scratch":
        model = Model(SCRATCH, {"vocab_size": case["V"], "num_hiddens": case["H"]}, case["weights"])
    else:
        kwargs = {"vocab_size": case["V"], "num_hiddens": case["H"]}
        if case["kind"] == "embedding":
            kwargs.update(input="embedding", embed_dim=case["E"])
        model = Model(CHAR_RNN, kwargs, case["weights"])
    state = None if case["state"] is None else Attached(case["state"])
    name, kwargs = case["optimizer"]
    return Call(
        "train_step",
        args=(model, case["X"], case["Y"], state, Optimizer(name, 0, kwargs), case["theta"]),
        observe=(0,),
        tensor_info=True,
        swap={"clip_gradients": CLIP_REF},
        # the first torch.optim optimizer of a process imports torch._dynamo: 3 s on a free
        # core, 15 s measured on a busy 2-CPU machine; that happens inside the first call
        timeout=120.0,
    )


def _same_weights(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(close(got[k], want[k], atol=1e-6) for k in want)


def _judge_one(case: dict, out: Outcome) -> str | None:
    name = case["optimizer"][0]
    B, T = case["X"].shape
    carried = "None" if case["state"] is None else "carried from a previous batch"
    theta = case["theta"]
    what = f"{NAMES[case['kind']]}, {name}, X of shape {(B, T)}, theta={theta}, state {carried}"
    message = error_message("train_step", out, what)
    if message:
        if "second time" in (out.error or ""):
            message += "; detach the state you are given before the forward pass"
        return message
    value = out.value
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return f"train_step: {what}: return the pair (loss, state)"
    loss, state = value
    if isinstance(loss, bool) or not isinstance(loss, float):
        return f"train_step: {what}: return the loss as a Python float (loss.item())"
    info = out.info.get("1")
    if not isinstance(state, torch.Tensor) or info is None:
        return f"train_step: {what}: return the model's new state (a tensor) as the second value"
    if info.requires_grad or info.has_grad_fn:
        return f"train_step: {what}: return the new state detached (state.detach())"
    if out.leaf_grads.get(3):
        return (
            f"train_step: {what}: a gradient reached the previous batch's graph: detach the "
            "state you are given before the forward pass (state = state.detach())"
        )
    want_loss, want_state, want_weights = _reference_step(case)
    if abs(loss - want_loss) > 1e-4 * abs(want_loss) + 1e-6:
        hint = "the mean cross-entropy over all B * T positions"
        if case["state"] is not None:
            dropped = _reference_step(case, use_state=False)[0]
            if abs(loss - dropped) <= 1e-4 * abs(dropped) + 1e-6:
                hint = "the state you are given was dropped: run model(X, state)"
        return f"train_step: {what}: loss {loss:.6g}, expected {want_loss:.6g}; {hint}"
    if not close(state, want_state, atol=1e-5):
        return f"train_step: {what}: wrong state returned; return the state the model returned"
    after = out.after.get(0)
    if not isinstance(after, ModuleData):
        return f"train_step: {what}: the model could not be read back after the step"
    got = after.state_dict
    if _same_weights(got, want_weights):
        return None
    if _same_weights(got, case["weights"]):
        hint = "the parameters did not change: call optimizer.step() after loss.backward()"
    elif _same_weights(got, _reference_step(case, clip="none")[2]):
        hint = (
            "the gradients were not clipped: clip their global norm to theta (your "
            "clip_gradients) between loss.backward() and optimizer.step()"
        )
    elif _same_weights(got, _reference_step(case, clip="tensor")[2]):
        hint = "each gradient was clipped on its own: clip their GLOBAL norm (clip_gradients)"
    else:
        hint = (
            "one step: optimizer.zero_grad(), loss.backward(), clip the global norm to "
            "theta, optimizer.step() (the optimizer you are given)"
        )
    return f"train_step: {what}: the parameters after the step are wrong; {hint}"


def train_step_check(gen: torch.Generator) -> Check:
    """The Check of ``test_train_step``: four steps, each on a fresh trusted model."""
    cases = _cases(gen)

    def judge(outcomes: list[Outcome]) -> str | None:
        for case, out in zip(cases, outcomes, strict=True):
            message = _judge_one(case, out)
            if message:
                return message
        return None

    return Check("test_train_step", [_call(c) for c in cases], judge)
