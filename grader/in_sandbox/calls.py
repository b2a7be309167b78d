"""Make the trusted check's calls on the submission's globals and describe what came back.

Runs inside the sandbox (``runner.py``) and, for trusted test code only, in-process
(``grader.trusted.harness.outcomes_in_process``). The request's calls arrive as plain data (see
``wire``): trusted-object recipes are built here from classes captured by :func:`capture_trusted`
*before* any student code runs, so a submission that rebinds ``torch.nn.RNN`` does not change
them. Each outcome goes back as a plain record of wire trees:

    {"value": tree, "error": str|None, "after": [[pos, tree]], "leaf_grads": [[pos, bool]],
     "ops": [[name, count]], "info": [[path, [requires_grad, has_grad_fn, is_leaf]]],
     "notes": [str]}
"""

from __future__ import annotations

import builtins
import importlib
import json
import math
import random
import signal
import threading
from contextlib import contextmanager

import torch
from torch.overrides import TorchFunctionMode

if __package__:
    from . import wire
else:  # inside the sandbox, beside runner.py
    import wire

MODEL_CLASSES = (
    "torch.nn.RNN",
    "torch.nn.Linear",
    "course_utils.rnn.CharRNN",
    "course_utils.rnn.CharRNNScratch",
    "course_utils.rnn.RNNScratch",
)


class CallTimeout(BaseException):
    """Raised into a call that ran past its time (a BaseException: ``except Exception`` in the
    student's code does not swallow it)."""


def resolve(dotted: str):
    """The object a dotted name names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(f"cannot import {dotted}")


def capture_trusted() -> dict:
    """Classes and functions the recipes use, taken now (before student code runs)."""
    trusted = {"torch": torch, "Generator": torch.Generator, "manual_seed": torch.manual_seed}
    trusted["grad"] = torch.autograd.grad  # DISABLE may stub it for the student
    trusted["optim"] = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam}
    trusted["models"] = {}
    for name in MODEL_CLASSES:
        try:
            trusted["models"][name] = resolve(name)
        except (ImportError, AttributeError):
            pass  # a course without that class: a Model recipe naming it fails clearly
    try:
        trusted["Vocab"] = resolve("course_utils.data.Vocab")
    except (ImportError, AttributeError):
        trusted["Vocab"] = None
    trusted["known_modules"] = _module_classes()
    return trusted


def _module_classes() -> dict[int, str]:
    """id -> name of every nn.Module class that exists now (defined by trusted code)."""
    out, stack = {}, [torch.nn.Module]
    while stack:
        cls = stack.pop()
        if id(cls) in out:
            continue
        out[id(cls)] = f"{cls.__module__}.{cls.__qualname__}"
        stack.extend(type.__subclasses__(cls))
    return out


# --------------------------------------------------------------------------- building arguments


class _Built:
    """The objects built from one call's recipes, by argument position."""

    def __init__(self):
        self.params: dict[int, list[torch.Tensor]] = {}
        self.leaves: dict[int, list[torch.Tensor]] = {}
        self.models: dict[int, torch.nn.Module] = {}
        self.param_ids: set[int] = set()


def build_args(call: dict, tensors: dict, trusted: dict) -> tuple[list, dict, _Built]:
    """Positional args, keyword args and what was built, from a request's call record."""
    built = _Built()
    args_nodes = call.get("args", [])
    args: list = [None] * len(args_nodes)
    pending = []
    for pos, node in enumerate(args_nodes):
        if type(node) is dict and "$optimizer" in node:
            pending.append((pos, node["$optimizer"]))
            continue
        args[pos] = wire.decode(node, tensors, _hooks(pos, built, trusted))
        if type(node) is dict and "$model" in node:
            built.models[pos] = args[pos]
    for pos, spec in pending:
        model = built.models.get(spec.get("arg"))
        if model is None:
            raise ValueError(f"Optimizer at {pos}: no Model at position {spec.get('arg')}")
        kwargs = wire.decode(spec.get("kwargs", {"$dict": []}), tensors)
        args[pos] = trusted["optim"][spec["name"]](model.parameters(), **kwargs)
    kwargs = wire.decode(call.get("kwargs", {"$dict": []}), tensors, _hooks(-1, built, trusted))
    return args, kwargs, built


def _hooks(pos: int, built: _Built, trusted: dict) -> dict:
    def param(payload, dec):
        data = dec(payload["data"]).clone().requires_grad_(True)
        grad = dec(payload["grad"]) if payload.get("grad") is not None else None
        if grad is not None:
            data.grad = grad.clone()
        built.params.setdefault(pos, []).append(data)
        built.param_ids.add(id(data))
        return data

    def attached(payload, dec):
        tensor = dec(payload)
        leaf = torch.zeros_like(tensor, requires_grad=True)
        built.leaves.setdefault(pos, []).append(leaf)
        return tensor + 0 * leaf

    def model(payload, dec):
        cls = trusted["models"].get(payload["cls"])
        if cls is None:
            raise ValueError(f"Model class {payload['cls']!r} is not on the allow-list")
        net = cls(**dec(payload["kwargs"]))
        net.load_state_dict(dec(payload["state_dict"]))
        net.train(bool(payload.get("train", True)))
        return net

    def generator(payload, dec):
        return trusted["Generator"]().manual_seed(int(payload))

    def vocab(payload, dec):
        if trusted["Vocab"] is None:
            raise ValueError("course_utils.data.Vocab is not available")
        return trusted["Vocab"](list(dec(payload)))

    return {
        "$param": param,
        "$attached": attached,
        "$model": model,
        "$generator": generator,
        "$vocab": vocab,
    }


# --------------------------------------------------------------------------- making a call


class OpCounter(TorchFunctionMode):
    """Counts the torch functions called under it: name -> count (``Tensor.__matmul__`` and
    ``torch.matmul`` both count as ``matmul``; property reads count by property name)."""

    def __init__(self):
        super().__init__()
        self.counts: dict[str, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", None) or "?"
        if name == "__get__":
            name = getattr(getattr(func, "__self__", None), "__name__", "get")
        name = name.strip("_") or name
        if name.startswith("r") and name[1:] in ("add", "sub", "mul", "matmul", "truediv", "pow"):
            name = name[1:]
        self.counts[name] = self.counts.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


@contextmanager
def time_limit(seconds: float, what: str):
    """Raise :class:`CallTimeout` into the main thread after ``seconds``, and again every 50 ms
    until the block ends (a loop that swallows one exception gets the next). No limit when not
    on the main thread."""
    if threading.current_thread() is not threading.main_thread() or not seconds:
        yield
        return
    armed = [True]

    def expire(signum, frame):
        if armed[0]:
            raise CallTimeout(f"{what} did not finish within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def error_text(err: BaseException) -> str:
    """``"TypeError: message"``, read safely and cut to 2000 characters."""
    if type(err) is CallTimeout:
        return f"Timeout: {err.args[0]}"
    name = type.__dict__["__name__"].__get__(type(err))
    try:
        message = str(err)
    except BaseException:  # noqa: BLE001 - a student's __str__ may raise anything
        message = "(message could not be read)"
    return f"{name}: {message}"[:2000]


def make_calls(
    request: dict,
    tensors: dict,
    namespace: dict,
    trusted: dict,
    progress: list,
    out_tensors: dict,
    before_call=None,
) -> list:
    """Outcome records, in the request's order; calls with a swap run after the others.
    Returned tensors go to ``out_tensors``; ``progress`` gets (index, record) as each call
    finishes (the runner's watchdog reads it)."""
    calls = request["calls"]
    order = [i for i, c in enumerate(calls) if not c.get("swap")]
    order += [i for i, c in enumerate(calls) if c.get("swap")]
    records: list = [None] * len(calls)
    # what all the calls may send back together (room left for the cell log)
    budget = {"json": wire.MAX_JSON_BYTES - 2**20, "tensors": wire.MAX_TENSOR_BYTES - 2**20}
    for index in order:
        if before_call is not None:
            before_call()
        records[index] = make_call(calls[index], tensors, namespace, trusted, out_tensors, budget)
        progress.append((index, records[index]))
    return records


def empty_record(error: str | None = None) -> dict:
    """An outcome record with no value (and ``error``, if given)."""
    keys = ("after", "leaf_grads", "ops", "info", "notes")
    return {"value": None, "error": error, **{k: [] for k in keys}}


def make_call(
    call: dict,
    tensors: dict,
    namespace: dict,
    trusted: dict,
    out_tensors: dict,
    budget: dict | None = None,
) -> dict:
    """One outcome record (see the module docstring). A result that cannot go back as plain
    data (an int over Python's digit limit, a tensor or record over the per-call caps, more
    than ``budget`` has left, an encoding that raised) fails this call only, with an error
    saying "the result could not be sent back: ..."."""
    record = empty_record()
    name = call["fn"]
    before = set(out_tensors)
    saved = _swap_in(call.get("swap") or {}, namespace, trusted)
    try:
        with time_limit(float(call.get("timeout", 20.0)), name):
            _call_and_describe(call, tensors, namespace, trusted, record, out_tensors)
            _check_size(record, out_tensors, before, budget)
    except BaseException as err:  # noqa: BLE001 - anything the call raises is its outcome
        if type(err) is KeyboardInterrupt:
            raise
        for key in set(out_tensors) - before:  # this call's tensors do not go back
            del out_tensors[key]
        text = error_text(err)
        if type(err) is wire.Unsendable:
            text = f"the result could not be sent back: {err.args[0]}"[:2000]
        record = empty_record(text)
    finally:
        _swap_out(saved, namespace)
    return record


def _check_size(record: dict, out_tensors: dict, before: set, budget: dict | None) -> None:
    """Raise :class:`wire.Unsendable` when the record cannot be written as JSON or is over the
    per-call caps or the run's remaining ``budget`` (taken from it when it fits)."""
    try:
        size = len(json.dumps(record, allow_nan=False, separators=(",", ":")).encode())
    except (ValueError, TypeError, RecursionError) as err:
        raise wire.Unsendable(f"not plain data ({type(err).__name__}: {err})"[:300]) from None
    tensor_bytes = sum(
        out_tensors[k].nelement() * out_tensors[k].element_size() for k in set(out_tensors) - before
    )
    mib = 2**20
    if size > wire.MAX_CALL_JSON_BYTES:
        limit = wire.MAX_CALL_JSON_BYTES // mib
        raise wire.Unsendable(f"{size / mib:.1f} MiB of values (at most {limit} MiB come back)")
    if tensor_bytes > wire.MAX_CALL_TENSOR_BYTES:
        limit = wire.MAX_CALL_TENSOR_BYTES // mib
        raise wire.Unsendable(
            f"{tensor_bytes / mib:.0f} MiB of tensors (at most {limit} MiB come back)"
        )
    if budget is not None:
        if size > budget["json"] or tensor_bytes > budget["tensors"]:
            raise wire.Unsendable("the calls before it already sent back all the room allows")
        budget["json"] -= size
        budget["tensors"] -= tensor_bytes


def _call_and_describe(call, tensors, namespace, trusted, record, out_tensors):
    name = call["fn"]
    if name not in namespace:
        raise NameError(f"{name} is not defined")
    args, kwargs, built = build_args(call, tensors, trusted)
    trusted["torch"].set_grad_enabled(True)
    trusted["manual_seed"](int(call.get("seed", 0)))
    random.seed(int(call.get("seed", 0)))
    if call.get("read"):
        value = namespace[name]
    elif call.get("count_ops"):
        counter = OpCounter()
        with counter:
            value = namespace[name](*args, **kwargs)
        record["ops"] = sorted(counter.counts.items())
    else:
        value = namespace[name](*args, **kwargs)
    known = trusted.get("known_modules")
    notes: list[str] = []
    try:
        with torch._C.DisableTorchFunction():
            encoder = wire.Encoder(known_modules=known, tensors=out_tensors, notes=notes)
            if call.get("tensor_info"):
                encoder.info = {}
            record["value"] = encoder.encode(value)
            if encoder.info is not None:
                record["info"] = sorted(encoder.info.items())
            observer = wire.Encoder(_param_view(built), known, tensors=out_tensors, notes=notes)
            for pos in call.get("observe", []):
                if 0 <= pos < len(args):
                    record["after"].append([pos, observer.encode(args[pos], f"arg {pos}")])
    except (wire.Unsendable, CallTimeout, KeyboardInterrupt):
        raise
    except BaseException as err:  # noqa: BLE001 - reading a hostile value may raise anything
        raise wire.Unsendable(f"reading it raised {error_text(err)}") from None
    reached = _leaf_grads(value, built, trusted["grad"])
    record["leaf_grads"] = [[pos, flag] for pos, flag in reached]
    record["notes"] = list(dict.fromkeys(notes))


def _param_view(built: _Built):
    def hook(value, encoder, path, depth):
        if id(value) in built.param_ids and type(value) is torch.Tensor:
            grad = torch.Tensor.grad.__get__(value)
            pairs = [["data", encoder.tensor(value, path)]]
            pairs.append(["grad", None if grad is None else encoder.tensor(grad, path + ".grad")])
            return {"$dict": pairs}
        return None

    return hook


def _leaf_grads(value, built: _Built, autograd_grad):
    """(position, True when a gradient reached that Attached leaf: from the returned tensors'
    graph, or by a backward() the call ran itself, which set the leaf's .grad)."""
    if not built.leaves:
        return []
    outputs = []
    _collect_tensors(value, outputs, 0)
    total = None
    with torch._C.DisableTorchFunction():
        for t in outputs:
            plain = torch.Tensor.as_subclass(t, torch.Tensor)
            if plain.requires_grad and (plain.is_floating_point() or plain.is_complex()):
                part = plain.real.sum() if plain.is_complex() else plain.sum()
                total = part if total is None else total + part
    result = []
    for pos, leaves in sorted(built.leaves.items()):
        # a call that ran backward() itself put a gradient into the leaf's .grad
        reached = any(torch._C.TensorBase.grad.__get__(leaf) is not None for leaf in leaves)
        if not reached and total is not None and total.grad_fn is not None:
            try:
                grads = autograd_grad(total, leaves, retain_graph=True, allow_unused=True)
                reached = any(g is not None for g in grads)
            except RuntimeError:
                reached = False
        result.append((pos, reached))
    return result


def _collect_tensors(value, out: list, depth: int):
    if depth > wire.MAX_DEPTH or len(out) > 10_000:
        return
    cls = type(value)
    if issubclass(cls, torch.Tensor):
        out.append(value)
    elif issubclass(cls, (list, tuple)):
        items = list.__iter__(value) if issubclass(cls, list) else tuple.__iter__(value)
        for item in items:
            _collect_tensors(item, out, depth + 1)
    elif issubclass(cls, dict):
        for item in list(dict.values(value)):
            _collect_tensors(item, out, depth + 1)


def _swap_in(swap: dict, namespace: dict, trusted: dict) -> dict:
    """Put trusted code in place of the named globals; return what to restore."""
    saved = {}
    for name, source in swap.items():
        scope = {
            "__builtins__": builtins,
            "__name__": "trusted_swap",
            "torch": trusted["torch"],
            "math": math,
        }
        exec(compile(source, f"<trusted swap {name}>", "exec"), scope)  # trusted text
        saved[name] = namespace.get(name, _MISSING)
        namespace[name] = scope[name]
    return saved


def _swap_out(saved: dict, namespace: dict):
    for name, old in saved.items():
        if old is _MISSING:
            namespace.pop(name, None)
        else:
            namespace[name] = old


_MISSING = object()
