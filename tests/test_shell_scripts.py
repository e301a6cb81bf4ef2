"""Every shell script in scripts/ parses, and shellcheck finds no warning in it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from support import REPO

SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))


def test_there_are_scripts():
    assert {"gpu_check.sh", "train_v2.sh", "ship_network.sh"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (apt install shellcheck)")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_is_clean(script):
    done = subprocess.run(["shellcheck", "-S", "warning", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_ship_network_needs_its_arguments():
    done = subprocess.run(["bash", str(REPO / "scripts" / "ship_network.sh")], capture_output=True, text=True)
    assert done.returncode != 0 and "usage: scripts/ship_network.sh RUN_DIR VERSION" in done.stderr
