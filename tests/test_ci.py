"""CI runs what the README tells a user to run (a static check: it never starts CI itself)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> dict[str, str]:
    """``{command: its comment}`` for every ``command  # comment`` line of the README's shell blocks."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = {}
    for block in re.findall(r"```(?:bash|sh|shell|console)?\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            command, _, comment = line.partition("#")
            commands[command.strip()] = comment.strip()
    return commands


def readme_test_command() -> str:
    """The README's test command: the shell line whose command or comment talks about tests."""
    candidates = [cmd for cmd, comment in readme_commands().items()
                  if re.search(r"\btest", cmd) or re.search(r"\btest suite\b|\btests\b", comment)]
    assert len(candidates) == 1, f"expected one test command in README.md, found {candidates}"
    return candidates[0]


def script_commands(path: Path) -> list[str]:
    """The command lines of a shell script (comments, blank lines and the shebang dropped)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    return lines


def make_recipe(target: str) -> tuple[list[str], list[str]]:
    """``(prerequisites, recipe lines)`` of a Makefile rule."""
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        match = re.match(rf"^{re.escape(target)}\s*:(?!=)(.*)$", line)
        if match:
            recipe = []
            for following in lines[index + 1:]:
                if not following.startswith("\t"):
                    break
                recipe.append(following.strip())
            return match.group(1).split(), recipe
    raise AssertionError(f"Makefile has no {target!r} target")


def make_variables() -> dict[str, str]:
    values = {}
    for line in (REPO / "Makefile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z_]+)\s*[:?]?=\s*(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def test_readme_names_one_test_command():
    assert readme_test_command() == "make test"


def test_ci_script_runs_the_readme_test_command():
    ci = REPO / ".ci" / "run"
    assert ci.is_file(), ".ci/run is the CI entry point"
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    text = ci.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    commands = script_commands(ci)
    assert "set -euo pipefail" in commands, "a failing step must fail CI"
    assert any(c.startswith("cd ") and "dirname" in c for c in commands), "CI must run from the repository root"
    # The README's command is the script's last command, so its exit status is CI's.
    assert commands[-1] == readme_test_command()


def test_make_test_runs_pytest_after_setting_up_both_environments():
    prerequisites, recipe = make_recipe("test")
    assert {"setup", "build-env"} <= set(prerequisites)
    variables = make_variables()
    assert variables["PY"] == "$(VENV)/bin/python" and variables["VENV"] == ".venv"
    pytest_lines = [line for line in recipe if "pytest" in line]
    assert len(pytest_lines) == 1, recipe
    words = shlex.split(pytest_lines[0])
    assert words[words.index("-m") + 1] == "pytest" and words[words.index("-m") - 1] == "$(PY)"
    assert not any(w.startswith("tests/") or w in ("-k", "-x") for w in words), "make test runs the whole suite"
    phony = next(line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith(".PHONY"))
    assert "test" in phony.split()


def debian_packages() -> list[str]:
    """The packages of debian-packages.txt (the first word of each non-comment line)."""
    lines = (REPO / "debian-packages.txt").read_text(encoding="utf-8").splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_readme_apt_line_and_ci_install_the_same_system_packages():
    apt_lines = [cmd for cmd in readme_commands() if "apt-get install" in cmd]
    assert len(apt_lines) == 1, f"expected one apt-get install line in README.md, found {apt_lines}"
    words = shlex.split(apt_lines[0])
    listed = [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    assert listed == debian_packages(), "README's apt-get line must list debian-packages.txt, in its order"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "debian-packages.txt" in ci and "libxcb" not in ci, ".ci/run reads the list instead of repeating it"


def test_demo_environment_is_a_plain_runtime_install():
    _, recipe = make_recipe("$(DEMO_VENV)/.installed")
    installs = [line for line in recipe if " install " in line and "--upgrade pip" not in line]
    assert len(installs) == 1 and installs[0].split()[-1] == ".", "the demo installs `pip install .` only (no extras)"
    assert "--quiet" not in " ".join(recipe) and "-q " not in " ".join(recipe), "pip shows its progress"
    prerequisites, demo = make_recipe("demo")
    assert prerequisites == ["demo-env"] and demo[0].startswith("$(DEMO_VENV)/bin/frnet-app")
