"""frnet: real-time face alignment and dense 3D face reconstruction with Mobile-FRNet.

A photo or a video frame goes through one pipeline — face detector (BlazeFace) → a square crop per
face → Mobile-FRNet (ONNX Runtime) → 62 parameters of frnet's 3D face model → a 7,152-vertex face
mesh and 68 landmarks per face — and the result can be drawn over the frame or written as meshes::

    import frnet
    image = frnet.read_image("face.jpg")                             # H×W×3 uint8 RGB
    with frnet.Pipeline(frnet.PipelineOptions(mode="image")) as pipeline:
        result = pipeline.process(image)                             # FrameResult: .faces[i].landmarks68 …
    frnet.write_image("overlay.png", frnet.draw(image, result))
    frnet.export_mesh("face.glb", result, image)                     # .obj, .ply or .glb

Videos: ``PipelineOptions(mode="video")`` tracks faces between frames (the detector runs every
``redetect_every`` frames); an :class:`Engine` is a pipeline and a renderer, one call per frame::

    options = frnet.EngineOptions(frnet.PipelineOptions(mode="video"))
    with frnet.VideoReader("in.mp4") as video, frnet.Engine.create(options) as engine:
        for frame in video:
            result, picture = engine.run(frame.image_rgb, frame.timestamp_ms)

The API (each name is imported on first use, so ``import frnet`` itself loads nothing heavy):

* pipeline and results: :class:`Pipeline`, :class:`PipelineOptions`, :class:`FrameResult`,
  :class:`FaceResult` (params, roi_box, vertices, landmarks68, yaw_pitch_roll_deg, score, track_id);
* engine (pipeline + renderer, what the command line and the app run): :class:`Engine`,
  :class:`EngineOptions`;
* reading and writing frames: :func:`read_image`, :func:`write_image`, :class:`VideoReader`,
  :class:`VideoWriter`;
* drawing and export: :func:`draw`, :class:`OverlayOptions`, :func:`export_mesh`,
  :func:`export_landmarks`;
* the face model: :func:`load_face_model`, :class:`FaceModel`;
* errors (one base class, each message names the file and the fix): :class:`FrnetError`,
  :class:`InputError`, :class:`OutputError`, :class:`ModelFileError`, :class:`ResourceMissingError`,
  :class:`NoFaceError`, :class:`CameraError`.

Images are RGB ``uint8`` arrays; points are image pixels (x right, y down). The pipeline caps
numpy's BLAS threads when it builds its stages (:mod:`frnet.threads`); ``PipelineOptions(device=…)``
picks the ONNX Runtime device (``auto``: TensorRT → CUDA → CPU). Full reference: docs/api.md, also
``frnet-app help api``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name → "module:attribute", imported on first access (PEP 562).
_API: dict[str, str] = {
    "Pipeline": "frnet.pipeline:Pipeline",
    "PipelineOptions": "frnet.pipeline:PipelineOptions",
    "FrameResult": "frnet.pipeline:FrameResult",
    "FaceResult": "frnet.pipeline:FaceResult",
    "Engine": "frnet.engine:Engine",
    "EngineOptions": "frnet.engine:EngineOptions",
    "read_image": "frnet.files:read_image",
    "write_image": "frnet.files:write_image_atomic",
    "VideoReader": "frnet.video:VideoReader",
    "VideoWriter": "frnet.video:VideoWriter",
    "draw": "frnet.api:draw",
    "OverlayOptions": "frnet.render:OverlayOptions",
    "export_mesh": "frnet.api:export_mesh",
    "export_landmarks": "frnet.api:export_landmarks",
    "load_face_model": "frnet.facemodel:load_face_model",
    "FaceModel": "frnet.facemodel:FaceModel",
    "FrnetError": "frnet.errors:FrnetError",
    "InputError": "frnet.errors:InputError",
    "OutputError": "frnet.errors:OutputError",
    "ModelFileError": "frnet.errors:ModelFileError",
    "ResourceMissingError": "frnet.errors:ResourceMissingError",
    "NoFaceError": "frnet.errors:NoFaceError",
    "CameraError": "frnet.errors:CameraError",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'frnet' has no attribute {name!r}")
    module_name, attribute = target.split(":")
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
