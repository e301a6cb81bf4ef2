"""The desktop app, offscreen (pytest-qt): drops, gallery, export, playback, HUD, errors, settings.

Drops are real ``QDragEnterEvent``/``QDropEvent`` s with file URLs sent to the window, so they take
the same path as a drop from a file manager. Error dialogs are recorded instead of shown; file
dialogs return paths under ``tmp_path``. The Qt-free core (:mod:`frnet.gui.core`,
:mod:`frnet.sources`) is tested without a window at the end.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="pytest-qt is not installed (pip install -e '.[dev]')")

from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtGui import QKeySequence  # noqa: E402
from PyQt6.QtWidgets import QFileDialog  # noqa: E402

from frnet.datasets import shared_data_dir  # noqa: E402
from frnet.errors import CameraError  # noqa: E402
from frnet.files import unique_stems  # noqa: E402
from frnet.gui import core  # noqa: E402
from frnet.gui.main_window import MainWindow  # noqa: E402
from frnet.gui.settings import AppSettings  # noqa: E402
from frnet.sources import CameraSource, probe_cameras  # noqa: E402
from frnet.video import VideoReader, read_image  # noqa: E402
from support import FakeCapture, SAMPLE_VIDEO, WAIT_MS, drop, drop_and_wait, wait_frames  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_data_dir()
PHOTOS = {"emma.jpg": 3, "trump_hillary.jpg": 2, "JianzhuGuo.jpg": 1}  # faces in each shared photo


def shared_photos() -> list[Path]:
    if SHARED is None:
        pytest.skip("../shared/data is not present (read-only dev data)")
    paths = [SHARED / "images" / name for name in PHOTOS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"shared photos missing: {', '.join(missing)}")
    return paths


# ------------------------------------------------------------------------------------------ fixtures


# ------------------------------------------------------------------------------------------- window


def test_window_constructs_with_every_control(window):
    assert window.windowTitle().startswith("frnet")
    assert window.view.current_frame() is None
    assert window.gallery.count() == 0
    assert not window.export_button.isEnabled()  # nothing selected
    for name in ("landmarks", "mesh", "wireframe", "axes", "depth", "smoothing", "hud"):
        assert window.overlay_boxes[name].isChecked() == window.action(name).isChecked()
    for key in ("fps", "detect", "infer", "render", "faces", "yaw", "pitch", "roll"):
        assert key in window.hud_labels
    assert window.camera_combo.count() == len(core.CAMERA_INDICES)
    assert [window.format_combo.itemData(i) for i in range(window.format_combo.count())] == list(core.EXPORT_FORMATS)


def test_keyboard_shortcuts(qtbot, window):
    expected = {
        "play": ["Space"], "step": ["Right", "."], "open_video": ["Ctrl+O"], "open_images": ["Ctrl+I"],
        "export": ["Ctrl+E"], "snapshot": ["Ctrl+S"], "record": ["Ctrl+R"], "quit": ["Ctrl+Q"],
        "landmarks": ["L"], "mesh": ["M"], "wireframe": ["W"], "axes": ["A"], "depth": ["D"],
    }
    for name, keys in expected.items():
        got = [s.toString(QKeySequence.SequenceFormat.PortableText) for s in window.action(name).shortcuts()]
        assert got == keys, name
    # A real key press toggles an overlay (and its check box follows).
    window.activateWindow()
    qtbot.waitActive(window)
    before = window.action("wireframe").isChecked()
    qtbot.keyClick(window, Qt.Key.Key_W)
    assert window.action("wireframe").isChecked() != before
    assert window.overlay_boxes["wireframe"].isChecked() != before


# --------------------------------------------------------------------------------- images and export


@pytest.mark.shared
def test_dropped_photos_fill_gallery_and_export_selected(qtbot, window, dialogs, monkeypatch, tmp_path):
    import trimesh

    photos = shared_photos()
    drop_and_wait(qtbot, window, photos)
    assert dialogs == []
    assert window.last_batch.total == 3 and not window.last_batch.cancelled
    entries = {e.path.name: e for e in window.gallery.entries()}
    assert set(entries) == set(PHOTOS)
    for name, expected in PHOTOS.items():
        assert 1 <= entries[name].face_count <= expected, f"{name}: {entries[name].face_count} faces"
        assert entries[name].thumbnail_rgb.ndim == 3
        assert f"{entries[name].face_count} face" in window.gallery.item(
            [e.path.name for e in window.gallery.entries()].index(name)).text()
    assert window.view.current_frame() is not None  # the last photo is on show

    # Export the selection (all) as OBJ through the Ctrl+E action and a (patched) folder dialog.
    out = tmp_path / "export"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    window.gallery.selectAll()
    assert window.export_button.isEnabled()
    window.action("export").trigger()
    qtbot.waitUntil(lambda: window.exports_finished == 1, timeout=WAIT_MS)
    assert dialogs == []
    face_model = core.shared_face_model()
    for name, entry in entries.items():
        stem = Path(name).stem
        for k in range(entry.face_count):
            mesh = trimesh.load(out / f"{stem}_face{k}.obj", process=False)
            assert len(mesh.vertices) == face_model.num_dense_vertices
            assert len(mesh.faces) == len(face_model.render_triangles)
            colours = np.asarray(mesh.visual.vertex_colors)
            assert colours.shape[0] == len(mesh.vertices) and colours[:, :3].std() > 5  # sampled from the photo
        document = json.loads((out / f"{stem}_landmarks.json").read_text())
        assert document["image"] == name and len(document["faces"]) == entry.face_count
        assert np.asarray(document["faces"][0]["landmarks68"]).shape == (68, 3)
    assert window.last_export.mesh_count == sum(e.face_count for e in entries.values())

    # Only the selected images are exported, in the format picked (PLY, remembered).
    window.gallery.clearSelection()
    row = [e.path.name for e in window.gallery.entries()].index("JianzhuGuo.jpg")
    window.gallery.item(row).setSelected(True)
    window.format_combo.setCurrentIndex(core.EXPORT_FORMATS.index("ply"))
    out = tmp_path / "export_ply"
    window.export_selected()
    qtbot.waitUntil(lambda: window.exports_finished == 2, timeout=WAIT_MS)
    assert sorted(p.name for p in out.iterdir()) == ["JianzhuGuo_face0.ply", "JianzhuGuo_landmarks.json"]
    mesh = trimesh.load(out / "JianzhuGuo_face0.ply", process=False)
    assert len(mesh.vertices) == face_model.num_dense_vertices
    assert window.settings.export_format == "ply"


def test_bad_files_give_a_dialog_and_the_app_keeps_running(qtbot, window, dialogs, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    drop_and_wait(qtbot, window, [bad])
    assert len(dialogs) == 1
    title, message = dialogs[0]
    assert "could not be read" in title and "broken.jpg" in message
    assert window.gallery.count() == 0

    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    drop(window, [notes])
    qtbot.waitUntil(lambda: len(dialogs) == 2, timeout=5000)
    assert "notes.txt" in dialogs[1][1]

    # Still alive: a good image dropped next is processed.
    photo = shared_photos()[2] if SHARED is not None else None
    if photo is not None:
        drop_and_wait(qtbot, window, [photo])
        assert window.gallery.count() == 1 and window.gallery.entries()[0].face_count >= 1
    assert window.isVisible() and len(dialogs) == 2


def test_missing_camera_gives_a_dialog(qtbot, window, dialogs):
    window.open_camera(9)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    title, message = dialogs[0]
    assert title == "Cannot open the camera" and "camera 9" in message
    assert window.source_info is None and window.isVisible()
    window.toggle_play()  # nothing to play: a status message, no dialog, no crash
    qtbot.wait(200)
    assert len(dialogs) == 1


def test_webcam_frames_then_unplugged(qtbot, settings, dialogs):
    """A (fake) webcam: probing marks the cameras found, frames play, and a camera that stops
    delivering gives a dialog while the app keeps running."""
    frames = iter([])

    def open_capture(index):
        return FakeCapture(opened=index == 2, frames=next(frames, 40))

    win = MainWindow(settings=settings, view_backend="image", open_capture=open_capture)
    qtbot.addWidget(win)
    win.show()
    win.action("probe").trigger()
    qtbot.waitUntil(lambda: "not found" in win.camera_combo.itemText(0), timeout=WAIT_MS)
    assert win.camera_combo.itemText(2) == "Camera 2" and win.camera_combo.currentIndex() == 2
    frames = iter([6])
    win.action("webcam").trigger()  # opens the camera picked in the combo box
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert win.source_info.kind == "camera" and win.source_info.camera_index == 2
    assert 1 <= win.frames_shown <= 6 and win.view.current_frame().shape == (48, 64, 3)
    assert "stopped delivering" in dialogs[0][1]
    assert win.settings.camera_index == 2 and win.isVisible()


# ------------------------------------------------------------------------------------------ playback


def test_dropped_video_plays_with_hud_pause_step_overlays_snapshot(qtbot, window, dialogs, monkeypatch, tmp_path):
    drop(window, [SAMPLE_VIDEO])
    wait_frames(qtbot, window, 4)
    assert dialogs == []
    assert window.source_info.name == "sample.mp4" and window.playing
    qtbot.waitUntil(lambda: window.hud_labels["fps"].text() != "–", timeout=WAIT_MS)
    assert float(window.hud_labels["fps"].text()) > 0
    assert float(window.hud_labels["infer"].text()) > 0
    assert window.hud_labels["faces"].text().isdigit()
    hud = window.last_live.hud
    assert set(core.STAGES) <= set(hud.timings_ms) and "render" in hud.timings_ms
    assert "fps" in window.view.hud_lines[0]
    if hud.face_count:
        assert window.hud_labels["yaw"].text().endswith("°")
    frame = window.view.current_frame()
    assert frame.shape == (480, 640, 3)

    # Smoothing can be switched while playing, and its level picked.
    window.smoothing_combo.setCurrentIndex(window.smoothing_combo.findData("strong"))
    wait_frames(qtbot, window, 2)
    assert window.frame_worker._pipeline.options.smoothing == "strong"
    window.action("smoothing").trigger()
    wait_frames(qtbot, window, 2)
    assert window.settings.smoothing is False and dialogs == []
    assert window.frame_worker._pipeline.options.smoothing == "none"

    # Pause, then step exactly one frame. Frames the worker emitted before it paused may still be on
    # their way to the window: wait until none is in flight and the count holds still.
    qtbot.waitUntil(lambda: window.playing, timeout=WAIT_MS)
    window.toggle_play()
    qtbot.waitUntil(lambda: not window.playing, timeout=WAIT_MS)
    shown = -1
    for _ in range(WAIT_MS // 200):
        qtbot.wait(200)
        if window.frames_shown == shown and window.frame_worker._frames_in_flight == 0:
            break
        shown = window.frames_shown
    shown, index = window.frames_shown, window.last_live.result.frame_index
    window.step()
    qtbot.waitUntil(lambda: window.frames_shown == shown + 1, timeout=WAIT_MS)
    assert window.last_live.result.frame_index == index + 1
    assert not window.playing

    # Overlay toggles re-render the paused frame.
    def rerender(*names):
        before = window.frames_shown
        for name in names:
            window.action(name).trigger()
        qtbot.waitUntil(lambda: window.frames_shown >= before + len(names), timeout=WAIT_MS)
        return window.view.current_frame().copy()

    assert window.last_live.result.faces, "the detector finds the sample clip's face on every frame"
    with_overlay = window.view.current_frame().copy()
    toggles = window.overlay_toggles()
    on = [n for n in ("landmarks", "mesh", "axes") if getattr(toggles, n)]
    assert on, "the default overlay draws something"
    plain = rerender(*on)
    changed = np.any(with_overlay != plain, axis=2)
    assert changed.sum() > 200, "switching the overlays off did not change the frame"
    wire = rerender("wireframe")
    assert np.any(wire != plain, axis=2).sum() > 200
    depth = rerender("wireframe", "mesh", "depth")
    shaded = rerender("depth")
    assert np.any(depth != shaded, axis=2).sum() > 200
    assert window.settings.overlay == window.overlay_toggles()

    # Snapshot of what is on show.
    snap = tmp_path / "snap.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(snap), "PNG image (*.png)"))
    assert window.snapshot() == snap
    assert np.array_equal(read_image(snap), window.view.current_frame())
    assert dialogs == []


def test_record_writes_an_mp4(qtbot, window, dialogs, monkeypatch, tmp_path):
    target = tmp_path / "clips" / "recording.mp4"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "MP4 video (*.mp4)"))
    window.open_video(SAMPLE_VIDEO)
    wait_frames(qtbot, window, 1)
    window.action("record").trigger()
    qtbot.waitUntil(lambda: window.recording, timeout=WAIT_MS)
    assert "REC" in window.record_label.text()
    wait_frames(qtbot, window, 6)
    window.action("record").trigger()
    qtbot.waitUntil(lambda: not window.recording, timeout=WAIT_MS)
    assert dialogs == []
    with VideoReader(target) as reader:
        assert reader.size == (640, 480)
        assert sum(1 for _ in reader) >= 5
    assert not list(target.parent.glob(".*tmp*"))  # the temporary file was renamed into place


# ------------------------------------------------------------------------------------------ settings


def test_settings_persist_across_windows(qtbot, settings, dialogs):
    first = MainWindow(settings=settings, view_backend="image")
    qtbot.addWidget(first)
    first.action("wireframe").trigger()
    first.overlay_boxes["landmarks"].click()  # the side panel's check box drives the same action
    first.action("smoothing").trigger()
    first.smoothing_combo.setCurrentIndex(first.smoothing_combo.findData("strong"))
    first.format_combo.setCurrentIndex(core.EXPORT_FORMATS.index("glb"))
    first.camera_combo.setCurrentIndex(3)
    wanted = first.overlay_toggles()
    assert wanted.wireframe and not wanted.landmarks
    first.close()

    reopened = AppSettings.from_file(settings.location)  # a new QSettings on the same file
    second = MainWindow(settings=reopened, view_backend="image")
    qtbot.addWidget(second)
    assert second.overlay_toggles() == wanted
    assert second.action("smoothing").isChecked() is False
    assert second.smoothing_combo.currentData() == "strong" and reopened.effective_smoothing == "none"
    assert second.format_combo.currentData() == "glb"
    assert second.camera_combo.currentIndex() == 3
    assert reopened.window_geometry is not None
    second.close()


# -------------------------------------------------------------------------------------- Qt-free core


def test_plan_drop_sorts_videos_images_and_folders(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.JPG", "a.png", "sub/c.jpeg", ".hidden.jpg", "readme.txt"):
        (folder / name).write_bytes(b"x")
    clip = tmp_path / "clip.MP4"
    clip.write_bytes(b"x")
    other = tmp_path / "notes.txt"
    other.write_text("x")
    plan = core.plan_drop([clip, folder, folder / "a.png", other, tmp_path / "missing.jpg"])
    assert plan.videos == [clip]
    assert [p.name for p in plan.images] == ["a.png", "b.JPG", "c.jpeg"]  # sorted, deduplicated
    assert plan.ignored == [other, tmp_path / "missing.jpg"]
    assert core.plan_drop([tmp_path / "empty"]).empty


def test_overlay_toggles_map_to_renderer_options():
    options = core.OverlayToggles(landmarks=False, mesh=True, wireframe=True, axes=False, depth=True).to_options()
    assert (options.landmarks, options.mesh, options.wireframe, options.axes) == (False, True, True, False)
    assert options.colouring == "depth"
    assert core.OverlayToggles().to_options().colouring == "shaded"


def test_hud_numbers_and_text():
    meter = core.FpsMeter(smoothing=1.0)
    assert meter.tick(0.0) == 0.0
    assert meter.tick(0.04) == pytest.approx(25.0)
    assert meter.tick(5.0) == 0.0  # a pause resets it

    class Face:
        yaw_pitch_roll_deg = np.array([12.5, -3.0, 0.25])

    class Result:
        faces = [Face()]
        frame_index = 9
        timings_ms = {"detect": 4.0, "infer": 10.0}

    hud = core.hud_data(Result(), render_ms=3.0, fps=29.97, frame_count=240)
    assert hud.face_count == 1 and hud.timings_ms["render"] == 3.0 and hud.timings_ms["track"] == 0.0
    assert hud.total_ms == pytest.approx(17.0)
    lines = core.format_hud_lines(hud)
    assert "30.0 fps" in lines[0] and "1 face " in lines[0] and "frame 10/240" in lines[0]
    assert lines[2] == "yaw +12.5°  pitch -3.0°  roll +0.2°"
    assert core.format_pose(None) == "no face"


def test_export_names_are_unique_per_image():
    assert core.export_names("emma", 2, "glb") == (["emma_face0.glb", "emma_face1.glb"], "emma_landmarks.json")
    with pytest.raises(ValueError):
        core.export_names("emma", 1, "stl")

    # The duplicate policy shared with frnet-app --image (frnet.files.unique_stems).
    assert unique_stems([Path("a/x.jpg"), Path("b/x.png"), Path("y.jpg")]) == ["x", "x-2", "y"]
    assert unique_stems([Path("x-2.jpg"), Path("x.jpg"), Path("b/x.jpg")]) == ["x-2", "x", "x-3"]


def test_camera_source_with_a_fake_camera():
    source = CameraSource(0, open_capture=lambda index: FakeCapture(frames=2))
    assert source.info.size == (64, 48) and source.info.fps == 30.0 and source.info.kind == "camera"
    first, second = source.read(), source.read()
    assert first.image_rgb[0, 0].tolist() == [30, 20, 10]  # converted to RGB
    assert (first.index, second.index) == (0, 1)
    with pytest.raises(CameraError, match="stopped delivering"):
        source.read()
    with pytest.raises(CameraError, match="cannot open camera 4"):
        CameraSource(4, open_capture=lambda index: FakeCapture(opened=False))
    assert probe_cameras(range(3), open_capture=lambda index: FakeCapture(opened=index == 1)) == [1]
