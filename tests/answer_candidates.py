"""Everything a student could call instead of writing an exercise, as candidate answers.

Used by ``tests/test_no_answers.py``. Two sources, both shipped to students:

- every function defined in a test cell of a release notebook (a student could paste it): the
  cell's function definitions are executed in a fresh namespace together with the imports of
  every code cell of that notebook and the cell's literal constants (``_OVERFLOW = "..."``);
- every public callable of ``course_utils``: module-level functions, and the public methods of
  its classes through an instance.

A candidate is tried as an exercise when its signature fits, in up to two ways:

- *positional*: it takes as many required positional parameters as the exercise; it is called
  exactly as the check calls the exercise;
- *by name*: at least one of its parameters is named like one of the exercise's; those are passed
  by name and its other required parameters get the remaining arguments in order
  (``sample_text(model, vocab, prefix, num_chars)`` as ``predict(prefix, num_preds, model,
  vocab)``).

A method is called on an instance built for each call: the class is first built with distinct
primes for its required arguments (``RNNScratch(2, 3)``), and an exercise argument named like a
tensor attribute of that instance (``W_xh``) replaces it (the argument itself, so gradients still
reach the caller); the constructor's sizes are read off the replaced tensors' shapes where the
primes show (``W_xh`` (2, 3) -> num_inputs, num_hiddens). That is how ``RNNScratch.forward`` is
tried as ``rnn_forward(inputs, H0, W_xh, W_hh, b_h)``.

Names are looked up when the candidate is called, so a DISABLE stub in place is what gets called.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import torch

import course_utils

# Modules that are not part of the student's library (none left: grading lives in grader/).
SKIPPED_MODULES: tuple[str, ...] = ()
PRIMES = (2, 3, 5, 7, 11, 13)
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


# --------------------------------------------------------------------------- signatures


def required_positional(sig: inspect.Signature) -> list[str]:
    return [
        p.name for p in sig.parameters.values() if p.kind in POSITIONAL and p.default is p.empty
    ]


def exercise_signatures(notebook: Path) -> dict[str, inspect.Signature]:
    """``{name: signature}`` of every function defined in a solution cell of a source notebook."""
    out = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] != "code" or not meta.get("solution"):
            continue
        for node in ast.parse("".join(cell["source"])).body:
            if isinstance(node, ast.FunctionDef):
                node.body, node.decorator_list, node.returns = [ast.Pass()], [], None
                for arg in ast.walk(node.args):
                    if isinstance(arg, ast.arg):
                        arg.annotation = None
                tree = ast.fix_missing_locations(ast.Module([node], []))
                ns: dict = {}
                exec(compile(tree, "<signature>", "exec"), ns)  # noqa: S102
                out[node.name] = inspect.signature(ns[node.name])
    return out


def name_mapping(params: list[inspect.Parameter], exercise: inspect.Signature, taken=()):
    """How to fill ``params`` from the exercise's arguments: ``{param: exercise arg}``, by name
    first, then the other positional params, in order, from the unused arguments in order. None
    when a required parameter stays empty or when no name matches at all."""
    names = list(exercise.parameters)
    mapping = {p.name: p.name for p in params if p.name in names}
    if not mapping and not taken:
        return None
    unused = [n for n in names if n not in mapping.values() and n not in taken]
    for p in params:
        if p.name in mapping or p.kind not in POSITIONAL:
            continue
        if unused:  # optional ones too: RNNScratch.forward's state gets rnn_forward's H0
            mapping[p.name] = unused.pop(0)
        elif p.default is p.empty:
            return None
    return mapping


# --------------------------------------------------------------------------- candidates


@dataclass
class Candidate:
    """Something callable a student has; ``resolve()`` looks it up now."""

    label: str  # "course_utils.generate.sample_text", "release lesson3 test_predict: _helper"
    resolve: object  # () -> the function (or, with ``cls``, the method name)
    cls: type | None = None  # for a method: the class to build an instance of
    method: str = ""


def release_helpers(release_dir: Path) -> list[Candidate]:
    """Every function defined in a test cell (autograded, locked) of every release notebook."""
    out, seen = [], set()
    for path in sorted(release_dir.glob("*/*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        codes = [c for c in cells if c["cell_type"] == "code"]
        imports = [
            node
            for c in codes
            for node in _parse(c)
            if isinstance(node, (ast.Import, ast.ImportFrom))
        ]
        for cell in codes:
            meta = cell["metadata"].get("nbgrader", {})
            if not meta.get("grade"):
                continue
            defs = [n for n in _parse(cell) if isinstance(n, ast.FunctionDef)]
            if not defs:
                continue
            ns = _exec_helpers(imports, _parse(cell), defs)
            for node in defs:
                if node.name in ns and ast.dump(node) not in seen:  # the same helper once
                    seen.add(ast.dump(node))
                    label = f"{path.parent.name} {meta['grade_id']}: {node.name}"
                    out.append(Candidate(label, (lambda f=ns[node.name]: f)))
    return out


def _parse(cell) -> list[ast.stmt]:
    try:
        return ast.parse("".join(cell["source"])).body
    except SyntaxError:  # a cell with IPython magics
        return []


def _exec_helpers(imports, body, defs) -> dict:
    ns: dict = {"__name__": "release_test_cell"}
    literals = [n for n in body if isinstance(n, ast.Assign) and _is_literal(n.value)]
    for node in [*imports, *literals, *defs]:
        try:
            exec(compile(ast.Module([node], []), "<release test cell>", "exec"), ns)  # noqa: S102
        except Exception:  # noqa: BLE001 - a definition that cannot stand alone is no candidate
            pass
    return ns


def _is_literal(node) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def course_utils_callables() -> tuple[list[Candidate], list[str]]:
    """Public functions and methods of course_utils; and the classes that could not be built."""
    out, unbuilt = [], []
    names = ["course_utils"] + [
        m.name for m in pkgutil.walk_packages(course_utils.__path__, "course_utils.")
    ]
    for modname in sorted(names):
        if any(part.startswith("_") for part in modname.split(".")) or modname in SKIPPED_MODULES:
            continue
        module = importlib.import_module(modname)
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != modname:
                continue
            if inspect.isfunction(obj):
                out.append(Candidate(f"{modname}.{name}", _getter(module, name)))
            elif inspect.isclass(obj):
                built = probe(obj) is not None
                if not built:
                    unbuilt.append(f"{modname}.{name}")
                for meth, raw in sorted(vars(obj).items()):
                    if meth.startswith("_"):
                        continue
                    label = f"{modname}.{name}.{meth}"
                    if isinstance(raw, (staticmethod, classmethod)):
                        out.append(Candidate(label, _getter(obj, meth)))
                    elif inspect.isfunction(raw) and built:
                        out.append(Candidate(label, None, cls=obj, method=meth))
    return out, unbuilt


def _getter(owner, name):
    return lambda: getattr(owner, name)


# --------------------------------------------------------------------------- instances


def probe(cls):
    """``(instance, {ctor arg: prime})`` built with distinct primes; None if it does not build."""
    try:
        params = [
            p
            for p in inspect.signature(cls).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return None
    if len(params) > len(PRIMES):
        return None
    kwargs = {p.name: PRIMES[i] for i, p in enumerate(params)}
    try:
        return cls(**kwargs), kwargs
    except Exception:  # noqa: BLE001 - not constructible from sizes alone
        return None


def tensor_attributes(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_") and _is_tensor_attr(obj, n)}


def _is_tensor_attr(obj, name) -> bool:
    try:
        return isinstance(getattr(obj, name), torch.Tensor)
    except Exception:  # noqa: BLE001 - a property that raises
        return False


def build_for(cls, given: dict):
    """An instance of ``cls`` whose tensor attributes named like exercise arguments are those
    arguments, with constructor sizes read off their shapes."""
    instance, primes = probe(cls)
    inject = {
        n: v
        for n, v in given.items()
        if isinstance(v, torch.Tensor) and _is_tensor_attr(instance, n)
    }
    kwargs = dict(primes)
    for name, value in inject.items():
        shape = tuple(getattr(instance, name).shape)
        if len(shape) == value.dim():
            for probe_size, size in zip(shape, value.shape, strict=True):
                for arg, prime in primes.items():
                    if probe_size == prime:
                        kwargs[arg] = int(size)
    obj = cls(**kwargs)
    for name, value in inject.items():
        if name in getattr(obj, "_parameters", {}):
            delattr(obj, name)  # a plain attribute now: the argument itself, graph and all
        setattr(obj, name, value)
    return obj


# --------------------------------------------------------------------------- as an exercise


def variants(candidate: Candidate, exercise: inspect.Signature) -> list[tuple[str, object]]:
    """``[(how, function)]``: the ways ``candidate`` can be called as ``exercise``."""
    if candidate.cls is not None:
        return _method_variants(candidate, exercise)
    func = candidate.resolve()
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return []
    out = []
    positional = len(required_positional(inspect.Signature(params))) == len(
        required_positional(exercise)
    )
    if positional:
        out.append(("positional", lambda *a, **k: candidate.resolve()(*a, **k)))
    mapping = name_mapping(params, exercise)
    same_order = mapping is not None and list(mapping.items()) == [
        (n, n) for n in list(exercise.parameters)[: len(mapping)]
    ]
    if mapping is not None and not (positional and same_order):
        out.append(("by name", _by_name(exercise, mapping, lambda given: candidate.resolve())))
    return out


def _method_variants(candidate: Candidate, exercise: inspect.Signature):
    instance, _ = probe(candidate.cls)
    injected = tensor_attributes(instance) & set(exercise.parameters)
    method = getattr(instance, candidate.method)
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return []
    same_count = len(required_positional(inspect.Signature(params))) == len(
        required_positional(exercise)
    )
    mapping = name_mapping(params, exercise, taken=injected)
    if mapping is None and not same_count:
        return []
    if mapping is None:
        mapping = dict(zip([p.name for p in params], exercise.parameters, strict=False))

    def bound(given):
        return getattr(build_for(candidate.cls, given), candidate.method)

    how = "instance" + (f" with {sorted(injected)} set" if injected else "")
    return [(how, _by_name(exercise, mapping, bound))]


def _by_name(exercise: inspect.Signature, mapping: dict, target):
    def call(*args, **kwargs):
        given = exercise.bind(*args, **kwargs)
        given.apply_defaults()
        func = target(given.arguments)
        return func(**{param: given.arguments[arg] for param, arg in mapping.items()})

    return call
