"""The files the student edition gets written for it (see ``grader/student_edition.py``).

Text only, no timestamps: the same lessons give the same bytes. Nothing here may mention the
instructor's side (``source/``, hidden tests, grading commands): the student README, Makefile,
pyproject and nbgrader config are all a student reads.
"""

from __future__ import annotations

BINDER_URL = "https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/{notebook}"
BADGE = "[![Binder](https://mybinder.org/badge_logo.svg)]({url})"
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def readme(lessons, binder_repo: str, branch: str) -> str:
    """The student README: what the course is, the lessons, how to start here and on Binder."""
    first = lessons[0].notebook
    badge = BADGE.format(url=BINDER_URL.format(repo=binder_repo, branch=branch, notebook=first))
    rows = "\n".join(
        f"| {n}. [{lesson.title}]({lesson.notebook}) | "
        + ", ".join(f"`{name}`" for name in lesson.exercises)
        + " |"
        for n, lesson in enumerate(lessons, 1)
    )
    count = NUMBERS.get(len(lessons), str(len(lessons)))
    return f"""# Recurrent neural networks, hands on

A short course on recurrent neural networks (循环神经网络) in {count} Jupyter notebooks.
You read, run, move sliders, and write the key functions yourself; the test cell under each
exercise tells you at once whether your function is right and, when it is not, what the likely
mistake is. The course follows the recurrent-network chapter of *Dive into Deep Learning*
(d2l-en 1.0, sections 9.1-9.6; 《动手学深度学习》第8章) and trains a character-level language model
(语言模型) on H. G. Wells' *The Time Machine*. Everything runs on a laptop CPU.

| lesson | you write |
| --- | --- |
{rows}

## Start on Binder (nothing to install)

{badge}

The link opens lesson 1 in JupyterLab; the other lessons are in `release/`. Binder's machines are
small (1 CPU, 1-2 GB of memory): keep one lesson open at a time (closing a notebook's tab shuts
its kernel down). Binder forgets your work when the session ends: download your notebook
(File > Download) before you leave.

## Start on your computer

On Debian or Ubuntu with Python 3.11 (3.12 works too), `git` and `make`
(`sudo apt-get install -y python3-venv make git`), in a clone of this repository:

```bash
make lab
```

The first run creates `.venv/`, installs the pinned packages (`requirements.txt`; torch is large,
allow a few minutes) and opens JupyterLab on lesson 1. Later runs start at once. The book's text
is downloaded once (and its sha1 checked) into `data/`; offline, put `timemachine.txt` there
yourself or point the `COURSE_DATA_DIR` environment variable at a folder that holds it.

## Working on a lesson

- Each exercise cell says `YOUR CODE HERE`: replace `raise NotImplementedError()` with your code
  and run the test cell below it.
- The **Validate** button in the notebook's toolbar runs the whole notebook from the top in a
  fresh kernel, the way it runs when it is graded, and lists every test that fails.
- Hand in the notebook itself (the `.ipynb` file), as your instructor tells you. Your instructor
  grades it again with tests of their own, so make your functions right, not just the visible
  tests green.

## What is here

| path | what |
| --- | --- |
| `release/` | the lesson notebooks, one folder per lesson |
| `course_utils/` | the library: data, models, plots, sliders ([map](course_utils/README.md)) |
| `binder/` | the Binder environment (CPU-only torch, one thread) |
| `requirements.txt` | the pinned packages `make lab` installs |
"""


def makefile(first_notebook: str) -> str:
    """The student Makefile: ``make lab`` sets up a venv once and opens JupyterLab."""
    t = "\t"
    return f"""# make lab    set up (once) and open the course in JupyterLab
# make clean  remove the virtual environment
# The virtual environment is rebuilt only when requirements.txt or pyproject.toml changes.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
PORT ?= 8888
NOTEBOOK ?= {first_notebook}
APT := sudo apt-get install python3 python3-venv

.PHONY: help lab setup clean

help:
{t}@echo "make lab     set up (once) and open the course in JupyterLab"
{t}@echo "make clean   remove the virtual environment (.venv/)"

setup: $(VENV)/.course-installed

$(VENV)/.course-installed: requirements.txt pyproject.toml
{t}@test -n "$(PYTHON)" || {{ echo "Python 3.11 or 3.12 is needed: $(APT)"; exit 1; }}
{t}@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || {{ echo "venv failed: $(APT)"; exit 1; }}
{t}$(BIN)/python -m pip install --quiet --upgrade pip
{t}$(BIN)/python -m pip install --quiet -r requirements.txt
{t}@# d2l 1.0.3 pins numpy==1.23.5 and friends, which break everything above: no dependencies.
{t}$(BIN)/python -m pip install --quiet --no-deps d2l==1.0.3
{t}$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
{t}touch $@

# Started here, so the Validate button finds nbgrader_config.py; root (a container) needs
# --allow-root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: setup
{t}$(BIN)/jupyter lab --port $(PORT) --ServerApp.root_dir=$(CURDIR) $(ALLOW_ROOT) \
{t}  --LabApp.default_url=/lab/tree/$(NOTEBOOK)

clean:
{t}rm -rf $(VENV)
"""


def pyproject(project: dict) -> str:
    """A pyproject that installs ``course_utils`` only (name and version from the project's)."""
    return f"""[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{project["name"]}"
version = "{project["version"]}"
description = "Data, models, training, plots and widgets for the RNN course notebooks."
requires-python = "{project.get("requires-python", ">=3.11")}"

[tool.setuptools.packages.find]
include = ["course_utils*"]
"""


# The Validate button (nbgrader's lab extension) reads nbgrader_config.py from the folder
# JupyterLab started in. Without one a cell gets nbgrader's default 30 s; a student's laptop or a
# Binder pod (1 CPU) may need more. No sandbox: Validate runs the student's own code on the
# student's own machine, and Binder pods have no user namespaces for bubblewrap.
NBGRADER_CONFIG = '''"""nbgrader settings for the Validate button: time limits only."""

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.course_id = "rnn-course"
# Per-cell limit while validating; the lessons shorten their training while nbgrader runs them.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# A kernel that imports torch takes a few seconds to start on a small machine.
c.Execute.startup_timeout = 120
'''

GITIGNORE = """.venv/
__pycache__/
*.pyc
.ipynb_checkpoints/
# the downloaded book and trained checkpoints
data/
"""
