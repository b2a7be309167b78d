"""The Binder configuration (binder/), checked without Docker.

`repo2docker --no-build` prints the Dockerfile mybinder.org would build; it must install
binder/requirements.txt, run binder/postBuild and use binder/start. The Binder pins must be the
project's pins (torch and torchvision as the +cpu wheels), so students on Binder run exactly what
the tests here ran.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
LAB_SCHEMAS = Path(sys.prefix) / "share" / "jupyter"


def read_pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line of a requirements file."""
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[A-Za-z0-9_,.\-]+\])?\s*==\s*([^\s;]+)", line)
        assert match, f"{path.name}: '{raw}' is not an exact pin 'name==version'"
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        assert name not in pins, f"{path.name}: {name} is pinned twice"
        pins[name] = match.group(2)
    return pins


def code_lines(path: Path) -> list[str]:
    """The lines of a shell script that are neither blank nor comments (shebang included)."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [ln for ln in lines if ln and (not ln.startswith("#") or ln.startswith("#!"))]


@pytest.fixture(scope="module")
def dockerfile(tmp_path_factory) -> str:
    """The Dockerfile repo2docker generates for a copy of the repository (no Docker needed)."""
    copy = tmp_path_factory.mktemp("r2d") / "repo"
    copy.mkdir()
    shutil.copytree(BINDER, copy / "binder")
    for name in ("requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, copy / name)
    result = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--no-run",
         "--user-id", "1000", "--user-name", "jovyan", str(copy)],
        capture_output=True, text=True, timeout=300, cwd=copy,
    )  # fmt: skip
    assert result.returncode == 0, f"repo2docker --no-build failed:\n{result.stderr[-3000:]}"
    assert "FROM " in result.stdout, f"no Dockerfile printed:\n{result.stdout[:2000]}"
    # repo2docker logs the Python it chose on stderr; the Dockerfile only names its lock file
    return result.stdout + "\n# repo2docker log:\n" + result.stderr


def test_repo2docker_installs_binder_requirements(dockerfile):
    assert re.search(r'pip install .*-r "?binder/requirements\.txt"?', dockerfile), (
        "the generated build does not install binder/requirements.txt"
    )


def test_repo2docker_runs_postbuild_and_start(dockerfile):
    assert re.search(r"^RUN \./binder/postBuild\s*$", dockerfile, re.M), (
        "the generated build does not run binder/postBuild"
    )
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile, (
        "the generated image does not use binder/start as its entrypoint"
    )


def test_repo2docker_uses_python_311(dockerfile):
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert "environment for python=3.11" in dockerfile, (
        "repo2docker did not pick Python 3.11 from binder/runtime.txt"
    )


def test_binder_pins_match_project_pins():
    project = read_pins(ROOT / "requirements.txt")
    binder = read_pins(BINDER / "requirements.txt")
    binder_public = {name: version.split("+", 1)[0] for name, version in binder.items()}
    mismatched = {
        name: (version, project.get(name))
        for name, version in binder_public.items()
        if project.get(name) != version
    }
    assert not mismatched, (
        f"binder/requirements.txt pins differ from requirements.txt (binder, project): {mismatched}"
    )
    missing = sorted(set(project) - set(binder))
    assert not missing, f"pinned in requirements.txt but not in binder/requirements.txt: {missing}"


def test_binder_uses_cpu_torch_wheels():
    text = (BINDER / "requirements.txt").read_text()
    assert re.search(rf"^--extra-index-url\s+{re.escape(CPU_INDEX)}\s*$", text, re.M), (
        f"binder/requirements.txt needs the line '--extra-index-url {CPU_INDEX}'"
    )
    binder = read_pins(BINDER / "requirements.txt")
    for name in ("torch", "torchvision"):
        assert binder.get(name, "").endswith("+cpu"), (
            f"binder/requirements.txt: {name} should be the CPU wheel ('{name}==X+cpu'), "
            f"got {binder.get(name)!r}"
        )


@pytest.mark.parametrize("script", ["postBuild", "start"])
def test_binder_scripts_are_executable_bash(script):
    path = BINDER / script
    assert os.access(path, os.X_OK), f"binder/{script} is not executable (chmod +x)"
    lines = code_lines(path)
    assert lines[0] in ("#!/bin/bash", "#!/usr/bin/env bash"), f"binder/{script}: bash shebang"
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, f"binder/{script} has a syntax error:\n{result.stderr}"


def test_postbuild_stops_on_errors_and_installs_the_course():
    lines = code_lines(BINDER / "postBuild")
    assert lines[1].startswith("set -e"), "binder/postBuild must start with 'set -e'"
    text = "\n".join(lines)
    assert re.search(r"pip install .*--no-deps .*d2l==1\.0\.3", text), "d2l==1.0.3 --no-deps"
    assert re.search(r"pip install .*-e \.", text), "postBuild must install course_utils (-e .)"
    assert "timemachine_path()" in text, "postBuild must download the corpus at build time"
    assert "overrides.json" in text and "share/jupyter/lab/settings" in text


def test_start_limits_threads_and_execs_the_command():
    lines = code_lines(BINDER / "start")
    assert lines[-1] == 'exec "$@"', 'binder/start must end with: exec "$@"'
    probe = "import os; print(os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])"
    result = subprocess.run(
        ["bash", str(BINDER / "start"), sys.executable, "-c", probe],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"], f"threads seen by the command: {result.stdout!r}"


def _schema_properties(plugin_id: str) -> dict:
    """The settings a JupyterLab plugin accepts, from the schemas installed in this venv."""
    package, plugin = plugin_id.split(":")
    candidates = [
        LAB_SCHEMAS / "lab" / "schemas" / package / f"{plugin}.json",
        LAB_SCHEMAS / "labextensions" / package / "schemas" / package / f"{plugin}.json",
    ]
    for path in candidates:
        if path.exists():
            return json.loads(path.read_text())["properties"]
    pytest.fail(f"no installed schema for JupyterLab plugin {plugin_id} (looked in {candidates})")


def test_lab_overrides_save_widget_state_and_are_valid_settings():
    overrides = json.loads((BINDER / "overrides.json").read_text())
    assert overrides["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True
    for plugin_id, settings in overrides.items():
        known = _schema_properties(plugin_id)
        unknown = sorted(set(settings) - set(known))
        assert not unknown, f"binder/overrides.json: {plugin_id} has no settings {unknown}"


def test_ensure_chromium_script_is_valid_bash():
    path = ROOT / "scripts" / "ensure_chromium.sh"
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, (
        f"scripts/ensure_chromium.sh has a syntax error:\n{result.stderr}"
    )
    assert code_lines(path)[1].startswith("set -e"), "ensure_chromium.sh must stop on errors"
