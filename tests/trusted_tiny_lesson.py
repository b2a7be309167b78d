"""A tiny lesson for the trusted harness's own tests: a real check module and a real notebook.

``install(tmp_path, monkeypatch)`` writes ``tiny_lesson.py`` into a folder that joins
``grader.trusted.lessons.__path__`` (so ``load_lesson("tiny_lesson")`` imports it like any
lesson) and ``source/tiny_lesson/tiny.ipynb``; ``notebook(answers)`` is that notebook with some
answer cells replaced, as a student would have written them.

Exercises: ``double(x)`` (2x), ``mean_of(xs)`` (with ``statistics.fmean`` DISABLEd),
``make_doubler(n)`` (an ``nn.Linear(n, n, bias=False)`` whose weight is 2 I), ``spin(k)`` (k + 1).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

LESSON = '''
"""The tiny lesson's trusted checks (tests only)."""
import torch

from grader.trusted.spec import Call, Check, ModuleData

NOTEBOOK = "tiny.ipynb"
SETUP_CELLS = 1
DISABLE = (("statistics.fmean", "mean_of"),)


def checks(seed):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(5, 9, (1,), generator=gen))
    x = torch.randn(n, generator=gen, dtype=torch.float64)
    xs = [float(v) for v in torch.randn(n, generator=gen)]
    k = int(torch.randint(10, 1000, (1,), generator=gen))

    def judge_double(outs):
        (o,) = outs
        if o.error:
            return f"double raised {o.error}"
        if type(o.value) is not torch.Tensor or o.value.shape != x.shape:
            return f"double: expected a tensor of shape {tuple(x.shape)}"
        if not torch.allclose(o.value, 2 * x):
            return "double: wrong values; did you return x + x for every entry?"
        return None

    def judge_mean(outs):
        (o,) = outs
        if o.error:
            return f"mean_of raised {o.error}"
        if type(o.value) is not float or abs(o.value - sum(xs) / len(xs)) > 1e-9:
            return "mean_of: wrong value; divide the sum by len(xs)"
        return None

    def judge_doubler(outs):
        (o,) = outs
        if o.error:
            return f"make_doubler raised {o.error}"
        m = o.value
        if type(m) is not ModuleData or m.class_name != "torch.nn.modules.linear.Linear":
            return f"make_doubler: expected an nn.Linear, got {m!r:.80}"
        if set(m.state_dict) != {"weight"}:
            return "make_doubler: use bias=False"
        if not torch.equal(m.state_dict["weight"], 2 * torch.eye(n)):
            return "make_doubler: the weight should be 2 * torch.eye(n)"
        return None

    def judge_spin(outs):
        (o,) = outs
        if o.error:
            return f"spin raised {o.error}"
        return None if o.value == k + 1 else "spin: return k + 1"

    return [
        Check("test_double", [Call("double", (x,))], judge_double),
        Check("test_mean", [Call("mean_of", (xs,))], judge_mean),
        Check("test_doubler", [Call("make_doubler", (n,))], judge_doubler),
        Check("test_spin", [Call("spin", (k,), timeout=3.0)], judge_spin),
    ]
'''

ANSWERS = {
    "double_answer": "def double(x):\n    return 2 * x",
    "mean_answer": "def mean_of(xs):\n    return sum(xs) / len(xs)",
    "doubler_answer": (
        "def make_doubler(n):\n    net = torch.nn.Linear(n, n, bias=False)\n"
        "    with torch.no_grad():\n        net.weight.copy_(2 * torch.eye(n))\n    return net"
    ),
    "spin_answer": "def spin(k):\n    return k + 1",
}

TESTS = {
    "test_double": (
        "assert torch.equal(double(torch.ones(2)), torch.full((2,), 2.0))\n"
        "### BEGIN HIDDEN TESTS\nassert double(torch.tensor([3.0]))[0] == 6.0  # HIDDEN-DOUBLE\n"
        "### END HIDDEN TESTS"
    ),
    "test_mean": "assert mean_of([1.0, 3.0]) == 2.0",
    "test_doubler": "assert torch.equal(make_doubler(2).weight, 2 * torch.eye(2))",
    "test_spin": "assert spin(1) == 2",
}


def _meta(grade_id: str, *, solution: bool, grade: bool, points: int = 0) -> dict:
    meta = {
        "grade": grade,
        "solution": solution,
        "locked": not solution,
        "grade_id": grade_id,
        "schema_version": 3,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def notebook(answers: dict[str, str] | None = None, *, delimiters: bool = False):
    """The tiny notebook; ``answers`` replaces answer cells (grade_id -> code). With
    ``delimiters`` the answers sit between nbgrader's solution delimiters (the source/ form)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    setup = nbformat.v4.new_code_cell("import statistics\nimport torch")
    setup.metadata = _meta("setup", solution=False, grade=False)
    nb.cells.append(setup)
    for (answer_id, code), test_id in zip(ANSWERS.items(), TESTS, strict=True):
        code = (answers or {}).get(answer_id, code)
        if delimiters:
            head, _, body = code.partition("\n")
            code = f"{head}\n    ### BEGIN SOLUTION\n{body}\n    ### END SOLUTION"
        nb.cells.append(nbformat.v4.new_markdown_cell(f"Write `{answer_id}`."))
        cell = nbformat.v4.new_code_cell(code)
        cell.metadata = _meta(answer_id, solution=True, grade=False)
        nb.cells.append(cell)
        test = nbformat.v4.new_code_cell(TESTS[test_id])
        test.metadata = _meta(test_id, solution=False, grade=True, points=1)
        nb.cells.append(test)
    return nb


def install(tmp_path: Path, monkeypatch, source: Path | None = None) -> Path:
    """Write the lesson module (importable as grader.trusted.lessons.tiny_lesson) and
    ``<source>/tiny_lesson/tiny.ipynb`` (default ``tmp_path/source``); returns ``source``."""
    import grader.trusted.lessons as lessons

    folder = Path(tmp_path) / "extra_lessons"
    folder.mkdir()
    (folder / "tiny_lesson.py").write_text(LESSON)
    monkeypatch.setattr(lessons, "__path__", [*lessons.__path__, str(folder)])
    source = Path(source or Path(tmp_path) / "source")
    (source / "tiny_lesson").mkdir(parents=True)
    nbformat.write(notebook(delimiters=True), source / "tiny_lesson" / "tiny.ipynb")
    monkeypatch.delitem(
        __import__("sys").modules, "grader.trusted.lessons.tiny_lesson", raising=False
    )
    return source


def write(path: Path, answers: dict[str, str]) -> Path:
    nbformat.write(notebook(answers), path)
    return path


def fill(release_notebook: Path, answers: dict[str, str], dest: Path) -> Path:
    """A student's copy of the released notebook with the given answers written in."""
    nb = nbformat.read(release_notebook, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest
