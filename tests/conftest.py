"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import select
import shutil
import subprocess

import pytest

XVFB = shutil.which("Xvfb")
SCREEN = (1280, 800)


@pytest.fixture(scope="module")
def xvfb_display():
    """A private X server on a free display number (Xvfb picks it and reports it on a pipe); skips without Xvfb."""
    if XVFB is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb xauth)")
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(
        [XVFB, "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 20)
        number = os.read(read_fd, 32).decode().strip() if ready else ""
        if not number.isdigit():
            process.kill()
            pytest.fail(f"Xvfb did not start: {process.communicate(timeout=10)[1].decode(errors='replace')[-2000:]}")
        yield f":{number}"
    finally:
        os.close(read_fd)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
