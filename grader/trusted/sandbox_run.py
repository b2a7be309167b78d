"""Host side of one trusted run: the notebook cells to send, the runner's process, its results.

The runner (``grader/in_sandbox/runner.py``) runs in a fresh bubblewrap sandbox through
``grader.sandbox.run_sandboxed``, with ``grader/in_sandbox`` bound read-only and the scratch
folder as its only writable folder. Unsandboxed only when the caller passes ``unsafe=True`` or
the instructor set ``RNN_COURSE_UNSAFE_NO_SANDBOX=1`` (``grader.sandbox.kernel``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.in_sandbox import wire

IN_SANDBOX = Path(__file__).resolve().parent.parent / "in_sandbox"
RUNNER = IN_SANDBOX / "runner.py"


def code_cells(notebook: dict) -> list[dict]:
    """The code cells of a notebook read as JSON (nbformat 4)."""
    cells = notebook.get("cells") if type(notebook) is dict else None
    if type(cells) is not list:
        raise ValueError("not a Jupyter notebook (no list of cells)")
    return [c for c in cells if type(c) is dict and c.get("cell_type") == "code"]


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    if type(source) is list:
        source = "".join(s for s in source if type(s) is str)
    return source if type(source) is str else ""


def setup_sources(source_notebook: Path, count: int) -> list[str]:
    """The first ``count`` code cells of the instructor's notebook (trusted text)."""
    notebook = json.loads(Path(source_notebook).read_text())
    cells = code_cells(notebook)
    if count > len(cells):
        raise ValueError(f"{source_notebook}: SETUP_CELLS={count} but it has {len(cells)} cells")
    return [cell_source(c) for c in cells[:count]]


def solution_sources(submission: dict) -> list[str]:
    """The submission's own solution cells (nbgrader ``solution: true``), test cells left out."""
    out = []
    for cell in code_cells(submission):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if type(meta) is dict and meta.get("solution") is True:
            out.append(cell_source(cell))
    return out


@dataclass
class RunResult:
    """What came back: the decoded result tree and tensors, or the reason there is none."""

    tree: dict | None
    tensors: dict
    failure: str | None  # why every check of this run fails ("the sandbox's memory limit...")
    seconds: float
    output_tail: str = ""


def write_request(workdir: Path, request: dict, tensors: dict) -> None:
    json_bytes, tensor_bytes = wire.dump(request, tensors)
    (workdir / "request.safetensors").write_bytes(tensor_bytes)
    (workdir / "request.json").write_bytes(json_bytes)


def run_runner(workdir: Path, timeout: float, unsafe: bool = False) -> RunResult:
    """Run the runner on ``workdir`` (sandboxed unless ``unsafe``) and read its result safely."""
    import time

    argv = [sys.executable, str(RUNNER), str(workdir)]
    start = time.monotonic()
    if unsafe:
        returncode, limit, stderr = _run_unsandboxed(argv, workdir, timeout)
    else:
        from grader.sandbox import run_sandboxed

        result = run_sandboxed(argv, workdir=workdir, readonly=[IN_SANDBOX], timeout=timeout)
        returncode, limit, stderr = result.returncode, result.limit, result.stderr
    seconds = time.monotonic() - start
    tail = _tail(workdir / "output.log") or stderr[-2000:]
    if limit is not None:
        return RunResult(None, {}, f"the sandbox's {limit} limit was hit", seconds, tail)
    json_path, tensor_path = workdir / "result.json", workdir / "result.safetensors"
    if returncode != 0 or not json_path.is_file() or not tensor_path.is_file():
        why = f"the checking process ended with status {returncode} before writing its results"
        return RunResult(None, {}, why, seconds, tail)
    try:
        if json_path.is_symlink() or tensor_path.is_symlink():
            raise wire.WireError("result files are links")
        for path in (json_path, tensor_path):
            if path.stat().st_size > wire.MAX_TENSOR_BYTES:
                raise wire.WireError("result files too large")
        tree, tensors = wire.load(json_path.read_bytes(), tensor_path.read_bytes())
        if type(tree) is not dict:
            raise wire.WireError("result is not a record")
    except (OSError, wire.WireError) as err:
        return RunResult(None, {}, f"its results could not be read ({err})", seconds, tail)
    return RunResult(tree, tensors, None, seconds, tail)


def _run_unsandboxed(argv, workdir: Path, timeout: float):
    """The unsafe option: the runner as a plain process (its whole process group ends on
    timeout)."""
    env = dict(os.environ, HOME=str(workdir), MPLBACKEND="Agg")
    env.pop("JPY_PARENT_PID", None)
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return -9, "wall time", ""
    return proc.returncode, None, stderr.decode(errors="replace")[-4000:]


def _tail(path: Path, size: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
