"""Texture extraction against ground truth: a face rendered with a known texture onto a green
background is unwrapped again — seen texels match, hidden ones come from the mirrored side, no
background reaches the face; and the textured OBJ/GLB/PLY files carry what they should."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from frnet import geometry
from frnet.export import export_face_mesh, mesh_files
from frnet.gltf import accessor_array, read_glb
from frnet.pipeline import FaceResult
from frnet.texture import (
    extract_texture,
    pull_push_fill,
    rasterize,
    remap_points,
    sample_texture,
    vertex_normals,
)

SIZE = 512
GREEN = (0, 255, 0)


def symmetric_texture(size: int = SIZE) -> np.ndarray:
    """A smooth, left/right symmetric, never green texture (row 0 = v 1)."""
    v, u = np.mgrid[0:size, 0:size].astype(np.float64) / size
    v = 1.0 - v
    d = np.abs(u - 0.5) * 2
    rgb = np.stack([150 + 90 * d, 70 + 60 * v, 110 + 50 * np.cos(6 * v) * (1 - d)], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def render_photo(face_model, uv_layout, texture, yaw_deg: float, size=(420, 420)):
    """The mean face turned by ``yaw_deg``, textured, on green: (photo, image-pixel vertices)."""
    shape = face_model.shape(np.zeros(face_model.num_params), dense=True).astype(np.float64)
    turned = shape @ geometry.rotation_from_euler(np.radians(yaw_deg), 0.0, 0.0).T
    width, height = size
    vertices = np.column_stack([width / 2 + 2.0 * turned[:, 0], height / 2 - 2.0 * turned[:, 1], 2.0 * turned[:, 2]])
    triangles = face_model.render_triangles.astype(np.int64)
    ids, bary = rasterize(vertices, triangles, height, width, order=np.argsort(vertices[triangles, 2].mean(1)))
    photo = np.full((height, width, 3), GREEN, np.uint8)
    rows, cols = np.nonzero(ids >= 0)
    uv = np.einsum("mk,mkc->mc", bary[rows, cols], uv_layout.dense_uv[triangles[ids[rows, cols]]].astype(np.float64))
    photo[rows, cols] = remap_points(texture, uv[:, 0] * texture.shape[1] - 0.5, (1 - uv[:, 1]) * texture.shape[0] - 0.5)
    return photo, vertices


def test_rasterize_ids_barycentrics_and_painters_order():
    points = np.array([[1.0, 1.0, 0], [8.0, 1.0, 0], [1.0, 8.0, 0], [0.0, 0.0, 1], [9.0, 0.0, 1], [0.0, 9.0, 1]])
    triangles = np.array([[0, 1, 2], [3, 4, 5]])
    ids, bary = rasterize(points, triangles, 10, 10, order=[1, 0])  # triangle 0 drawn last: on top
    assert ids[2, 2] == 0 and ids[0, 0] == 1 and ids[9, 9] == -1
    np.testing.assert_allclose(bary[2, 2], [5 / 7, 1 / 7, 1 / 7], atol=1e-6)  # (2, 2) in triangle 0
    np.testing.assert_allclose(bary.sum(-1)[ids >= 0], 1.0, atol=1e-6)


def test_pull_push_keeps_known_values_and_fills_smoothly():
    colour = np.zeros((64, 64, 1))
    weight = np.zeros((64, 64))
    colour[10, 10], weight[10, 10] = 100.0, 1.0
    colour[50, 50], weight[50, 50] = 200.0, 1.0
    filled = pull_push_fill(colour, weight)[..., 0]
    assert filled[10, 10] == pytest.approx(100.0) and filled[50, 50] == pytest.approx(200.0)
    assert 100.0 - 1e-6 <= filled.min() and filled.max() <= 200.0 + 1e-6
    assert filled[12, 12] < filled[30, 30] < filled[48, 48]  # in between, ordered by distance


def test_frontal_face_unwraps_to_the_true_texture(face_model, uv_layout):
    truth = symmetric_texture()
    photo, vertices = render_photo(face_model, uv_layout, truth, 0.0)
    texture = extract_texture(photo, vertices, face_model.render_triangles, uv_layout, SIZE)
    seen = texture.photo_weight > 0.95
    assert seen.sum() > 0.45 * texture.chart.sum()  # all but the grazing sides and the outline
    error = np.abs(texture.image.astype(int) - truth.astype(int))[seen]
    assert error.mean() < 1.0 and np.percentile(error, 99) < 20  # measured: 0.05


def test_turned_face_fills_the_hidden_side_from_the_mirror_without_background(face_model, uv_layout):
    truth = symmetric_texture()
    photo, vertices = render_photo(face_model, uv_layout, truth, 65.0)  # nose to the image's right: left cheek hidden
    texture = extract_texture(photo, vertices, face_model.render_triangles, uv_layout, SIZE)
    chart = texture.chart
    mirrored = chart & (texture.mirror_weight > 0.95)
    assert mirrored.sum() > 0.2 * chart.sum()  # a large hidden part came from the other side
    error = np.abs(texture.image.astype(int) - truth.astype(int))[mirrored]
    assert error.mean() < 1.5  # measured: 0.18
    # No green on the face, nor around it (the padding that texture filtering reads).
    image = texture.image.astype(int)
    greenish = image[..., 1] - np.maximum(image[..., 0], image[..., 2]) > 20
    assert greenish.sum() == 0
    # What neither side sees is a smooth fill within the texture's colours.
    filled = chart & (texture.fill_weight > 0.95)
    assert np.abs(np.diff(texture.image.astype(float), axis=0))[filled[1:]].mean() < 3.0


def test_bad_arguments(face_model, uv_layout):
    photo, vertices = render_photo(face_model, uv_layout, symmetric_texture(64), 0.0, size=(100, 100))
    with pytest.raises(ValueError, match="texture size"):
        extract_texture(photo, vertices, face_model.render_triangles, uv_layout, 300)
    with pytest.raises(ValueError, match="vertices"):
        extract_texture(photo, vertices[:10], face_model.render_triangles, uv_layout, 256)


def _face(vertices: np.ndarray) -> FaceResult:
    return FaceResult(params=np.zeros(62, np.float32), roi_box=np.array([0.0, 0.0, 420.0, 420.0]),
                      vertices=vertices.astype(np.float32), landmarks68=np.zeros((68, 3), np.float32),
                      yaw_pitch_roll_deg=np.zeros(3, np.float32), score=1.0, track_id=0)


def test_textured_files_carry_uvs_image_and_colours(tmp_path, face_model, uv_layout):
    photo, vertices = render_photo(face_model, uv_layout, symmetric_texture(), 30.0)
    face = _face(vertices)
    triangles = face_model.render_triangles
    expected = extract_texture(photo, face.vertices, triangles, uv_layout, 256).image
    # OBJ + MTL + PNG, reloaded by trimesh with its UVs and image.
    obj = export_face_mesh(tmp_path / "face0.obj", face, triangles, photo, texture_size=256)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in mesh_files(obj, True))
    loaded = trimesh.load(obj, process=False, force="mesh")
    assert loaded.visual.kind == "texture" and len(loaded.vertices) == face_model.num_dense_vertices
    np.testing.assert_allclose(loaded.visual.uv, uv_layout.dense_uv, atol=1e-6)
    image = np.asarray(loaded.visual.material.image.convert("RGB"))
    np.testing.assert_array_equal(image, expected)
    assert np.isfinite(loaded.vertex_normals).all()
    # GLB: the texture embedded, glTF UVs (v down).
    glb = export_face_mesh(tmp_path / "face0.glb", face, triangles, photo, texture_size=256)
    document, blob = read_glb(glb.read_bytes())
    primitive = document["meshes"][0]["primitives"][0]
    uv = accessor_array(document, blob, primitive["attributes"]["TEXCOORD_0"])
    np.testing.assert_allclose(uv[:, 1], 1.0 - uv_layout.dense_uv[:, 1], atol=1e-6)
    view = document["bufferViews"][document["images"][0]["bufferView"]]
    png = np.frombuffer(blob[view["byteOffset"]:view["byteOffset"] + view["byteLength"]], np.uint8)
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), expected)
    assert "COLOR_0" not in primitive["attributes"]  # the texture alone colours the face
    material = document["materials"][primitive["material"]]["pbrMetallicRoughness"]
    assert material["baseColorTexture"]["index"] == 0
    # PLY: vertex colours from the texture.
    ply = export_face_mesh(tmp_path / "face0.ply", face, triangles, photo, texture_size=256)
    colours = trimesh.load(ply, process=False).visual.vertex_colors
    np.testing.assert_array_equal(colours, sample_texture(expected, uv_layout.dense_uv))


def test_vertex_normals_point_out_of_the_face(face_model):
    shape = face_model.shape(np.zeros(face_model.num_params), dense=True)
    normals = vertex_normals(shape, face_model.render_triangles)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    nose_tip = int(np.argmax(shape[:, 2]))
    assert normals[nose_tip, 2] > 0.8


def test_every_glb_passes_the_khronos_validator(tmp_path, face_model, uv_layout):
    from file_clients import gltf_validator, validate_gltf

    command, why = gltf_validator()
    if command is None:
        pytest.skip(why)
    photo, vertices = render_photo(face_model, uv_layout, symmetric_texture(), 40.0)
    face = _face(vertices)
    plain = export_face_mesh(tmp_path / "plain.glb", face, face_model.render_triangles, photo)
    textured = export_face_mesh(tmp_path / "textured.glb", face, face_model.render_triangles, photo, texture_size=256)
    for report in validate_gltf(plain, textured):
        counts = (report["numErrors"], report["numWarnings"], report["numInfos"], report["numHints"])
        assert counts == (0, 0, 0, 0), report


def test_cli_image_texture_writes_obj_mtl_png(tmp_path, capsys):
    from pathlib import Path

    from frnet import cli
    from frnet.files import write_image_atomic
    from frnet.video import VideoReader

    sample = Path(__file__).resolve().parents[1] / "assets" / "sample.mp4"
    with VideoReader(sample) as reader:
        write_image_atomic(tmp_path / "astronaut.png", next(iter(reader)).image_rgb)
    out = tmp_path / "out"
    assert cli.main(["--image", str(tmp_path / "astronaut.png"), "--out", str(out), "--texture", "256", "-q"]) == 0
    assert {"astronaut_face0.obj", "astronaut_face0.mtl", "astronaut_face0.png"} <= {p.name for p in out.iterdir()}
    mesh = trimesh.load(out / "astronaut_face0.obj", process=False, force="mesh")
    assert mesh.visual.kind == "texture" and mesh.visual.material.image.size == (256, 256)
    assert cli.main(["--image", str(tmp_path / "astronaut.png"), "--out", str(out), "--texture", "300"]) == 2
    assert "invalid choice" in capsys.readouterr().err
