"""The UV layout: rebuilt by its script it equals the shipped file; one chart without flips or
overlaps, inside [0, 1]², left/right symmetric, made for the shipped face model."""

from __future__ import annotations

import numpy as np
import pytest

from frnet.build.face_model import boundary_loops
from frnet.build.uv_layout import build_uv_layout
from frnet.errors import ModelFileError
from frnet.facemodel import FACE_MODEL_FILE
from frnet.resources import resource_path
from frnet.uv import file_sha256, load_uv_layout, signed_areas


def polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)))


def test_script_reproduces_the_shipped_layout(face_model, uv_layout):
    base, dense, report = build_uv_layout(face_model)
    np.testing.assert_allclose(uv_layout.base_uv, base, atol=1e-6)
    np.testing.assert_allclose(uv_layout.dense_uv, dense, atol=1e-6)
    assert report["flipped_triangles_base"] == report["flipped_triangles_dense"] == 0


def test_layout_belongs_to_the_shipped_face_model(face_model, uv_layout):
    assert uv_layout.face_model_sha256 == file_sha256(resource_path("models", FACE_MODEL_FILE))
    assert len(uv_layout.base_uv) == face_model.num_vertices and len(uv_layout.dense_uv) == face_model.num_dense_vertices
    assert uv_layout.for_vertices(face_model.num_dense_vertices) is uv_layout.dense_uv
    with pytest.raises(ValueError, match="vertices"):
        uv_layout.for_vertices(5)


@pytest.mark.parametrize("mesh", ["base", "dense"])
def test_one_chart_without_flips_or_overlaps(face_model, uv_layout, mesh):
    uv = (uv_layout.base_uv if mesh == "base" else uv_layout.dense_uv).astype(np.float64)
    triangles = (face_model.triangles if mesh == "base" else face_model.dense_triangles).astype(np.int64)
    areas = signed_areas(uv, triangles)
    assert areas.min() > 0, "a flipped or degenerate triangle"
    assert uv.min() >= 0.0 and uv.max() <= 1.0
    # With every triangle counter-clockwise, the triangles' areas add up to the area inside the
    # outline minus the mouth opening exactly when no two of them overlap.
    loops = sorted(boundary_loops(triangles), key=len)
    assert len(loops) == 2  # the mouth and the outline: one chart, no seams
    enclosed = polygon_area(uv[loops[1]]) - polygon_area(uv[loops[0]])
    assert areas.sum() == pytest.approx(enclosed, rel=1e-9)


def test_left_right_symmetric(face_model, uv_layout):
    mirror = face_model.mirror_index
    np.testing.assert_allclose(uv_layout.base_uv[mirror, 0], 1.0 - uv_layout.base_uv[:, 0], atol=1e-6)
    np.testing.assert_allclose(uv_layout.base_uv[mirror, 1], uv_layout.base_uv[:, 1], atol=1e-6)
    # The dense mesh's topology is only nearly symmetric: its mirrored UVs land within a texel
    # (1024²) of another dense vertex's UV.
    dense = uv_layout.dense_uv.astype(np.float64)
    mirrored = dense * np.array([-1.0, 1.0]) + np.array([1.0, 0.0])
    nearest = np.concatenate([np.sqrt(((chunk[:, None, :] - dense[None]) ** 2).sum(-1).min(axis=1))
                              for chunk in np.array_split(mirrored, 8)]) * 1024  # in texels of a 1024² texture
    assert np.median(nearest) < 0.01 and np.percentile(nearest, 99) < 2.0 and nearest.max() < 4.0, \
        (np.median(nearest), np.percentile(nearest, 99), nearest.max())


def test_broken_file_is_a_model_file_error(tmp_path):
    bad = tmp_path / "uv.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_uv_layout(bad)
    np.savez(tmp_path / "other.npz", format_version=np.array(7))
    with pytest.raises(ModelFileError, match="format"):
        load_uv_layout(tmp_path / "other.npz")
