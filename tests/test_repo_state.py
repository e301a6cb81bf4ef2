"""The working tree stays small enough to travel to a lent GPU machine, and the training states
archived out of it (checkpoints/ARCHIVED.sha256) come back byte-exact (scripts/restore_state.sh)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO

MANIFEST = REPO / "checkpoints" / "ARCHIVED.sha256"
RESTORE = REPO / "scripts" / "restore_state.sh"
# The device tool sends the tracked and untracked-not-ignored files and refuses more than 64 MiB;
# the margin leaves room for the wheels a GPU check carries (docs/performance.md, "GPU").
TREE_LIMIT_BYTES = 48 * 2**20


def _git(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def _require_git_checkout() -> None:
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout (an unpacked sdist or wheel): nothing travels from here")


def _manifest() -> tuple[str, list[tuple[str, str]]]:
    commit, entries = "", []
    for line in MANIFEST.read_text().splitlines():
        if line.startswith("# commit "):
            commit = line.split()[-1]
        elif line and not line.startswith("#"):
            digest, path = line.split()
            entries.append((digest, path))
    return commit, entries


def _require_commit(commit: str) -> None:
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"commit {commit[:12]} (the archived states) is not in this clone; a shallow clone lacks "
                    f"history (git fetch --unshallow)")


def test_the_tree_that_travels_is_small():
    _require_git_checkout()
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout.decode().split("\0")
    files = [REPO / name for name in listed if name and (REPO / name).is_file()]
    sizes = sorted(((f.stat().st_size, f.relative_to(REPO).as_posix()) for f in files), reverse=True)
    total = sum(size for size, _ in sizes)
    assert total < TREE_LIMIT_BYTES, (f"the working tree that travels is {total / 2**20:.1f} MiB "
                                      f"(> {TREE_LIMIT_BYTES / 2**20:.0f} MiB); largest: {sizes[:5]}")


def test_archived_states_are_out_of_the_tree_and_ignored():
    _require_git_checkout()
    commit, entries = _manifest()
    assert len(commit) == 40 and entries
    tracked = set(_git("ls-files").stdout.decode().splitlines())
    for _, path in entries:
        assert path not in tracked, f"{path} is archived but still tracked"
        assert _git("check-ignore", "-q", path).returncode == 0, f"{path} is archived but not ignored"
        assert "restore_state.sh" in (REPO / path).parent.joinpath("README.md").read_text(), \
            f"{path}: its folder's README should say how to bring it back"


def test_archived_states_match_their_digests_in_history():
    _require_git_checkout()
    commit, entries = _manifest()
    _require_commit(commit)
    for digest, path in entries:
        blob = _git("cat-file", "blob", f"{commit}:{path}")
        assert blob.returncode == 0, f"{path} is not in {commit[:12]}"
        assert hashlib.sha256(blob.stdout).hexdigest() == digest, path


def test_restore_state_puts_a_file_back_and_refuses_unknown_paths(tmp_path):
    _require_git_checkout()
    commit, entries = _manifest()
    _require_commit(commit)
    digest, path = min(entries, key=lambda e: e[1])  # the v1 best state (10 MB)
    clone = tmp_path / "clone"
    assert _git("clone", "-q", "--shared", "--no-checkout", str(REPO), str(clone)).returncode == 0
    # The script and manifest as they are in this working tree (they may not be committed yet).
    for relative in ("scripts/restore_state.sh", "checkpoints/ARCHIVED.sha256"):
        (clone / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, clone / relative)
    script = clone / "scripts" / "restore_state.sh"

    done = subprocess.run(["bash", str(script), path], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    restored = clone / path
    assert hashlib.sha256(restored.read_bytes()).hexdigest() == digest
    assert not list(restored.parent.glob("*.restoring.*")), "a temporary file was left behind"

    again = subprocess.run(["bash", str(script), path], capture_output=True, text=True)
    assert again.returncode == 0 and "already restored" in again.stdout

    restored.write_bytes(b"damaged")  # a wrong file is replaced, not kept
    fixed = subprocess.run(["bash", str(script), path], capture_output=True, text=True)
    assert fixed.returncode == 0 and hashlib.sha256(restored.read_bytes()).hexdigest() == digest

    unknown = subprocess.run(["bash", str(script), "checkpoints/nope.pt"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "not in checkpoints/ARCHIVED.sha256" in unknown.stderr
