"""The UV layout of frnet's face topology: load ``models/frnet_face_uv_v1.npz`` and check it fits.

One ``(u, v)`` per vertex of the base (468) and the dense (7,152) mesh, in one chart without seams,
overlaps or flipped triangles, exactly left/right symmetric (``u(mirror(i)) = 1 - u(i)``, so a
texture flipped left↔right is the mirrored face). Convention: origin at the texture's bottom-left,
``v`` up (OBJ, Blender); glTF stores ``1 - v``. Built by :mod:`frnet.build.uv_layout`; the file
records the SHA-256 of the face model it was built for.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelFileError
from .resources import resource_path

UV_LAYOUT_FILE = "frnet_face_uv_v1.npz"
UV_LAYOUT_FORMAT_VERSION = 1


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def signed_areas(uv: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed areas ``(T,)`` of triangles in a 2D layout (positive = counter-clockwise)."""
    a, b, c = uv[triangles[:, 0]], uv[triangles[:, 1]], uv[triangles[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


@dataclass(frozen=True, eq=False)
class UVLayout:
    """Per-vertex texture coordinates of the base and dense mesh (float32, origin bottom-left, v up)."""

    base_uv: np.ndarray
    dense_uv: np.ndarray
    face_model_sha256: str = ""
    provenance: dict = field(default_factory=dict)

    def for_vertices(self, num_vertices: int) -> np.ndarray:
        """The UVs of the mesh with ``num_vertices`` vertices (dense or base).

        Raises:
            ValueError: neither mesh has that many vertices.
        """
        for uv in (self.dense_uv, self.base_uv):
            if len(uv) == num_vertices:
                return uv
        raise ValueError(f"the UV layout has {len(self.base_uv)} (base) and {len(self.dense_uv)} (dense) "
                         f"vertices, not {num_vertices}")


def load_uv_layout(path: str | os.PathLike | None = None) -> UVLayout:
    """The shipped layout (or a file written by :mod:`frnet.build.uv_layout`); cached per path.

    Raises:
        ResourceMissingError: the shipped file is missing.
        ModelFileError: the file is unreadable or not a frnet UV layout.
    """
    return _load(Path(path) if path is not None else resource_path("models", UV_LAYOUT_FILE))


@lru_cache(maxsize=4)
def _load(path: Path) -> UVLayout:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError as exc:
        raise ModelFileError(f"UV layout file {path} does not exist") from exc
    except Exception as exc:  # BadZipFile, ValueError, OSError …
        raise ModelFileError(f"UV layout file {path} is not a readable .npz ({exc})") from exc
    if int(arrays.get("format_version", -1)) != UV_LAYOUT_FORMAT_VERSION:
        raise ModelFileError(f"{path} is not a frnet UV layout of format {UV_LAYOUT_FORMAT_VERSION}")
    try:
        base, dense = arrays["base_uv"].astype(np.float32), arrays["dense_uv"].astype(np.float32)
    except KeyError as exc:
        raise ModelFileError(f"UV layout file {path} lacks the array {exc.args[0]!r}") from exc
    if base.ndim != 2 or base.shape[1] != 2 or dense.ndim != 2 or dense.shape[1] != 2:
        raise ModelFileError(f"UV layout file {path}: UV arrays must be (N, 2)")
    for array in (base, dense):
        array.setflags(write=False)
    return UVLayout(base, dense, str(arrays.get("face_model_sha256", "")),
                    json.loads(str(arrays.get("provenance_json", "{}"))))
