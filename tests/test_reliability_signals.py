"""Stop signals and standard streams (issue 16): the policy of :mod:`frnet.signals`, through a real
``frnet-app`` process (``python -m frnet.cli``, the console script's code path).

SIGINT, SIGTERM and SIGHUP mid-run: exit 130/143/129, one line, no temporary file left. Ctrl-C
while the program is still importing: one line, no traceback. A reader that closes stdout
(``| head``) or a closed stderr (``2>&-``) does not make a finished job fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from frnet import signals
from frnet.video import VideoReader
from support import SAMPLE, assert_one_error_line
from support import out_files

FAST = ("--renderer", "cpu", "--preset", "ultrafast", "--no-mesh")
COMMAND = [sys.executable, "-m", "frnet.cli"]


def _long_clip(tmp_path: Path) -> Path:
    """The sample clip four times over (packets copied), long enough to be stopped mid-run."""
    import av

    target = tmp_path / "long.mp4"
    with av.open(str(SAMPLE)) as source, av.open(str(target), "w") as out:
        video = source.streams.video[0]
        stream = out.add_stream_from_template(video)
        packets = [p for p in source.demux(video) if p.dts is not None]
        span = max(p.pts for p in packets) + packets[0].duration - min(p.pts for p in packets)
        for loop in range(4):
            for packet in packets:
                packet.pts += span if loop else 0
                packet.dts += span if loop else 0
                packet.stream = stream
                out.mux(packet)
    return target


def _stop_when_frames_flow(process: subprocess.Popen, folder: Path, signum: int) -> tuple[str, str]:
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if any(p.stat().st_size > 0 for p in folder.glob(".faces.*.tmp.jsonl")):
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        process.send_signal(signum)
        return process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(("signum", "code", "fragment"), [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 143, "interrupted (SIGTERM)"),
    (signal.SIGHUP, 129, "interrupted (SIGHUP)"),
])
def test_stop_signals_mid_video_leave_nothing_and_say_so_once(tmp_path, signum, code, fragment):
    """SIGTERM and SIGHUP killed the process on the spot: hidden temporary files, no message."""
    clip = _long_clip(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    process = subprocess.Popen([*COMMAND, "--video", str(clip), "--out", str(out_dir / "o.mp4"),
                                "--landmarks-out", str(out_dir / "faces.jsonl"), *FAST],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = _stop_when_frames_flow(process, out_dir, signum)
    assert process.returncode == code, stderr
    assert_one_error_line(stderr, fragment, "was not written")
    assert out_files(out_dir) == []


# The console script's code (``from frnet.entry import main; sys.exit(main())``), with a signal sent to
# the process the moment a given module starts being imported: deterministic, unlike a timer.
SIGNAL_DURING_IMPORT = textwrap.dedent("""
    import os, sys
    module, signum = sys.argv[1], int(sys.argv[2])

    class SignalOnImport:
        def find_spec(self, fullname, path=None, target=None):
            if fullname == module:
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signum)
            return None

    sys.meta_path.insert(0, SignalOnImport())
    from frnet.entry import main
    sys.exit(main(sys.argv[3:]))
""")


@pytest.mark.parametrize("module", ["frnet.cli", "numpy", "cv2", "onnxruntime"])
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_importing_is_one_line_without_a_traceback(tmp_path, module, signum, code):
    """Ctrl-C in the first 0.15 s (during imports) printed a ``KeyboardInterrupt`` traceback."""
    out = tmp_path / "o.mp4"
    result = subprocess.run([sys.executable, "-c", SIGNAL_DURING_IMPORT, module, str(int(signum)),
                             "--video", str(SAMPLE), "--out", str(out), *FAST],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == code, result.stderr
    assert_one_error_line(result.stderr, "interrupted")
    assert out_files(tmp_path) == []


def test_console_script_and_python_dash_m_frnet_use_the_entry_module():
    import tomllib

    from frnet import cli

    scripts = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["frnet-app"] == "frnet.entry:main"
    result = subprocess.run([sys.executable, "-m", "frnet", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith(f"usage: {cli.PROG}")


def test_closed_stdout_pipe_does_not_fail_a_finished_job(tmp_path):
    """``frnet-app … | head -0``: the summary line hit a closed pipe, and the job exited 2."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the job prints
    process = subprocess.run([*COMMAND, "--video", str(SAMPLE), "--out", str(tmp_path / "o.mp4"),
                              "--max-frames", "3", *FAST], stdout=write_end, stderr=subprocess.PIPE,
                             text=True, timeout=300)
    os.close(write_end)
    assert process.returncode == 0, process.stderr
    assert "Traceback" not in process.stderr and "BrokenPipe" not in process.stderr
    with VideoReader(tmp_path / "o.mp4") as reader:
        assert sum(1 for _ in reader) == 3


@pytest.mark.parametrize("closed", ["stdout", "stderr", "both"])
def test_closed_standard_streams_do_not_fail_the_job(tmp_path, closed):
    """``2>&-`` made the job fail (the output video took descriptor 2)."""
    descriptors = {"stdout": (1,), "stderr": (2,), "both": (1, 2)}[closed]
    out = tmp_path / "o.mp4"

    def close_them() -> None:  # in the child, like the shell's 1>&- / 2>&-
        for fd in descriptors:
            os.close(fd)

    result = subprocess.run([*COMMAND, "--video", str(SAMPLE), "--out", str(out), "--max-frames", "3", *FAST],
                            preexec_fn=close_them, capture_output=True, timeout=300)
    assert result.returncode == 0, result
    with VideoReader(out) as reader:
        assert sum(1 for _ in reader) == 3
    assert out_files(tmp_path) == ["o.mp4"]


def test_policy_is_undone_when_main_returns():
    before = {s: signal.getsignal(s) for s in signals.STOP_SIGNALS}
    stdout = sys.stdout
    with signals.process_policy():
        assert all(signal.getsignal(s) is not before[s] for s in signals.STOP_SIGNALS)
    assert {s: signal.getsignal(s) for s in signals.STOP_SIGNALS} == before and sys.stdout is stdout


def test_exit_codes_and_messages():
    assert signals.exit_code(signals.Interrupted(signal.SIGTERM)) == 143
    assert signals.exit_code(signals.Interrupted(signal.SIGHUP)) == 129
    assert signals.exit_code(KeyboardInterrupt()) == 130
    assert signals.describe(signals.Interrupted(signal.SIGINT)) == "interrupted"
    assert signals.describe(signals.Interrupted(signal.SIGTERM)) == "interrupted (SIGTERM)"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_desktop_app_closes_on_a_stop_signal(tmp_path, signum, code):
    """The app under the CLI's policy: a stop signal closes the window (no traceback, no abort)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", "import sys; from frnet.entry import main; sys.exit(main([]))"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)  # the window is up (or the app failed: then poll() says so)
        assert process.poll() is None, process.communicate()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr


def test_sigterm_stops_a_webcam_recording_and_keeps_it(tmp_path):
    """SIGTERM stops ``--webcam N --out FILE`` like Ctrl-C: the recording is finished and kept."""
    from support import write_bgr
    from support import FAKE_CAMERA_RUN, interrupt_when

    with VideoReader(SAMPLE) as reader:
        frame = write_bgr(tmp_path / "frame.png", next(iter(reader)).image_rgb[:, :, ::-1])
    flag, out = tmp_path / "flowing", tmp_path / "rec" / "rec.mp4"
    process = subprocess.Popen([sys.executable, "-c", FAKE_CAMERA_RUN, str(frame), str(flag), "--webcam", "0",
                                "--out", str(out), "--renderer", "cpu", "--no-mesh"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    original = process.send_signal
    process.send_signal = lambda signum: original(signal.SIGTERM)  # interrupt_when sends SIGINT
    stdout, stderr = interrupt_when(process, flag.exists)
    assert process.returncode == 0, stderr
    assert "(stopped with SIGTERM)" in stdout and "Traceback" not in stderr
    with VideoReader(out) as reader:
        assert sum(1 for _ in reader) >= 1
    assert out_files(out.parent) == ["rec.mp4"]
