"""Between spec.py's objects and the plain data of ``grader.in_sandbox.wire`` (trusted side).

``encode_calls`` turns a list of :class:`~grader.trusted.spec.Call` (with their recipes) into the
request's call records; ``decode_outcomes`` turns the sandbox's outcome records back into
:class:`~grader.trusted.spec.Outcome`, validating every field: the records come from a process
that student code owned, so anything malformed raises ``WireError`` instead of reaching a judge.
"""

from __future__ import annotations

import dataclasses

import torch

from grader.in_sandbox import wire
from grader.trusted.spec import (
    Attached,
    Call,
    Generator,
    Model,
    ModuleData,
    Optimizer,
    Outcome,
    Param,
    TensorInfo,
    Unsupported,
    VocabOf,
)

WireError = wire.WireError


def _recipe_hook(value, encoder, path, depth):
    """Recipes of spec.py -> tagged nodes; a plain tensor is copied as is."""
    enc = encoder.encode
    if type(value) is Param:
        return {"$param": {"data": enc(value.data), "grad": enc(value.grad)}}
    if type(value) is Attached:
        return {"$attached": enc(value.tensor)}
    if type(value) is Model:
        node = {
            "cls": value.cls,
            "kwargs": enc(dict(value.kwargs)),
            "state_dict": enc(dict(value.state_dict)),
            "train": bool(value.train),
        }
        return {"$model": node}
    if type(value) is Optimizer:
        if value.name not in ("SGD", "Adam"):
            raise ValueError(f"Optimizer name must be 'SGD' or 'Adam', got {value.name!r}")
        return {
            "$optimizer": {
                "name": value.name,
                "arg": int(value.arg),
                "kwargs": enc(dict(value.kwargs)),
            }
        }
    if type(value) is Generator:
        return {"$generator": int(value.seed)}
    if type(value) is VocabOf:
        return {"$vocab": enc(tuple(value.tokens))}
    if isinstance(value, torch.Tensor) and type(value) is not torch.Tensor:
        raise TypeError("Call arguments must be plain tensors")
    if dataclasses.is_dataclass(value) or callable(value):
        raise TypeError(f"a {type(value).__name__} cannot be sent into the sandbox")
    return None


def encode_calls(calls: list[Call], seed: int, tensors: dict) -> list[dict]:
    """The request's call records (tensors into ``tensors``); call i is seeded with seed + i."""
    encoder = wire.Encoder(hook=_recipe_hook, tensors=tensors)
    records = []
    for index, call in enumerate(calls):
        if type(call) is not Call:
            raise TypeError(f"checks must list Call objects, got {type(call).__name__}")
        for pos, arg in enumerate(call.args):
            if (
                type(arg) is Optimizer
                and type(call.args[arg.arg] if 0 <= arg.arg < len(call.args) else None) is not Model
            ):
                raise ValueError(f"{call.fn}: Optimizer at {pos} needs a Model at {arg.arg}")
        records.append(
            {
                "fn": str(call.fn),
                "args": [encoder.encode(a) for a in call.args],
                "kwargs": encoder.encode(dict(call.kwargs)),
                "read": bool(call.read),
                "swap": {str(k): str(v) for k, v in call.swap.items()},
                "observe": [int(p) for p in call.observe],
                "count_ops": bool(call.count_ops),
                "tensor_info": bool(call.tensor_info),
                "timeout": float(call.timeout),
                "seed": (int(seed) + index) % 2**63,
            }
        )
    if encoder.notes:
        raise ValueError("; ".join(encoder.notes))
    return records


def _module_hook(payload, dec):
    if type(payload) is not dict:
        raise WireError("bad module")
    state, grads, config = (dec(payload.get(k)) for k in ("state_dict", "grads", "config"))
    for part in (state, grads, config):
        if type(part) is not dict:
            raise WireError("bad module")
    for part in (state, grads):
        if any(type(k) is not str or type(v) is not torch.Tensor for k, v in part.items()):
            raise WireError("bad module tensors")
    name, training = payload.get("class_name"), payload.get("training")
    if type(name) is not str or type(training) is not bool:
        raise WireError("bad module")
    return ModuleData(name, config, state, grads, training)


def _unsupported_hook(payload, dec):
    if type(payload) is not str:
        raise WireError("bad unsupported")
    return Unsupported(payload[:300])


HOOKS = {"$module": _module_hook, "$unsupported": _unsupported_hook}


def decode_outcomes(records, tensors: dict, count: int) -> list[Outcome]:
    """``count`` Outcomes from the sandbox's records; raises WireError if any is malformed."""
    if type(records) is not list or len(records) != count:
        raise WireError(f"expected {count} outcomes")
    return [_outcome(r, tensors) for r in records]


def _outcome(record, tensors) -> Outcome:
    if type(record) is not dict:
        raise WireError("bad outcome")
    error = record.get("error")
    if error is not None and type(error) is not str:
        raise WireError("bad error")
    value = wire.decode(record.get("value"), tensors, HOOKS)
    after = {}
    for pos, node in _pairs(record.get("after", []), int):
        after[pos] = wire.decode(node, tensors, HOOKS)
    leaf_grads = {pos: reached for pos, reached in _pairs(record.get("leaf_grads", []), int)}
    if any(type(v) is not bool for v in leaf_grads.values()):
        raise WireError("bad leaf_grads")
    ops = {name: n for name, n in _pairs(record.get("ops", []), str)}
    if any(type(n) is not int for n in ops.values()):
        raise WireError("bad ops")
    info = {}
    for path, facts in _pairs(record.get("info", []), str):
        if type(facts) is not list or len(facts) != 3 or any(type(f) is not bool for f in facts):
            raise WireError("bad info")
        info[path] = TensorInfo(*facts)
    notes = record.get("notes", [])
    if type(notes) is not list or any(type(n) is not str for n in notes):
        raise WireError("bad notes")
    return Outcome(
        value=None if error else value,
        error=error[:2000] if error else None,
        after=after,
        leaf_grads=leaf_grads,
        ops=ops,
        info=info,
        notes=tuple(n[:500] for n in notes[:20]),
    )


def _pairs(items, key_type):
    if type(items) is not list:
        raise WireError("bad outcome field")
    for item in items:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not key_type:
            raise WireError("bad outcome field")
        yield item[0], item[1]
