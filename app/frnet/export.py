"""Writing results: meshes (OBJ and PLY through trimesh, GLB through :mod:`frnet.gltf`), landmark
JSON and the 68-point CSV.

Meshes are chosen by suffix from :data:`MESH_EXPORTERS` (an unknown suffix raises ``ValueError``)
and every file is written atomically (a temporary file next to the destination, then a rename).
Every mesh carries vertex normals; colour comes from vertex colours (GLB: linear ``COLOR_0`` times a
white, metal-free PBR material) or, with a UV texture (:mod:`frnet.texture`), from an image: OBJ +
MTL + PNG, GLB with the PNG embedded, PLY with vertex colours sampled from it.

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
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .datasets import LANDMARK_CSV_HEADER
from .pipeline import FaceResult, FrameResult
from .files import atomic_write

log = logging.getLogger(__name__)



@dataclass(frozen=True, eq=False)
class MeshData:
    """What an exporter writes: one triangle mesh in the export frame, with what viewers need.

    Attributes:
        vertices: ``(N, 3)`` float64 positions.
        triangles: ``(T, 3)`` int64, counter-clockwise seen from the front.
        normals: ``(N, 3)`` unit vertex normals.
        vertex_colors: ``(N, 4)`` uint8 sRGB(A), or ``None``.
        uv: ``(N, 2)`` texture coordinates (origin bottom-left, v up), or ``None``.
        texture_rgb: ``(S, S, 3)`` uint8 texture (row 0 at the top), with ``uv``; or ``None``.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    normals: np.ndarray
    vertex_colors: np.ndarray | None = None
    uv: np.ndarray | None = None
    texture_rgb: np.ndarray | None = None

    @property
    def textured(self) -> bool:
        return self.uv is not None and self.texture_rgb is not None


def _trimesh(mesh: MeshData, texture_name: str | None = None):
    import trimesh

    visual = None
    if mesh.textured and texture_name is not None:
        from PIL import Image
        from trimesh.visual import TextureVisuals
        from trimesh.visual.material import SimpleMaterial

        material = SimpleMaterial(image=Image.fromarray(mesh.texture_rgb), name=texture_name,
                                  diffuse=[255, 255, 255, 255], ambient=[255, 255, 255, 255],
                                  specular=[0, 0, 0, 255])
        visual = TextureVisuals(uv=mesh.uv, material=material)
    return trimesh.Trimesh(
        vertices=mesh.vertices,
        faces=mesh.triangles,
        vertex_normals=mesh.normals,
        vertex_colors=None if visual is not None else mesh.vertex_colors,
        visual=visual,
        process=False,  # keep vertex order and count: vertex i is the face model's vertex i
    )


def _png_bytes(image_rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB as PNG
        raise ValueError("cannot encode the texture as PNG")
    return encoded.tobytes()


def _export_obj(path: Path, mesh: MeshData, final: Path | None = None) -> None:
    """OBJ with vertex normals; vertex colours on the ``v`` lines (x y z r g b, read by MeshLab,
    Blender and trimesh), or with a texture: ``<stem>.mtl`` and ``<stem>.png`` next to the OBJ."""
    from trimesh.exchange.obj import export_obj

    if not mesh.textured:
        path.write_text(export_obj(_trimesh(mesh), include_normals=True, include_color=True,
                                   include_texture=False), encoding="utf-8")
        return
    final = final or path
    text, files = export_obj(_trimesh(mesh, final.stem), include_normals=True, include_color=False,
                             include_texture=True, return_texture=True, mtl_name=f"{final.stem}.mtl")
    files[f"{final.stem}.png"] = _png_bytes(mesh.texture_rgb)  # lossless, at full size
    written: list[Path] = []
    try:
        for name, data in files.items():
            with atomic_write(final.with_name(name)) as temp:
                temp.write_bytes(data)
            written.append(final.with_name(name))
        path.write_text(text, encoding="utf-8")
    except BaseException:
        for side_file in written:
            side_file.unlink(missing_ok=True)
        raise


def _export_ply(path: Path, mesh: MeshData, final: Path | None = None) -> None:
    """Binary PLY with vertex normals and colours (a texture is baked into the vertex colours)."""
    from trimesh.exchange.ply import export_ply

    path.write_bytes(export_ply(_trimesh(mesh), encoding="binary", vertex_normal=True))


def _export_glb(path: Path, mesh: MeshData, final: Path | None = None) -> None:
    """glTF binary: normals and a PBR material — white times the vertex colours (``COLOR_0``,
    linear), or the embedded texture."""
    from . import __version__
    from .gltf import GltfBuilder, srgb_to_linear

    builder = GltfBuilder(f"frnet {__version__}")
    texture = builder.add_png_texture(_png_bytes(mesh.texture_rgb)) if mesh.textured else None
    material = builder.add_material("face", texture=texture)
    colours = None
    if texture is None and mesh.vertex_colors is not None:
        colours = srgb_to_linear(mesh.vertex_colors[:, :3])
    uv = None if texture is None else np.column_stack([mesh.uv[:, 0], 1.0 - mesh.uv[:, 1]])
    mesh_index = builder.add_mesh("face", mesh.vertices, mesh.triangles, mesh.normals, material,
                                  colours_linear=colours, uv_gltf=uv)
    builder.add_scene([builder.add_node({"name": "face", "mesh": mesh_index})])
    path.write_bytes(builder.glb())


MeshExporter = Callable[..., None]
# suffix → exporter(temporary path, MeshData, final path); side files (OBJ's .mtl/.png) go next to the final path.
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


def mesh_files(path: str | os.PathLike, textured: bool) -> list[Path]:
    """Every file :func:`export_mesh` writes for ``path``: a textured OBJ also has ``.mtl`` and ``.png``."""
    path = Path(path)
    if textured and mesh_format(path) == "obj":
        return [path, path.with_suffix(".mtl"), path.with_suffix(".png")]
    return [path]


def export_mesh(
    path: str | os.PathLike,
    vertices: np.ndarray,
    triangles: np.ndarray,
    vertex_colors: np.ndarray | None = None,
    uv: np.ndarray | None = None,
    texture_rgb: np.ndarray | None = None,
) -> Path:
    """Write a triangle mesh with vertex normals; the format follows the suffix (see :data:`MESH_EXPORTERS`).

    Args:
        vertices: ``(N, 3)`` positions, written as they are (use :func:`mesh_for_export` first for
            the documented frame).
        triangles: ``(T, 3)`` vertex indices, counter-clockwise seen from the front.
        vertex_colors: ``(N, 3|4)`` uint8 RGB(A), or ``None``.
        uv, texture_rgb: ``(N, 2)`` texture coordinates (origin bottom-left, v up) and an
            ``(S, S, 3)`` uint8 texture (row 0 at the top): OBJ writes ``<stem>.mtl`` + ``<stem>.png``
            beside it, GLB embeds the texture, PLY keeps ``vertex_colors`` only.

    Returns:
        The path written.

    Raises:
        ValueError: unknown suffix, or arrays of the wrong shape.
        OutputError: the destination cannot be written (nothing is left behind).
    """
    from .texture import vertex_normals

    path = Path(path)
    exporter = MESH_EXPORTERS[mesh_format(path)]
    vertices = np.asarray(vertices, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (N, 3), not {vertices.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangles must have shape (T, 3), not {triangles.shape}")
    if vertex_colors is not None:
        vertex_colors = np.asarray(vertex_colors)
        if vertex_colors.shape not in ((len(vertices), 3), (len(vertices), 4)) or vertex_colors.dtype != np.uint8:
            raise ValueError(f"vertex_colors must be (N, 3|4) uint8 with N = {len(vertices)}, "
                             f"not {vertex_colors.dtype} {vertex_colors.shape}")
        if vertex_colors.shape[1] == 3:
            vertex_colors = np.concatenate([vertex_colors, np.full((len(vertices), 1), 255, np.uint8)], axis=1)
    if (uv is None) != (texture_rgb is None):
        raise ValueError("uv and texture_rgb go together")
    if uv is not None:
        uv = np.asarray(uv, dtype=np.float64)
        texture_rgb = np.asarray(texture_rgb)
        if uv.shape != (len(vertices), 2):
            raise ValueError(f"uv must have shape ({len(vertices)}, 2), not {uv.shape}")
        if texture_rgb.ndim != 3 or texture_rgb.shape[2] != 3 or texture_rgb.dtype != np.uint8:
            raise ValueError(f"texture_rgb must be (S, S, 3) uint8, not {texture_rgb.dtype} {texture_rgb.shape}")
    mesh = MeshData(vertices, triangles, vertex_normals(vertices, triangles), vertex_colors, uv, texture_rgb)
    with atomic_write(path) as temp:
        exporter(temp, mesh, path)
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
    path: str | os.PathLike, face: FaceResult, triangles: np.ndarray, image_rgb: np.ndarray,
    texture_size: int | None = None,
) -> Path:
    """Write one reconstructed face in the export frame, coloured from ``image_rgb``.

    Without ``texture_size`` the vertex colours are sampled straight from the photo (a hidden
    vertex takes the colour of whatever covers it). With it, the photo is unwrapped into a
    ``texture_size``² UV texture (:func:`frnet.texture.extract_texture`: visibility, mirror and
    smooth fill): OBJ gets ``.mtl`` + ``.png``, GLB embeds it, and the vertex colours (PLY) are
    sampled from the texture.

    Raises:
        ValueError: unknown suffix, bad texture size, or the face has no dense mesh
            (``PipelineOptions.dense`` off).
        OutputError: the destination cannot be written.
        ResourceMissingError, ModelFileError: the UV layout file is missing or broken.
    """
    if len(face.vertices) == 0:
        raise ValueError("this face has no dense mesh; run the pipeline with dense=True")
    vertices = mesh_for_export(face.vertices, image_rgb.shape[0])
    if texture_size is None:
        return export_mesh(path, vertices, triangles, sample_vertex_colours(image_rgb, face.vertices))
    from .texture import extract_texture, sample_texture
    from .uv import load_uv_layout

    layout = load_uv_layout()
    uv = layout.for_vertices(len(face.vertices))
    texture = extract_texture(image_rgb, face.vertices, triangles, layout, texture_size).image
    colours = sample_texture(texture, uv)
    if mesh_format(path) == "ply":
        return export_mesh(path, vertices, triangles, colours)
    return export_mesh(path, vertices, triangles, colours, uv=uv, texture_rgb=texture)


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
    # surrogateescape: a file name that is not valid UTF-8 goes in as its own bytes, so the row
    # still names the file (frnet.datasets.read_landmarks_csv reads it back the same way).
    with atomic_write(path) as temp, open(temp, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        csv.writer(handle, lineterminator="\n").writerows(lines)
    return Path(path)
