"""The renderer stage: dense face meshes, landmarks and pose axes drawn over frames.

``create_renderer()`` gives the OpenGL renderer when a context can be had and the OpenCV one
otherwise; both take the same inputs (:class:`FaceDrawing`, :class:`OverlayOptions`) and draw the
landmarks and axes with the same code (:mod:`frnet.render.overlay`).
"""

from __future__ import annotations

import logging

from ..errors import ResourceMissingError
from .base import Renderer
from .cpu import CPURenderer
from .gl import GLRenderer, GLUnavailableError
from .preview import render_mesh_preview
from .types import COLOURINGS, Colouring, FaceDrawing, OverlayOptions

__all__ = [
    "COLOURINGS",
    "CPURenderer",
    "Colouring",
    "FaceDrawing",
    "GLRenderer",
    "GLUnavailableError",
    "OverlayOptions",
    "RENDERER_CHOICES",
    "Renderer",
    "create_renderer",
    "render_mesh_preview",
]

log = logging.getLogger(__name__)

RENDERER_CHOICES = ("auto", "gl", "cpu")


def create_renderer(prefer: str = "auto", ctx=None) -> Renderer:
    """The renderer to use.

    Args:
        prefer: ``"gl"`` (OpenGL or an error), ``"cpu"`` (OpenCV) or ``"auto"`` (OpenGL, else
            OpenCV with one logged warning that names the reason).
        ctx: an existing moderngl context for the GL renderer (e.g. the GUI's); ``None`` creates a
            headless one.

    Raises:
        ValueError: ``prefer`` is not one of :data:`RENDERER_CHOICES`.
        GLUnavailableError, ResourceMissingError: ``prefer="gl"`` and OpenGL cannot be used.
    """
    if prefer not in RENDERER_CHOICES:
        raise ValueError(f"prefer must be one of {RENDERER_CHOICES}, not {prefer!r}")
    if prefer == "cpu":
        return CPURenderer()
    if prefer == "gl":
        return GLRenderer(ctx)
    try:
        return GLRenderer(ctx)
    except (GLUnavailableError, ResourceMissingError) as exc:
        log.warning("OpenGL renderer unavailable, using the slower OpenCV renderer: %s", exc)
        return CPURenderer()
