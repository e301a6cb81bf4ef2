"""Time and size the 3D exports on the bundled sample (numbers quoted in docs/3d-export.md).

    python scripts/bench_3d_export.py [--video assets/sample.mp4] [--repeats 3]

Prints, as JSON: texture extraction time (median of ``--repeats``) at each size for the first
frame's face, the size of the textured OBJ/PNG/GLB, and for the whole clip the time to write the
animation GLB (texture included) after tracking, its size and key count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from frnet.animation import AnimationRecorder, write_animation
from frnet.export import export_face_mesh
from frnet.pipeline import Pipeline, PipelineOptions
from frnet.texture import extract_texture
from frnet.uv import load_uv_layout
from frnet.video import VideoReader

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=REPO / "assets" / "sample.mp4")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    report: dict = {"video": str(args.video)}
    layout = load_uv_layout()
    with VideoReader(args.video) as reader:
        frames = [(f.image_rgb, f.timestamp_ms) for f in reader]
    with Pipeline(PipelineOptions(mode="image")) as pipeline:
        image = frames[0][0]
        face = pipeline.process(image).faces[0]
        triangles = pipeline.face_model.render_triangles
        extract_texture(image, face.vertices, triangles, layout, 512)  # warm the UV raster cache
        for size in (512, 1024):
            extract_texture(image, face.vertices, triangles, layout, size)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                extract_texture(image, face.vertices, triangles, layout, size)
                times.append((time.perf_counter() - start) * 1e3)
            report[f"texture_{size}_ms"] = round(statistics.median(times), 1)
        with tempfile.TemporaryDirectory() as folder:
            for suffix in ("obj", "glb"):
                path = export_face_mesh(Path(folder) / f"face.{suffix}", face, triangles, image, texture_size=1024)
                report[f"textured_{suffix}_bytes"] = path.stat().st_size
            report["texture_png_1024_bytes"] = (Path(folder) / "face.png").stat().st_size
    recorder = AnimationRecorder()
    with Pipeline(PipelineOptions(mode="video")) as pipeline:
        start = time.perf_counter()
        for image, timestamp_ms in frames:
            recorder.add(pipeline.process(image, timestamp_ms), image)
        report["tracking_s"] = round(time.perf_counter() - start, 2)
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            (path,) = write_animation(Path(folder) / "face.glb", recorder, pipeline.face_model)
            report["animation_write_s"] = round(time.perf_counter() - start, 2)
            report["animation_glb_bytes"] = path.stat().st_size
    report["frames"] = len(frames)
    report["keys"] = recorder.frame_count
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
