"""Writing results: meshes (OBJ, PLY, GLB through trimesh), landmark JSON and the 68-point CSV.

Meshes are chosen by suffix from :data:`MESH_EXPORTERS` (an unknown suffix raises ``ValueError``)
and every file is written atomically (a temporary file next to the destination, then a rename).

**Coordinate frame of exported meshes** (:func:`mesh_for_export`): x to the image's right, y *up*,
z towards the camera, in image pixels, with the origin at the centre of the image's bottom-left
pixel: ``x_mesh = x_image``, ``y_mesh = (height - 1) - y_image``, ``z_mesh = depth``. This is
right-handed and y-up, like OpenGL and glTF, so viewers (MeshLab, Blender's importers, three.js)
show the face upright and facing the viewer, and its outline overlays the photo when the photo is
placed in the x-y plane. Depth has the same pixel scale as x and y; its zero is arbitrary.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from .datasets import LANDMARK_CSV_HEADER
from .pipeline import FaceResult, FrameResult
from .files import atomic_write

log = logging.getLogger(__name__)



def _trimesh(vertices: np.ndarray, triangles: np.ndarray, vertex_colors: np.ndarray | None):
    import trimesh

    return trimesh.Trimesh(
        vertices=np.asarray(vertices, dtype=np.float64),
        faces=np.asarray(triangles, dtype=np.int64),
        vertex_colors=vertex_colors,
        process=False,  # keep vertex order and count: vertex i is the face model's vertex i
    )


def _export_obj(path: Path, mesh) -> None:
    # Vertex colours go on the "v" lines (x y z r g b), which MeshLab, Blender and trimesh read.
    mesh.export(path, file_type="obj", include_color=True, include_normals=False, include_texture=False)


def _export_ply(path: Path, mesh) -> None:
    mesh.export(path, file_type="ply", encoding="binary")


def _export_glb(path: Path, mesh) -> None:
    mesh.export(path, file_type="glb")


MeshExporter = Callable[[Path, object], None]
MESH_EXPORTERS: dict[str, MeshExporter] = {"obj": _export_obj, "ply": _export_ply, "glb": _export_glb}
# The mesh formats every shell offers (CLI --mesh-format, the app's export): the registry's keys.
MESH_FORMATS: tuple[str, ...] = tuple(MESH_EXPORTERS)


def check_mesh_format(fmt: str) -> str:
    """``fmt`` when it names a registered exporter.

    Raises:
        ValueError: it does not.
    """
    if fmt not in MESH_EXPORTERS:
        raise ValueError(f"export format must be one of {MESH_FORMATS}, not {fmt!r}")
    return fmt


def mesh_format(path: str | os.PathLike) -> str:
    """The exporter key for ``path``'s suffix (``"obj"``, ``"ply"``, ``"glb"``).

    Raises:
        ValueError: the suffix has no exporter.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in MESH_EXPORTERS:
        raise ValueError(
            f"cannot export a mesh as {Path(path).name!r}: unknown suffix {'.' + suffix if suffix else '(none)'}; "
            f"use one of {', '.join('.' + k for k in MESH_EXPORTERS)}"
        )
    return suffix


def export_mesh(
    path: str | os.PathLike,
    vertices: np.ndarray,
    triangles: np.ndarray,
    vertex_colors: np.ndarray | None = None,
) -> Path:
    """Write a triangle mesh; the format follows the suffix (see :data:`MESH_EXPORTERS`).

    Args:
        vertices: ``(N, 3)`` positions, written as they are (use :func:`mesh_for_export` first for
            the documented frame).
        triangles: ``(T, 3)`` vertex indices.
        vertex_colors: ``(N, 3|4)`` uint8 RGB(A), or ``None``.

    Returns:
        The path written.

    Raises:
        ValueError: unknown suffix, or arrays of the wrong shape.
        OutputError: the destination cannot be written (nothing is left behind).
    """
    path = Path(path)
    exporter = MESH_EXPORTERS[mesh_format(path)]
    vertices = np.asarray(vertices)
    triangles = np.asarray(triangles)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (N, 3), not {vertices.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangles must have shape (T, 3), not {triangles.shape}")
    if vertex_colors is not None:
        vertex_colors = np.asarray(vertex_colors)
        if vertex_colors.shape not in ((len(vertices), 3), (len(vertices), 4)) or vertex_colors.dtype != np.uint8:
            raise ValueError(f"vertex_colors must be (N, 3|4) uint8 with N = {len(vertices)}, "
                             f"not {vertex_colors.dtype} {vertex_colors.shape}")
    mesh = _trimesh(vertices, triangles, vertex_colors)
    with atomic_write(path) as temp:
        exporter(temp, mesh)
    return path


def mesh_for_export(vertices_image: np.ndarray, image_height: int) -> np.ndarray:
    """Image-pixel vertices (x right, y down, depth) → the export frame (x right, y up, z towards
    the camera; origin at the bottom-left pixel's centre). See the module doc."""
    out = np.array(vertices_image, dtype=np.float64, copy=True)
    out[:, 1] = (image_height - 1) - out[:, 1]
    return out


def sample_vertex_colours(image_rgb: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """RGBA uint8 ``(N, 4)`` colours of ``image_rgb`` at image-pixel positions ``(N, 2+)``.

    Bilinear; positions outside the image take the nearest border pixel. A vertex hidden behind
    another part of the face (e.g. the far cheek of a turned head) gets the colour of what covers
    it in the photo.
    """
    points = np.asarray(points_xy, dtype=np.float32)[:, :2]
    if len(points) == 0:
        return np.zeros((0, 4), np.uint8)
    map_x = np.ascontiguousarray(points[:, 0]).reshape(-1, 1)
    map_y = np.ascontiguousarray(points[:, 1]).reshape(-1, 1)
    rgb = cv2.remap(image_rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)


def export_face_mesh(
    path: str | os.PathLike, face: FaceResult, triangles: np.ndarray, image_rgb: np.ndarray
) -> Path:
    """Write one reconstructed face in the export frame, coloured from ``image_rgb``.

    Raises:
        ValueError: unknown suffix, or the face has no dense mesh (``PipelineOptions.dense`` off).
        OutputError: the destination cannot be written.
    """
    if len(face.vertices) == 0:
        raise ValueError("this face has no dense mesh; run the pipeline with dense=True")
    colours = sample_vertex_colours(image_rgb, face.vertices)
    return export_mesh(path, mesh_for_export(face.vertices, image_rgb.shape[0]), triangles, colours)


# ------------------------------------------------------------------------------------------ landmarks


def _rounded(values: np.ndarray, decimals: int = 2) -> list:
    return np.round(np.asarray(values, dtype=np.float64), decimals).tolist()


def face_to_dict(face: FaceResult) -> dict:
    """A JSON-ready description of one face (image pixels, degrees)."""
    return {
        "track_id": int(face.track_id),
        "score": round(float(face.score), 4),
        "roi_box": _rounded(face.roi_box),
        "box_xyxy": _rounded(face.box_xyxy),
        "yaw_pitch_roll_deg": _rounded(face.yaw_pitch_roll_deg),
        "landmarks68": _rounded(face.landmarks68),
        "params": np.asarray(face.params, dtype=np.float64).round(6).tolist(),
    }


def frame_to_dict(result: FrameResult, image: str | None = None) -> dict:
    """A JSON-ready description of one frame's faces; see :func:`export_landmarks_json`."""
    width, height = result.image_size
    out: dict = {}
    if image is not None:
        out["image"] = image
    out |= {
        "frame_index": int(result.frame_index),
        "timestamp_ms": result.timestamp_ms,
        "width": int(width),
        "height": int(height),
        "faces": [face_to_dict(face) for face in result.faces],
    }
    return out


LANDMARKS_JSON_NOTE = (
    "landmarks68: 68 iBUG points [x, y, z]; x right, y down in image pixels (integer = pixel centre), "
    "z depth in the same scale, larger = nearer. roi_box, box_xyxy: x0, y0, x1, y1 image pixels. "
    "yaw_pitch_roll_deg: head pose in degrees. params: the network's 62 parameters relative to roi_box."
)


def export_landmarks_json(path: str | os.PathLike, result: FrameResult, image: str | None = None) -> Path:
    """Write one frame's faces as JSON: per face ``landmarks68`` ``[[x, y, z], …]`` (image
    pixels), ``roi_box``, ``box_xyxy``, ``yaw_pitch_roll_deg``, ``score``, ``track_id`` and the 62
    ``params``; ``faces`` is ``[]`` when no face was found.

    Raises:
        OutputError: the destination cannot be written.
    """
    document = frame_to_dict(result, image) | {"note": LANDMARKS_JSON_NOTE}
    with atomic_write(path) as temp:
        temp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return Path(path)


def largest_face(result: FrameResult) -> FaceResult | None:
    """The face with the largest ROI, or ``None`` when there is none."""
    if not result.faces:
        return None
    return max(result.faces, key=lambda f: float(f.roi_box[2] - f.roi_box[0]))


def write_landmarks_csv(path: str | os.PathLike, rows: Iterable[tuple[str, np.ndarray | None]]) -> Path:
    """Write ``image,x0,y0,…,x67,y67`` (the header of :data:`frnet.datasets.LANDMARK_CSV_HEADER`).

    Args:
        rows: ``(image name, (68, 2+) landmarks in image pixels or None)``; ``None`` gives a row
            with empty cells (no face found, or the image could not be read).

    Raises:
        ValueError: a landmark array is not ``(68, 2+)``.
        OutputError: the destination cannot be written (nothing is left behind).
    """
    lines: list[list[str]] = [list(LANDMARK_CSV_HEADER)]
    cells_per_row = len(LANDMARK_CSV_HEADER) - 1
    for image, landmarks in rows:
        if landmarks is None:
            lines.append([image] + [""] * cells_per_row)
            continue
        points = np.asarray(landmarks, dtype=np.float64)
        if points.ndim != 2 or points.shape[0] * 2 != cells_per_row or points.shape[1] < 2:
            raise ValueError(f"landmarks of {image} must have shape (68, 2+), not {points.shape}")
        lines.append([image] + [f"{v:.2f}" for v in points[:, :2].reshape(-1)])
    with atomic_write(path) as temp, open(temp, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(lines)
    return Path(path)
