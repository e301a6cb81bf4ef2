"""Build frnet's own linear 3D face model from MediaPipe Face Mesh fits of real faces.

Steps (docs/face-model.md has the why and the numbers):

1. teacher meshes (``python -m frnet.build.teacher``) → model axes (x right, y up, z to camera);
2. generalized similarity Procrustes removes pose and scale; shapes far from the mean are rejected;
3. the mean is put in a canonical frame (eye corners along x, chin→forehead along y), scaled so the
   outer eye corners are ``EYE_CORNER_DISTANCE_MM`` apart, and every shape is mirrored too (with the
   mesh's own left↔right vertex map) so the model is symmetric;
4. **expression**: PCA of within-person deviations (ytf68 persons, frames of one video clip);
5. **identity**: PCA of per-person mean shapes (ytf68 persons, each utkface image, each clip), with
   the expression subspace projected out so the two bases are orthogonal;
6. **68 landmarks**: each a convex combination of a few mesh vertices, fitted by non-negative least
   squares to the human ytf68 annotations over the teacher meshes of the same images;
7. **render mesh**: Loop subdivision (a linear map, so bases subdivide with it) to ≥ 7,000 vertices.

Usage: ``python -m frnet.build.face_model [--teacher .cache/teacher] [--out models/frnet_face_model_v1.npz]``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from .. import geometry
from ..datasets import read_landmarks_csv, shared_data_dir, split_persons, ytf68_person
from ..facemodel import FACE_MODEL_FILE, LANDMARK_REGIONS, LANDMARKS68_FLIP, LEFT_EYE_OUTER, RIGHT_EYE_OUTER, FaceModel, SparseRows

log = logging.getLogger(__name__)

SCRIPT_VERSION = "1.1"  # 1.1: centred PCA, similarity directions excluded from both bases
EYE_CORNER_DISTANCE_MM = 90.0  # adult exocanthion–exocanthion width, a typical value
# MediaPipe mesh vertices used to fix the canonical frame.
MP_RIGHT_EYE_OUTER, MP_LEFT_EYE_OUTER, MP_CHIN, MP_FOREHEAD = 33, 263, 152, 10
REJECT_MAD = 4.0  # shapes whose Procrustes residual is this many MADs above the median are dropped
LANDMARK_CANDIDATES = 8
LANDMARK_REJECT_NME = 0.20  # ytf68 images whose teacher disagrees this much with the human labels are skipped
SUBDIVISION_STEPS = 2


# -- topology -----------------------------------------------------------------------------------
def tessellation_edges() -> np.ndarray:
    """The 468-vertex mesh's edges from the tessellation table that ``mediapipe`` ships (Apache-2.0)."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    # The table lists most edges twice (once per direction); keep each undirected edge once.
    return np.array(sorted({tuple(sorted(e)) for e in FACEMESH_TESSELATION}), dtype=np.int64)


def triangles_from_edges(edges: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Triangles of a triangulated surface given only its edges: the 3-cliques that are faces.

    A 3-cycle that is not a face ("separating triangle") shows up as a triangle all of whose edges
    are shared by more than two candidates; those are dropped. Winding is made consistent and
    oriented so normals point out of the face (+z at the front).
    """
    import trimesh

    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(int(a), set()).add(int(b))
        neighbours.setdefault(int(b), set()).add(int(a))
    candidates = sorted({tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[int(a)] & neighbours[int(b)]})
    tris = np.array(candidates, dtype=np.int64)
    edge_count: dict[tuple[int, int], int] = {}
    for tri in tris:
        for e in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[0], tri[2])):
            edge_count[e] = edge_count.get(e, 0) + 1
    keep = [not all(edge_count[e] > 2 for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2]))) for t in tris]
    tris = tris[np.array(keep)]
    mesh = trimesh.Trimesh(points, tris, process=False)
    trimesh.repair.fix_winding(mesh)
    tris = np.asarray(mesh.faces, dtype=np.int64)
    normals = np.cross(points[tris[:, 1]] - points[tris[:, 0]], points[tris[:, 2]] - points[tris[:, 0]])
    if normals[:, 2].sum() < 0:
        tris = tris[:, ::-1]
    return np.ascontiguousarray(tris)


def boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """Closed loops of boundary edges (edges used by one triangle), each as an ordered vertex array."""
    directed = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    undirected = {tuple(sorted(e)) for e in directed.tolist()}
    counts: dict[tuple[int, int], int] = {}
    for e in directed.tolist():
        key = tuple(sorted(e))
        counts[key] = counts.get(key, 0) + 1
    boundary = [e for e in undirected if counts[e] == 1]
    neighbours: dict[int, list[int]] = {}
    for a, b in boundary:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    loops, seen = [], set()
    for start in sorted(neighbours):
        if start in seen:
            continue
        loop, previous, current = [start], None, start
        seen.add(start)
        while True:
            nxt = [v for v in neighbours[current] if v != previous][0]
            if nxt == start:
                break
            loop.append(nxt)
            seen.add(nxt)
            previous, current = current, nxt
        loops.append(np.array(loop))
    return loops


def ear_clip(polygon_2d: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangulate a simple polygon (ordered 2D points) by ear clipping; returns local index triples."""
    order = list(range(len(polygon_2d)))
    area = 0.5 * np.sum(polygon_2d[:, 0] * np.roll(polygon_2d[:, 1], -1) - np.roll(polygon_2d[:, 0], -1) * polygon_2d[:, 1])
    if area < 0:
        order.reverse()
    result = []

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    while len(order) > 3:
        for k in range(len(order)):
            i, j, l = order[k - 1], order[k], order[(k + 1) % len(order)]
            a, b, c = polygon_2d[i], polygon_2d[j], polygon_2d[l]
            if cross(a, b, c) <= 0:
                continue
            inside = any(
                cross(a, b, polygon_2d[m]) > 0 and cross(b, c, polygon_2d[m]) > 0 and cross(c, a, polygon_2d[m]) > 0
                for m in order if m not in (i, j, l))
            if not inside:
                result.append((i, j, l))
                order.pop(k)
                break
        else:  # degenerate: fall back to a fan
            result.extend((order[0], order[m], order[m + 1]) for m in range(1, len(order) - 1))
            return result
    result.append(tuple(order))
    return result


def close_eye_openings(triangles: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, int]:
    """Fill the two eye openings of the tessellation (the mouth stays open).

    The tessellation leaves holes at the eyes and the mouth. Filled eyes give a hole-free surface over
    the eyeballs for rendering and export, as BFM-based tools have; the open mouth keeps the mouth
    interior visible. Returns (triangles, number added).
    """
    added = []
    for loop in boundary_loops(triangles):
        if MP_RIGHT_EYE_OUTER in loop or MP_LEFT_EYE_OUTER in loop:
            for i, j, k in ear_clip(points[loop, :2]):
                added.append((loop[i], loop[j], loop[k]))
    added_arr = np.array(added, dtype=np.int64).reshape(-1, 3)
    normals = np.cross(points[added_arr[:, 1]] - points[added_arr[:, 0]], points[added_arr[:, 2]] - points[added_arr[:, 0]])
    added_arr[normals[:, 2] < 0] = added_arr[normals[:, 2] < 0][:, ::-1]
    return np.concatenate([triangles, added_arr]), len(added_arr)


def loop_subdivision(num_vertices: int, triangles: np.ndarray, steps: int) -> tuple[SparseRows, np.ndarray]:
    """Loop subdivision as a sparse linear map (base vertices → dense vertices) plus dense triangles.

    trimesh implements the scheme on ``(n, 3)`` positions; since it is linear we apply it to the
    columns of the identity matrix, three at a time, and read the matrix off.
    """
    from trimesh.remesh import subdivide_loop

    columns = []
    dense_triangles = None
    identity = np.eye(num_vertices)
    padded = np.pad(identity, ((0, 0), (0, (-num_vertices) % 3)))
    for start in range(0, padded.shape[1], 3):
        dense, dense_triangles = subdivide_loop(padded[:, start:start + 3], triangles, iterations=steps)
        columns.append(dense)
    matrix = np.concatenate(columns, axis=1)[:, :num_vertices]
    matrix[np.abs(matrix) < 1e-9] = 0.0
    rows, cols = np.nonzero(matrix)
    indptr = np.searchsorted(rows, np.arange(matrix.shape[0] + 1)).astype(np.int64)
    return SparseRows(indptr, cols.astype(np.int32), matrix[rows, cols].astype(np.float32), num_vertices), \
        np.asarray(dense_triangles, dtype=np.int32)


# -- shapes -------------------------------------------------------------------------------------
def to_model_axes(points_px: np.ndarray) -> np.ndarray:
    """Teacher pixels (x right, y down, z away) → right-handed model axes (x right, y up, z to camera)."""
    return points_px * np.array([1.0, -1.0, -1.0])


def generalized_procrustes(shapes: np.ndarray, reference: np.ndarray, iterations: int = 4):
    """Align every shape to the evolving mean by a similarity transform; returns (aligned, mean, rms)."""
    mean = reference.copy()
    aligned = np.empty_like(shapes)
    for _ in range(iterations):
        for i, shape in enumerate(shapes):
            s, r, t = geometry.similarity_procrustes(shape, mean)
            aligned[i] = s * shape @ r.T + t
        new_mean = aligned.mean(axis=0)
        # Keep the reference's frame and size: re-align the mean to the reference.
        s, r, t = geometry.similarity_procrustes(new_mean, reference)
        mean = s * new_mean @ r.T + t
    for i, shape in enumerate(shapes):
        s, r, t = geometry.similarity_procrustes(shape, mean)
        aligned[i] = s * shape @ r.T + t
    rms = np.sqrt(((aligned - mean) ** 2).sum(-1).mean(-1))
    return aligned, mean, rms


def canonical_frame(mean: np.ndarray) -> np.ndarray:
    """Rotate/translate/scale the mean into the canonical frame (see module doc)."""
    x_axis = mean[MP_LEFT_EYE_OUTER] - mean[MP_RIGHT_EYE_OUTER]
    x_axis /= np.linalg.norm(x_axis)
    up = mean[MP_FOREHEAD] - mean[MP_CHIN]
    y_axis = up - (up @ x_axis) * x_axis
    y_axis /= np.linalg.norm(y_axis)
    rotation = np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)])
    out = (mean - mean.mean(axis=0)) @ rotation.T
    scale = EYE_CORNER_DISTANCE_MM / np.linalg.norm(out[MP_LEFT_EYE_OUTER] - out[MP_RIGHT_EYE_OUTER])
    return out * scale


def mirror_map(mean: np.ndarray) -> np.ndarray:
    """Index of each vertex's mirror image (x → -x), by nearest neighbour; must be an involution."""
    reflected = mean * np.array([-1.0, 1.0, 1.0])
    distances = np.linalg.norm(mean[None, :, :] - reflected[:, None, :], axis=-1)
    return distances.argmin(axis=1)


def mirror_shapes(shapes: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    return shapes[:, mirror] * np.array([-1.0, 1.0, 1.0])


def similarity_directions(mean: np.ndarray) -> np.ndarray:
    """Orthonormal ``(7, 3N)`` tangent directions of similarity transforms at ``mean``.

    Translations (3), infinitesimal rotations (3) and scale (1). Pose is the job of the 12 pose
    parameters; a shape component along these directions would duplicate it (the network could
    trade scale for an identity coefficient) — Procrustes leaves a small systematic shrink towards
    the mean in the aligned shapes that otherwise becomes such a component.
    """
    centred = mean - mean.mean(axis=0)
    directions = [np.tile(axis, (len(mean), 1)) for axis in np.eye(3)]
    directions += [np.cross(axis, centred) for axis in np.eye(3)]
    directions.append(centred)
    q, _ = np.linalg.qr(np.stack([d.reshape(-1) for d in directions], axis=1))
    return q.T


def pca(deviations: np.ndarray, count: int, exclude: np.ndarray | None = None):
    """Principal components of ``(M, N, 3)`` deviations → (components, std, explained ratio).

    The deviations are centred first and, with ``exclude`` (orthonormal rows), projected onto the
    orthogonal complement of those directions, so no component can contain them.
    """
    flat = deviations.reshape(len(deviations), -1)
    flat = flat - flat.mean(axis=0)
    if exclude is not None:
        flat = flat - (flat @ exclude.T) @ exclude
    _, singular, vt = np.linalg.svd(flat, full_matrices=False)
    variance = singular**2 / max(len(flat) - 1, 1)
    components = vt[:count]
    # Sign convention so builds are reproducible: the largest-magnitude entry is positive.
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    components *= signs[:, None]
    return components.reshape(count, -1, 3), np.sqrt(variance[:count]), variance[:count] / variance.sum()


# -- landmarks ----------------------------------------------------------------------------------
def fit_landmark_embedding(meshes_2d: np.ndarray, human_68: np.ndarray, mirror: np.ndarray,
                           width: np.ndarray):
    """Fit each of the 68 points as a convex combination of ``LANDMARK_CANDIDATES`` mesh vertices.

    ``meshes_2d`` (M, 468, 2) and ``human_68`` (M, 68, 2) are pixel coordinates of the same images,
    ``width`` (M,) the image widths (for the horizontally flipped copies that symmetrise the fit).
    Residuals are normalised per image by the human outer-eye-corner distance.
    Returns (indices (68, K), weights (68, K), per-image NME (M,)).
    """
    from scipy.optimize import nnls

    flipped_mesh = meshes_2d[:, mirror].copy()
    flipped_mesh[..., 0] = width[:, None] - 1 - flipped_mesh[..., 0]
    flipped_human = human_68[:, LANDMARKS68_FLIP].copy()
    flipped_human[..., 0] = width[:, None] - 1 - flipped_human[..., 0]
    mesh = np.concatenate([meshes_2d, flipped_mesh])
    human = np.concatenate([human_68, flipped_human])
    norm = np.linalg.norm(human[:, LEFT_EYE_OUTER] - human[:, RIGHT_EYE_OUTER], axis=-1)
    mesh_n = mesh / norm[:, None, None]
    human_n = human / norm[:, None, None]
    indices = np.zeros((68, LANDMARK_CANDIDATES), np.int64)
    weights = np.zeros((68, LANDMARK_CANDIDATES), np.float64)
    for i in range(68):
        mean_distance = np.linalg.norm(mesh_n - human_n[:, i:i + 1], axis=-1).mean(axis=0)
        cand = np.argsort(mean_distance)[:LANDMARK_CANDIDATES]
        a = mesh_n[:, cand].transpose(0, 2, 1).reshape(-1, LANDMARK_CANDIDATES)  # rows: (x, y) per image
        b = human_n[:, i].reshape(-1)
        # Sum-to-one as a heavily weighted extra row (standard NNLS trick).
        penalty = 1e3
        w, _ = nnls(np.vstack([a, penalty * np.ones(LANDMARK_CANDIDATES)]), np.append(b, penalty))
        w = w / w.sum()
        order = np.argsort(-w)
        indices[i], weights[i] = cand[order], w[order]
    predicted = (meshes_2d[:, indices] * weights[None, :, :, None]).sum(axis=2)
    nme = np.linalg.norm(predicted - human_68, axis=-1).mean(axis=-1) / \
        np.linalg.norm(human_68[:, LEFT_EYE_OUTER] - human_68[:, RIGHT_EYE_OUTER], axis=-1)
    return indices, weights, nme


# -- the build ----------------------------------------------------------------------------------
def _load_teacher(teacher_dir: Path, source: str):
    path = teacher_dir / f"{source}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run `python -m frnet.build.teacher` first")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def build_face_model(teacher_dir: Path, data_dir: Path, num_identity: int = 40, num_expression: int = 10):
    """Return ``(FaceModel, report dict)`` built from the teacher cache and the shared annotations."""
    sources = {s: _load_teacher(teacher_dir, s) for s in ("ytf68", "utkface", "videos")}
    shapes, persons, kinds = [], [], []
    for source, cache in sources.items():
        for name, points, found in zip(cache["names"], cache["points"], cache["found"]):
            if not found:
                continue
            shapes.append(to_model_axes(points.astype(np.float64)))
            if source == "ytf68":
                persons.append("ytf68:" + ytf68_person(str(name)))
            elif source == "utkface":
                persons.append("utkface:" + str(name))
            else:
                persons.append("video:" + str(name).split("#")[0])
            kinds.append(source)
    shapes = np.stack(shapes)
    persons = np.array(persons)
    kinds = np.array(kinds)
    report: dict = {"teacher_faces": {s: int(c["found"].sum()) for s, c in sources.items()},
                    "teacher_images": {s: int(len(c["found"])) for s, c in sources.items()}}

    # 2. Procrustes + rejection.
    centred = shapes - shapes.mean(axis=1, keepdims=True)
    reference = canonical_frame(np.median(centred, axis=0))
    aligned, mean, rms = generalized_procrustes(centred, reference)
    mad = np.median(np.abs(rms - np.median(rms)))
    keep = rms <= np.median(rms) + REJECT_MAD * 1.4826 * mad
    report["rejected_by_procrustes"] = int((~keep).sum())
    aligned, persons, kinds = aligned[keep], persons[keep], kinds[keep]
    mean = canonical_frame(aligned.mean(axis=0))
    # 3. Symmetrise with mirrored copies.
    mirror = mirror_map(mean)
    report["mirror_map_is_involution"] = bool(np.all(mirror[mirror] == np.arange(len(mirror))))
    reference = canonical_frame(0.5 * (mean + mirror_shapes(mean[None], mirror)[0]))
    both = np.concatenate([aligned, mirror_shapes(aligned, mirror)])
    both_persons = np.concatenate([persons, np.char.add(persons, ":mirrored")])
    aligned, mean, rms = generalized_procrustes(both, reference)
    mean = canonical_frame(mean)
    aligned, _, rms = generalized_procrustes(aligned, mean, iterations=1)
    report["procrustes_rms_mm"] = {"median": float(np.median(rms)), "p95": float(np.percentile(rms, 95))}
    report["symmetry_error_mm"] = float(np.abs(mirror_shapes(mean[None], mirror)[0] - mean).max())

    # 4. Expression: within-person deviations for persons with several images.
    person_ids, inverse, counts = np.unique(both_persons, return_inverse=True, return_counts=True)
    person_means = np.zeros((len(person_ids), *mean.shape))
    np.add.at(person_means, inverse, aligned)
    person_means /= counts[:, None, None]
    multi = counts[inverse] >= 2
    within = aligned[multi] - person_means[inverse[multi]]
    pose_directions = similarity_directions(mean)
    exp_basis, exp_std, exp_explained = pca(within, num_expression, exclude=pose_directions)
    report["expression"] = {"samples": int(multi.sum()), "persons": int((counts >= 2).sum()),
                            "explained_ratio": exp_explained.round(4).tolist(),
                            "explained_total": float(exp_explained.sum())}

    # 5. Identity: per-person means, expression subspace projected out.
    identity_dev = person_means - mean
    flat = identity_dev.reshape(len(identity_dev), -1)
    e = exp_basis.reshape(num_expression, -1)
    id_basis, id_std, id_explained = pca(flat.reshape(identity_dev.shape), num_identity,
                                         exclude=np.concatenate([pose_directions, e]))
    report["identity"] = {"persons": int(len(person_ids)), "explained_ratio": id_explained.round(4).tolist(),
                          "explained_total": float(id_explained.sum())}

    # 6. Landmarks, fitted on ytf68 images against the human annotations.
    human = read_landmarks_csv(data_dir / "ytf68" / "landmarks68.csv")
    ytf = sources["ytf68"]
    # Validation persons of the network (frnet.datasets.split_persons) stay out of this fit too.
    validation = split_persons([ytf68_person(str(n)) for n in ytf["names"]])
    pick = [i for i, (n, f) in enumerate(zip(ytf["names"], ytf["found"]))
            if f and human.get(str(n)) is not None and ytf68_person(str(n)) not in validation]
    meshes_2d = ytf["points"][pick, :, :2].astype(np.float64)
    human_68 = np.stack([human[str(ytf["names"][i])] for i in pick])
    width = ytf["image_size"][pick, 0].astype(np.float64)
    indices, weights, nme = fit_landmark_embedding(meshes_2d, human_68, mirror, width)
    good = nme < LANDMARK_REJECT_NME
    indices, weights, nme_good = fit_landmark_embedding(meshes_2d[good], human_68[good], mirror, width[good])
    predicted = (meshes_2d[:, indices] * weights[None, :, :, None]).sum(axis=2)
    per_point = np.linalg.norm(predicted - human_68, axis=-1) / np.linalg.norm(
        human_68[:, LEFT_EYE_OUTER] - human_68[:, RIGHT_EYE_OUTER], axis=-1)[:, None]
    report["landmarks"] = {
        "images": len(pick), "used": int(good.sum()),
        "nme_outer_eye_mean": float(nme_good.mean()), "nme_outer_eye_median": float(np.median(nme_good)),
        "nme_outer_eye_all_images_mean": float(per_point.mean()),
        "nme_by_region": {k: float(per_point[good][:, v].mean()) for k, v in LANDMARK_REGIONS.items()},
    }

    # Topology + subdivision.
    triangles = triangles_from_edges(tessellation_edges(), mean)
    holes = len(boundary_loops(triangles)) - 1
    triangles, eye_triangles = close_eye_openings(triangles, mean)
    subdivision, dense_triangles = loop_subdivision(len(mean), triangles, SUBDIVISION_STEPS)
    report["mesh"] = {"vertices": int(len(mean)), "triangles": int(len(triangles)),
                      "tessellation_holes": holes, "eye_fill_triangles": eye_triangles,
                      "dense_vertices": int(subdivision.num_rows), "dense_triangles": int(len(dense_triangles))}

    import mediapipe

    provenance = {
        "model": "frnet face model v1",
        "script": "frnet.build.face_model", "script_version": SCRIPT_VERSION,
        "units": "millimetres (outer eye corners %.0f mm apart in the mean)" % EYE_CORNER_DISTANCE_MM,
        "teacher": f"MediaPipe Face Mesh (legacy solution), mediapipe {mediapipe.__version__}",
        "topology": "MediaPipe face mesh 468-vertex tessellation (Apache-2.0, Google LLC)",
        "sources": {
            "ytf68": "YouTube Faces frames + 68-point labels via Udacity P1_Facial_Keypoints (MIT; YouTube Faces DB: research use)",
            "utkface": "UTKFace crop_part1 (non-commercial research use)",
            "videos": "5 clips: face_recognition examples (MIT), LivePortrait examples (MIT), SadTalker examples (Apache-2.0)",
        },
        "licence_note": "The model is a statistical summary (mean, principal components) of faces from research-use "
                        "datasets; judge your use against those terms. Topology: Apache-2.0 (MediaPipe).",
        "counts": report,
    }
    model = FaceModel(
        mean_shape=mean.astype(np.float32),
        identity_basis=id_basis.astype(np.float32), identity_std=id_std.astype(np.float32),
        expression_basis=exp_basis.astype(np.float32), expression_std=exp_std.astype(np.float32),
        triangles=triangles.astype(np.int32),
        landmark_indices=indices.astype(np.int32), landmark_weights=weights.astype(np.float32),
        subdivision=subdivision, dense_triangles=dense_triangles, mirror_index=mirror.astype(np.int32),
        provenance=provenance,
    )
    return model, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build frnet's face model from the teacher cache.")
    parser.add_argument("--teacher", type=Path, default=Path(".cache/teacher"))
    parser.add_argument("--out", type=Path, default=Path("models") / FACE_MODEL_FILE)
    parser.add_argument("--num-identity", type=int, default=40)
    parser.add_argument("--num-expression", type=int, default=10)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_dir = shared_data_dir()
    if data_dir is None:
        parser.error("../shared/data not found (set FRNET_SHARED_DIR to the folder that holds data/)")
    try:
        model, report = build_face_model(args.teacher, data_dir, args.num_identity, args.num_expression)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
