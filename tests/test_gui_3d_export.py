"""The desktop app's 3D exports, offscreen: "UV texture" export of gallery photos (OBJ + MTL + PNG,
GLB), and the face animation saved next to a recording. Uses the window helpers of tests/test_gui.py
and only the bundled sample clip (no ../shared data)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="pytest-qt is not installed (pip install -e '.[dev]')")

import trimesh  # noqa: E402
from PyQt6.QtWidgets import QFileDialog  # noqa: E402

from file_clients import gltf_validator, validate_gltf  # noqa: E402
from frnet.gltf import accessor_array, read_glb  # noqa: E402
from frnet.gui import core  # noqa: E402
from frnet.video import VideoReader, write_image_atomic  # noqa: E402
from support import SAMPLE_VIDEO, WAIT_MS, drop_and_wait, wait_frames  # noqa: E402 - fixtures: conftest.py


def test_textured_export_of_a_dropped_photo(qtbot, window, dialogs, monkeypatch, tmp_path):
    with VideoReader(SAMPLE_VIDEO) as reader:
        photo = next(iter(reader)).image_rgb
    write_image_atomic(tmp_path / "astronaut.png", photo)
    drop_and_wait(qtbot, window, [tmp_path / "astronaut.png"])
    assert window.gallery.entries()[0].face_count == 1
    window.gallery.selectAll()
    window.texture_check.setChecked(True)
    for fmt, done in (("obj", 1), ("glb", 2)):
        out = tmp_path / f"export_{fmt}"
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, _out=out, **k: str(_out))
        window.format_combo.setCurrentIndex(core.EXPORT_FORMATS.index(fmt))
        window.export_selected()
        qtbot.waitUntil(lambda _done=done: window.exports_finished == _done, timeout=WAIT_MS)
        assert dialogs == []
    names = sorted(p.name for p in (tmp_path / "export_obj").iterdir())
    assert names == ["astronaut_face0.mtl", "astronaut_face0.obj", "astronaut_face0.png", "astronaut_landmarks.json"]
    mesh = trimesh.load(tmp_path / "export_obj" / "astronaut_face0.obj", process=False, force="mesh")
    assert mesh.visual.kind == "texture" and mesh.visual.uv.shape == (len(mesh.vertices), 2)
    assert window.last_export.mesh_count == 1
    document, _ = read_glb((tmp_path / "export_glb" / "astronaut_face0.glb").read_bytes())
    assert document["images"] and "TEXCOORD_0" in document["meshes"][0]["primitives"][0]["attributes"]


def test_recording_saves_its_face_animation(qtbot, window, dialogs, monkeypatch, tmp_path):
    target = tmp_path / "clips" / "take1.mp4"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "MP4 video (*.mp4)"))
    window.open_video(SAMPLE_VIDEO)
    wait_frames(qtbot, window, 3)
    window.action("record").trigger()
    qtbot.waitUntil(lambda: window.recording, timeout=WAIT_MS)
    wait_frames(qtbot, window, 8)
    window.action("record").trigger()
    qtbot.waitUntil(lambda: not window.recording, timeout=WAIT_MS)
    animation = target.with_suffix(".glb")
    qtbot.waitUntil(animation.exists, timeout=WAIT_MS)
    assert dialogs == []
    document, blob = read_glb(animation.read_bytes())
    sampler = document["animations"][0]["samplers"][0]
    times = accessor_array(document, blob, sampler["input"])
    with VideoReader(target) as reader:
        frames = sum(1 for _ in reader)
    assert times[0] == 0.0 and 5 <= len(times) <= frames  # keys on the recording's clock, one per new frame
    assert np.all(np.diff(times) > 0)
    command, why = gltf_validator()
    if command is not None:
        (report,) = validate_gltf(animation)
        assert report["numErrors"] == report["numWarnings"] == report["numHints"] == 0, report
