"""The face model API: reconstruction math on the shipped model, the landmark embedding, the Loop
subdivision, file loading and its errors, shipped-file lookup and the 3DDFA BFM loader."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import trimesh

from frnet import geometry
from frnet.errors import ModelFileError, ResourceMissingError
from frnet.facemodel import (
    FACE_MODEL_FILE,
    LANDMARKS68_FLIP,
    NUM_EXPRESSION,
    NUM_IDENTITY,
    NUM_LANDMARKS,
    NUM_PARAMS,
    FaceModel,
    SparseRows,
    load_bfm,
    load_face_model,
)
from frnet.resources import resource_path

MIRROR_X = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return load_face_model()


def random_params(count: int, seed: int = 0, coefficient_sd: float = 1.0) -> np.ndarray:
    """Plausible parameters: scaled rotations within ±50° yaw, translations near the crop centre and
    N(0, coefficient_sd²) identity/expression coefficients."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-1, 1, (count, 3)) * np.radians([50, 25, 25])
    rotation = geometry.rotation_from_euler(angles[:, 0], angles[:, 1], angles[:, 2])
    pose = geometry.compose_pose(rng.uniform(0.4, 0.8, count), rotation,
                                 rng.uniform([45, 45, -10], [75, 75, 10], (count, 3)))
    coeffs = rng.normal(0, coefficient_sd, (count, NUM_IDENTITY + NUM_EXPRESSION))
    return np.concatenate([pose.reshape(count, 12), coeffs], axis=1).astype(np.float32)


def distance_to_surface(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                        radius_mm: float = 25.0) -> np.ndarray:
    """Unsigned distance of each point to a triangle mesh (trimesh's exact point–triangle query
    over the triangles whose centroid lies within ``radius_mm``; no rtree needed)."""
    corners = np.asarray(vertices, dtype=np.float64)[triangles]
    centroids = corners.mean(axis=1)
    distances = []
    for point in np.asarray(points, dtype=np.float64):
        near = np.linalg.norm(centroids - point, axis=1) < radius_mm
        assert near.any(), "no triangle near the point: widen radius_mm"
        closest = trimesh.triangles.closest_point(corners[near], np.repeat(point[None], near.sum(), axis=0))
        distances.append(np.linalg.norm(closest - point, axis=1).min())
    return np.array(distances)


# -- zero parameters → mean shape ------------------------------------------------------------------
def test_shipped_model_sizes(model):
    assert model.num_params == NUM_PARAMS == 62
    assert (model.num_identity, model.num_expression) == (40, 10)
    assert model.num_vertices == 468 and model.num_dense_vertices >= 7000
    assert model.render_triangles is model.dense_triangles
    assert model.dense_triangles.min() >= 0 and model.dense_triangles.max() < model.num_dense_vertices
    assert np.all(np.diff(model.identity_std) <= 0) and np.all(np.diff(model.expression_std) <= 0)
    assert np.all(model.identity_std > 0) and np.all(model.expression_std > 0)
    for basis in (model.identity_basis, model.expression_basis):  # unit-norm, mutually orthogonal
        flat = basis.reshape(len(basis), -1).astype(np.float64)
        np.testing.assert_allclose(flat @ flat.T, np.eye(len(basis)), atol=1e-4)
    cross = model.identity_basis.reshape(40, -1).astype(np.float64) @ model.expression_basis.reshape(10, -1).T
    assert np.abs(cross).max() < 1e-3  # expression projected out of identity


def test_zero_coefficients_give_the_mean_shape(model):
    zeros = np.zeros(NUM_PARAMS, dtype=np.float32)
    np.testing.assert_array_equal(model.shape(zeros), model.mean_shape)
    np.testing.assert_allclose(model.shape(zeros, dense=True), model.dense_from_base(model.mean_shape), atol=1e-4)
    np.testing.assert_allclose(model.landmarks_model(zeros), model.landmarks_from_vertices(model.mean_shape),
                               atol=1e-4)


def test_zero_coefficients_with_a_known_pose_in_crop_and_image_pixels(model):
    scale, translation = 0.5, np.array([60.0, 64.0, 3.0])
    params = np.zeros(NUM_PARAMS, dtype=np.float32)
    params[:12] = geometry.compose_pose(scale, np.eye(3), translation).reshape(-1)
    mean = model.mean_shape.astype(np.float64)
    expected_crop = np.stack([scale * mean[:, 0] + 60.0, 120.0 - (scale * mean[:, 1] + 64.0),
                              scale * mean[:, 2] + 3.0], axis=1)
    np.testing.assert_allclose(model.vertices(params, dense=False), expected_crop, atol=1e-4)
    roi = np.array([200.0, 100.0, 440.0, 340.0])  # 2 image pixels per crop pixel
    expected_image = np.stack([200.0 + 2 * expected_crop[:, 0], 100.0 + 2 * expected_crop[:, 1],
                               2 * expected_crop[:, 2]], axis=1)
    np.testing.assert_allclose(geometry.crop_to_image(model.vertices(params, dense=False), roi), expected_image,
                               atol=1e-3)
    landmarks_image = geometry.crop_to_image(model.landmarks68(params), roi)
    np.testing.assert_allclose(landmarks_image, model.landmarks_from_vertices(expected_image), atol=1e-3)
    # The mean face is upright: brows above the mouth in the image, the chin at the bottom.
    assert landmarks_image[19, 1] < landmarks_image[51, 1] < landmarks_image[8, 1]
    assert landmarks_image[36, 0] < landmarks_image[45, 0]  # landmark 36 on the image's left


def test_reconstruction_is_linear_in_the_coefficients(model):
    params = random_params(1, seed=1)[0]
    zeros_pose = params.copy()
    zeros_pose[12:] = 0
    base = model.shape(params).astype(np.float64)
    expected = model.mean_shape.astype(np.float64)
    expected = expected + np.einsum("k,k,knd->nd", params[12:52], model.identity_std, model.identity_basis)
    expected = expected + np.einsum("k,k,knd->nd", params[52:], model.expression_std, model.expression_basis)
    np.testing.assert_allclose(base, expected, atol=1e-3)


def test_batched_shapes_and_wrong_parameter_count(model):
    params = random_params(6, seed=2).reshape(2, 3, NUM_PARAMS)
    assert model.vertices(params).shape == (2, 3, model.num_dense_vertices, 3)
    assert model.vertices(params, dense=False).shape == (2, 3, 468, 3)
    assert model.landmarks68(params).shape == (2, 3, NUM_LANDMARKS, 3)
    assert model.euler_angles(params).shape == (2, 3, 3)
    np.testing.assert_allclose(model.landmarks68(params)[1, 2], model.landmarks68(params[1, 2]), atol=1e-4)
    with pytest.raises(ValueError, match="62"):
        model.vertices(np.zeros((2, 61)))


# -- landmark embedding --------------------------------------------------------------------------
def test_landmark_weights_are_convex(model):
    assert model.landmark_indices.shape == model.landmark_weights.shape == (68, 8)
    assert np.all(model.landmark_weights >= 0)
    np.testing.assert_allclose(model.landmark_weights.sum(axis=1), 1.0, atol=1e-5)


def test_landmarks_are_the_weighted_vertices(model):
    params = random_params(5, seed=3)
    shape = model.shape(params).astype(np.float64)
    weighted = np.einsum("ik,bikd->bid", model.landmark_weights, shape[:, model.landmark_indices])
    np.testing.assert_allclose(model.landmarks_model(params), weighted, atol=1e-3)
    np.testing.assert_allclose(model.landmarks68(params),
                               model.landmarks_from_vertices(model.vertices(params, dense=False)), atol=1e-3)


def test_landmark_embedding_is_mirror_symmetric(model):
    """Mirroring the face (x → -x, vertices through mirror_index) mirrors the landmarks with the iBUG
    flip; the mean is symmetric and its landmarks too (to 1 mm of a 90 mm eye-corner distance)."""
    mirror = model.mirror_index
    np.testing.assert_array_equal(mirror[mirror], np.arange(model.num_vertices))
    np.testing.assert_array_equal(LANDMARKS68_FLIP[LANDMARKS68_FLIP], np.arange(68))
    mean = model.mean_shape.astype(np.float64)
    np.testing.assert_allclose(mean[mirror] * MIRROR_X, mean, atol=1e-3)
    shape = model.shape(random_params(1, seed=4)[0]).astype(np.float64)
    mirrored_landmarks = model.landmarks_from_vertices(shape[mirror] * MIRROR_X)
    expected = model.landmarks_from_vertices(shape)[LANDMARKS68_FLIP] * MIRROR_X
    assert np.abs(mirrored_landmarks - expected).max() < 1.0
    eyes = model.landmarks_from_vertices(mean)[[36, 45]]
    assert np.linalg.norm(eyes[1] - eyes[0]) == pytest.approx(90.0, rel=0.15)


# -- subdivision -----------------------------------------------------------------------------------
def test_subdivision_rows_are_convex_and_affine_invariant(model):
    sub = model.subdivision
    assert sub.num_rows == model.num_dense_vertices and sub.num_columns == model.num_vertices
    assert np.all(sub.data > 0)
    row_sums = np.add.reduceat(sub.data.astype(np.float64), sub.indptr[:-1])
    np.testing.assert_allclose(row_sums, 1.0, atol=1e-5)
    rng = np.random.default_rng(5)
    affine, offset = rng.normal(size=(3, 3)), rng.normal(0, 50, 3)
    mean = model.mean_shape.astype(np.float64)
    np.testing.assert_allclose(model.dense_from_base(mean @ affine.T + offset),
                               model.dense_from_base(mean) @ affine.T + offset, atol=1e-3)


def test_dense_shape_is_the_subdivided_base_shape(model):
    params = random_params(3, seed=6)
    for p in params:
        np.testing.assert_allclose(model.shape(p, dense=True), model.dense_from_base(model.shape(p)), atol=1e-3)
        np.testing.assert_allclose(model.vertices(p), geometry.model_to_crop(
            model.dense_from_base(model.shape(p)), geometry.pose_matrix(p)), atol=1e-3)


def test_dense_copies_of_base_vertices_stay_close(model):
    """The first 468 dense vertices are the base vertices moved by Loop's vertex rule towards the
    limit surface. The move grows with curvature × edge length² and the base edges are up to 29 mm
    long at the sides of the face: 3.9 mm is the largest move on the mean (outer eye region);
    5 mm (max) and 1.5 mm (median) leave room for ±1σ faces."""
    sub = model.subdivision
    for row in range(model.num_vertices):
        cols, weights = sub.indices[sub.indptr[row]:sub.indptr[row + 1]], sub.data[sub.indptr[row]:sub.indptr[row + 1]]
        assert cols[np.argmax(weights)] == row
    for p in random_params(4, seed=7):
        moved = np.linalg.norm(model.shape(p, dense=True)[:model.num_vertices] - model.shape(p), axis=1)
        assert moved.max() < 5.0 and np.median(moved) < 1.5


def test_subdivision_keeps_landmarks_on_the_surface(model):
    """Landmarks are convex combinations of base vertices, so they sit near (not exactly on) the base
    surface; Loop subdivision must not carry the surface away from them. Thresholds, in mm of a
    face whose outer eye corners are 90 mm apart (5 % NME ≈ 4.5 mm is the landmark fit's own error):

    * each landmark is at most 1.5 mm further from the dense surface than from the base surface
      (observed ≤ 1.0 mm: subdivision only smooths the surface by about a millimetre there);
    * the median landmark is within 1 mm of the dense surface (observed ≈ 0.45 mm);
    * jaw, brows and nose (0–35), which lie on the skin, are within 1.5 mm (observed ≤ 0.95 mm);
      eye and lip points (36–67) span the curved eyelid and lip margins and the open mouth slit
      (the inner-lip points lie in the gap, by design), so they only get a 6 mm bound (observed
      ≤ 4.7 mm over N(0, 1) faces).
    """
    for p in random_params(4, seed=8):
        landmarks = model.landmarks_model(p)
        to_dense = distance_to_surface(landmarks, model.shape(p, dense=True), model.dense_triangles)
        to_base = distance_to_surface(landmarks, model.shape(p), model.triangles)
        assert np.all(to_dense <= to_base + 1.5), np.round(to_dense - to_base, 2)
        assert np.median(to_dense) < 1.0
        assert to_dense[:36].max() < 1.5, np.round(to_dense[:36], 2)
        assert to_dense.max() < 6.0, np.round(to_dense, 2)


# -- Euler angles from parameters ----------------------------------------------------------------
def test_euler_angles_from_params(model):
    params = random_params(8, seed=9)
    _, rotation, _ = geometry.decompose_pose(geometry.pose_matrix(params))
    expected = geometry.euler_from_rotation(rotation)
    np.testing.assert_allclose(model.euler_angles(params), expected, atol=1e-6)
    np.testing.assert_allclose(geometry.rotation_from_euler(*model.euler_angles(params).T), rotation, atol=1e-5)


# -- files ---------------------------------------------------------------------------------------
def small_model(num_vertices: int = 30, seed: int = 0) -> FaceModel:
    """A tiny valid model with a subdivision: the base vertices, then the midpoint of each pair of
    consecutive vertices (2N dense vertices)."""
    rng = np.random.default_rng(seed)
    n = num_vertices
    pairs = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)
    subdivision = SparseRows(np.concatenate([np.arange(n), n + 2 * np.arange(n + 1)]).astype(np.int64),
                             np.concatenate([np.arange(n), pairs.reshape(-1)]).astype(np.int32),
                             np.concatenate([np.ones(n), np.full(2 * n, 0.5)]).astype(np.float32), n)
    q, _ = np.linalg.qr(rng.normal(size=(3 * num_vertices, NUM_IDENTITY + NUM_EXPRESSION)))
    bases = q.T.reshape(-1, num_vertices, 3).astype(np.float32)
    return FaceModel(
        mean_shape=rng.normal(0, 40, (num_vertices, 3)).astype(np.float32),
        identity_basis=bases[:NUM_IDENTITY], identity_std=np.geomspace(10, 1, NUM_IDENTITY).astype(np.float32),
        expression_basis=bases[NUM_IDENTITY:], expression_std=np.geomspace(5, 1, NUM_EXPRESSION).astype(np.float32),
        triangles=rng.integers(0, num_vertices, (20, 3)).astype(np.int32),
        landmark_indices=rng.integers(0, num_vertices, (68, 2)).astype(np.int32),
        landmark_weights=np.full((68, 2), 0.5, np.float32),
        subdivision=subdivision, dense_triangles=rng.integers(0, num_vertices, (10, 3)).astype(np.int32),
        mirror_index=np.arange(num_vertices, dtype=np.int32)[::-1].copy(),
        provenance={"model": "test", "counts": {"n": 1}},
    )


def test_save_and_load_round_trip(tmp_path):
    original = small_model()
    path = tmp_path / "model.npz"
    original.save(path)
    assert not (tmp_path / "model.npz.part").exists()
    loaded = load_face_model(path)
    params = random_params(3, seed=10)
    np.testing.assert_allclose(loaded.vertices(params), original.vertices(params), atol=1e-4)
    np.testing.assert_allclose(loaded.landmarks68(params), original.landmarks68(params), atol=1e-4)
    np.testing.assert_array_equal(loaded.mirror_index, original.mirror_index)
    assert loaded.provenance == original.provenance
    assert loaded.num_dense_vertices == 60


def test_missing_file_raises_model_file_error_naming_it(tmp_path):
    path = tmp_path / "absent.npz"
    with pytest.raises(ModelFileError, match="absent.npz"):
        load_face_model(path)


@pytest.mark.parametrize("content", [b"", b"not a zip archive at all", b"PK\x03\x04truncated"])
def test_corrupt_file_raises_model_file_error_naming_it(tmp_path, content):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="corrupt.npz"):
        load_face_model(path)


def test_truncated_shipped_file_raises_model_file_error(tmp_path):
    data = resource_path("models", FACE_MODEL_FILE).read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated.npz"):
        load_face_model(path)


def _rewrite(source, target, drop=(), **replace) -> None:
    with np.load(source) as data:
        arrays = {k: data[k] for k in data.files if k not in drop}
    arrays.update(replace)
    np.savez(target, **arrays)


@pytest.mark.parametrize("version", [0, 2, 99])
def test_wrong_format_version_raises_model_file_error(tmp_path, version):
    small_model().save(tmp_path / "good.npz")
    path = tmp_path / f"version{version}.npz"
    _rewrite(tmp_path / "good.npz", path, format_version=np.array(version))
    with pytest.raises(ModelFileError, match=rf"version{version}\.npz.*format {version}"):
        load_face_model(path)
    _rewrite(tmp_path / "good.npz", tmp_path / "noversion.npz", drop=("format_version",))
    with pytest.raises(ModelFileError, match="noversion.npz"):
        load_face_model(tmp_path / "noversion.npz")


def test_missing_array_and_inconsistent_arrays_raise_model_file_error(tmp_path):
    small_model().save(tmp_path / "good.npz")
    _rewrite(tmp_path / "good.npz", tmp_path / "notri.npz", drop=("triangles",))
    with pytest.raises(ModelFileError, match="notri.npz.*triangles"):
        load_face_model(tmp_path / "notri.npz")
    with np.load(tmp_path / "good.npz") as data:
        short_std = data["identity_std"][:-1]
    _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", identity_std=short_std)
    with pytest.raises(ModelFileError, match="identity_basis"):
        load_face_model(tmp_path / "bad.npz")
    assert zipfile.is_zipfile(tmp_path / "bad.npz")


# -- shipped-file lookup -------------------------------------------------------------------------
def test_resource_path_finds_the_shipped_model(monkeypatch):
    monkeypatch.delenv("FRNET_MODELS_DIR", raising=False)
    path = resource_path("models", FACE_MODEL_FILE)
    assert path.is_file() and path.name == FACE_MODEL_FILE
    assert load_face_model().num_vertices == 468


def test_resource_path_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("FRNET_MODELS_DIR", raising=False)
    with pytest.raises(ResourceMissingError, match="no_such_model.npz"):
        resource_path("models", "no_such_model.npz")
    with pytest.raises(ValueError, match="kind"):
        resource_path("weights", FACE_MODEL_FILE)
    monkeypatch.setenv("FRNET_MODELS_DIR", str(tmp_path))
    with pytest.raises(ResourceMissingError, match=FACE_MODEL_FILE):
        load_face_model()
    small_model().save(tmp_path / FACE_MODEL_FILE)
    assert resource_path("models", FACE_MODEL_FILE) == tmp_path / FACE_MODEL_FILE
    assert load_face_model().num_vertices == 30


# -- 3DDFA BFM loader ------------------------------------------------------------------------------
BFM_VERTICES = 100


def write_bfm(path, seed: int = 0, drop=(), tri_transposed: bool = False) -> dict:
    """A small file in the 3DDFA BFM layout: interleaved (3N, 1) mean, (3N, K) bases with more
    columns than frnet uses, (3, T) or (T, 3) triangles, 204 keypoints into the 3N vector."""
    rng = np.random.default_rng(seed)
    landmark_vertices = rng.choice(BFM_VERTICES, NUM_LANDMARKS, replace=False)
    raw = {
        "u": rng.normal(0, 5e4, (3 * BFM_VERTICES, 1)).astype(np.float32),
        "w_shp": rng.normal(0, 1e3, (3 * BFM_VERTICES, 45)).astype(np.float32),
        "w_exp": rng.normal(0, 1e2, (3 * BFM_VERTICES, 12)).astype(np.float32),
        "tri": rng.integers(0, BFM_VERTICES, (150, 3)).astype(np.int32),
        "keypoints": (3 * landmark_vertices[:, None] + np.arange(3)).reshape(-1).astype(np.int64),
    }
    if tri_transposed:
        raw["tri"] = raw["tri"].T.copy()
    stored = {k: v for k, v in raw.items() if k not in drop}
    if str(path).endswith(".pkl"):
        with open(path, "wb") as handle:
            pickle.dump(stored, handle)
    else:
        np.savez(path, **stored)
    return raw | {"landmark_vertices": landmark_vertices}


@pytest.mark.parametrize("suffix", [".npz", ".pkl"])
def test_load_bfm_reproduces_the_raw_model(tmp_path, suffix):
    raw = write_bfm(tmp_path / f"bfm{suffix}", tri_transposed=suffix == ".pkl")
    bfm = load_bfm(tmp_path / f"bfm{suffix}")
    assert bfm.num_vertices == bfm.num_dense_vertices == BFM_VERTICES and bfm.subdivision is None
    assert bfm.num_params == NUM_PARAMS
    np.testing.assert_array_equal(bfm.triangles, raw["tri"].T if suffix == ".pkl" else raw["tri"])
    zeros = np.zeros(NUM_PARAMS, dtype=np.float32)
    np.testing.assert_allclose(bfm.shape(zeros), raw["u"].reshape(-1, 3), rtol=1e-6)
    rng = np.random.default_rng(1)
    params = zeros.copy()
    params[12:] = rng.normal(size=50)
    alpha, beta = params[12:52].astype(np.float64), params[52:].astype(np.float64)
    expected = (raw["u"][:, 0] + raw["w_shp"][:, :40] @ alpha + raw["w_exp"][:, :10] @ beta).reshape(-1, 3)
    np.testing.assert_allclose(bfm.shape(params), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(bfm.landmarks_model(params), expected[raw["landmark_vertices"]],
                               rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(bfm.vertices(params), bfm.vertices(params, dense=False))
    assert "BFM" in bfm.provenance["format"]


@pytest.mark.parametrize("missing", ["u", "w_shp", "w_exp", "tri", "keypoints"])
def test_load_bfm_missing_key_raises_model_file_error(tmp_path, missing):
    write_bfm(tmp_path / "bfm.npz", drop=(missing,))
    with pytest.raises(ModelFileError, match=rf"bfm\.npz.*{missing}"):
        load_bfm(tmp_path / "bfm.npz")


def test_load_bfm_bad_shapes_and_files(tmp_path):
    raw = write_bfm(tmp_path / "ok.npz")
    np.savez(tmp_path / "narrow.npz", **{k: raw[k] for k in ("u", "w_exp", "tri", "keypoints")},
             w_shp=raw["w_shp"][:, :20])
    with pytest.raises(ModelFileError, match="w_shp"):
        load_bfm(tmp_path / "narrow.npz")
    np.savez(tmp_path / "keypoints.npz", **{k: raw[k] for k in ("u", "w_shp", "w_exp", "tri")},
             keypoints=raw["keypoints"][:-3])
    with pytest.raises(ModelFileError, match="keypoints"):
        load_bfm(tmp_path / "keypoints.npz")
    with pytest.raises(ModelFileError, match="absent.pkl"):
        load_bfm(tmp_path / "absent.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ModelFileError, match="junk.pkl"):
        load_bfm(tmp_path / "junk.pkl")
