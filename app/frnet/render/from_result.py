"""Pipeline results → renderer inputs: one :class:`FaceDrawing` per :class:`FaceResult`.

Kept apart from the renderers so they stay independent of the pipeline (they draw plain arrays);
the CLI, the GUI and the benchmark all convert through :func:`drawings_for`.
"""

from __future__ import annotations

import numpy as np

from .. import geometry
from ..facemodel import FaceModel
from ..pipeline import FaceResult, FrameResult
from .types import FaceDrawing

_NO_TRIANGLES = np.zeros((0, 3), np.int32)


def drawing_for(face: FaceResult, face_model: FaceModel) -> FaceDrawing:
    """The drawing of one face: its dense mesh (when the pipeline reconstructed it), its 68
    landmarks, and its pose axes at the model origin.

    A face without a dense mesh (``PipelineOptions.dense=False``) gets no triangles, so the
    renderers draw only its landmarks and axes.
    """
    has_mesh = len(face.vertices) == face_model.num_dense_vertices
    return FaceDrawing.from_crop_pose(
        vertices=face.vertices if has_mesh else np.zeros((0, 3), np.float32),
        triangles=face_model.render_triangles if has_mesh else _NO_TRIANGLES,
        landmarks68=face.landmarks68,
        pose=geometry.pose_matrix(face.params),
        roi_box=face.roi_box,
    )


def drawings_for(result: FrameResult, face_model: FaceModel) -> list[FaceDrawing]:
    """One :class:`FaceDrawing` per face of ``result`` (``[]`` when no face was found)."""
    return [drawing_for(face, face_model) for face in result.faces]
