"""Time the renderers: median and p90 milliseconds per frame, GL and CPU, two frame sizes, two meshes.

    python scripts/bench_render.py [--frames 40] [--wireframe] [--colouring shaded]

The meshes are synthetic face-like surfaces (no model files needed), plus frnet's dense face model
mesh when ``models/`` has it; they turn a little every frame, so each frame pays for normals and the
vertex upload as the live pipeline does.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from frnet import geometry
from frnet.errors import FrnetError
from frnet.render import COLOURINGS, FaceDrawing, OverlayOptions, create_renderer
from frnet.render.gl import GLUnavailableError

FRAME_SIZES = ((640, 480), (1280, 720))
VERTEX_TARGETS = (7_000, 40_000)


def synthetic_face_mesh(vertex_target: int) -> tuple[np.ndarray, np.ndarray]:
    """A face-like height field in model space (mm; y up, z towards the camera) and its triangles
    (counter-clockwise seen from +z): an ellipsoidal cap with a nose, brow ridge and eye sockets.

    A square grid is mapped onto the ellipse (x·√(1 − v²/2), v·√(1 − u²/2)), so the rim is smooth.
    """
    half_width, half_height = 75.0, 95.0
    columns = max(4, int(round(np.sqrt(vertex_target))))
    rows = max(4, int(round(vertex_target / columns)))
    u, v = np.meshgrid(np.linspace(-1.0, 1.0, columns), np.linspace(-1.0, 1.0, rows))
    x = half_width * u * np.sqrt(1.0 - v**2 / 2.0)
    y = half_height * v * np.sqrt(1.0 - u**2 / 2.0)
    r2 = np.clip((x / half_width) ** 2 + (y / half_height) ** 2, 0.0, 1.0)
    z = 55.0 * np.sqrt(1.0 - 0.9 * r2)
    z += 24.0 * np.exp(-((x / 11.0) ** 2 + ((y + 2.0) / 26.0) ** 2))  # nose
    z += 6.0 * np.exp(-((x / 45.0) ** 2 + ((y - 38.0) / 8.0) ** 2))  # brow ridge
    for eye_x in (-30.0, 30.0):
        z -= 7.0 * np.exp(-(((x - eye_x) / 14.0) ** 2 + ((y - 22.0) / 8.0) ** 2))
    z -= 3.0 * np.exp(-((x / 22.0) ** 2 + ((y + 45.0) / 4.0) ** 2))  # mouth line
    vertices = np.stack([x, y, z], axis=-1).reshape(-1, 3).astype(np.float32)
    index = np.arange(rows * columns).reshape(rows, columns)
    v00, v01 = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    v10, v11 = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    triangles = np.concatenate([np.stack([v00, v01, v11], 1), np.stack([v00, v11, v10], 1)])
    return vertices, triangles.astype(np.int32)


def place_in_image(
    vertices_model: np.ndarray, centre_xy: tuple[float, float], height_px: float,
    yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Model mm → image pixels (y down, larger z nearer): returns vertices, rotation, scale px/mm."""
    rotation = geometry.rotation_from_euler(*np.radians([yaw_deg, pitch_deg, roll_deg]))
    scale = height_px / float(np.ptp(vertices_model[:, 1]))
    turned = vertices_model @ rotation.T * scale
    image = np.empty_like(turned)
    image[:, 0] = centre_xy[0] + turned[:, 0]
    image[:, 1] = centre_xy[1] - turned[:, 1]
    image[:, 2] = turned[:, 2]
    return image.astype(np.float32), rotation, scale


def time_renderer(renderer, size, mesh, frames: int, options: OverlayOptions) -> np.ndarray:
    width, height = size
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    vertices_model, triangles = mesh
    landmark_ids = np.linspace(0, len(vertices_model) - 1, 68).astype(int)
    timings = []
    for i in range(frames + 3):
        vertices, rotation, _ = place_in_image(
            vertices_model, (width / 2, height / 2), 0.6 * height, yaw_deg=10 * np.sin(i / 5)
        )
        face = FaceDrawing(vertices, triangles, vertices[landmark_ids], rotation, (width / 2, height / 2), 0.2 * height)
        start = time.perf_counter()
        renderer.render(frame, [face], options)
        if i >= 3:  # warm-up: first upload, shader caches, framebuffer allocation
            timings.append((time.perf_counter() - start) * 1e3)
    return np.asarray(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="timed frames per cell (CPU: a quarter)")
    parser.add_argument("--wireframe", action="store_true", help="draw the wireframe too")
    parser.add_argument("--colouring", choices=COLOURINGS, default="shaded")
    args = parser.parse_args()
    options = OverlayOptions(wireframe=args.wireframe, axes=True, colouring=args.colouring)
    meshes = {f"synthetic {target // 1000}k": synthetic_face_mesh(target) for target in VERTEX_TARGETS}
    try:
        from frnet.facemodel import load_face_model

        model = load_face_model()
        meshes["face model"] = (model.shape(np.zeros(model.num_params), dense=True), model.render_triangles)
    except FrnetError as exc:
        print(f"face model not timed: {exc}")
    renderers = {"cpu": create_renderer("cpu")}
    try:
        renderers["gl"] = create_renderer("gl")
        print(f"GL: {renderers['gl'].gl_renderer_name}")
    except GLUnavailableError as exc:
        print(f"GL unavailable, timing CPU only: {exc}")
    print(f"options: {options}")
    print(f"{'renderer':<9}{'frame':>11}  {'mesh':<14}{'vertices':>9}{'triangles':>11}{'median ms':>11}{'p90 ms':>9}")
    for name in ("gl", "cpu"):
        if name not in renderers:
            continue
        frames = args.frames if name == "gl" else max(5, args.frames // 4)
        for size in FRAME_SIZES:
            for label, mesh in meshes.items():
                ms = time_renderer(renderers[name], size, mesh, frames, options)
                print(f"{name:<9}{size[0]:>6}×{size[1]:<4}  {label:<14}{len(mesh[0]):>9}{len(mesh[1]):>11}"
                      f"{np.median(ms):>11.1f}{np.percentile(ms, 90):>9.1f}")
    for renderer in renderers.values():
        renderer.close()


if __name__ == "__main__":
    main()
