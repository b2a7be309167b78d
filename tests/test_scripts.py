"""scripts/ensure_*.sh: quick and silent when their packages are there (they are on this
machine), and, through scripts/apt_install.sh, a clear message instead of an install when this
user cannot install or there is no apt-get. The failing paths run with a PATH of a few real tools
and a stand-in ``id``, so nothing is ever installed here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("ensure_bwrap.sh", "ensure_postgres.sh", "ensure_chromium.sh")


def run(script: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_installed_machine_passes_quietly(script):
    result = run(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def bare_path(tmp_path: Path, uid: int) -> dict:
    """An environment whose PATH holds dirname, cat, grep, dpkg-query and an ``id`` saying
    ``uid``: no sudo, no apt-get, no bwrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "cat", "grep", "dpkg-query"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bin_dir / "id").chmod(0o755)
    return {"PATH": str(bin_dir), "CHROMIUM": str(tmp_path / "no-chromium"), "HOME": str(tmp_path)}


def test_a_user_who_cannot_install_is_told_what_to_ask_for(tmp_path):
    env = bare_path(tmp_path, uid=1000)
    chromium = run("ensure_chromium.sh", env)
    assert chromium.returncode == 1
    assert "ensure_chromium.sh: missing for the browser tests: chromium." in chromium.stderr
    assert 'pytest -m "not browser"' in chromium.stderr
    bwrap = run("ensure_bwrap.sh", env)
    assert bwrap.returncode == 1
    assert "apt-get install -y bubblewrap" in bwrap.stderr
    assert "installing" not in chromium.stderr + bwrap.stderr


def test_root_without_apt_get_is_told_to_use_its_package_manager(tmp_path):
    env = bare_path(tmp_path, uid=0)
    for script, needs in (("ensure_chromium.sh", "chromium"), ("ensure_bwrap.sh", "bubblewrap")):
        result = run(script, env)
        assert result.returncode == 1
        assert f"{script}: no apt-get here (not Debian/Ubuntu); install {needs}" in result.stderr
        assert "installing" not in result.stderr
