"""Measure how a BlazeFace box relates to the landmark-framed ROI the network was trained on.

Runs the runtime detector on cached training context images (``python -m frnet.train.labels``),
whose landmark ROI is known, and prints the median ROI side / box width and the centre offset in
box widths — the constants ``DETECTOR_ROI_SCALE`` and ``DETECTOR_ROI_SHIFT_Y`` in frnet/crop.py.

    python scripts/calibrate_detector_roi.py [--samples 600]
"""

import argparse

import numpy as np

from frnet.detect import create_detector
from frnet.train.labels import CONTEXT_ROI, DEFAULT_DIR


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--data", default=str(DEFAULT_DIR))
    args = parser.parse_args()
    contexts = np.load(f"{args.data}/context.npy", mmap_mode="r")
    rng = np.random.default_rng(0)
    side = CONTEXT_ROI[2] - CONTEXT_ROI[0]
    centre = (CONTEXT_ROI[:2] + CONTEXT_ROI[2:]) / 2
    rows = []
    with create_detector("blazeface", min_confidence=0.5) as detector:
        for i in rng.choice(len(contexts), min(args.samples, len(contexts)), replace=False):
            found = detector(np.ascontiguousarray(contexts[i]))
            if not found:
                continue
            box = found[0].box_xyxy
            width = box[2] - box[0]
            box_centre = (box[:2] + box[2:]) / 2
            rows.append((side / width, (centre[0] - box_centre[0]) / width, (centre[1] - box_centre[1]) / width))
    table = np.array(rows)
    print(f"detected {len(rows)} of {args.samples}")
    print("quantity                  median   spread(std)")
    for name, column in zip(("ROI side / box width", "centre dx / box width", "centre dy / box width"), table.T):
        print(f"{name:24s} {np.median(column):8.3f} {column.std():10.3f}")


if __name__ == "__main__":
    main()
