"""ci_no_skips: under CI=true every kind of skip fails the run; xfail and passes are untouched.
Runs pytest in a subprocess on probe tests, with and without CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

PROBES = {
    "test_probe.py": """
import pytest

def test_passes():
    pass

def test_skips_itself():
    pytest.skip("no server here")

@pytest.mark.skipif(True, reason="condition met")
def test_skipif():
    pass

@pytest.mark.xfail(reason="a documented limit")
def test_xfail():
    assert False
""",
    "test_probe_module.py": """
import pytest
pytest.importorskip("no_such_module_for_the_probe")

def test_never_collected():
    pass
""",
}


def run_probes(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    for name, text in PROBES.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(TESTS) + os.pathsep + env.get("PYTHONPATH", "")
    plugin = ["-p", "ci_no_skips", "-p", "no:cacheprovider", "--continue-on-collection-errors"]
    cmd = [sys.executable, "-m", "pytest", *plugin, "-q", "-rA", "--rootdir", str(tmp_path)]
    cmd.append(str(tmp_path))
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_in_ci_every_skip_fails_and_says_why(tmp_path):
    out = run_probes(tmp_path, "true")
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    for name, reason in [
        ("test_skips_itself", "no server here"),
        ("test_skipif", "condition met"),
        ("test_probe_module.py", "no_such_module_for_the_probe"),
    ]:
        line = next((ln for ln in text.splitlines() if name in ln and "skipped in CI" in ln), "")
        assert reason in line, f"{name} did not fail with its reason:\n{text}"
    assert "PASSED test_probe.py::test_passes" in text
    assert "XFAIL test_probe.py::test_xfail" in text
    assert "SKIPPED" not in text


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_skips_stay_skips(tmp_path, ci):
    out = run_probes(tmp_path, ci)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "skipped in CI" not in text
    assert "1 passed, 3 skipped, 1 xfailed" in text, text
