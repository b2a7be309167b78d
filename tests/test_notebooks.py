"""Every source notebook runs top to bottom in a fresh kernel, with no error and nothing on stderr,
both as a student runs it and as nbgrader does (NBGRADER_EXECUTION=autograde).

After the last cell a probe cell moves every slider/dropdown/checkbox the notebook created to its
extremes and back, so the widget callbacks run headlessly. nbclient does not fail when an
`interact` callback raises (the traceback lands in the widget's state), so the executed
notebook's outputs *and* its stored widget state are searched for errors and stderr.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbgrader_helpers import ROOT, source_notebooks

NOTEBOOKS = source_notebooks()
CELL_TIMEOUT = 120  # seconds per cell
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PROBE_MARK = "__course_probe__"

# Runs in the kernel after the notebook: move every live widget to its extremes and back. Each
# move runs the callbacks synchronously; a later move clears what an earlier one showed, so the
# probe records every traceback (ipywidgets reports callback errors through showtraceback) and
# every stderr write as it happens, and fails the cell at the end if there were any.
PROBE = """\
def __course_probe__():
    import sys
    import ipywidgets as w
    from ipywidgets.widgets.widget import _instances

    ip = get_ipython()
    failures, now = [], ["setup"]
    real_showtraceback, real_stderr = ip.showtraceback, sys.stderr

    def showtraceback(exc_tuple=None, *args, **kwargs):
        etype, value, _ = exc_tuple or sys.exc_info()
        failures.append(f"{now[0]}: {etype.__name__}: {value}")
        return real_showtraceback(exc_tuple, *args, **kwargs)

    class Tee:
        def write(self, text):
            if text.strip():
                failures.append(f"{now[0]}: stderr: {text.strip()[:300]}")
            return real_stderr.write(text)

        def __getattr__(self, name):
            return getattr(real_stderr, name)

    def move(widget, attr, values):
        for v in values:
            now[0] = f"{type(widget).__name__}({getattr(widget, 'description', '')!r}).{attr}={v!r}"
            setattr(widget, attr, v)

    moved = 0
    ip.showtraceback, sys.stderr = showtraceback, Tee()
    try:
        for widget in list(_instances.values()):
            if getattr(widget, "disabled", False):
                continue
            if isinstance(widget, w.interactive) and widget.manual:
                now[0] = f"interact_manual({widget.f.__name__})"
                widget.update()
            elif isinstance(widget, w.FloatLogSlider):
                lo, hi = widget.base**widget.min, widget.base**widget.max
                move(widget, "value", [lo, hi, widget.value])
            elif all(hasattr(widget, a) for a in ("min", "max", "value")):
                start, ends = widget.value, (widget.min, widget.max)
                move(widget, "value", [ends, start] if isinstance(start, tuple) else [*ends, start])
            elif isinstance(
                widget, (w.Dropdown, w.RadioButtons, w.ToggleButtons, w.Select, w.SelectionSlider)
            ):
                move(widget, "index", [*range(len(widget.options)), widget.index])
            elif isinstance(widget, (w.Checkbox, w.ToggleButton)):
                move(widget, "value", [not widget.value, widget.value])
            else:
                continue
            moved += 1
    finally:
        ip.showtraceback, sys.stderr = real_showtraceback, real_stderr
    print("__course_probe__ moved", moved)
    if failures:
        raise AssertionError("widget callbacks failed:\\n" + "\\n".join(failures))


__course_probe__()
"""


def _kernel_env(grading: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "NBGRADER_EXECUTION")}
    env.pop("NBGRADER_VALIDATING", None)
    if grading:
        env["NBGRADER_EXECUTION"] = "autograde"
    return env


def _problems(outputs: list, where: str) -> list[str]:
    """Error and stderr outputs as readable lines."""
    found = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "error":
            tb = "\n".join(out.get("traceback", []))[-1500:]
            found.append(f"{where}: {out.get('ename')}: {out.get('evalue')}\n{tb}")
        elif kind == "stream" and out.get("name") == "stderr":
            found.append(f"{where}: stderr: {out.get('text', '')[:1500]}")
        elif "application/vnd.jupyter.stderr" in out.get("data", {}):
            found.append(
                f"{where}: stderr display: {out['data']['application/vnd.jupyter.stderr']}"
            )
    return found


def _widget_problems(nb) -> list[str]:
    """Errors/stderr stored in Output widgets, plus any 'traceback' anywhere in widget state."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    found = []
    for model_id, model in state.items():
        outputs = model.get("state", {}).get("outputs", [])
        found += _problems(outputs, f"widget {model.get('model_name')} {model_id[:8]}")
        if not outputs and '"traceback":' in json.dumps(model.get("state", {})):
            found.append(f"widget {model_id[:8]}: 'traceback' in its state")
    return found


def execute(path: Path, grading: bool):
    """Run ``path`` plus the widget probe in a fresh python3 kernel; returns the notebook."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    client.execute(env=_kernel_env(grading))
    return nb


def _id(path: Path) -> str:
    return path.parent.name


@pytest.mark.slow
@pytest.mark.parametrize("grading", [False, True], ids=["student", "autograde"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_runs_clean(path, grading, record_property):
    start = time.perf_counter()
    try:
        nb = execute(path, grading)
    except CellExecutionError as err:
        if "widget callbacks failed" not in str(err):
            raise  # nbclient's message shows the failing cell and its traceback
        pytest.fail(f"{path.relative_to(ROOT)} (grading={grading}): {err.evalue}", pytrace=False)
    seconds = time.perf_counter() - start
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            where = "probe cell" if PROBE_MARK in cell.source else f"cell {index}"
            problems += _problems(cell.get("outputs", []), where)
    problems += _widget_problems(nb)
    assert not problems, f"{path.relative_to(ROOT)} (grading={grading}):\n" + "\n\n".join(problems)

    probe_out = "".join(
        o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream"
    )
    moved = int(probe_out.split("moved")[-1]) if "moved" in probe_out else 0
    record_property("seconds", round(seconds, 1))
    print(
        f"{path.relative_to(ROOT)} grading={grading}: {seconds:.1f} s (noisy: shared CPUs), "
        f"{moved} widgets exercised"
    )
    assert moved >= 1, (
        f"{path.relative_to(ROOT)}: no slider or other widget was found to exercise; every lesson "
        "needs at least one (issue 3)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, (
        f"{path.relative_to(ROOT)}: cells {dirty} carry outputs or execution counts; clear them "
        "(JupyterLab: Edit > Clear Outputs of All Cells, or `jupyter nbconvert --clear-output "
        "--inplace`) before committing"
    )
    assert "widgets" not in nb.metadata, (
        f"{path.relative_to(ROOT)}: widget state saved in metadata.widgets; clear it before commit"
    )
