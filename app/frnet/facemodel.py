"""The linear 3D face model: 62 parameters → dense mesh and 68 landmarks (pure numpy, batched).

``shape = mean + Σ identity_basis[k]·identity_std[k]·α_id[k] + Σ expression_basis[k]·expression_std[k]·α_exp[k]``

so the identity and expression coefficients are in units of standard deviations (α ~ N(0, 1) over
the faces the model was built from). The 62 parameters are, in order: 12 pose values (the 3×4
matrix ``[s·R | t]``, row-major; see :mod:`frnet.geometry`), 40 identity and 10 expression
coefficients.

Two meshes share the parameters: the *base* mesh (MediaPipe's 468-vertex topology), on which the
68 landmarks are embedded, and the *dense* render mesh obtained from it by linear Loop subdivision.
Models in the 3DDFA BFM format can be loaded with :func:`load_bfm`; they have no subdivision (the
dense mesh is the base mesh).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import geometry
from .errors import ModelFileError
from .resources import resource_path

log = logging.getLogger(__name__)

FACE_MODEL_FILE = "frnet_face_model_v1.npz"
FACE_MODEL_FORMAT_VERSION = 1
NUM_LANDMARKS = 68
NUM_IDENTITY = 40
NUM_EXPRESSION = 10
NUM_PARAMS = geometry.NUM_POSE_PARAMS + NUM_IDENTITY + NUM_EXPRESSION

# The 68 iBUG points under a horizontal flip of the image: landmark i becomes landmark FLIP[i].
LANDMARKS68_FLIP = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,  # jaw
     26, 25, 24, 23, 22, 21, 20, 19, 18, 17,  # brows
     27, 28, 29, 30, 35, 34, 33, 32, 31,  # nose
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,  # eyes
     54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips
     64, 63, 62, 61, 60, 67, 66, 65],  # inner lips
    dtype=np.int64,
)
# The iBUG 68 points by face region (used to report errors per region).
LANDMARK_REGIONS = {"jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36), "eyes": slice(36, 48),
                    "mouth": slice(48, 68)}
# Index pairs used by NME normalisation and pose drawing.
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45


@dataclass(frozen=True, eq=False)
class SparseRows:
    """A row-sparse linear map in CSR form (kept in numpy so scipy is not a runtime dependency)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    num_columns: int

    @property
    def num_rows(self) -> int:
        return len(self.indptr) - 1

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``M @ x`` for ``x`` of shape ``(num_columns, ...)``."""
        if self.data.size == 0:
            return np.zeros((self.num_rows, *x.shape[1:]), dtype=x.dtype)
        contributions = self.data.reshape(-1, *([1] * (x.ndim - 1))) * x[self.indices]
        return np.add.reduceat(contributions, self.indptr[:-1], axis=0).astype(x.dtype, copy=False)

    def to_dense(self) -> np.ndarray:
        return self.apply(np.eye(self.num_columns, dtype=np.float64))


@dataclass(frozen=True, eq=False)
class FaceModel:
    """A linear morphable face model. Arrays are float32 unless noted.

    Attributes:
        mean_shape: ``(N, 3)`` mean face in model space (mm).
        identity_basis: ``(K_id, N, 3)`` unit-norm principal components.
        identity_std: ``(K_id,)`` standard deviation of each identity component (mm).
        expression_basis, expression_std: the same for expression.
        triangles: ``(T, 3)`` int vertex indices of the base mesh, counter-clockwise seen from +z.
        landmark_indices, landmark_weights: ``(68, K)`` — landmark i is
            ``Σ_k weights[i, k] · vertex[indices[i, k]]`` (weights ≥ 0, summing to 1).
        subdivision: base → dense map (``None``: the dense mesh is the base mesh).
        dense_triangles: ``(T', 3)`` triangles of the dense mesh.
        provenance: where the model came from (sources, counts, script version, licences).
        source_file: the file it was loaded from (``None``: built in memory).
        file_sha256: SHA-256 of that file's bytes, which a network's ONNX metadata names as the
            face model it was trained for (``frnet_face_model_sha256``); ``None`` when built in memory.
    """

    mean_shape: np.ndarray
    identity_basis: np.ndarray
    identity_std: np.ndarray
    expression_basis: np.ndarray
    expression_std: np.ndarray
    triangles: np.ndarray
    landmark_indices: np.ndarray
    landmark_weights: np.ndarray
    subdivision: SparseRows | None = None
    dense_triangles: np.ndarray | None = None
    mirror_index: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)
    source_file: Path | None = None
    file_sha256: str | None = None

    def __post_init__(self) -> None:
        n = self.mean_shape.shape[0]
        checks = {
            "mean_shape": self.mean_shape.shape == (n, 3),
            "identity_basis": self.identity_basis.shape[1:] == (n, 3)
            and self.identity_std.shape == (self.identity_basis.shape[0],),
            "expression_basis": self.expression_basis.shape[1:] == (n, 3)
            and self.expression_std.shape == (self.expression_basis.shape[0],),
            "triangles": self.triangles.ndim == 2 and self.triangles.shape[1] == 3
            and (self.triangles.size == 0 or int(self.triangles.max()) < n),
            "landmarks": self.landmark_indices.shape == self.landmark_weights.shape
            and self.landmark_indices.shape[0] == NUM_LANDMARKS
            and int(self.landmark_indices.max()) < n,
            "subdivision": self.subdivision is None or self.subdivision.num_columns == n,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ModelFileError(f"inconsistent face model arrays: {', '.join(bad)}")
        # Cached derived arrays (the dataclass is frozen, so go through object.__setattr__).
        scaled = np.concatenate(
            [self.identity_basis * self.identity_std[:, None, None],
             self.expression_basis * self.expression_std[:, None, None]]
        ).astype(np.float32)
        object.__setattr__(self, "_scaled_basis", scaled.reshape(len(scaled), -1).T.copy())  # (3N, K)
        lm_mean = (self.mean_shape[self.landmark_indices] * self.landmark_weights[..., None]).sum(1)
        lm_basis = (scaled[:, self.landmark_indices] * self.landmark_weights[None, ..., None]).sum(2)
        object.__setattr__(self, "_landmark_mean", lm_mean.astype(np.float32))
        object.__setattr__(self, "_landmark_basis", lm_basis.reshape(len(scaled), -1).T.copy())
        if self.subdivision is None:
            dense_mean, dense_basis = self.mean_shape, self._scaled_basis
        else:
            dense_mean = self.subdivision.apply(self.mean_shape.astype(np.float64))
            per_vertex = self._scaled_basis.reshape(n, 3, -1).astype(np.float64)
            dense_basis = self.subdivision.apply(per_vertex).reshape(-1, scaled.shape[0])
        object.__setattr__(self, "_dense_mean", np.asarray(dense_mean, dtype=np.float32))
        # Stored coefficient-major (K, 3N): one frame's dense mesh is then a weighted sum of K
        # contiguous rows (≈ 2× faster than the (3N, K) product on a cold cache).
        object.__setattr__(self, "_dense_rows", np.ascontiguousarray(np.asarray(dense_basis).T, dtype=np.float32))

    @property
    def _dense_basis(self) -> np.ndarray:
        """The dense basis ``(3N, K)`` (x y z interleaved per vertex), a view of the stored rows."""
        return self._dense_rows.T

    # -- sizes -----------------------------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return self.mean_shape.shape[0]

    @property
    def num_dense_vertices(self) -> int:
        return self._dense_mean.shape[0]

    @property
    def num_identity(self) -> int:
        return self.identity_basis.shape[0]

    @property
    def num_expression(self) -> int:
        return self.expression_basis.shape[0]

    @property
    def num_params(self) -> int:
        return geometry.NUM_POSE_PARAMS + self.num_identity + self.num_expression

    @property
    def render_triangles(self) -> np.ndarray:
        return self.triangles if self.dense_triangles is None else self.dense_triangles

    # -- reconstruction ---------------------------------------------------------------------------
    def _coefficients(self, params: np.ndarray) -> np.ndarray:
        params = np.asarray(params, dtype=np.float32)
        if params.shape[-1] != self.num_params:
            raise ValueError(f"expected {self.num_params} parameters per face, got {params.shape[-1]}")
        return params[..., geometry.NUM_POSE_PARAMS:]

    def shape(self, params: np.ndarray, dense: bool = False) -> np.ndarray:
        """Model-space vertices ``(..., N, 3)`` for parameters ``(..., 62)`` (pose ignored)."""
        coeffs = self._coefficients(params)
        if dense:
            flat = coeffs @ self._dense_rows
            flat += self._dense_mean.reshape(-1)
        else:
            flat = coeffs @ self._scaled_basis.T + self.mean_shape.reshape(-1)
        return flat.reshape(*coeffs.shape[:-1], -1, 3)

    def vertices(self, params: np.ndarray, dense: bool = True) -> np.ndarray:
        """Vertices in crop pixels ``(..., N, 3)`` (u, v down, depth) for parameters ``(..., 62)``."""
        return geometry.model_to_crop(self.shape(params, dense=dense), geometry.pose_matrix(params))

    def landmarks_model(self, params: np.ndarray) -> np.ndarray:
        """The 68 landmarks in model space ``(..., 68, 3)``."""
        coeffs = self._coefficients(params)
        flat = coeffs @ self._landmark_basis.T + self._landmark_mean.reshape(-1)
        return flat.reshape(*coeffs.shape[:-1], NUM_LANDMARKS, 3)

    def landmarks68(self, params: np.ndarray) -> np.ndarray:
        """The 68 landmarks in crop pixels ``(..., 68, 3)``."""
        return geometry.model_to_crop(self.landmarks_model(params), geometry.pose_matrix(params))

    def landmarks_from_vertices(self, vertices: np.ndarray) -> np.ndarray:
        """Apply the landmark embedding to base-mesh vertices ``(..., N, 3)`` → ``(..., 68, 3)``."""
        picked = vertices[..., self.landmark_indices, :]
        return (picked * self.landmark_weights[..., None]).sum(axis=-2)

    def dense_from_base(self, vertices: np.ndarray) -> np.ndarray:
        """Subdivide base-mesh vertices ``(N, 3)`` to the dense mesh (identity without subdivision)."""
        if self.subdivision is None:
            return np.asarray(vertices)
        return self.subdivision.apply(np.asarray(vertices, dtype=np.float64)).astype(np.float32)

    def euler_angles(self, params: np.ndarray) -> np.ndarray:
        """``(..., 3)`` (yaw, pitch, roll) in radians from the pose part of the parameters."""
        _, rotation, _ = geometry.decompose_pose(geometry.pose_matrix(params))
        return geometry.euler_from_rotation(rotation)

    # -- persistence ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the model as one ``.npz`` (keys documented in docs/face-model.md); atomic."""
        arrays = {
            "format_version": np.array(FACE_MODEL_FORMAT_VERSION),
            "mean_shape": self.mean_shape.astype(np.float32),
            "identity_basis": self.identity_basis.astype(np.float32),
            "identity_std": self.identity_std.astype(np.float32),
            "expression_basis": self.expression_basis.astype(np.float32),
            "expression_std": self.expression_std.astype(np.float32),
            "triangles": self.triangles.astype(np.int32),
            "landmark_indices": self.landmark_indices.astype(np.int32),
            "landmark_weights": self.landmark_weights.astype(np.float32),
            "provenance_json": np.array(json.dumps(self.provenance, indent=1, sort_keys=True)),
        }
        if self.subdivision is not None:
            arrays |= {
                "subdivision_indptr": self.subdivision.indptr.astype(np.int64),
                "subdivision_indices": self.subdivision.indices.astype(np.int32),
                "subdivision_data": self.subdivision.data.astype(np.float32),
                "dense_triangles": self.dense_triangles.astype(np.int32),
            }
        if self.mirror_index is not None:
            arrays["mirror_index"] = self.mirror_index.astype(np.int32)
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        tmp.replace(path)


def load_face_model(path: str | Path | None = None) -> FaceModel:
    """Load frnet's face model: the shipped one by default, or a ``.npz`` written by :meth:`FaceModel.save`.

    Raises:
        ResourceMissingError: the shipped file is missing.
        ModelFileError: the file is unreadable or not a frnet face model.
    """
    path = Path(path) if path is not None else resource_path("models", FACE_MODEL_FILE)
    try:
        raw = path.read_bytes()
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError as exc:
        raise ModelFileError(f"face model file {path} does not exist") from exc
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError …
        raise ModelFileError(f"face model file {path} is not a readable .npz ({exc})") from exc
    version = int(arrays.get("format_version", -1))
    if version != FACE_MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has face model format {version}, this frnet reads format {FACE_MODEL_FORMAT_VERSION}"
        )
    try:
        subdivision = None
        if "subdivision_indptr" in arrays:
            subdivision = SparseRows(
                arrays["subdivision_indptr"], arrays["subdivision_indices"],
                arrays["subdivision_data"], int(arrays["mean_shape"].shape[0]),
            )
        return FaceModel(
            mean_shape=arrays["mean_shape"],
            identity_basis=arrays["identity_basis"],
            identity_std=arrays["identity_std"],
            expression_basis=arrays["expression_basis"],
            expression_std=arrays["expression_std"],
            triangles=arrays["triangles"],
            landmark_indices=arrays["landmark_indices"],
            landmark_weights=arrays["landmark_weights"],
            subdivision=subdivision,
            dense_triangles=arrays.get("dense_triangles"),
            mirror_index=arrays.get("mirror_index"),
            provenance=json.loads(str(arrays.get("provenance_json", "{}"))),
            source_file=path,
            file_sha256=hashlib.sha256(raw).hexdigest(),
        )
    except KeyError as exc:
        raise ModelFileError(f"face model file {path} lacks the array {exc.args[0]!r}") from exc


def load_bfm(path: str | Path) -> FaceModel:
    """Load a user-owned Basel Face Model in the 3DDFA layout (``.pkl`` or ``.npz``).

    Expected keys: ``u`` (3N,) or (3N, 1) mean, interleaved x0 y0 z0 x1 …; ``w_shp`` (3N, ≥40);
    ``w_exp`` (3N, ≥10); ``tri`` (T, 3) or (3, T), 0-based; ``keypoints`` (204,) indices into the
    3N vector (x of landmark i at ``keypoints[3i]``). The bases are used as they are, so the
    coefficients are raw BFM coefficients (std 1). Only load ``.pkl`` files you trust: unpickling
    runs code.

    Raises:
        ModelFileError: missing file, missing keys or inconsistent shapes.
    """
    path = Path(path)
    try:
        if path.suffix == ".pkl":
            with open(path, "rb") as handle:
                raw = pickle.load(handle)
        else:
            with np.load(path, allow_pickle=False) as data:
                raw = {key: data[key] for key in data.files}
    except Exception as exc:
        raise ModelFileError(f"cannot read BFM file {path}: {exc}") from exc
    missing = [k for k in ("u", "w_shp", "w_exp", "tri", "keypoints") if k not in raw]
    if missing:
        raise ModelFileError(f"BFM file {path} lacks the keys {missing} (3DDFA layout expected)")
    mean = np.asarray(raw["u"], dtype=np.float32).reshape(-1, 3)
    n = mean.shape[0]

    def basis(key: str, count: int) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(raw[key], dtype=np.float32)
        if w.shape[0] != 3 * n or w.shape[1] < count:
            raise ModelFileError(f"BFM file {path}: {key} has shape {w.shape}, expected ({3 * n}, ≥{count})")
        w = w[:, :count]
        norms = np.linalg.norm(w, axis=0)
        # Unit components times their norm reproduce w exactly with std = norm and α = raw coefficient.
        return (w / np.where(norms > 0, norms, 1)).T.reshape(count, n, 3), norms

    id_basis, id_std = basis("w_shp", NUM_IDENTITY)
    exp_basis, exp_std = basis("w_exp", NUM_EXPRESSION)
    tri = np.asarray(raw["tri"], dtype=np.int64)
    if tri.shape[0] == 3 and tri.shape[1] != 3:
        tri = tri.T
    keypoints = np.asarray(raw["keypoints"], dtype=np.int64).reshape(-1)
    if keypoints.shape[0] != 3 * NUM_LANDMARKS:
        raise ModelFileError(f"BFM file {path}: keypoints has {keypoints.shape[0]} entries, expected 204")
    return FaceModel(
        mean_shape=mean,
        identity_basis=id_basis,
        identity_std=id_std,
        expression_basis=exp_basis,
        expression_std=exp_std,
        triangles=tri,
        landmark_indices=(keypoints[0::3] // 3)[:, None],
        landmark_weights=np.ones((NUM_LANDMARKS, 1), dtype=np.float32),
        provenance={"source": f"user BFM file {path.name}", "format": "3DDFA BFM"},
    )
