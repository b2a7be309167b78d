# The course's two commands (see README.md):
#   make lab    set up (once) and open the course in JupyterLab
#   make test   set up (once) and run every test: lint, unit, notebooks, nbgrader, browser
# Both are idempotent: the virtual environment is rebuilt only when a requirements file changes.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# nbgrader shells out to `alembic`, which lives in the venv's bin/.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Use the shared copy of the corpus when there is one (developer machines, CI); otherwise
# course_utils downloads it once into data/ and checks its sha1.
ifneq ($(wildcard ../shared/data/timemachine.txt),)
export COURSE_DATA_DIR ?= $(abspath ../shared/data)
endif
PORT ?= 8888
PYTEST_ARGS ?=

.PHONY: lab instructor setup setup-dev test test-fast catalogue lint format release student-edition benchmark clean help

help:
	@echo "make lab        set up and open the course in JupyterLab on lesson 1"
	@echo "make instructor set up and open the formgrader (course root: grade, release, export)"
	@echo "make test       set up and run every test (what CI runs)"
	@echo "make test-fast  lint, the quick tests and lesson 1 (a few minutes, for the edit-test loop)"
	@echo "make catalogue  grade every case of the submission catalogue (make test: a sample)"
	@echo "make release    regenerate release/ from source/ with nbgrader"
	@echo "make student-edition EDITION=DIR [EDITION_ARGS='--force --binder-repo OWNER/REPO-student']"
	@echo "                write the student-facing repository (no source/, grader/, tests/)"
	@echo "make benchmark  measure lessons, widgets, training and grading (takes ~15 min)"
	@echo "make format     ruff format + fix (Python files and notebooks)"

setup: $(VENV)/.course-installed

$(VENV)/.course-installed: requirements.txt requirements-grading.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is needed: sudo apt-get install python3 python3-venv"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "venv failed: sudo apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-grading.txt
	@# d2l 1.0.3 pins numpy==1.23.5 and friends, which break everything above: no dependencies.
	$(BIN)/python -m pip install --quiet --no-deps d2l==1.0.3
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup-dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.course-installed scripts/ensure_bwrap.sh scripts/ensure_postgres.sh \
		scripts/ensure_chromium.sh scripts/apt_install.sh
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_bwrap.sh
	bash scripts/ensure_postgres.sh
	touch $@

# The server's root is the course root, so nbgrader finds nbgrader_config.py and the formgrader
# works; students still land on lesson 1. Root (a container, a CI box) needs --allow-root.
# LAB_ARGS: more `jupyter lab` options (the browser test passes its token and settings folders).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=
LAB := $(BIN)/jupyter lab --port $(PORT) --ServerApp.root_dir=$(CURDIR) $(ALLOW_ROOT) $(LAB_ARGS)

lab: setup
	$(LAB) --LabApp.default_url=/lab/tree/release/lesson1_hidden_state/hidden_state.ipynb

instructor: setup
	$(LAB) --LabApp.default_url=/formgrader

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Set up, lint, every test on pytest-xdist workers (tests/xdist_plan.py), the benchmark smoke
# run; prints the 25 slowest tests and each phase's time (scripts/test_all.sh).
test:
	MAKE="$(MAKE)" bash scripts/test_all.sh $(PYTEST_ARGS)

# The edit-test loop (a few minutes): lint, the tests not marked slow or browser, and lesson 1
# run top to bottom in a fresh kernel. Not a substitute for `make test`.
test-fast: setup-dev lint
	$(BIN)/python -m pytest -n 2 -m "not slow and not browser" --durations=10 $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/test_notebooks.py -k "lesson1 and student" $(PYTEST_ARGS)

release: setup
	@for a in source/*/; do a=$$(basename $$a); \
	  echo "generate_assignment $$a"; \
	  $(BIN)/nbgrader generate_assignment $$a --force --log-level=WARN || exit 1; done

# The repository students get (release/, course_utils, binder/, a student README): see
# grader/student_edition.py. EDITION is usually a clone of the edition's own repository.
EDITION ?= ../rnn-course-student
EDITION_ARGS ?=
student-edition: setup
	$(BIN)/python -m grader.student_edition $(EDITION) $(EDITION_ARGS)

# Every case of the catalogue (make test grades the adversarial ones and a quarter of the others).
catalogue: setup-dev
	CATALOGUE_SCOPE=full $(BIN)/python -m pytest tests/test_catalogue.py $(PYTEST_ARGS)

benchmark: setup-dev
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage artifacts benchmarks/results
