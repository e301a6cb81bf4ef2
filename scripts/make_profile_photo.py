"""A profile photo made from the bundled public-domain sample, for docs figures (no research data).

    python scripts/make_profile_photo.py [--yaw 60] [--out out/profile_sample.png]

Frame 0 of ``assets/sample.mp4`` (NASA, public domain) → frnet's fitted face → 3D face profiling
(:func:`frnet.train.profiling.profile_face`, the renderer behind the training views) turns the head
by ``--yaw`` degrees and re-renders it, 3× upsampled. The result is a real photo's face seen in
profile whose far side was never in the picture: what ``--texture`` must fill from the mirrored side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from frnet import crop
from frnet.facemodel import load_face_model
from frnet.files import write_image_atomic
from frnet.pipeline import Pipeline, PipelineOptions
from frnet.train.labels import CONTEXT_SIZE, context_box
from frnet.train.profiling import ProfileRenderer, profile_face
from frnet.video import VideoReader

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yaw", type=float, default=60.0, help="turn the head by this many degrees")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "profile_sample.png")
    args = parser.parse_args(argv)
    with VideoReader(REPO / "assets" / "sample.mp4") as reader:
        frame = next(iter(reader)).image_rgb
    with Pipeline(PipelineOptions(mode="image", precision="fp32")) as pipeline:
        face = pipeline.process(frame).faces[0]
    roi = crop.roi_from_landmarks(face.landmarks68[:, :2])
    context = crop.crop_image(frame, context_box(roi), CONTEXT_SIZE)
    params = crop.reroi_params(face.params, face.roi_box, roi)
    with ProfileRenderer() as renderer:
        image, _ = profile_face(context, params, load_face_model(), args.yaw, 0.0, renderer)
    image = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image_atomic(args.out, image)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
