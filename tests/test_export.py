"""Exporters: every registered mesh format round-trips through trimesh; JSON and CSV writers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from frnet.datasets import LANDMARK_CSV_HEADER, read_landmarks_csv
from frnet.errors import OutputError
from frnet.gltf import accessor_array, read_glb, srgb_to_linear
from frnet.export import (
    MESH_EXPORTERS,
    export_landmarks_json,
    export_mesh,
    mesh_for_export,
    mesh_format,
    sample_vertex_colours,
    write_landmarks_csv,
)
from frnet.pipeline import FaceResult, FrameResult
from frnet.texture import vertex_normals


def tetra_strip(count: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small closed-ish mesh whose every vertex is used, with distinct colours."""
    rng = np.random.default_rng(7)
    vertices = rng.uniform(-50, 50, (count, 3)).astype(np.float64)
    triangles = np.array([[i, i + 1, i + 2] for i in range(count - 2)], dtype=np.int64)
    colours = np.concatenate([rng.integers(0, 256, (count, 3)), np.full((count, 1), 255)], 1).astype(np.uint8)
    return vertices, triangles, colours


@pytest.mark.parametrize("suffix", sorted(MESH_EXPORTERS))
def test_every_exporter_round_trips(tmp_path, suffix):
    vertices, triangles, colours = tetra_strip()
    path = export_mesh(tmp_path / f"mesh.{suffix}", vertices, triangles, colours)
    loaded = trimesh.load(path, process=False, force="mesh")
    np.testing.assert_allclose(loaded.vertices, vertices, atol=1e-5)
    np.testing.assert_array_equal(loaded.faces, triangles)
    expected_normals = vertex_normals(vertices, triangles)
    if suffix == "glb":
        # glTF vertex colours are linear and multiply a PBR material's base colour.
        document, blob = read_glb(path.read_bytes())
        primitive = document["meshes"][0]["primitives"][0]
        np.testing.assert_allclose(accessor_array(document, blob, primitive["attributes"]["COLOR_0"]),
                                   srgb_to_linear(colours[:, :3]), atol=1e-6)
        np.testing.assert_allclose(accessor_array(document, blob, primitive["attributes"]["NORMAL"]),
                                   expected_normals, atol=1e-6)
        material = document["materials"][primitive["material"]]["pbrMetallicRoughness"]
        assert material["baseColorFactor"] == [1.0, 1.0, 1.0, 1.0] and material["metallicFactor"] == 0.0
    else:
        assert loaded.visual.kind == "vertex"
        # OBJ stores colours as floats in [0, 1]: allow one level of rounding.
        assert np.abs(loaded.visual.vertex_colors.astype(int) - colours.astype(int)).max() <= 1
        # trimesh's mesh recomputes normals on this strip: read what the file holds.
        if suffix == "obj":
            lines = path.read_text().splitlines()
            normals = np.array([line.split()[1:] for line in lines if line.startswith("vn ")], float)
        else:
            with open(path, "rb") as handle:
                normals = trimesh.exchange.ply.load_ply(handle)["vertex_normals"]
        np.testing.assert_allclose(normals, expected_normals, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == [f"mesh.{suffix}"]  # no temporary file left


@pytest.mark.parametrize("name", ["mesh.stl", "mesh", "mesh.OBJX"])
def test_unknown_suffix_raises_value_error(tmp_path, name):
    vertices, triangles, _ = tetra_strip()
    with pytest.raises(ValueError, match="unknown suffix"):
        export_mesh(tmp_path / name, vertices, triangles)
    assert list(tmp_path.iterdir()) == []


def test_suffix_is_case_insensitive():
    assert mesh_format("FACE.GLB") == "glb"


def test_bad_shapes_raise_value_error(tmp_path):
    vertices, triangles, colours = tetra_strip()
    with pytest.raises(ValueError, match="vertices"):
        export_mesh(tmp_path / "m.obj", vertices[:, :2], triangles)
    with pytest.raises(ValueError, match="vertex_colors"):
        export_mesh(tmp_path / "m.obj", vertices, triangles, colours[:-1])


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    vertices, triangles, colours = tetra_strip()

    def broken(path, mesh, final=None):
        path.write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setitem(MESH_EXPORTERS, "ply", broken)
    with pytest.raises(OSError):
        export_mesh(tmp_path / "m.ply", vertices, triangles, colours)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_destination_raises_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    vertices, triangles, _ = tetra_strip()
    with pytest.raises(OutputError):
        export_mesh(blocker / "m.obj", vertices, triangles)


def test_export_frame_flips_y_and_keeps_winding():
    # A triangle counter-clockwise in y-up space is clockwise in image pixels (y down); after the
    # export transform its normal must point towards the camera (+z) again.
    image_xy = np.array([[10.0, 90.0, 5.0], [50.0, 90.0, 5.0], [30.0, 50.0, 5.0]])  # apex up in the image
    out = mesh_for_export(image_xy, image_height=100)
    np.testing.assert_allclose(out[:, 1], [9.0, 9.0, 49.0])
    normal = np.cross(out[1] - out[0], out[2] - out[0])
    assert normal[2] > 0


def test_sample_vertex_colours_bilinear_and_clamped():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, 2:] = (200, 100, 50)
    colours = sample_vertex_colours(image, np.array([[0.0, 0.0], [3.0, 3.0], [1.5, 1.0], [-10.0, 99.0]]))
    assert colours.dtype == np.uint8 and colours.shape == (4, 4)
    np.testing.assert_array_equal(colours[0], [0, 0, 0, 255])
    np.testing.assert_array_equal(colours[1], [200, 100, 50, 255])
    np.testing.assert_array_equal(colours[2, :3], [100, 50, 25])  # halfway between the two halves
    np.testing.assert_array_equal(colours[3], [0, 0, 0, 255])  # outside: nearest border pixel


def _face(offset: float = 0.0, side: float = 100.0) -> FaceResult:
    landmarks = np.c_[np.linspace(10, 60, 68) + offset, np.linspace(20, 70, 68), np.zeros(68)].astype(np.float32)
    return FaceResult(params=np.zeros(62, np.float32), roi_box=np.array([offset, 0.0, offset + side, side]),
                      vertices=np.zeros((0, 3), np.float32), landmarks68=landmarks,
                      yaw_pitch_roll_deg=np.array([1.0, 2.0, 3.0], np.float32), score=0.9, track_id=0)


def test_landmarks_json(tmp_path):
    result = FrameResult(0, None, (640, 480), [_face(), _face(200.0, 150.0)])
    path = export_landmarks_json(tmp_path / "x_landmarks.json", result, image="x.jpg")
    document = json.loads(path.read_text())
    assert document["image"] == "x.jpg" and (document["width"], document["height"]) == (640, 480)
    assert len(document["faces"]) == 2
    face = document["faces"][1]
    assert np.array(face["landmarks68"]).shape == (68, 3)
    assert face["roi_box"] == [200.0, 0.0, 350.0, 150.0]
    assert face["yaw_pitch_roll_deg"] == [1.0, 2.0, 3.0]
    assert len(face["params"]) == 62
    empty = export_landmarks_json(tmp_path / "none.json", FrameResult(1, None, (10, 10), []))
    assert json.loads(empty.read_text())["faces"] == []


def test_landmarks_csv_matches_the_dataset_format(tmp_path):
    points = np.c_[np.arange(68) * 1.5, np.arange(68) * 2.25]
    path = write_landmarks_csv(tmp_path / "landmarks68.csv", [("a.jpg", points), ("b.jpg", None)])
    header = path.read_text().splitlines()[0].split(",")
    assert header == LANDMARK_CSV_HEADER
    rows = read_landmarks_csv(path)
    np.testing.assert_allclose(rows["a.jpg"], points, atol=0.005)
    assert rows["b.jpg"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landmarks68.csv"]
    with pytest.raises(ValueError):
        write_landmarks_csv(tmp_path / "bad.csv", [("c.jpg", points[:10])])
    assert not (tmp_path / "bad.csv").exists()
