"""Runs inside the sandbox: the submission's cells, then the trusted check's calls.

    python grader/in_sandbox/runner.py WORKDIR

Reads ``WORKDIR/request.json`` + ``request.safetensors`` (written by
``grader.trusted.harness``), then, in this order:

1. disables the DISABLE callables (``cells.disable``), before any student code runs;
2. runs the setup cells (trusted text from ``source/``), then the submission's solution cells,
   in an IPython ``InteractiveShell`` (magics work), each within the cell limit; a failing cell
   is recorded and the later ones still run;
3. makes the calls (``calls.make_calls``) on the shell's globals;
4. writes ``WORKDIR/result.safetensors`` then ``result.json`` (JSON + safetensors, no pickle)
   and ends the process at once (no atexit handler or thread of the submission runs after).

A watchdog thread ends a cell or call that ignores its time limit (a loop that swallows every
exception): it writes the results so far, that cell or call marked "Timeout", and exits.
Everything printed goes to ``WORKDIR/output.log``. This folder holds no reference or answer.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
GRACE = 5.0  # seconds past a limit before the watchdog ends the process


def main(workdir: Path) -> int:
    wall_start, clock = time.time(), time.monotonic()
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ["IPYTHONDIR"] = str(workdir / ".ipython")
    import calls
    import cells
    import wire

    request, tensors = wire.load(
        (workdir / "request.json").read_bytes(), (workdir / "request.safetensors").read_bytes()
    )
    for name in ("request.json", "request.safetensors"):
        (workdir / name).unlink()
    _redirect_output(workdir / "output.log")
    if sys.path and os.path.abspath(sys.path[0]) == HERE:
        del sys.path[0]  # student code does not import from this folder by accident
    state = {"cells": [], "progress": [], "done": False, "lock": threading.Lock()}
    timing = state["timing"] = {"start": round(wall_start - float(request.get("sent_at", 0)), 3)}
    trusted = calls.capture_trusted()
    disabled = cells.disable(request.get("disable", []))
    state["missing"] = disabled.missing

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    state["started"] = time.monotonic()
    timing["imports"] = round(state["started"] - clock, 3)
    threading.Thread(target=_watchdog, args=(workdir, request, state), daemon=True).start()

    limit = float(request.get("cell_timeout", 60))
    cells.run_cells(shell, request.get("setup_cells", []), "setup", limit, state["cells"])
    disabled.restore_stubs()
    timing["setup_cells"] = round(time.monotonic() - state["started"], 3)
    cells.run_cells(shell, request.get("solution_cells", []), "solution", limit, state["cells"])
    state["phase"] = "calls"
    calls_start = time.monotonic()
    timing["solution_cells"] = round(calls_start - state["started"] - timing["setup_cells"], 3)
    out_tensors: dict = {}
    state["out_tensors"] = out_tensors
    records = calls.make_calls(
        request,
        tensors,
        shell.user_ns,
        trusted,
        state["progress"],
        out_tensors,
        before_call=disabled.restore_stubs,
    )
    timing["calls"] = round(time.monotonic() - calls_start, 3)
    _write(workdir, state, records, out_tensors)
    os._exit(0)


def _redirect_output(path: Path) -> None:
    """Send fd 1 and 2 (and Python's streams) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _write(workdir: Path, state: dict, records: list, out_tensors: dict) -> None:
    """result.safetensors, then result.json (the host reads the JSON last-written file)."""
    import wire

    with state["lock"]:
        if state["done"]:
            return
        state["done"] = True
        cell_log = [
            {k: e[k] for k in ("kind", "index", "error", "seconds")} for e in state["cells"]
        ]
        tree = {
            "outcomes": records,
            "cells": cell_log,
            "missing_disabled": state["missing"],
            "seconds": round(time.monotonic() - state["started"], 3),
            "timing": state["timing"],
        }
        try:
            json_bytes, tensor_bytes = wire.dump(tree, out_tensors)
        except (ValueError, TypeError, RecursionError) as err:  # make_call checks each record:
            # this is a last resort, so that one bad record never costs the other calls
            tree["outcomes"] = [_sendable(record, err) for record in records]
            json_bytes, tensor_bytes = wire.dump(tree, out_tensors)
        (workdir / "result.safetensors").write_bytes(tensor_bytes)
        tmp = workdir / "result.json.tmp"
        tmp.write_bytes(json_bytes)
        os.replace(tmp, workdir / "result.json")


def _sendable(record, err: BaseException):
    """``record`` when it can be written as JSON, else an error record naming ``err``."""
    import json

    import calls

    try:
        json.dumps(record, allow_nan=False)
        return record
    except (ValueError, TypeError, RecursionError):
        reason = f"{type(err).__name__}: {err}"[:300]
        return calls.empty_record(f"the result could not be sent back: {reason}")


def _watchdog(workdir: Path, request: dict, state: dict) -> None:
    """End a cell or call that ran ``GRACE`` seconds past its limit: results so far, the stuck
    one as a Timeout, the calls not made as not run."""
    import calls

    calls_list = request.get("calls", [])
    while True:
        time.sleep(0.5)
        now = time.monotonic()
        stuck = None
        if state.get("phase") != "calls" and state["cells"]:
            entry = state["cells"][-1]
            if entry["seconds"] is None and now > entry["started"] + entry["limit"] + GRACE:
                stuck = f"{entry['kind']} cell {entry['index'] + 1} never finished"
                entry["error"] = f"Timeout: {stuck} (past its {entry['limit']:g} s limit)"
                entry["seconds"] = round(now - entry["started"], 3)
        elif state.get("phase") == "calls":
            last = state.setdefault("call_started", (len(state["progress"]), now))
            if last[0] != len(state["progress"]):
                state["call_started"] = (len(state["progress"]), now)
            else:
                index = _next_call(calls_list, state["progress"])
                limit = float(calls_list[index].get("timeout", 20)) if index is not None else 20
                if index is not None and now > last[1] + limit + GRACE:
                    stuck = f"{calls_list[index]['fn']} never returned"
        if stuck is None:
            continue
        records = [None] * len(calls_list)
        for index, record in list(state["progress"]):
            records[index] = record
        for index, record in enumerate(records):
            if record is None:
                records[index] = calls.empty_record(f"Timeout: not run ({stuck})")
        try:
            _write(workdir, state, records, dict(state.get("out_tensors", {})))
        finally:
            os._exit(0)


def _next_call(calls_list: list, progress: list):
    done = {index for index, _ in progress}
    order = [i for i, c in enumerate(calls_list) if not c.get("swap")]
    order += [i for i, c in enumerate(calls_list) if c.get("swap")]
    return next((i for i in order if i not in done), None)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
