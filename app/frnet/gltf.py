"""Write glTF 2.0 binaries (``.glb``) from plain numpy arrays: meshes, materials, morph targets, animation.

frnet writes its own small glTF JSON because no mesh library it uses writes morph targets and
animations; every file it makes is checked by the Khronos glTF validator in the tests. What this
module guarantees for each file: little-endian data in one buffer, 4-byte aligned views, vertex and
index views with their ``target``, ``min``/``max`` on every ``POSITION`` accessor, unit normals.

Units and axes are the caller's: glTF itself is metres, right-handed, +y up, the front facing +z.
"""

from __future__ import annotations

import json
import struct

import numpy as np

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
FLOAT = 5126
UNSIGNED_SHORT = 5123
UNSIGNED_INT = 5125
_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942


def srgb_to_linear(rgb_uint8: np.ndarray) -> np.ndarray:
    """sRGB 8-bit colours → linear floats in [0, 1] (glTF vertex colours are linear)."""
    c = np.asarray(rgb_uint8, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


class GltfBuilder:
    """Collects a glTF document and its binary buffer; :meth:`glb` returns the file's bytes.

    Each ``add_*`` method appends one object and returns its index, as glTF refers to objects.
    """

    def __init__(self, generator: str) -> None:
        self.document: dict = {"asset": {"version": "2.0", "generator": generator}}
        self._blob = bytearray()

    def _append(self, key: str, item: dict) -> int:
        items = self.document.setdefault(key, [])
        items.append(item)
        return len(items) - 1

    def add_view(self, data: bytes, target: int | None = None) -> int:
        """A buffer view of ``data`` (padded to 4 bytes); ``target`` for vertex/index data."""
        offset = len(self._blob)
        self._blob += data
        self._blob += b"\0" * (-len(self._blob) % 4)
        view = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        return self._append("bufferViews", view)

    def add_accessor(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """An accessor over a float32 ``(N,)``/``(N, C)`` array, or an index array (uint16/uint32 by size).

        ``bounds`` writes ``min``/``max`` (required for positions and animation times).
        """
        array = np.asarray(array)
        if target == ELEMENT_ARRAY_BUFFER:
            flat = array.reshape(-1)
            small = flat.size == 0 or int(flat.max()) < 65535
            data = flat.astype("<u2" if small else "<u4")
            accessor = {"componentType": UNSIGNED_SHORT if small else UNSIGNED_INT, "count": int(flat.size),
                        "type": "SCALAR"}
        else:
            data = np.ascontiguousarray(array, dtype="<f4")
            width = 1 if data.ndim == 1 else data.shape[1]
            accessor = {"componentType": FLOAT, "count": int(data.shape[0]), "type": _TYPES[width]}
            if bounds:
                rows = data.reshape(len(data), -1)
                accessor["min"] = [float(v) for v in rows.min(axis=0)]
                accessor["max"] = [float(v) for v in rows.max(axis=0)]
        accessor["bufferView"] = self.add_view(data.tobytes(), target)
        return self._append("accessors", accessor)

    def add_png_texture(self, png: bytes) -> int:
        """An embedded PNG image with a texture and a mip-mapped, clamped sampler; returns the texture."""
        image = self._append("images", {"bufferView": self.add_view(png), "mimeType": "image/png"})
        sampler = self._append("samplers", {"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071})
        return self._append("textures", {"source": image, "sampler": sampler})

    def add_material(self, name: str, texture: int | None = None, roughness: float = 0.8) -> int:
        """A metal-free PBR material: white base colour (times the vertex colours) or a base-colour texture."""
        pbr: dict = {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": roughness}
        if texture is not None:
            pbr["baseColorTexture"] = {"index": texture, "texCoord": 0}
        return self._append("materials", {"name": name, "pbrMetallicRoughness": pbr})

    def add_mesh(self, name: str, positions: np.ndarray, triangles: np.ndarray, normals: np.ndarray,
                 material: int, colours_linear: np.ndarray | None = None, uv_gltf: np.ndarray | None = None,
                 targets: list[np.ndarray] | None = None, target_names: list[str] | None = None,
                 weights: list[float] | None = None) -> int:
        """One triangle primitive. ``uv_gltf`` in glTF's convention (origin top-left); ``targets``
        are ``(N, 3)`` position displacements (morph targets)."""
        attributes = {"POSITION": self.add_accessor(positions, ARRAY_BUFFER, bounds=True),
                      "NORMAL": self.add_accessor(normals, ARRAY_BUFFER)}
        if uv_gltf is not None:
            attributes["TEXCOORD_0"] = self.add_accessor(uv_gltf, ARRAY_BUFFER)
        if colours_linear is not None:
            attributes["COLOR_0"] = self.add_accessor(colours_linear, ARRAY_BUFFER)
        primitive: dict = {"attributes": attributes, "indices": self.add_accessor(triangles, ELEMENT_ARRAY_BUFFER),
                           "material": material, "mode": 4}
        mesh: dict = {"name": name, "primitives": [primitive]}
        if targets:
            primitive["targets"] = [{"POSITION": self.add_accessor(t, ARRAY_BUFFER, bounds=True)} for t in targets]
            mesh["weights"] = [float(w) for w in (weights if weights is not None else [0.0] * len(targets))]
            if target_names:
                mesh["extras"] = {"targetNames": list(target_names)}  # read by Blender and three.js
        return self._append("meshes", mesh)

    def add_node(self, node: dict) -> int:
        return self._append("nodes", node)

    def add_scene(self, nodes: list[int], name: str = "scene") -> int:
        scene = self._append("scenes", {"name": name, "nodes": nodes})
        self.document["scene"] = scene
        return scene

    def add_animation(self, animation: dict) -> int:
        return self._append("animations", animation)

    def glb(self) -> bytes:
        """The ``.glb`` bytes: header, JSON chunk, binary chunk."""
        document = dict(self.document)
        if self._blob:
            document["buffers"] = [{"byteLength": len(self._blob)}]
        text = json.dumps(document, separators=(",", ":")).encode("utf-8")
        text += b" " * (-len(text) % 4)
        blob = bytes(self._blob)
        total = 12 + 8 + len(text) + (8 + len(blob) if blob else 0)
        out = struct.pack("<III", _GLB_MAGIC, 2, total) + struct.pack("<II", len(text), _JSON_CHUNK) + text
        if blob:
            out += struct.pack("<II", len(blob), _BIN_CHUNK) + blob
        return out


def read_glb(data: bytes) -> tuple[dict, bytes]:
    """``(document, binary chunk)`` of a ``.glb`` (for tests and tools; no validation beyond framing).

    Raises:
        ValueError: not a glTF 2.0 binary.
    """
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != _GLB_MAGIC or version != 2 or length != len(data):
        raise ValueError("not a glTF 2.0 binary")
    json_length, _ = struct.unpack_from("<II", data, 12)
    document = json.loads(data[20:20 + json_length])
    blob = b""
    if 20 + json_length < len(data):
        bin_length, _ = struct.unpack_from("<II", data, 20 + json_length)
        blob = data[28 + json_length:28 + json_length + bin_length]
    return document, blob


def accessor_array(document: dict, blob: bytes, index: int) -> np.ndarray:
    """The data of accessor ``index`` as a numpy array (float32 or integer), shaped ``(count, width)``."""
    accessor = document["accessors"][index]
    view = document["bufferViews"][accessor["bufferView"]]
    dtype = {FLOAT: "<f4", UNSIGNED_SHORT: "<u2", UNSIGNED_INT: "<u4"}[accessor["componentType"]]
    width = {v: k for k, v in _TYPES.items()}[accessor["type"]]
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    array = np.frombuffer(blob, dtype=dtype, count=accessor["count"] * width, offset=start)
    return array.reshape(accessor["count"], width) if width > 1 else array
