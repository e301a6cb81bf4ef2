"""The library functions that belong to no single stage: drawing a result and writing its meshes
and landmarks. ``import frnet`` exposes them as ``frnet.draw``, ``frnet.export_mesh`` and
``frnet.export_landmarks`` (see :mod:`frnet` and docs/api.md).

A :class:`~frnet.pipeline.FrameResult` carries the face model it was reconstructed with
(``result.face_model``), so these need nothing but the result and the image.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

import numpy as np

from .errors import NoFaceError
from .facemodel import FaceModel, load_face_model
from .pipeline import FrameResult
from .render import OverlayOptions, Renderer, create_renderer

_renderer_lock = threading.Lock()
_shared_renderer: Renderer | None = None


def _face_model_of(result: FrameResult) -> FaceModel:
    return result.face_model if result.face_model is not None else load_face_model()


def _default_renderer() -> Renderer:
    """One renderer for :func:`draw` calls that pass none: OpenGL when a context can be had, else
    OpenCV (created on first use, closed when the interpreter exits)."""
    global _shared_renderer
    if _shared_renderer is None:
        _shared_renderer = create_renderer("auto")
        atexit.register(_shared_renderer.close)
    return _shared_renderer


def draw(image_rgb: np.ndarray, result: FrameResult, overlay: OverlayOptions | None = None,
         renderer: Renderer | None = None) -> np.ndarray:
    """The overlay picture: ``result``'s dense meshes and 68 landmarks (and what else ``overlay``
    asks for) drawn over ``image_rgb``, the frame ``result`` came from.

    Args:
        image_rgb: ``H×W×3`` uint8 RGB, the frame that was processed.
        result: what :meth:`frnet.Pipeline.process` returned for it.
        overlay: what to draw (default :class:`~frnet.render.OverlayOptions()`: shaded mesh at 0.6
            opacity and the landmarks).
        renderer: a :class:`~frnet.render.Renderer` to draw with; default: one shared renderer
            (OpenGL 3.3 through EGL when available, else OpenCV), created on first use.

    Returns:
        A new ``H×W×3`` uint8 RGB picture; ``image_rgb`` is not changed. No face: a copy of the image.

    Raises:
        ValueError: ``image_rgb`` is not a non-empty ``H×W×3`` uint8 array.
    """
    from .render.from_result import drawings_for

    drawings = drawings_for(result, _face_model_of(result))
    overlay = overlay if overlay is not None else OverlayOptions()
    if renderer is not None:
        return renderer.render(image_rgb, drawings, overlay)
    with _renderer_lock:
        return _default_renderer().render(image_rgb, drawings, overlay)


def export_mesh(path: str | os.PathLike, result: FrameResult, image_rgb: np.ndarray, face: int = 0) -> Path:
    """Write face number ``face`` of ``result`` as a mesh coloured from ``image_rgb``; the format
    follows the suffix (``.obj``, ``.ply``, ``.glb``; :data:`frnet.export.MESH_FORMATS`). The frame is
    x right, y up, z towards the camera, in image pixels (docs/cli.md, "meshes").

    Returns:
        The path written (atomically: a temporary file, then a rename).

    Raises:
        NoFaceError: ``result`` has no face.
        IndexError: ``face`` is not the index of one of ``result.faces``.
        ValueError: unknown suffix, or a result without dense meshes (``PipelineOptions(dense=False)``).
        OutputError: the file cannot be written.
    """
    from .export import export_face_mesh

    if not result.faces:
        raise NoFaceError(f"no face in this frame, so there is no mesh to write to {path}")
    if not -len(result.faces) <= face < len(result.faces):
        raise IndexError(f"face {face} does not exist: the frame has {len(result.faces)} face(s)")
    return export_face_mesh(path, result.faces[face], _face_model_of(result).render_triangles, image_rgb)


def export_landmarks(path: str | os.PathLike, result: FrameResult, image: str | None = None) -> Path:
    """Write ``result`` (every face's 68 landmarks, pose, box, score) as the JSON document
    ``frnet-app --image`` writes; ``image`` names the source image inside it.

    Raises:
        OutputError: the file cannot be written.
    """
    from .export import export_landmarks_json

    return export_landmarks_json(path, result, image=image)
