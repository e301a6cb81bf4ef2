"""The engine: one frame in, its :class:`~frnet.pipeline.FrameResult` and overlay picture out,
every stage timed.

An :class:`Engine` is a :class:`~frnet.pipeline.Pipeline` (detect → track → crop → infer →
smooth → reconstruct), a :class:`~frnet.render.Renderer` and the :class:`~frnet.render.OverlayOptions`
to draw with. :meth:`Engine.run` is the single "process → drawings → render → time it" step that
every shell uses — the command-line jobs (:mod:`frnet.jobs`), the app's workers, ``frnet-app bench``
and ``scripts/soak.py`` — so a frame is handled the same way wherever it comes from.
``FrameResult.timings_ms`` holds the pipeline's stages plus ``"render"`` (:data:`STAGES`).

::

    with Engine.create(EngineOptions(PipelineOptions(mode="video"))) as engine:
        for frame in reader:
            result, picture = engine.run(frame.image_rgb, frame.timestamp_ms)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from . import pipeline as _pipeline
from .facemodel import FaceModel
from .pipeline import FrameResult, Pipeline, PipelineOptions
from .render import OverlayOptions, Renderer, create_renderer
from .render.from_result import drawings_for

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = (*_pipeline.STAGES, "render")


@dataclass(frozen=True)
class EngineOptions:
    """Everything that configures an :class:`Engine`.

    Attributes:
        pipeline: the pipeline's options (mode, device, detector, smoothing …).
        overlay: what the renderer draws.
        renderer: ``"auto"``, ``"gl"`` or ``"cpu"`` (:data:`frnet.render.RENDERER_CHOICES`).
    """

    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    overlay: OverlayOptions = field(default_factory=OverlayOptions)
    renderer: str = "auto"


class Engine:
    """Pipeline + renderer + overlay options; :meth:`run` one frame at a time.

    The parts are plain attributes, so a shell may swap one (the app replaces the pipeline when
    smoothing is toggled and the overlay when a check box changes). :meth:`close` closes the
    renderer and the pipeline.
    """

    def __init__(self, pipeline: Pipeline, renderer: Renderer, overlay: OverlayOptions | None = None) -> None:
        self.pipeline = pipeline
        self.renderer = renderer
        self.overlay = overlay if overlay is not None else OverlayOptions()

    @classmethod
    def create(cls, options: EngineOptions = EngineOptions(), face_model: FaceModel | None = None) -> Engine:
        """Build the pipeline and the renderer of ``options`` (the pipeline is closed again when
        the renderer cannot be made).

        Raises:
            ModelFileError, ResourceMissingError, DeviceUnavailableError: from the pipeline.
            GLUnavailableError: ``renderer="gl"`` and OpenGL cannot be used.
        """
        pipeline = Pipeline(options.pipeline, face_model=face_model)
        try:
            regressor = pipeline.regressor
            log.info("network %s (%s) on %s (%s)", regressor.model_path.name, regressor.precision,
                     regressor.device, ", ".join(regressor.providers))
            renderer = create_renderer(options.renderer)
        except BaseException:
            pipeline.close()
            raise
        log.info("renderer: %s", renderer.name)
        return cls(pipeline, renderer, options.overlay)

    @property
    def face_model(self) -> FaceModel:
        return self.pipeline.face_model

    def run(self, frame_rgb: np.ndarray, timestamp_ms: int | None = None) -> tuple[FrameResult, np.ndarray]:
        """Process ``frame_rgb`` and draw the overlay; ``result.timings_ms["render"]`` is set.

        Raises:
            ValueError: the frame is not a non-empty ``H×W×3`` uint8 array.
        """
        result = self.pipeline.process(frame_rgb, timestamp_ms)
        image, render_ms = self.render(frame_rgb, result)
        result.timings_ms["render"] = render_ms
        return result, image

    def render(self, frame_rgb: np.ndarray, result: FrameResult,
               overlay: OverlayOptions | None = None) -> tuple[np.ndarray, float]:
        """Draw ``result`` over ``frame_rgb`` (with ``overlay``, default :attr:`overlay`); return the
        picture and the milliseconds it took."""
        start = time.perf_counter()
        image = self.renderer.render(frame_rgb, drawings_for(result, self.pipeline.face_model),
                                     overlay if overlay is not None else self.overlay)
        return image, (time.perf_counter() - start) * 1e3

    def close(self) -> None:
        try:
            self.renderer.close()
        finally:
            self.pipeline.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
