"""The face-model build scripts end to end on a small sample of ../shared/data, in the build venv.

Runs ``python -m frnet.build.teacher --limit 25`` and ``python -m frnet.build.face_model`` with
small bases as subprocesses of ``.venv-build/bin/python`` (the legacy MediaPipe Face Mesh lives
only there), then loads the result with the runtime's :func:`frnet.facemodel.load_face_model`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from frnet.datasets import shared_data_dir
from frnet.facemodel import LANDMARKS68_FLIP, NUM_LANDMARKS, load_face_model

REPO = Path(__file__).resolve().parents[1]
BUILD_PYTHON = REPO / ".venv-build" / "bin" / "python"
NUM_IDENTITY, NUM_EXPRESSION = 8, 4
LIMIT = 25
MIRROR_X = np.array([-1.0, 1.0, 1.0])

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def _run(args: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", GLOG_minloglevel="2",
               TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([str(BUILD_PYTHON), *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout_s)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``(model, report printed by the script, teacher cache dir)`` of a small build."""
    if shared_data_dir() is None:
        pytest.skip("../shared/data not found (set FRNET_SHARED_DIR): the build needs the real face images")
    if not BUILD_PYTHON.is_file():
        pytest.skip(f"{BUILD_PYTHON} not found: run `make build-env` (legacy MediaPipe Face Mesh)")
    out = tmp_path_factory.mktemp("face_model_build")
    teacher = out / "teacher"
    _run(["-m", "frnet.build.teacher", "--limit", str(LIMIT), "--out", str(teacher)], REPO, 600)
    result = _run(["-m", "frnet.build.face_model", "--teacher", str(teacher), "--out", str(out / "fm.npz"),
                   "--num-identity", str(NUM_IDENTITY), "--num-expression", str(NUM_EXPRESSION)], REPO, 600)
    report = json.loads(result.stdout[result.stdout.index("{"):])
    return load_face_model(out / "fm.npz"), report, teacher


def test_teacher_cache_layout(built):
    _, _, teacher = built
    for source in ("ytf68", "utkface", "videos"):
        with np.load(teacher / f"{source}.npz") as cache:
            count = len(cache["names"])
            assert 0 < count <= LIMIT
            assert cache["points"].shape == (count, 468, 3)
            assert cache["image_size"].shape == (count, 2) and cache["found"].shape == (count,)
            found = cache["found"]
            assert found.sum() >= count // 2, f"{source}: teacher found faces on only {found.sum()}/{count}"
            assert np.all(np.isfinite(cache["points"][found])) and np.all(np.isnan(cache["points"][~found]))


def test_built_model_structure(built):
    model, _, _ = built
    n = model.num_vertices
    assert n == 468
    assert model.identity_basis.shape == (NUM_IDENTITY, n, 3) and model.identity_std.shape == (NUM_IDENTITY,)
    assert model.expression_basis.shape == (NUM_EXPRESSION, n, 3)
    assert model.num_params == 12 + NUM_IDENTITY + NUM_EXPRESSION
    assert np.all(model.identity_std > 0) and np.all(np.diff(model.identity_std) <= 0)
    assert model.landmark_indices.shape[0] == NUM_LANDMARKS
    assert np.all(model.landmark_weights >= 0)
    np.testing.assert_allclose(model.landmark_weights.sum(axis=1), 1.0, atol=1e-5)
    assert model.num_dense_vertices >= 7000
    assert model.dense_triangles.max() < model.num_dense_vertices
    mirror = model.mirror_index
    np.testing.assert_array_equal(mirror[mirror], np.arange(n))  # involution
    np.testing.assert_allclose(model.mean_shape[mirror] * MIRROR_X, model.mean_shape, atol=1e-3)
    # Canonical frame: outer eye corners (MediaPipe 33, 263) 90 mm apart along x, forehead above chin.
    mean = model.mean_shape
    assert np.linalg.norm(mean[263] - mean[33]) == pytest.approx(90.0, rel=1e-3)
    assert mean[263, 0] > mean[33, 0] and mean[10, 1] > mean[152, 1]
    landmarks = model.landmarks_from_vertices(mean)
    assert np.abs(landmarks[LANDMARKS68_FLIP] * MIRROR_X - landmarks).max() < 3.0


def test_built_model_provenance_and_report(built):
    model, report, _ = built
    provenance = model.provenance
    for key in ("model", "script", "script_version", "units", "teacher", "topology", "sources",
                "licence_note", "counts"):
        assert key in provenance, key
    assert provenance["script"] == "frnet.build.face_model"
    assert set(provenance["sources"]) == {"ytf68", "utkface", "videos"}
    assert provenance["counts"] == report
    assert report["mirror_map_is_involution"] is True
    assert report["teacher_images"]["ytf68"] <= LIMIT and report["teacher_faces"]["ytf68"] > 0
    assert len(report["identity"]["explained_ratio"]) == NUM_IDENTITY
    assert len(report["expression"]["explained_ratio"]) == NUM_EXPRESSION
    assert 0 < report["identity"]["explained_total"] <= 1 and 0 < report["expression"]["explained_total"] <= 1
    assert report["mesh"]["dense_vertices"] == model.num_dense_vertices
    # Landmark residual against the human ytf68 labels: reported, and in the range of the full build
    # (≈ 6 % of the outer-eye distance; the labels themselves are coarse).
    landmarks = report["landmarks"]
    assert landmarks["used"] >= 5
    assert 0.01 < landmarks["nme_outer_eye_mean"] < 0.15
    assert set(landmarks["nme_by_region"]) == {"jaw", "brows", "nose", "eyes", "mouth"}
    assert all(0 < v < 0.25 for v in landmarks["nme_by_region"].values())
