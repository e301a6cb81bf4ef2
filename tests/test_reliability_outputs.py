"""Outputs that are not ours to replace (issue 16): devices, FIFOs, symbolic links, inputs.

The policy is :mod:`frnet.outputs` (docs/reliability.md, "Outputs"): a regular file is replaced
atomically; a symbolic link's file is written and the link kept; a character device or FIFO is
written in place; folders, block devices and sockets are refused; an output that is an input of
the same run is refused before any work starts.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from frnet.errors import OutputError
from frnet.outputs import OutputTarget, check_output
from frnet.video import VideoReader, VideoWriter, atomic_write
from support import SAMPLE, assert_one_error_line, run_cli
from support import write_bgr
from support import no_temp_files, out_files

FAST = ("--renderer", "cpu", "--preset", "ultrafast")


def require_in_place(path: str) -> None:
    """Stop before touching a system node unless the policy writes it in place: a regression run as
    root would otherwise replace /dev/null or /dev/stdout for the whole machine."""
    if not OutputTarget(path).in_place:
        pytest.fail(f"{path} would not be written in place; not touching it")


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as handle:
            into.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------------------------- the policy


def test_regular_file_is_replaced_atomically(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with atomic_write(target) as temp:
        temp.write_text("new")
    assert target.read_text() == "new" and out_files(tmp_path) == ["a.txt"]


def test_symbolic_link_keeps_being_a_link_and_its_file_is_written(tmp_path):
    """A rename over the link turned it into a regular file and left the linked file stale."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = elsewhere / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with atomic_write(link) as temp:
        temp.write_text("new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert no_temp_files(tmp_path, elsewhere)


def test_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "target.txt")
    with atomic_write(link) as temp:
        temp.write_text("x")
    assert link.is_symlink() and (tmp_path / "target.txt").read_text() == "x"


def test_dev_null_stays_a_device(tmp_path):
    require_in_place(os.devnull)
    with atomic_write(os.devnull) as temp:
        temp.write_text("discarded")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert not temp.exists()  # the temporary file (in the temp folder) is gone


def test_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = _read_fifo(fifo, received)
    with atomic_write(fifo) as temp:
        temp.write_bytes(b"hello")
    reader.join(10)
    assert received == [b"hello"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert out_files(tmp_path) == ["pipe"]


def test_a_failed_write_leaves_a_device_untouched_and_no_temporary_file(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # nobody reads it: opening it for writing would block, so it must not be opened
    with pytest.raises(RuntimeError), atomic_write(fifo) as temp:
        temp.write_text("half")
        raise RuntimeError("boom")
    assert not temp.exists() and out_files(tmp_path) == ["pipe"]


def test_folder_socket_are_refused(tmp_path):
    with pytest.raises(OutputError, match="is a folder"):
        OutputTarget(tmp_path)
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        with pytest.raises(OutputError, match="is a socket"):
            OutputTarget(path)
    finally:
        server.close()


def test_block_device_is_refused():
    devices = [Path("/dev") / name for name in ("loop0", "sda", "vda", "nvme0n1", "ram0")]
    device = next((d for d in devices if d.exists() and stat.S_ISBLK(os.stat(d).st_mode)), None)
    if device is None:
        pytest.skip("no block device under /dev to point at")
    with pytest.raises(OutputError, match="is a block device"):
        check_output(device)


def test_check_output_refuses_an_input_by_inode_and_by_path(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("x")
    hard = tmp_path / "hard.csv"
    os.link(source, hard)
    for candidate in (source, hard, tmp_path / "." / "in.csv"):
        with pytest.raises(OutputError, match="is an input"):
            check_output(candidate, inputs=[source], option="--json")
    assert check_output(tmp_path / "new" / "out.json", inputs=[source]) == tmp_path / "new" / "out.json"
    assert out_files(tmp_path / "new") == []  # the probe is gone


def test_video_writer_into_a_fifo(tmp_path):
    fifo = tmp_path / "video.mkv"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = _read_fifo(fifo, received)
    with VideoWriter(fifo, 30, (64, 48), threads=1) as writer:
        for _ in range(3):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    reader.join(10)
    copy = tmp_path / "copy.mkv"
    copy.write_bytes(received[0])
    with VideoReader(copy) as video:
        assert sum(1 for _ in video) == 3
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


# -------------------------------------------------------------------------------- through the CLI


def test_landmarks_out_to_dev_stdout_streams_the_json_lines(tmp_path):
    """``--landmarks-out /dev/stdout`` replaced the node (as root: the system's /dev/stdout link)."""
    if not os.path.exists("/dev/stdout"):
        pytest.skip("no /dev/stdout on this system")
    target = OutputTarget("/dev/stdout")
    if not target.in_place and target.destination == Path("/dev/stdout"):
        pytest.fail("/dev/stdout (a link) would be replaced; not touching it")
    out = tmp_path / "o.mp4"
    result = subprocess.run([sys.executable, "-m", "frnet.cli", "--video", str(SAMPLE), "--out", str(out),
                             "--landmarks-out", "/dev/stdout", "--max-frames", "3", "-q", *FAST],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and all(len(line["faces"]) == 1 for line in lines)
    assert os.path.islink("/dev/stdout") or not os.path.lexists("/dev/stdout") or \
        stat.S_ISCHR(os.lstat("/dev/stdout").st_mode)


def test_landmarks_out_through_a_link_writes_the_linked_file(capsys, tmp_path):
    real = tmp_path / "data" / "faces.jsonl"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "faces.jsonl"
    link.symlink_to(real)
    code, _, stderr = run_cli(capsys, "--video", SAMPLE, "--out", tmp_path / "o.mp4", "--landmarks-out", link,
                              "--max-frames", 2, *FAST, "-q")
    assert code == 0, stderr
    assert link.is_symlink() and len(real.read_text().splitlines()) == 2


def test_outputs_that_would_overwrite_an_input_are_refused_before_any_work(capsys, tmp_path, sample_frame):
    """``a.jpg`` and ``a_overlay.png`` with ``--out`` their own folder: the second was overwritten."""
    folder = tmp_path / "photos"
    write_bgr(folder / "a.jpg", sample_frame[:, :, ::-1])
    write_bgr(folder / "a_overlay.png", sample_frame[:, :, ::-1])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, _, stderr = run_cli(capsys, "--image", folder / "a.jpg", folder / "a_overlay.png", "--out", folder,
                              "--renderer", "cpu")
    assert code == 2
    assert_one_error_line(stderr, "a_overlay.png", "is an input")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing written, nothing changed


@pytest.mark.parametrize("name", ["landmarks68.csv", "a_landmarks.json", "a_face0.obj", "a_face0.png"])
def test_every_output_name_of_an_image_job_is_checked_against_the_inputs(capsys, tmp_path, sample_frame, name):
    folder = tmp_path / "in"
    write_bgr(folder / "a.png", sample_frame[:, :, ::-1])
    victim = folder / name
    victim.write_text("precious")
    code, _, stderr = run_cli(capsys, "--image", folder / "a.png", victim, "--out", folder, "--renderer", "cpu")
    assert code == 2
    assert_one_error_line(stderr, name, "is an input")
    assert victim.read_text() == "precious" and sorted(out_files(folder)) == sorted(["a.png", name])


def test_video_out_that_is_a_folder_or_socket_is_refused_before_processing(capsys, tmp_path):
    (tmp_path / "dir.mp4").mkdir()
    code, _, stderr = run_cli(capsys, "--video", SAMPLE, "--out", tmp_path / "dir.mp4", *FAST)
    assert code == 2
    assert_one_error_line(stderr, "is a folder")


def test_landmarks_out_that_is_a_folder_is_refused_before_the_video_is_made(capsys, tmp_path):
    (tmp_path / "faces").mkdir()
    code, _, stderr = run_cli(capsys, "--video", SAMPLE, "--out", tmp_path / "o.mp4", "--landmarks-out",
                              tmp_path / "faces", *FAST)
    assert code == 2
    assert_one_error_line(stderr, "is a folder")
    assert out_files(tmp_path) == ["faces"]
