"""The trusted harness in-process: the wire encoding of every value kind, the recipes, and the
attacks a hostile student would try on the encoding (kept as catalogue cases).

The sandbox path (runner, watchdog, forged results) is in tests/test_trusted_sandbox.py, the
nbgrader integration in tests/test_trusted_nbgrader.py.
"""

from __future__ import annotations

import collections
import math
import statistics

import numpy as np
import pytest
import torch

from grader.in_sandbox import cells, wire
from grader.in_sandbox.calls import empty_record
from grader.trusted.harness import (
    NoTrustedChecks,
    Verdict,
    judge_run,
    load_lesson,
    outcomes_in_process,
)
from grader.trusted.sandbox_run import RunResult
from grader.trusted.spec import (
    Attached,
    Call,
    Check,
    Generator,
    Model,
    ModuleData,
    Optimizer,
    Param,
    TensorInfo,
    Unsupported,
    VocabOf,
)


def one(fn, *args, **call_kwargs):
    """The outcome of calling ``fn(*args)`` through the harness."""
    (outcome,) = outcomes_in_process([Call("f", args, **call_kwargs)], {"f": fn})
    return outcome


# --------------------------------------------------------------------------- value kinds


PLAIN = [
    None,
    True,
    0,
    -(2**62),
    1.5,
    "héllo",
    [1, "a", None],
    (1, (2.0, [3])),
    {"a": 1, 2: "b", (1, "x"): [None]},
    {"A", "C"},
    frozenset({1, 2}),
    [],
    (),
    {},
]


# ids by position: a set's repr follows the hash seed, which differs between xdist workers
@pytest.mark.parametrize(
    "value", PLAIN, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(PLAIN)]
)
def test_plain_values_round_trip_with_their_types(value):
    out = one(lambda: value)
    assert out.error is None
    assert out.value == value
    assert type(out.value) is type(value)


def test_non_finite_floats_round_trip():
    out = one(lambda: [math.nan, math.inf, -math.inf])
    assert math.isnan(out.value[0]) and out.value[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize(
    "tensor",
    [
        torch.randn(3, 4),
        torch.randn(2, dtype=torch.float64),
        torch.arange(6).reshape(2, 3),
        torch.tensor([True, False]),
        torch.tensor(2.5),
        torch.zeros(0, 3),
        torch.randn(3).to(torch.bfloat16),
        torch.randn(4, 4).t(),  # not contiguous
        torch.randn(2, dtype=torch.complex64),
    ],
    ids=["f32", "f64", "i64", "bool", "0-dim", "empty", "bf16", "transposed", "complex"],
)
def test_tensors_round_trip_exactly(tensor):
    out = one(lambda: tensor)
    assert type(out.value) is torch.Tensor
    assert out.value.dtype == tensor.dtype and out.value.shape == tensor.shape
    assert torch.equal(out.value, tensor)


def test_parameters_and_graph_tensors_come_back_plain_and_detached():
    w = torch.nn.Parameter(torch.ones(2))
    out = one(lambda: (w, w * 3), tensor_info=True)
    a, b = out.value
    assert type(a) is torch.Tensor and not a.requires_grad and torch.equal(b, torch.full((2,), 3.0))
    assert out.info["0"] == TensorInfo(requires_grad=True, has_grad_fn=False, is_leaf=True)
    assert out.info["1"] == TensorInfo(requires_grad=True, has_grad_fn=True, is_leaf=False)


def test_numpy_scalars_and_number_subclasses_become_plain_numbers():
    class MyFloat(float):
        pass

    out = one(lambda: [np.float32(0.5), np.int64(3), np.bool_(True), MyFloat(2.0), torch.Size([2])])
    assert out.value == [0.5, 3, True, 2.0, (2,)]
    assert [type(v) for v in out.value] == [float, int, bool, float, tuple]


def test_a_namedtuple_comes_back_as_a_tuple():
    Pair = collections.namedtuple("Pair", "a b")
    assert one(lambda: Pair(1, 2)).value == (1, 2)


def test_anything_else_comes_back_as_its_type_name_only():
    out = one(lambda: [len, (i for i in range(2)), np.zeros(2), b"x", torch.float32])
    assert out.value == [
        Unsupported("builtin_function_or_method"),
        Unsupported("generator"),
        Unsupported("numpy.ndarray"),
        Unsupported("bytes"),
        Unsupported("torch.dtype"),
    ]


def test_an_rnn_comes_back_as_its_class_config_and_state_dict():
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 5, num_layers=2, nonlinearity="relu", batch_first=True)
    rnn.weight_hh_l0.grad = torch.ones(5, 5)
    out = one(lambda: rnn)
    m = out.value
    assert type(m) is ModuleData
    assert m.class_name == "torch.nn.modules.rnn.RNN"
    assert m.config == {
        "input_size": 3,
        "hidden_size": 5,
        "num_layers": 2,
        "nonlinearity": "relu",
        "bias": True,
        "batch_first": True,
        "dropout": 0.0,
        "bidirectional": False,
    }
    assert m.state_dict.keys() == rnn.state_dict().keys()
    assert all(torch.equal(m.state_dict[k], v) for k, v in rnn.state_dict().items())
    assert list(m.grads) == ["weight_hh_l0"] and m.training


def test_nested_modules_and_buffers_are_read():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)).eval()
    m = one(lambda: net).value
    assert set(m.state_dict) == set(net.state_dict())
    assert m.training is False


def test_too_deep_values_are_unsupported_not_a_crash():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    out = one(lambda: deep)
    assert out.error is None and "too deep" in " ".join(out.notes)
    loop: list = []
    loop.append(loop)
    assert one(lambda: loop).error is None


# --------------------------------------------------------------------------- calls and recipes


def test_errors_missing_names_and_read_globals():
    def boom(x):
        raise ValueError(f"bad {x}")

    outs = outcomes_in_process(
        [Call("boom", (1,)), Call("missing"), Call("ANSWER", read=True)],
        {"boom": boom, "ANSWER": {"A", "C"}},
    )
    assert [o.error for o in outs] == [
        "ValueError: bad 1",
        "NameError: missing is not defined",
        None,
    ]
    assert outs[2].value == {"A", "C"}


def test_params_are_leaves_with_grads_and_their_state_after_is_observed():
    def clip(params, theta):
        norm = torch.sqrt(sum((p.grad**2).sum() for p in params))
        for p in params:
            assert p.is_leaf and p.requires_grad
            p.grad *= min(1.0, theta / float(norm))

    params = [
        Param(torch.ones(2), torch.full((2,), 3.0)),
        Param(torch.zeros(1), torch.tensor([4.0])),
    ]
    out = one(clip, params, 1.0, observe=(0,))
    after = out.after[0]
    norm = math.sqrt(9 + 9 + 16)
    assert torch.allclose(after[0]["grad"], torch.full((2,), 3.0 / norm))
    assert torch.equal(after[0]["data"], torch.ones(2)) and after[1]["grad"].shape == (1,)


def test_attached_reports_whether_the_gradient_reached_the_state():
    h = torch.randn(2, 3)
    outs = outcomes_in_process(
        [Call("keep", (Attached(h),)), Call("cut", (Attached(h),))],
        {"keep": lambda s: torch.tanh(s), "cut": lambda s: torch.tanh(s.detach())},
    )
    assert outs[0].leaf_grads == {0: True} and outs[1].leaf_grads == {0: False}
    assert torch.allclose(outs[0].value, torch.tanh(h))


def test_attached_counts_a_backward_the_call_ran_itself():
    def train(state, detach):
        state = state.detach() if detach else state
        w = torch.ones(3, requires_grad=True)
        torch.tanh(state * w).sum().backward()
        return 1.0  # nothing attached comes back

    h = Attached(torch.randn(2, 3))
    outs = outcomes_in_process([Call("f", (h, False)), Call("f", (h, True))], {"f": train})
    assert [o.leaf_grads for o in outs] == [{0: True}, {0: False}]


def test_model_optimizer_generator_and_vocab_are_built_inside():
    torch.manual_seed(1)
    lin = torch.nn.Linear(2, 1)

    def step(net, opt, gen, vocab):
        x = torch.randn(4, 2, generator=gen)
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()
        return [type(opt).__name__, len(vocab), vocab["b"]]

    args = (
        Model("torch.nn.Linear", {"in_features": 2, "out_features": 1}, lin.state_dict()),
        Optimizer("SGD", 0, {"lr": 0.5}),
        Generator(7),
        VocabOf(tuple("abcab")),
    )
    out = one(step, *args, observe=(0,), timeout=120.0)  # the first optimizer imports dynamo
    assert out.error is None and out.value[0] == "SGD" and out.value[1] >= 3
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(7))
    expected = lin.weight.detach() - 0.5 * x.sum(0, keepdim=True)
    assert torch.allclose(out.after[0].state_dict["weight"], expected)
    assert "weight" in out.after[0].grads


def test_a_model_class_off_the_allow_list_is_refused():
    out = one(lambda m: m, Model("os.system", {}, {}))
    assert "allow-list" in out.error


def test_ops_are_counted_by_name():
    out = one(
        lambda a, b: torch.tanh(a @ b + 1) + torch.matmul(a, b),
        torch.ones(2, 2),
        torch.ones(2, 2),
        count_ops=True,
    )
    assert out.ops["matmul"] == 2 and out.ops["tanh"] == 1 and out.ops["add"] == 2


def test_swap_calls_run_last_and_the_global_is_restored():
    ns: dict = {"torch": torch, "seen": []}
    exec(
        "def step(x):\n    seen.append('student')\n    return x\n"
        "def forward(x):\n    return step(x) * 10\n",
        ns,
    )
    step = ns["step"]
    swap = {"step": "def step(x):\n    return torch.full_like(x, 7.0)"}
    calls = [Call("forward", (torch.ones(1),), swap=swap), Call("step", (torch.ones(1),))]
    outs = outcomes_in_process(calls, ns)
    assert torch.equal(outs[0].value, torch.full((1,), 70.0))
    assert ns["seen"] == ["student"]  # the unswapped call ran first; the swapped one used ours
    assert ns["step"] is step


def test_a_call_that_never_returns_times_out():
    def forever():
        while True:
            pass

    out = one(forever, timeout=0.3)
    assert out.error.startswith("Timeout:") and out.value is None


# --------------------------------------------------------------------------- attacks (catalogue)


class LyingTensor(torch.Tensor):
    """Every way to read it as plain data lies: detach/clone/contiguous/to return zeros."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in (
            "detach",
            "clone",
            "as_subclass",
            "contiguous",
            "to",
            "cpu",
            "__eq__",
            "allclose",
            "equal",
        ):
            return torch.zeros(3)
        return super().__torch_function__(func, types, args, kwargs or {})

    def detach(self):
        return torch.zeros(3)

    def clone(self, *a, **k):
        return torch.zeros(3)


def test_attack_tensor_subclass_with_lying_detach_is_read_as_its_real_data():
    out = one(lambda: torch.arange(3.0).as_subclass(LyingTensor))
    assert type(out.value) is torch.Tensor and torch.equal(out.value, torch.arange(3.0))
    assert any("subclass" in n and "LyingTensor" in n for n in out.notes)


def test_attack_torch_dispatch_subclass_is_unsupported():
    class Dispatch(torch.Tensor):
        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    out = one(lambda: torch.ones(2).as_subclass(Dispatch))
    assert isinstance(out.value, Unsupported)


def test_attack_module_with_lying_state_dict_is_read_from_its_parameters():
    class Liar(torch.nn.Linear):
        def state_dict(self, *a, **k):
            return {"weight": 2 * torch.eye(2)}

        def named_parameters(self, *a, **k):
            return iter([("weight", torch.nn.Parameter(2 * torch.eye(2)))])

    net = Liar(2, 2, bias=False)
    torch.nn.init.zeros_(net.weight)
    m = one(lambda: net).value
    assert torch.equal(m.state_dict["weight"], torch.zeros(2, 2))


def test_attack_class_claiming_a_torch_name_is_marked():
    class RNN(torch.nn.Module):
        pass

    RNN.__module__, RNN.__qualname__ = "torch.nn.modules.rnn", "RNN"
    m = one(lambda: RNN()).value
    assert m.class_name == "submission:torch.nn.modules.rnn.RNN"


def test_attack_reduce_repr_str_side_effects_never_run(tmp_path):
    marker = tmp_path / "ran"

    class Sneaky:
        def __reduce__(self):
            marker.write_text("reduce")
            return (str, ("x",))

        def __repr__(self):
            marker.write_text("repr")
            return "Sneaky"

        __str__ = __repr__

        @property
        def __class__(self):
            marker.write_text("class")
            return torch.Tensor

    out = one(lambda: [Sneaky(), {"k": Sneaky()}])
    assert not marker.exists()
    assert (
        out.value[0] == Unsupported(out.value[0].type_name) and "Sneaky" in out.value[0].type_name
    )


def test_attack_dict_and_list_subclasses_with_lying_methods_are_read_as_stored():
    class LyingDict(dict):
        def items(self):
            return [("a", 2)]

        def __iter__(self):
            return iter(["a"])

    class LyingList(list):
        def __iter__(self):
            return iter([9])

    out = one(lambda: (LyingDict(a=1), LyingList([1, 2])))
    assert out.value == ({"a": 1}, [1, 2])


def test_attack_reload_restores_a_disabled_function_but_the_stub_comes_back_before_each_call():
    disabled = cells.disable([["statistics.fmean", "mean_of"]])
    try:
        with pytest.raises(RuntimeError, match="write mean_of yourself"):
            statistics.fmean([1.0])
        ns: dict = {}
        exec(
            "import importlib, statistics\nimportlib.reload(statistics)\n"
            "def mean_of(xs):\n    return statistics.fmean(xs)",
            ns,
        )
        assert ns["mean_of"]([1.0, 3.0]) == 2.0  # the reload brought it back...
        disabled.restore_stubs()
        with pytest.raises(RuntimeError, match="not available"):
            ns["mean_of"]([1.0, 3.0])  # ...until the harness puts the stub back before the calls
    finally:
        import importlib

        importlib.reload(statistics)


@pytest.mark.xfail(
    strict=True,
    reason="not stoppable in-process: a reloaded function bound to a "
    "name of the submission's own escapes the stubs (see grader/trusted/README.md)",
)
def test_attack_reload_then_bind_the_real_function_is_not_stopped():
    disabled = cells.disable([["statistics.fmean", "mean_of"]])
    try:
        ns: dict = {}
        exec(
            "import importlib, statistics\nimportlib.reload(statistics)\n"
            "from statistics import fmean as mean_of",
            ns,
        )
        disabled.restore_stubs()
        with pytest.raises(RuntimeError):
            ns["mean_of"]([1.0, 3.0])
    finally:
        import importlib

        importlib.reload(statistics)


def test_disable_replaces_every_alias_in_the_package():
    import torch.nn.utils.clip_grad as clip_grad

    original = torch.nn.utils.clip_grad_norm_
    disabled = cells.disable(["torch.nn.utils.clip_grad_norm_", "no.such.name"])
    try:
        assert disabled.missing == ["no.such.name"]
        for fn in (torch.nn.utils.clip_grad_norm_, clip_grad.clip_grad_norm_):
            with pytest.raises(
                RuntimeError, match="torch.nn.utils.clip_grad_norm_ is not available"
            ):
                fn([], 1.0)
    finally:
        for owner, attr, _ in disabled.places:
            setattr(owner, attr, original)


# --------------------------------------------------------------------------- forged results


def test_forged_or_malformed_results_fail_every_check_instead_of_reaching_a_judge():
    checks = [Check("t1", [Call("f")], lambda outs: None), Check("t2", [Call("g")], lambda o: None)]
    good = empty_record()
    forged = [
        {"outcomes": [good]},  # one outcome short
        {"outcomes": [good, dict(good, value={"$tensor": "t9"})]},  # no such tensor
        {"outcomes": [good, dict(good, value={"$pickle": "gASV"})]},  # unknown tag
        {"outcomes": [good, dict(good, ops=[["matmul", "1"]])]},
        {"outcomes": [good, dict(good, info=[["", [True]]])]},
        {"outcomes": "all passed"},
    ]
    for tree in forged:
        verdicts = judge_run(checks, RunResult(tree, {}, None, 1.0))
        assert [v.passed for v in verdicts] == [False, False], tree
        assert "could not be read" in verdicts[0].message
    assert [
        v.passed for v in judge_run(checks, RunResult({"outcomes": [good, good]}, {}, None, 1))
    ] == [True, True]


def test_wire_load_refuses_non_json_and_oversized_data():
    with pytest.raises(wire.WireError):
        wire.load(b"\x80\x04pickle", b"")
    with pytest.raises(wire.WireError):
        wire.load(b"[" * 100_000 + b"]" * 100_000, b"")
    with pytest.raises(wire.WireError):
        wire.load(b"{}", b"not safetensors")


def test_a_failed_run_fails_every_check_naming_the_cause():
    checks = [Check("t1", [Call("f")], lambda outs: None)]
    (verdict,) = judge_run(checks, RunResult(None, {}, "the sandbox's memory limit was hit", 3.0))
    assert verdict == Verdict(
        "t1",
        False,
        "the trusted check of this notebook could not run: the sandbox's memory limit was hit",
        (),
    )


def test_a_crashing_judge_fails_the_check_not_the_run():
    def broken(outs):
        raise KeyError("x")

    good = {"value": 1, "error": None}
    checks = [Check("t1", [Call("f")], broken), Check("t2", [Call("g")], lambda o: "wrong")]
    verdicts = judge_run(checks, RunResult({"outcomes": [good, good]}, {}, None, 1.0))
    assert "internal error in the trusted check" in verdicts[0].message
    assert verdicts[1] == Verdict("t2", False, "wrong", ())


def test_an_assignment_without_checks_is_refused():
    with pytest.raises(NoTrustedChecks, match="write grader/trusted/lessons/no_such_lesson.py"):
        load_lesson("no_such_lesson")
    with pytest.raises(NoTrustedChecks):
        load_lesson("../etc")
