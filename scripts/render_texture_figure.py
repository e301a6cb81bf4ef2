"""Render the figures of docs/3d-export.md: a textured face from three angles, and animation frames.

    python scripts/render_texture_figure.py texture [--image PHOTO] [--frame N] [--out docs/img/texture_views.png]
    python scripts/render_texture_figure.py animation [--video V] [--out docs/img/animation_frames.png]

* ``texture`` — the photo (default: frame 0 of the bundled ``assets/sample.mp4``, NASA, public
  domain) with the fitted face, its UV texture (:func:`frnet.texture.extract_texture`), where each
  texel's colour came from (red photo, green mirrored side, blue smooth fill), and the textured mesh
  turned to yaw -60°, 0° and +60°.
* ``animation`` — video frames (top) and, below each, the face **as stored in the animation file**
  (``frnet.animation`` → ``.glb``, read back with :mod:`frnet.gltf`: morph weights and node
  transform of that key), seen through the file's own camera.

Drawing is a small software rasterizer (:func:`frnet.texture.rasterize`, painter's algorithm) with
the texture looked up per pixel and mild Lambert shading, so the figures need no OpenGL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from frnet import geometry
from frnet.animation import AnimationRecorder, rotation_from_quaternion, write_animation
from frnet.files import read_image, write_image_atomic
from frnet.gltf import accessor_array, read_glb
from frnet.pipeline import Pipeline, PipelineOptions
from frnet.texture import extract_texture, rasterize, remap_points, vertex_normals
from frnet.uv import load_uv_layout
from frnet.video import VideoReader

REPO = Path(__file__).resolve().parents[1]
PANEL = 300
BACKGROUND = 255


def render_textured(points_px: np.ndarray, triangles: np.ndarray, uv: np.ndarray, texture: np.ndarray,
                    size: tuple[int, int], normals: np.ndarray) -> np.ndarray:
    """Draw a mesh given in pixels (x right, y down, depth larger = nearer) with its texture."""
    width, height = size
    order = np.argsort(points_px[triangles, 2].mean(axis=1))
    facing = np.cross(points_px[triangles[:, 1], :2] - points_px[triangles[:, 0], :2],
                      points_px[triangles[:, 2], :2] - points_px[triangles[:, 0], :2])
    order = order[facing[order] < 0]  # y down: front faces are clockwise on screen
    ids, bary = rasterize(points_px, triangles, height, width, order=order)
    out = np.full((height, width, 3), BACKGROUND, np.uint8)
    rows, cols = np.nonzero(ids >= 0)
    corners = triangles[ids[rows, cols]]
    b = bary[rows, cols]
    pixel_uv = np.einsum("mk,mkc->mc", b, uv[corners])
    tex_size = texture.shape[0]
    colour = remap_points(texture, pixel_uv[:, 0] * tex_size - 0.5,
                          (1 - pixel_uv[:, 1]) * tex_size - 0.5).astype(np.float64)
    n_z = np.clip(np.einsum("mk,mk->m", b, normals[corners, 2]), 0, 1)
    out[rows, cols] = np.clip(colour * (0.7 + 0.3 * n_z)[:, None], 0, 255).astype(np.uint8)
    return out


def fit_panel(points_mm: np.ndarray, size: int = PANEL, margin: float = 0.06) -> np.ndarray:
    """Model-space points (y up) → panel pixels (y down), scaled to fit."""
    low, high = points_mm[:, :2].min(0), points_mm[:, :2].max(0)
    scale = size * (1 - 2 * margin) / (high - low).max()
    centre = (low + high) / 2
    out = np.empty_like(points_mm)
    out[:, 0] = (size - 1) / 2 + (points_mm[:, 0] - centre[0]) * scale
    out[:, 1] = (size - 1) / 2 - (points_mm[:, 1] - centre[1]) * scale
    out[:, 2] = points_mm[:, 2] * scale
    return out


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def first_frame(video: Path, index: int) -> np.ndarray:
    with VideoReader(video) as reader:
        for k, frame in enumerate(reader):
            if k == index:
                return frame.image_rgb
    raise SystemExit(f"{video} has fewer than {index + 1} frames")


def texture_figure(args) -> int:
    image = read_image(args.image) if args.image else first_frame(args.video, args.frame)
    layout = load_uv_layout()
    with Pipeline(PipelineOptions(mode="image")) as pipeline:
        result = pipeline.process(image)
        if not result.faces:
            print("no face found", file=sys.stderr)
            return 1
        face = max(result.faces, key=lambda f: f.roi_box[2] - f.roi_box[0])
        model = pipeline.face_model
    triangles = model.render_triangles.astype(np.int64)
    texture = extract_texture(image, face.vertices, triangles, layout, 1024)
    uv = layout.for_vertices(len(face.vertices)).astype(np.float64)
    x0, y0, x1, y1 = face.roi_box.astype(int)
    pad = int(0.15 * (x1 - x0))
    crop = image[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad]
    panels = [label(cv2.resize(crop, (PANEL, PANEL), interpolation=cv2.INTER_AREA), "photo")]
    panels.append(label(cv2.resize(texture.image, (PANEL, PANEL), interpolation=cv2.INTER_AREA), "UV texture"))
    source = np.stack([texture.photo_weight, texture.mirror_weight, texture.fill_weight * texture.chart], -1)
    panels.append(label(cv2.resize((source * 255).astype(np.uint8), (PANEL, PANEL), interpolation=cv2.INTER_AREA),
                        "photo / mirror / fill"))
    shape = model.shape(face.params, dense=True).astype(np.float64)
    for yaw in (-60.0, 0.0, 60.0):
        turned = shape @ geometry.rotation_from_euler(np.radians(yaw), 0.0, 0.0).T
        points = fit_panel(turned)
        normals = vertex_normals(turned, triangles)
        panels.append(label(render_textured(points, triangles, uv, texture.image, (PANEL, PANEL), normals),
                            f"yaw {yaw:+.0f} deg"))
    figure = np.vstack([np.hstack(panels[:3]), np.hstack(panels[3:])])
    write_image_atomic(args.out, figure)
    print(f"wrote {args.out} (face yaw {face.yaw_pitch_roll_deg[0]:+.1f} deg)")
    return 0


def animation_figure(args) -> int:
    frames_at = [int(f) for f in args.frames.split(",")]
    recorder = AnimationRecorder()
    kept: dict[int, np.ndarray] = {}
    with Pipeline(PipelineOptions(mode="video")) as pipeline, VideoReader(args.video) as reader:
        for k, frame in enumerate(reader):
            if k > max(frames_at):
                break
            recorder.add(pipeline.process(frame.image_rgb, frame.timestamp_ms), frame.image_rgb)
            if k in frames_at:
                kept[k] = frame.image_rgb
        model = pipeline.face_model
    with tempfile.TemporaryDirectory() as folder:
        path = write_animation(Path(folder) / "face.glb", recorder, model)[0]
        document, blob = read_glb(path.read_bytes())
    primitive = document["meshes"][0]["primitives"][0]
    base = accessor_array(document, blob, primitive["attributes"]["POSITION"]).astype(np.float64)
    targets = np.stack([accessor_array(document, blob, t["POSITION"]) for t in primitive["targets"]]).astype(np.float64)
    uv_gltf = accessor_array(document, blob, primitive["attributes"]["TEXCOORD_0"]).astype(np.float64)
    uv = np.column_stack([uv_gltf[:, 0], 1 - uv_gltf[:, 1]])
    png_view = document["bufferViews"][document["images"][0]["bufferView"]]
    png = blob[png_view["byteOffset"]:png_view["byteOffset"] + png_view["byteLength"]]
    texture = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    triangles = accessor_array(document, blob, primitive["indices"]).reshape(-1, 3).astype(np.int64)
    samplers = {ch["target"]["path"]: document["animations"][0]["samplers"][ch["sampler"]]
                for ch in document["animations"][0]["channels"]}
    times = accessor_array(document, blob, samplers["translation"]["input"])
    track = {p: accessor_array(document, blob, s["output"]) for p, s in samplers.items()}
    weights = track["weights"].reshape(len(times), -1)
    camera = document["cameras"][0]["perspective"]
    top, bottom = [], []
    for k in frames_at:
        key = int(np.argmin(np.abs(times - recorder.tracks[0].timestamps_ms[k] / 1000)))
        local = base + np.tensordot(weights[key], targets, axes=1)
        rotation = rotation_from_quaternion(track["rotation"][key])
        world = local @ rotation.T + track["translation"][key]
        height, width = kept[k].shape[:2]
        focal = (height / 2) / np.tan(camera["yfov"] / 2)
        pixels = np.column_stack([(width - 1) / 2 + focal * world[:, 0] / -world[:, 2],
                                  (height - 1) / 2 - focal * world[:, 1] / -world[:, 2], world[:, 2] * focal])
        render = render_textured(pixels, triangles, uv, texture, (width, height), vertex_normals(world, triangles))
        x0, y0 = pixels[:, :2].min(0).astype(int) - 30
        x1, y1 = pixels[:, :2].max(0).astype(int) + 30
        x0, y0 = max(x0, 0), max(y0, 0)
        box = lambda img: cv2.resize(img[y0:y1, x0:x1], (220, 220 * (y1 - y0) // max(x1 - x0, 1)))  # noqa: E731
        top.append(label(box(kept[k]), f"video t={times[key]:.2f}s"))
        bottom.append(label(box(render), "from the .glb"))
    rows = min(p.shape[0] for p in top + bottom)
    figure = np.vstack([np.hstack([p[:rows] for p in top]), np.hstack([p[:rows] for p in bottom])])
    write_image_atomic(args.out, figure)
    print(f"wrote {args.out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="figure", required=True)
    tex = sub.add_parser("texture")
    tex.add_argument("--image", type=Path)
    tex.add_argument("--video", type=Path, default=REPO / "assets" / "sample.mp4")
    tex.add_argument("--frame", type=int, default=0)
    tex.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "texture_views.png")
    anim = sub.add_parser("animation")
    anim.add_argument("--video", type=Path, default=REPO / "assets" / "sample.mp4")
    anim.add_argument("--frames", default="0,70,140,230")
    anim.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "animation_frames.png")
    args = parser.parse_args(argv)
    return texture_figure(args) if args.figure == "texture" else animation_figure(args)


if __name__ == "__main__":
    raise SystemExit(main())
