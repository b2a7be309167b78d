"""A returned value that cannot go back as plain data fails that call only: an int over Python's
4300-digit limit, a tensor or structure over the caps, an object whose reading raises. The other
calls keep their outcomes (in-process here; the sandbox case is in test_trusted_sandbox.py)."""

from __future__ import annotations

import json
import sys
import threading

import pytest
import torch

from grader.in_sandbox import wire
from grader.trusted.harness import outcomes_in_process
from grader.trusted.spec import Call

SENT_BACK = "the result could not be sent back"


def outcomes(**functions):
    """The outcomes of calling each function (no arguments), in order, through the harness."""
    return outcomes_in_process([Call(name) for name in functions], functions)


def test_an_int_over_the_digit_limit_fails_its_call_only():
    class Big(int):
        pass

    big = 10**5000
    outs = outcomes(
        bare=lambda: big,
        nested=lambda: [1, {"k": (big,)}],
        as_key=lambda: {big: 1},
        subclass=lambda: Big(big),
        negative=lambda: -big,
        fine=lambda: 10**4299,
    )
    for out in outs[:-1]:
        assert out.value is None
        assert out.error == f"{SENT_BACK}: int with more than 4300 digits"
    assert outs[-1].error is None and outs[-1].value == 10**4299


def test_ints_just_around_the_limit_are_decided_exactly():
    limit = wire.int_max_digits()
    assert limit == 4300
    assert wire.check_int(10**limit - 1) == 10**limit - 1  # 4300 digits: fine
    with pytest.raises(wire.Unsendable, match="more than 4300 digits"):
        wire.check_int(10**limit)  # 4301 digits


def test_a_tensor_over_the_cap_fails_its_call_and_its_bytes_stay_behind(monkeypatch):
    monkeypatch.setattr(wire, "MAX_CALL_TENSOR_BYTES", 4000)
    outs = outcomes(
        big=lambda: torch.zeros(1001),  # 4004 bytes
        many=lambda: [torch.zeros(600), torch.zeros(600)],  # 2400 + 2400 bytes
        small=lambda: torch.arange(3.0),
    )
    assert outs[0].error.startswith(f"{SENT_BACK}: tensor of 0 MiB (at most 0 MiB")
    assert outs[1].error.startswith(f"{SENT_BACK}: 0 MiB of tensors (at most 0 MiB")
    assert outs[2].error is None and torch.equal(outs[2].value, torch.arange(3.0))


def test_a_huge_structure_fails_its_call_only():
    text = "x" * (wire.MAX_CALL_JSON_BYTES + 10)
    outs = outcomes(huge=lambda: [text], fine=lambda: "ok")
    assert outs[0].error == f"{SENT_BACK}: 8.0 MiB of values (at most 8 MiB come back)"
    assert outs[1].value == "ok"


def test_the_calls_together_stay_within_what_the_run_can_send(monkeypatch):
    monkeypatch.setattr(wire, "MAX_TENSOR_BYTES", 2**20 + 6000)  # room for 6000 bytes
    outs = outcomes(
        first=lambda: torch.zeros(1000),  # 4000 bytes: fits
        second=lambda: torch.zeros(1000),  # 4000 more: over
        third=lambda: 3,
    )
    assert outs[0].error is None and outs[0].value.shape == (1000,)
    assert (
        outs[1].error == f"{SENT_BACK}: the calls before it already sent back all the room allows"
    )
    assert outs[2].value == 3


def test_a_value_whose_reading_raises_fails_its_call_only():
    broken = torch.nn.Linear(2, 2)
    broken.__dict__["_parameters"] = 5  # dict.items(5) raises while the module is read
    outs = outcomes(broken=lambda: broken, fine=lambda: 1)
    assert outs[0].error.startswith(f"{SENT_BACK}: reading it raised TypeError")
    assert outs[1].value == 1


def test_the_runner_writes_a_record_json_refuses_as_an_error_not_a_crash(tmp_path, monkeypatch):
    """The runner's last resort, as if a record had slipped past make_call's own check."""
    here = str(wire.__file__).rsplit("/", 1)[0]
    names = ("runner", "calls", "wire", "cells")
    fresh = [name for name in names if name not in sys.modules]
    monkeypatch.syspath_prepend(here)
    try:
        import runner

        state = {"done": False, "lock": threading.Lock(), "cells": [], "missing": []}
        state.update(started=0.0, timing={})
        good, bad = {"value": 1, "error": None}, {"value": 10**5000, "error": None}
        runner._write(tmp_path, state, [good, bad], {})
    finally:
        for name in fresh:  # the sandbox's top-level module names stay out of other tests
            sys.modules.pop(name, None)
    tree = json.loads((tmp_path / "result.json").read_text())
    assert tree["outcomes"][0] == good
    assert tree["outcomes"][1]["error"].startswith(f"{SENT_BACK}: ValueError: Exceeds")
