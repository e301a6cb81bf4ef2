"""Build the UV layout of frnet's face topology (base and dense mesh) → ``models/frnet_face_uv_v1.npz``.

The layout is computed from the face model's own mean shape, so it needs nothing but the shipped
``models/frnet_face_model_v1.npz`` (numpy only; runs in the runtime environment):

1. the mouth opening is filled for the computation only (ear clipping), so the 468-vertex base mesh
   is a topological disk (the eyes are already filled in the face model);
2. the outer boundary is placed by a **cylindrical projection** around a vertical axis behind the
   face (``u`` = arc length in mm at the median radius, ``v`` = height in mm): this keeps the face's
   proportions, and the projected outline is strictly convex (checked);
3. every interior vertex is placed by **Floater's mean-value parameterization** (each vertex a
   positive combination of its neighbours, weights from the 3D angles), which for a convex boundary
   is guaranteed to be a bijective map without flipped or overlapping triangles;
4. the result is made exactly left/right symmetric with the face model's mirror map
   (``u(mirror(i)) = 1 - u(i)``), scaled uniformly (square texels) into ``[MARGIN, 1 - MARGIN]``;
5. the dense render mesh takes its UVs through the model's Loop-subdivision map.

UVs use the OBJ/Blender convention: origin at the texture's bottom-left, ``v`` up (glTF files store
``1 - v``). Usage: ``python -m frnet.build.uv_layout [--face-model F] [--out models/frnet_face_uv_v1.npz]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..facemodel import FACE_MODEL_FILE, FaceModel, load_face_model
from ..resources import resource_path
from ..uv import UV_LAYOUT_FILE, UV_LAYOUT_FORMAT_VERSION, file_sha256, signed_areas
from .face_model import boundary_loops, ear_clip

SCRIPT_VERSION = "1.0"
CYLINDER_AXIS_Z_MM = -80.0  # the projection axis: vertical, this far behind the model origin
MARGIN = 0.02  # free border of the texture on the longer side (fraction of its size)


def cylindrical_projection(points: np.ndarray, axis_z: float = CYLINDER_AXIS_Z_MM) -> np.ndarray:
    """``(N, 3)`` model-space points → ``(N, 2)`` (arc length at the median radius, height), in mm."""
    radius = np.hypot(points[:, 0], points[:, 2] - axis_z)
    angle = np.arctan2(points[:, 0], points[:, 2] - axis_z)
    return np.stack([np.median(radius) * angle, points[:, 1]], axis=1)


def is_strictly_convex(polygon: np.ndarray) -> bool:
    """Whether an ordered ``(K, 2)`` polygon turns the same way at every corner."""
    edges = np.roll(polygon, -1, axis=0) - polygon
    turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    return bool(np.all(turns > 0) or np.all(turns < 0))


def mean_value_weights(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Floater's mean-value weights ``(N, N)``: ``w_ij = (tan(α/2) + tan(β/2)) / |x_j - x_i|`` with
    α, β the angles at ``i`` of the two triangles beside edge ``ij``; always positive."""
    n = len(points)
    weights = np.zeros((n, n))
    for corner in range(3):
        i, j, k = (triangles[:, (corner + s) % 3] for s in range(3))
        to_j, to_k = points[j] - points[i], points[k] - points[i]
        len_j, len_k = np.linalg.norm(to_j, axis=1), np.linalg.norm(to_k, axis=1)
        angle = np.arccos(np.clip((to_j * to_k).sum(1) / (len_j * len_k), -1.0, 1.0))
        half = np.tan(angle / 2)
        np.add.at(weights, (i, j), half / len_j)
        np.add.at(weights, (i, k), half / len_k)
    return weights


def build_uv_layout(model: FaceModel) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(base_uv (N, 2), dense_uv (N', 2), report)`` for ``model`` (see the module doc).

    Raises:
        ValueError: the model's mesh is not a disk with one mouth opening, or the projected outline
            is not convex (the mean-value map would not be guaranteed bijective).
    """
    if model.mirror_index is None or model.subdivision is None:
        raise ValueError("the UV layout needs a face model with a mirror map and a subdivision map")
    mean = model.mean_shape.astype(np.float64)
    triangles = model.triangles.astype(np.int64)
    loops = sorted(boundary_loops(triangles), key=len)
    if len(loops) != 2:
        raise ValueError(f"expected the outer boundary and the mouth opening, found {len(loops)} boundary loops")
    mouth, outer = loops
    projected = cylindrical_projection(mean)
    if not is_strictly_convex(projected[outer]):
        raise ValueError("the projected outline of the mean face is not convex")
    mouth_fill = np.array([(mouth[a], mouth[b], mouth[c]) for a, b, c in ear_clip(projected[mouth])])
    flipped = signed_areas(projected, mouth_fill) < 0
    mouth_fill[flipped] = mouth_fill[flipped][:, ::-1]
    disk = np.concatenate([triangles, mouth_fill])

    weights = mean_value_weights(mean, disk)
    laplacian = np.diag(weights.sum(axis=1)) - weights
    fixed = np.zeros(len(mean), bool)
    fixed[outer] = True
    uv = projected.copy()
    uv[~fixed] = np.linalg.solve(laplacian[np.ix_(~fixed, ~fixed)],
                                 -laplacian[np.ix_(~fixed, fixed)] @ projected[fixed])
    # Exact symmetry (the mean and the projection are symmetric to 1e-12; the topology nearly so).
    uv = 0.5 * (uv + uv[model.mirror_index] * np.array([-1.0, 1.0]))

    low, high = uv.min(axis=0), uv.max(axis=0)
    scale = (1.0 - 2 * MARGIN) / (high - low).max()
    base_uv = (uv - 0.5 * (low + high)) * scale + 0.5
    base_uv[:, 0] = 0.5 * (base_uv[:, 0] + 1.0 - base_uv[model.mirror_index, 0])  # u(m) = 1 - u exactly
    dense_uv = model.dense_from_base(np.column_stack([base_uv, np.zeros(len(base_uv))]))[:, :2].astype(np.float64)

    areas_base = signed_areas(base_uv, triangles)
    areas_dense = signed_areas(dense_uv, model.dense_triangles.astype(np.int64))
    area_3d = 0.5 * np.linalg.norm(np.cross(mean[triangles[:, 1]] - mean[triangles[:, 0]],
                                            mean[triangles[:, 2]] - mean[triangles[:, 0]]), axis=1)
    ratio = areas_base / area_3d / scale**2
    report = {
        "base_vertices": int(len(base_uv)), "dense_vertices": int(len(dense_uv)),
        "flipped_triangles_base": int((areas_base <= 0).sum()),
        "flipped_triangles_dense": int((areas_dense <= 0).sum()),
        "mm_per_uv_unit": float(1.0 / scale),
        "uv_extent": [base_uv.min(axis=0).round(4).tolist(), base_uv.max(axis=0).round(4).tolist()],
        "area_ratio_uv_over_3d_p5_p50_p95": np.percentile(ratio, [5, 50, 95]).round(3).tolist(),
    }
    return base_uv.astype(np.float32), dense_uv.astype(np.float32), report


def save_uv_layout(path: Path, base_uv: np.ndarray, dense_uv: np.ndarray, face_model_sha256: str,
                   report: dict) -> None:
    """Write the layout ``.npz`` atomically (keys documented in :mod:`frnet.uv`)."""
    provenance = {
        "layout": "frnet face UV layout v1",
        "script": "frnet.build.uv_layout", "script_version": SCRIPT_VERSION,
        "method": "cylindrical projection of the mean face's outline (axis %.0f mm behind the origin), "
                  "Floater mean-value parameterization inside, mirrored to exact symmetry, Loop-subdivided "
                  "to the dense mesh" % -CYLINDER_AXIS_Z_MM,
        "uv_convention": "origin bottom-left, v up (OBJ/Blender); glTF stores 1 - v",
        "data": "computed from the face model's mean shape and topology only (MediaPipe topology, Apache-2.0)",
        "report": report,
    }
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, format_version=np.array(UV_LAYOUT_FORMAT_VERSION),
                            base_uv=base_uv, dense_uv=dense_uv, face_model_sha256=np.array(face_model_sha256),
                            provenance_json=np.array(json.dumps(provenance, indent=1, sort_keys=True)))
    tmp.replace(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the UV layout of frnet's face model.")
    parser.add_argument("--face-model", type=Path, default=None, help="default: the shipped face model")
    parser.add_argument("--out", type=Path, default=Path("models") / UV_LAYOUT_FILE)
    args = parser.parse_args(argv)
    face_model_path = args.face_model or resource_path("models", FACE_MODEL_FILE)
    try:
        base_uv, dense_uv, report = build_uv_layout(load_face_model(face_model_path))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_uv_layout(args.out, base_uv, dense_uv, file_sha256(face_model_path), report)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
