"""Plain data across the sandbox boundary: a JSON tree plus a dict of tensors (safetensors).

Both sides use this file: the trusted host (``grader.in_sandbox.wire``) and the runner inside the
sandbox (``wire``, imported beside ``runner.py``). Nothing here ever pickles, ``repr``s or calls a
method of a value it encodes: it reads values through the base classes (``dict.items``,
``torch.Tensor.as_subclass`` with torch functions disabled), so an object with a lying
``detach``, ``__torch_function__``, ``items`` or ``__reduce__`` cannot change what is written.

The tree: ``None``/``bool``/``int``/``float``/``str`` are themselves; a JSON list is a Python
list; every other kind is a one-key JSON object whose key is a tag:

    {"$tuple": [...]}              a tuple
    {"$dict": [[key, value], ...]} a dict (keys: None/bool/int/float/str/tuple of those)
    {"$set": [...]}, {"$frozenset": [...]}  a set, a frozenset (elements: as dict keys)
    {"$tensor": "t0"}              a tensor, stored under that key in the tensor dict
    {"$module": {...}}             an nn.Module's description (class name, config, tensors)
    {"$unsupported": "pkg.Type"}   anything else: its type name only
    {"$<recipe>": ...}             the trusted-object recipes of requests (decoded by hooks)
"""

from __future__ import annotations

import json
import math

import torch

MAX_DEPTH = 40  # deeper values come back as Unsupported
MAX_ITEMS = 200_000  # values with more elements in all come back as Unsupported
MAX_JSON_BYTES = 64 * 2**20
MAX_TENSOR_BYTES = 1024 * 2**20
# one call's result: over these it fails that call only ("could not be sent back")
MAX_CALL_JSON_BYTES = 8 * 2**20
MAX_CALL_TENSOR_BYTES = 256 * 2**20

RNN_CONFIG = (
    "input_size",
    "hidden_size",
    "num_layers",
    "nonlinearity",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
)


class WireError(ValueError):
    """The data read back is not what this module writes (forged or cut off)."""


class Unsendable(ValueError):
    """A value that cannot go back as plain data (its message says why); the call that
    returned it fails, the other calls and the run go on."""


def int_max_digits() -> int:
    """Python's limit on the digits of an int turned into text (0: no limit)."""
    import sys

    get = getattr(sys, "get_int_max_str_digits", None)
    return get() if get is not None else 0


def check_int(value: int) -> int:
    """``value`` when JSON can write it; raises :class:`Unsendable` for an int over Python's
    str-digit limit (JSON writes ints as text). Decided from the bit length, never by trying."""
    limit = int_max_digits()
    # digits of an n-bit number are at most ceil(n * log10(2)) <= n * 0.30103 + 1
    if limit and int.bit_length(value) * 0.30103 + 1 > limit:
        try:
            int.__repr__(value)  # near the limit: raises ValueError exactly when over
        except ValueError:
            raise Unsendable(f"int with more than {limit} digits") from None
    return value


def type_name(obj) -> str:
    """``module.QualName`` of ``type(obj)``, read without calling anything of ``obj``."""
    cls = type(obj)
    module = type.__dict__["__module__"].__get__(cls)
    qualname = type.__dict__["__qualname__"].__get__(cls)
    module = module if type(module) is str else "?"
    qualname = qualname if type(qualname) is str else "?"
    return qualname if module == "builtins" else f"{module}.{qualname}"


def plain_tensor(value: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous CPU copy of ``value`` as an exact ``torch.Tensor``.

    A subclass is stripped with torch functions disabled, so its ``__torch_function__`` and its
    own ``detach``/``clone`` never run. Raises ``TypeError`` for a ``__torch_dispatch__``
    subclass, a sparse/quantized/meta tensor: those cannot be read as plain data."""
    cls = type(value)
    if cls is not torch.Tensor and cls is not torch.nn.Parameter:
        dispatch = getattr(cls, "__torch_dispatch__", None)
        if dispatch is not None and dispatch is not torch.Tensor.__torch_dispatch__:
            raise TypeError(f"tensor subclass {type_name(value)} with __torch_dispatch__")
    with torch._C.DisableTorchFunction():
        base = torch.Tensor.as_subclass(value, torch.Tensor)
        if base.layout != torch.strided or base.is_quantized or base.is_meta:
            raise TypeError(f"a {base.layout} tensor cannot be read as plain data")
        out = torch.Tensor.detach(base).to("cpu").contiguous().clone()
    if type(out) is not torch.Tensor:
        raise TypeError("tensor could not be copied as a plain tensor")
    return out


class Encoder:
    """Turns values into the tree; tensors go to ``self.tensors``, remarks to ``self.notes``.

    ``hook(value, encoder)`` is asked first for every value that is not a plain kind: it returns a
    tagged node, or ``None`` to let the encoder go on (requests use it for the recipes; the
    sandbox uses it to describe Param tensors). ``strip_note`` says a tensor subclass was
    stripped; set ``known_modules`` (id -> class name) to name classes trusted code defined."""

    def __init__(self, hook=None, known_modules=None, tensors=None, notes=None):
        self.tensors: dict[str, torch.Tensor] = {} if tensors is None else tensors
        self.notes: list[str] = [] if notes is None else notes
        self.hook = hook
        self.known_modules = known_modules
        self.info: dict[str, list[bool]] | None = None  # path -> autograd facts, when asked
        self.items = 0

    def tensor(self, value: torch.Tensor, path: str = "") -> dict:
        where = f" at {path!r}" if path else ""
        if self.info is not None:  # read through the base class's own descriptors
            base = torch._C.TensorBase
            with torch._C.DisableTorchFunction():
                self.info[path] = [
                    bool(base.requires_grad.__get__(value)),
                    base.grad_fn.__get__(value) is not None,
                    bool(base.is_leaf.__get__(value)),
                ]
        try:
            with torch._C.DisableTorchFunction():
                base = torch.Tensor.as_subclass(value, torch.Tensor)
                nbytes = torch.Tensor.nelement(base) * torch.Tensor.element_size(base)
        except (TypeError, RuntimeError):
            nbytes = 0  # not plain data: plain_tensor below says so
        if nbytes > MAX_CALL_TENSOR_BYTES:
            raise Unsendable(
                f"tensor{where} of {nbytes / 2**20:.0f} MiB (at most "
                f"{MAX_CALL_TENSOR_BYTES // 2**20} MiB come back)"
            )
        try:
            plain = plain_tensor(value)
        except TypeError as err:
            self.notes.append(f"returned a tensor that is not plain data{where}: {err}")
            return {"$unsupported": type_name(value)}
        if type(value) is not torch.Tensor and type(value) is not torch.nn.Parameter:
            self.notes.append(
                f"returned a torch.Tensor subclass {type_name(value)}{where}; "
                "compared as a plain tensor"
            )
        key = f"t{len(self.tensors)}"
        self.tensors[key] = plain
        return {"$tensor": key}

    def encode(self, value, path: str = "", depth: int = 0):
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            self.notes.append(f"value too deep or too large at {path!r}")
            return {"$unsupported": "too deep or too large"}
        cls = type(value)
        if value is None or cls is bool or cls is str:
            return value
        if cls is int:
            return check_int(value)
        if cls is float:
            return value if math.isfinite(value) else {"$float": repr(value)}
        if self.hook is not None:
            node = self.hook(value, self, path, depth)
            if node is not None:
                return node
        if issubclass(cls, torch.Tensor):
            return self.tensor(value, path)
        if issubclass(cls, torch.nn.Module):
            return self.module(value, path)
        if issubclass(cls, bool):
            return bool.__bool__(value)
        if issubclass(cls, int):
            return check_int(int.__int__(value))
        if issubclass(cls, float):
            return self.encode(float.__float__(value), path, depth)
        if issubclass(cls, str):
            return str.__str__(value)
        if issubclass(cls, (list, tuple)):
            items = list.__iter__(value) if issubclass(cls, list) else tuple.__iter__(value)
            nodes = [self.encode(v, _join(path, i), depth + 1) for i, v in enumerate(items)]
            return nodes if issubclass(cls, list) else {"$tuple": nodes}
        if issubclass(cls, (set, frozenset)):
            items = set.__iter__(value) if issubclass(cls, set) else frozenset.__iter__(value)
            tag = "$set" if issubclass(cls, set) else "$frozenset"
            return {tag: [self.key(k) for k in items]}
        if issubclass(cls, dict):
            pairs = []
            for key, item in list(dict.items(value)):
                pairs.append([self.key(key), self.encode(item, _join(path, key), depth + 1)])
            return {"$dict": pairs}
        numpy_scalar = _numpy_scalar(value)
        if numpy_scalar is not None:
            return self.encode(numpy_scalar, path, depth)
        return {"$unsupported": type_name(value)}

    def key(self, key):
        cls = type(key)
        if key is None or cls in (bool, str):
            return key
        if cls is int:
            return check_int(key)
        if cls is float:
            return key if math.isfinite(key) else {"$float": repr(key)}
        if cls is tuple:
            return {"$tuple": [self.key(k) for k in key]}
        return {"$unsupported": type_name(key)}

    def module(self, module: torch.nn.Module, path: str) -> dict:
        """Class name, config, parameters+buffers and grads, read from the module's own dicts
        (never through its ``state_dict``/``named_parameters``, which a subclass can override)."""
        state, grads = {}, {}
        for prefix, sub in _submodules(module):
            own = object.__getattribute__(sub, "__dict__")
            for name, param in dict.items(own.get("_parameters", {})):
                if param is None:
                    continue
                state[prefix + name] = self.tensor(param, _join(path, prefix + name))
                grad = torch.Tensor.grad.__get__(param)
                if grad is not None:
                    grads[prefix + name] = self.tensor(grad, _join(path, prefix + name + ".grad"))
            persistent_skip = own.get("_non_persistent_buffers_set", set())
            for name, buf in dict.items(own.get("_buffers", {})):
                if buf is not None and name not in persistent_skip:
                    state[prefix + name] = self.tensor(buf, _join(path, prefix + name))
        own = object.__getattribute__(module, "__dict__")
        if issubclass(type(module), torch.nn.RNNBase):
            config = {k: own.get(k) for k in RNN_CONFIG}
        else:
            config = {
                k: v
                for k, v in dict.items(own)
                if type(k) is str and not k.startswith("_") and type(v) in (int, float, bool, str)
            }
        return {
            "$module": {
                "class_name": self.class_name(module),
                "config": self.encode(config, path),
                "state_dict": {"$dict": [[k, v] for k, v in state.items()]},
                "grads": {"$dict": [[k, v] for k, v in grads.items()]},
                "training": bool(own.get("training", False)),
            }
        }

    def class_name(self, module) -> str:
        """``module.QualName`` of the module's class; ``submission:<name>`` when that name does
        not lead back to this very class (a class that calls itself ``torch.nn...RNN``), or the
        class was made after ``known_modules`` was taken (before student code ran)."""
        name = type_name(module)
        cls = type(module)
        honest = _resolves_to(name, cls)
        if self.known_modules is not None and id(cls) not in self.known_modules:
            honest = honest and name not in self.known_modules.values()
        if not honest:
            self.notes.append(f"returned a module whose class calls itself {name}")
            return f"submission:{name}"
        return name


def _resolves_to(name: str, cls) -> bool:
    import sys

    module_name = type.__dict__["__module__"].__get__(cls)
    qualname = type.__dict__["__qualname__"].__get__(cls)
    obj = sys.modules.get(module_name) if type(module_name) is str else None
    for part in qualname.split(".") if type(qualname) is str else ["<?>"]:
        obj = (getattr(obj, "__dict__", None) or {}).get(part) if obj is not None else None
    return obj is cls


def _join(path: str, key) -> str:
    key = str(key) if type(key) in (int, str) else "?"
    return f"{path}.{key}" if path else key


def _submodules(module):
    """(prefix, module) for the module and every submodule, from the ``_modules`` dicts."""
    out, stack, seen = [], [("", module)], set()
    while stack and len(out) < 10_000:
        prefix, mod = stack.pop()
        if id(mod) in seen or not issubclass(type(mod), torch.nn.Module):
            continue
        seen.add(id(mod))
        out.append((prefix, mod))
        children = object.__getattribute__(mod, "__dict__").get("_modules", {})
        for name, child in reversed(list(dict.items(children))):
            if child is not None and type(name) is str:
                stack.append((f"{prefix}{name}.", child))
    return out


def _numpy_scalar(value):
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is part of the course environment
        return None
    if issubclass(type(value), (np.bool_, np.integer, np.floating)):
        return value.item()
    return None


# --------------------------------------------------------------------------- decoding


def decode(node, tensors: dict[str, torch.Tensor], hooks=None, depth: int = 0):
    """The value of a tree node. ``hooks``: tag -> function(payload, decode_child) for the tags
    this side knows beyond the plain ones ($module, $unsupported, recipes)."""
    if depth > MAX_DEPTH + 5:
        raise WireError("tree too deep")
    if node is None or type(node) in (bool, int, float, str):
        return node
    if type(node) is list:
        return [decode(n, tensors, hooks, depth + 1) for n in node]
    if type(node) is not dict or len(node) != 1:
        raise WireError(f"unexpected node {type(node).__name__}")
    ((tag, payload),) = node.items()
    if tag == "$tuple" and type(payload) is list:
        return tuple(decode(n, tensors, hooks, depth + 1) for n in payload)
    if tag in ("$set", "$frozenset") and type(payload) is list:
        items = [decode(n, tensors, hooks, depth + 1) for n in payload]
        try:
            return set(items) if tag == "$set" else frozenset(items)
        except TypeError:
            raise WireError("unhashable set element") from None
    if tag == "$dict" and type(payload) is list:
        out = {}
        for pair in payload:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("bad dict entry")
            key = decode(pair[0], tensors, hooks, depth + 1)
            try:
                hash(key)
            except TypeError:
                raise WireError("unhashable dict key") from None
            out[key] = decode(pair[1], tensors, hooks, depth + 1)
        return out
    if tag == "$tensor":
        if type(payload) is not str or payload not in tensors:
            raise WireError(f"missing tensor {payload!r}")
        return tensors[payload]
    if tag == "$float" and payload in ("nan", "inf", "-inf"):
        return float(payload)
    if hooks and tag in hooks:
        return hooks[tag](payload, lambda n: decode(n, tensors, hooks, depth + 1))
    raise WireError(f"unknown tag {tag!r}")


# --------------------------------------------------------------------------- bytes


def dump(tree, tensors: dict[str, torch.Tensor]) -> tuple[bytes, bytes]:
    """(JSON bytes, safetensors bytes)."""
    from safetensors.torch import save

    text = json.dumps(tree, allow_nan=False, separators=(",", ":"))
    return text.encode(), save({k: v.contiguous() for k, v in tensors.items()})


def load(json_bytes: bytes, tensor_bytes: bytes) -> tuple[object, dict[str, torch.Tensor]]:
    """Read what :func:`dump` wrote, with safe loaders only; raises :class:`WireError`."""
    from safetensors.torch import load as load_tensors

    if len(json_bytes) > MAX_JSON_BYTES or len(tensor_bytes) > MAX_TENSOR_BYTES:
        raise WireError("result files too large")
    try:
        tree = json.loads(json_bytes.decode())
        tensors = load_tensors(tensor_bytes) if tensor_bytes else {}
    except (ValueError, RecursionError, UnicodeDecodeError, Exception) as err:
        raise WireError(f"unreadable data: {type(err).__name__}") from None
    if any(type(t) is not torch.Tensor for t in tensors.values()):
        raise WireError("not plain tensors")
    return tree, tensors
