"""Render the figures of docs/face-model.md with frnet's own renderer.

    python scripts/render_face_model_figure.py [--model path.npz] [--out-dir docs/img] [--renderer auto]

* ``face_model_components.png`` — the mean face and ±2σ along the first two identity and the first
  two expression components, each seen frontally and from a three-quarter view (yaw +35°: nose
  towards the image's right). All panels of a view share one scale, so size changes show.
* ``face_model_landmarks.png`` — the mean face with its 68 embedded landmarks, frontal and turned.

Meshes are drawn by :mod:`frnet.render` (OpenGL when a context can be had, else OpenCV), shaded,
and laid out and labelled with matplotlib.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from frnet import geometry  # noqa: E402
from frnet.errors import FrnetError  # noqa: E402
from frnet.facemodel import FaceModel, load_face_model  # noqa: E402
from frnet.render import RENDERER_CHOICES, FaceDrawing, OverlayOptions, create_renderer  # noqa: E402

log = logging.getLogger("render_face_model_figure")

PANEL_SIZE = (220, 260)  # width, height in pixels
VIEWS_DEG = {"frontal": 0.0, "¾ view": 35.0}
SIGMAS = (-2.0, 0.0, 2.0)
MARGIN = 0.05
BACKGROUND_RGB = (255, 255, 255)


class ViewFrame:
    """One turn and one pixel scale for every face of a figure column (fitted to the largest)."""

    def __init__(self, shapes_model: list[np.ndarray], yaw_deg: float, size=PANEL_SIZE) -> None:
        self.rotation = geometry.rotation_from_euler(np.radians(yaw_deg), 0.0, 0.0)
        self.size = size
        turned = [shape @ self.rotation.T for shape in shapes_model]
        extent = np.max([t[:, :2].max(0) - t[:, :2].min(0) for t in turned], axis=0)
        self.scale = min(size[0] * (1 - 2 * MARGIN) / extent[0], size[1] * (1 - 2 * MARGIN) / extent[1])
        self.centre = np.mean([(t[:, :2].max(0) + t[:, :2].min(0)) / 2 for t in turned], axis=0)

    def to_image(self, points_model: np.ndarray) -> np.ndarray:
        """Model mm (y up, z to camera) → panel pixels (y down, larger z nearer)."""
        turned = np.asarray(points_model, dtype=np.float64) @ self.rotation.T
        out = np.empty_like(turned)
        out[:, 0] = (self.size[0] - 1) / 2 + (turned[:, 0] - self.centre[0]) * self.scale
        out[:, 1] = (self.size[1] - 1) / 2 - (turned[:, 1] - self.centre[1]) * self.scale
        out[:, 2] = turned[:, 2] * self.scale
        return out.astype(np.float32)


def component_params(model: FaceModel, kind: str, index: int, sigma: float) -> np.ndarray:
    params = np.zeros(model.num_params, dtype=np.float32)
    offset = geometry.NUM_POSE_PARAMS + (0 if kind == "identity" else model.num_identity)
    params[offset + index] = sigma
    return params


def draw(renderer, view: ViewFrame, shape_model: np.ndarray, triangles: np.ndarray,
         landmarks_model: np.ndarray | None = None) -> np.ndarray:
    canvas = np.empty((view.size[1], view.size[0], 3), dtype=np.uint8)
    canvas[:] = BACKGROUND_RGB
    landmarks = None if landmarks_model is None else view.to_image(landmarks_model)
    face = FaceDrawing(view.to_image(shape_model), triangles, landmarks)
    options = OverlayOptions(landmarks=landmarks is not None, mesh=True, colouring="shaded", mesh_opacity=1.0)
    return renderer.render(canvas, [face], options)


def displacement_map(ax, view: ViewFrame, mean_model: np.ndarray, moved_model: np.ndarray,
                     triangles: np.ndarray) -> float:
    """Frontal mean coloured by how far each point moves (mm), drawn back to front; returns the max."""
    from matplotlib.collections import PolyCollection

    distance = np.linalg.norm(moved_model - mean_model, axis=1)
    points = view.to_image(mean_model)
    order = np.argsort(points[triangles, 2].mean(axis=1))  # far first (larger z is nearer)
    tris = triangles[order]
    peak = float(distance.max())
    colours = plt.get_cmap("magma_r")(distance[tris].mean(axis=1) / max(peak, 1e-9))
    ax.add_collection(PolyCollection(points[tris, :2], facecolors=colours, edgecolors="none"))
    ax.set_xlim(0, view.size[0])
    ax.set_ylim(view.size[1], 0)
    ax.set_aspect("equal")
    return peak


def component_figure(model: FaceModel, renderer, out_path: Path) -> None:
    rows = [("identity", 0), ("identity", 1), ("expression", 0), ("expression", 1)]
    rows = [(kind, i) for kind, i in rows if i < (model.num_identity if kind == "identity" else model.num_expression)]
    shapes = {(kind, i, s): model.shape(component_params(model, kind, i, s), dense=True)
              for kind, i in rows for s in SIGMAS}
    frames = {name: ViewFrame(list(shapes.values()), yaw) for name, yaw in VIEWS_DEG.items()}
    columns = [(view, s) for view in VIEWS_DEG for s in SIGMAS] + [("frontal", None)]
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.55 * len(columns), 1.95 * len(rows) + 0.5),
                             squeeze=False)
    for r, (kind, i) in enumerate(rows):
        std = (model.identity_std if kind == "identity" else model.expression_std)[i]
        for c, (view, s) in enumerate(columns):
            ax = axes[r, c]
            if s is None:
                peak = displacement_map(ax, frames[view], shapes[(kind, i, 0.0)], shapes[(kind, i, 2.0)],
                                        model.render_triangles)
                ax.set_xlabel(f"max {peak:.1f} mm", fontsize=8)
            else:
                ax.imshow(draw(renderer, frames[view], shapes[(kind, i, s)], model.render_triangles))
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0:
                title = "moved by +2σ\n(dark: most)" if s is None else f"{view}\n{'mean' if s == 0 else f'{s:+.0f}σ'}"
                ax.set_title(title, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{kind} {i + 1}\nσ = {std:.1f} mm", fontsize=9)
    fig.suptitle(f"frnet face model: mean and ±2σ along the first components "
                 f"({model.num_dense_vertices} dense vertices)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_path)


def landmark_figure(model: FaceModel, renderer, out_path: Path) -> None:
    zeros = np.zeros(model.num_params, dtype=np.float32)
    shape = model.shape(zeros, dense=True)
    landmarks = model.landmarks_model(zeros)
    fig, axes = plt.subplots(1, 2, figsize=(5.2, 3.3))
    for ax, (name, yaw) in zip(axes, {"frontal": 0.0, "yaw +35°": 35.0}.items()):
        frame = ViewFrame([shape], yaw)
        ax.imshow(draw(renderer, frame, shape, model.render_triangles, landmarks))
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle("mean face and its 68 embedded landmarks (iBUG order)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_path)


def save_figure(fig, out_path: Path, dpi: int = 120) -> None:
    """Write the PNG through a temporary file and a rename, so a failed run leaves the old one."""
    tmp = out_path.with_name(out_path.name + ".part")
    fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    tmp.replace(out_path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="face model .npz (default: the shipped one)")
    parser.add_argument("--out-dir", type=Path, default=Path("docs") / "img")
    parser.add_argument("--renderer", choices=RENDERER_CHOICES, default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model = load_face_model(args.model)
    except FrnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with create_renderer(args.renderer) as renderer:
        log.info("renderer: %s", renderer.name)
        for name, make in (("face_model_components.png", component_figure),
                           ("face_model_landmarks.png", landmark_figure)):
            make(model, renderer, args.out_dir / name)
            log.info("wrote %s", args.out_dir / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
