"""Callback latency of every slider in every lesson, swept over its whole range.

    python benchmarks/bench_widgets.py            # all lessons -> results/widgets.md
    python benchmarks/bench_widgets.py --quick    # smoke run: grading mode, 5 values a slider

Each lesson's instructor notebook runs top to bottom in a fresh kernel (as a student's "Run all"),
then, in that same kernel, every live slider widget (IntSlider, FloatSlider, FloatLogSlider,
SelectionSlider) is moved through its range, one value at a time, and the time until its observers
(the `interact` callback: compute + draw) return is recorded. That is the latency a student feels
in JupyterLab minus the websocket round trip. Any exception a callback raises, or any traceback
left in an Output widget, is reported as an error.
Target (issue 6): median <= 100 ms and max <= 250 ms per slider.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_lessons import LESSONS, RESULTS, SHARED_DATA  # noqa: E402

TARGET_MEDIAN_MS = 100.0
TARGET_MAX_MS = 250.0

# Runs inside the lesson's kernel after all cells: sweep every slider, print one JSON line.
SWEEP = r"""
import json as _json, time as _time
import ipywidgets as _W
from ipywidgets.widgets.widget import _instances as _live

def _values(w, n):
    if isinstance(w, _W.SelectionSlider):
        vals = list(w.options)
        vals = [v[1] if isinstance(v, tuple) else v for v in vals]
    elif isinstance(w, _W.FloatLogSlider):
        vals = [w.base ** (w.min + (w.max - w.min) * i / (n - 1)) for i in range(n)]
    elif isinstance(w, _W.IntSlider):
        span = range(w.min, w.max + 1, w.step or 1)
        step = max(1, len(span) // n)
        vals = list(span[::step]) + [w.max]
    else:
        vals = [w.min + (w.max - w.min) * i / (n - 1) for i in range(n)]
    if len(vals) > n:
        vals = [vals[round(i * (len(vals) - 1) / (n - 1))] for i in range(n)]
    return vals

def _errors_in_outputs():
    bad = []
    for w in list(_live.values()):
        if isinstance(w, _W.Output):
            for o in w.outputs:
                if o.get("output_type") == "error" or o.get("name") == "stderr":
                    bad.append(str(o.get("ename") or o.get("text", ""))[:200])
    return bad

_report = []
_kinds = (_W.IntSlider, _W.FloatSlider, _W.FloatLogSlider, _W.SelectionSlider)
for _w in [w for w in list(_live.values()) if isinstance(w, _kinds)]:
    _orig, _times, _err = _w.value, [], None
    for _v in _values(_w, __N__):
        if _v == _w.value:  # setting the same value runs no callback: step away first
            continue
        _t = _time.perf_counter()
        try:
            _w.value = _v
        except Exception as e:  # a callback that raises
            _err = f"{type(e).__name__}: {e}"
            break
        _times.append(1000 * (_time.perf_counter() - _t))
    try:
        _w.value = _orig
    except Exception:
        pass
    _report.append({"slider": _w.description or type(_w).__name__, "ms": _times, "error": _err})
print("SWEEP" + _json.dumps({"sliders": _report, "output_errors": _errors_in_outputs()}))
"""


def sweep_lesson(path: Path, values_per_slider: int, grading: bool) -> dict:
    """Run ``path`` in a fresh kernel, then sweep its sliders; returns the parsed report."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    if grading:
        env["NBGRADER_EXECUTION"] = "autograde"
    else:
        env.pop("NBGRADER_EXECUTION", None)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    sweep_cell = nbformat.v4.new_code_cell(SWEEP.replace("__N__", str(values_per_slider)))
    nb.cells.append(sweep_cell)
    client.execute(env=env, cwd=str(path.parent))
    lines = [o.get("text", "") for o in sweep_cell.outputs if o.get("name") == "stdout"]
    lines += [f"ERROR {o['ename']}: {o['evalue']}" for o in sweep_cell.outputs if "ename" in o]
    text = "".join(lines)
    if "SWEEP" not in text:
        raise RuntimeError(f"{path.name}: the slider sweep printed no report: {text[-500:]}")
    return json.loads(text.split("SWEEP", 1)[1].strip().splitlines()[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="grading mode, 5 values a slider")
    parser.add_argument("--values", type=int, default=25, help="values per slider (default 25)")
    parser.add_argument("--lessons", nargs="*", default=list(LESSONS))
    args = parser.parse_args(argv)
    if "COURSE_DATA_DIR" not in os.environ and (SHARED_DATA / "timemachine.txt").exists():
        os.environ["COURSE_DATA_DIR"] = str(SHARED_DATA)
    n = 5 if args.quick else args.values

    rows, problems = [], []
    for lesson in args.lessons:
        path = ROOT / "source" / lesson / LESSONS[lesson]
        if not path.exists():
            problems.append(f"{lesson}: notebook missing")
            continue
        report = sweep_lesson(path, n, grading=args.quick)
        if not report["sliders"]:
            problems.append(f"{lesson}: no slider found")
        for s in report["sliders"]:
            ms = s["ms"]
            med = statistics.median(ms) if ms else float("nan")
            worst = max(ms) if ms else float("nan")
            ok = s["error"] is None and med <= TARGET_MEDIAN_MS and worst <= TARGET_MAX_MS
            rows.append((lesson, s["slider"], len(ms), med, worst, "ok" if ok else "MISSED"))
            if s["error"]:
                problems.append(f"{lesson}/{s['slider']}: callback raised {s['error']}")
        for e in report["output_errors"]:
            problems.append(f"{lesson}: error or stderr inside a widget's output: {e}")

    header = "| lesson | slider | moves | median ms | max ms | target |\n|---|---|---|---|---|---|"
    body = "\n".join(f"| {a} | {b} | {c} | {d:.1f} | {e:.1f} | {f} |" for a, b, c, d, e, f in rows)
    table = f"{header}\n{body}"
    print(table)
    for p in problems:
        print("PROBLEM:", p)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "widgets-quick.md" if args.quick else "widgets.md"
    (RESULTS / name).write_text(
        f"# Slider callback latency (target: median <= {TARGET_MEDIAN_MS:.0f} ms, "
        f"max <= {TARGET_MAX_MS:.0f} ms)\n\n{table}\n"
        + "".join(f"\n- problem: {p}" for p in problems)
        + "\n"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
