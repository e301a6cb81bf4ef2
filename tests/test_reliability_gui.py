"""The desktop app's side of docs/reliability.md: bad inputs give a dialog and the app keeps running.

Offscreen pytest-qt, with the window and dialog-recording fixtures of tests/conftest.py and the drop
helpers of tests/support.py. Every test ends by showing that the app still works (a good photo or
video is processed afterwards), not only that it did not crash. Input files come from the builders
in tests/support.py (shared with the CLI's reliability tests), made in ``tmp_path``.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import pytest

pytest.importorskip("pytestqt", reason="pytest-qt is not installed (pip install -e '.[dev]')")

from PyQt6.QtWidgets import QFileDialog  # noqa: E402

from frnet.gui import core  # noqa: E402
from frnet.gui.main_window import MainWindow  # noqa: E402
from frnet.video import VideoReader  # noqa: E402
from support import (  # noqa: E402
    FakeCapture,
    MODEL_FILES,
    SAMPLE_VIDEO,
    UNWRITABLE,
    WAIT_MS,
    _audio_only,
    damage_middle,
    drop,
    drop_and_wait,
    make_bad_video,
    make_clip,
    make_image,
    models_copy,
    needs_unwritable,
    wait_frames,
)


def good_photo(folder, frame):
    return make_image("grayscale", folder, frame)


def still_works(qtbot, window, photo) -> None:
    """The app is alive and useful: a good photo dropped now is reconstructed."""
    before = window.gallery.count()
    drop_and_wait(qtbot, window, [photo])
    assert window.gallery.count() == before + 1 and window.gallery.entries()[-1].face_count == 1
    assert window.isVisible()


# ------------------------------------------------------------------------------------------- images


def test_unreadable_images_give_one_dialog_listing_them(qtbot, window, dialogs, tmp_path, sample_frame):
    bad = [make_image(kind, tmp_path / "in", sample_frame) for kind in ("empty", "random-bytes", "truncated-png")]
    drop_and_wait(qtbot, window, bad)
    assert len(dialogs) == 1
    title, message = dialogs[0]
    assert title == "Some images could not be read"
    assert message.startswith("3 of 3 files could not be processed")
    assert all(path.name in message for path in bad)
    assert window.gallery.count() == 0
    still_works(qtbot, window, good_photo(tmp_path / "good", sample_frame))
    assert len(dialogs) == 1


def test_unusual_valid_images_fill_the_gallery_without_a_dialog(qtbot, window, dialogs, tmp_path, sample_frame):
    kinds = ["1x1", "grayscale", "rgba", "16-bit", "cmyk-jpeg", "exif-rotated", "truncated-jpeg"]
    paths = [make_image(kind, tmp_path / "in", sample_frame) for kind in kinds]
    drop_and_wait(qtbot, window, paths)
    assert dialogs == []
    entries = {entry.path.name: entry for entry in window.gallery.entries()}
    assert set(entries) == {p.name for p in paths}
    assert entries["dot.png"].face_count == 0
    for path in paths[1:]:
        assert entries[path.name].face_count == 1, path.name
        assert entries[path.name].preview_rgb.shape == (480, 640, 3), path.name  # upright (EXIF applied)


# ------------------------------------------------------------------------------------------- videos


@pytest.mark.parametrize("kind", ["empty", "random-bytes", "cut-index-last", "no-video-stream"])
def test_unreadable_video_gives_a_dialog_and_the_app_keeps_running(qtbot, window, dialogs, tmp_path, kind):
    source, fragment = make_bad_video(kind, tmp_path / "in")
    if kind == "no-video-stream":  # .m4a is not offered as a video; an audio-only .mp4 reaches the reader
        source = _audio_only(tmp_path / "in" / "sound.mp4")
    drop(window, [source])
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    title, message = dialogs[0]
    assert title == "Cannot open the video" and fragment in message and source.name in message
    assert window.source_info is None
    drop(window, [SAMPLE_VIDEO])  # still alive: a good video plays
    wait_frames(qtbot, window, 3)
    assert window.source_info.name == "sample.mp4" and len(dialogs) == 1


def test_damaged_packets_mid_stream_play_through_without_a_dialog(qtbot, window, dialogs, tmp_path, sample_frames):
    clean = make_clip(tmp_path / "clean.mp4", sample_frames[:40])
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(damage_middle(clean.read_bytes(), 4))
    with qtbot.waitSignal(window.frame_worker.ended, timeout=WAIT_MS):
        window.open_video(damaged)
    assert dialogs == []
    assert window.frames_shown >= 1 and window.isVisible()


def test_camera_that_opens_but_gives_no_frames_gives_a_dialog(qtbot, settings, dialogs, tmp_path, sample_frame):
    win = MainWindow(settings=settings, view_backend="image", open_capture=lambda index: FakeCapture(frames=0))
    qtbot.addWidget(win)
    win.show()
    win.open_camera(1)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert dialogs[0][0] == "Cannot open the camera" and "camera 1" in dialogs[0][1] and "no frames" in dialogs[0][1]
    assert win.source_info is None
    still_works(qtbot, win, good_photo(tmp_path, sample_frame))


# ------------------------------------------------------------------------------------------ outputs


@needs_unwritable
def test_unwritable_export_snapshot_and_recording_give_dialogs(qtbot, window, dialogs, monkeypatch, tmp_path,
                                                               sample_frame):
    photo = good_photo(tmp_path / "in", sample_frame)
    drop_and_wait(qtbot, window, [photo])
    window.gallery.selectAll()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(UNWRITABLE / "frnet-export"))
    window.export_selected()
    qtbot.waitUntil(lambda: window.exports_finished == 1, timeout=WAIT_MS)
    assert dialogs[-1][0] == "Export failed" and "frnet-export" in dialogs[-1][1]

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(UNWRITABLE / "frnet-snap.png"), ""))
    assert window.snapshot() is None
    assert dialogs[-1][0] == "Cannot save the snapshot" and "frnet-snap.png" in dialogs[-1][1]

    window.open_video(SAMPLE_VIDEO)
    wait_frames(qtbot, window, 2)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(UNWRITABLE / "frnet-rec.mp4"), ""))
    window.action("record").trigger()
    qtbot.waitUntil(lambda: len(dialogs) == 3, timeout=WAIT_MS)
    assert dialogs[-1][0] == "Cannot record" and "frnet-rec.mp4" in dialogs[-1][1]
    assert not window.recording
    wait_frames(qtbot, window, 2)  # playback went on
    assert not list(UNWRITABLE.glob("frnet-*")) and len(dialogs) == 3


def test_closing_the_window_while_recording_keeps_a_playable_file(qtbot, settings, dialogs, monkeypatch, tmp_path):
    target = tmp_path / "rec" / "recording.mp4"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "MP4 video (*.mp4)"))
    win = MainWindow(settings=settings, view_backend="image")
    qtbot.addWidget(win)
    win.show()
    win.open_video(SAMPLE_VIDEO)
    wait_frames(qtbot, win, 1)
    win.action("record").trigger()
    qtbot.waitUntil(lambda: win.recording, timeout=WAIT_MS)
    wait_frames(qtbot, win, 5)
    win.close()  # quitting mid-recording: the worker finishes the file in its own thread
    assert dialogs == []
    with VideoReader(target) as reader:
        assert reader.size == (640, 480) and sum(1 for _ in reader) >= 5
    # Renamed into place, no temp file; the recording's face animation is saved beside it.
    assert sorted(p.name for p in target.parent.iterdir()) == ["recording.glb", "recording.mp4"]


# ------------------------------------------------------------------------------------------- models


@pytest.fixture
def fresh_face_model():
    """The app caches the face model per process: forget it before and after a test that breaks it."""
    core._cached_face_model.cache_clear()
    yield
    core._cached_face_model.cache_clear()


@pytest.mark.parametrize(("name", "damage"), [(n, "missing") for n in MODEL_FILES]
                         + [("mobilefrnet_v2_int8.onnx", "truncated")])
def test_missing_or_corrupt_model_gives_dialogs_and_recovers(qtbot, window, dialogs, monkeypatch, tmp_path,
                                                             sample_frame, fresh_face_model, name, damage):
    photo = good_photo(tmp_path / "in", sample_frame)
    monkeypatch.setenv("FRNET_MODELS_DIR", str(models_copy(tmp_path / "models", name, damage)))
    drop_and_wait(qtbot, window, [photo])
    assert len(dialogs) == 1
    assert dialogs[0][0] == "Cannot process the images" and name in dialogs[0][1]
    window.open_video(SAMPLE_VIDEO)
    qtbot.waitUntil(lambda: len(dialogs) == 2, timeout=WAIT_MS)
    assert dialogs[1][0] == "Cannot open the video" and name in dialogs[1][1]
    assert window.gallery.count() == 0 and window.isVisible()

    monkeypatch.delenv("FRNET_MODELS_DIR")  # the installation is repaired: no restart needed
    core._cached_face_model.cache_clear()
    still_works(qtbot, window, photo)
    window.open_video(SAMPLE_VIDEO)
    wait_frames(qtbot, window, 2)
    assert len(dialogs) == 2
