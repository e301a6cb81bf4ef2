"""Mobile-FRNet v2 data and training: the 2D landmark fit, real large-pose labels, pose-balanced
sampling, visibility-weighted landmark loss and a resumable training run on a tiny cache."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from frnet import geometry
from frnet.datasets import shared_data_dir
from frnet.fitting import fit_to_landmarks_2d, label_noise_mm

torch = pytest.importorskip("torch", reason="training tests need torch (make setup installs the train extra)")


def synthetic_face(face_model, yaw_deg, pitch_deg, roll_deg, seed, scale=0.6):
    rng = np.random.default_rng(seed)
    rotation = geometry.rotation_from_euler(*np.radians([yaw_deg, pitch_deg, roll_deg]))
    params = np.zeros(face_model.num_params)
    params[:12] = geometry.compose_pose(scale, rotation, np.array([60.0, 58.0, 0.0])).reshape(-1)
    params[12:] = rng.normal(0, 0.8, face_model.num_params - 12)
    points = face_model.landmarks_model(params.astype(np.float32)) @ (scale * rotation).T + [60.0, 58.0, 0.0]
    return params, points[:, :2]


@pytest.mark.parametrize("yaw_deg", [0.0, 35.0, -60.0, 80.0])
def test_2d_fit_recovers_pose_and_landmarks(face_model, yaw_deg):
    params, points = synthetic_face(face_model, yaw_deg, 12.0, -8.0, seed=int(abs(yaw_deg)))
    noisy = points + np.random.default_rng(1).normal(0, 0.3, points.shape)
    fit = fit_to_landmarks_2d(face_model, noisy, label_noise_mm(np.ones(68)))
    angles = np.degrees(face_model.euler_angles(fit.params))
    assert abs(angles[0] - yaw_deg) < 3.0
    assert abs(angles[1] - 12.0) < 6.0 and abs(angles[2] + 8.0) < 6.0
    assert fit.nme_box < 0.01  # the model explains its own points (up to the 0.3 px noise)
    # Depth convention: the landmarks' mean depth is 0 in crop space.
    depth = face_model.landmarks68(fit.params)[:, 2]
    assert abs(depth.mean()) < 1e-3


def test_2d_fit_ignores_absent_points_and_downweights_occluded(face_model):
    params, points = synthetic_face(face_model, 70.0, 0.0, 0.0, seed=3)
    visibility = np.ones(68, int)
    visibility[:8] = 0  # the far-side jaw: self-occluded, no label
    corrupted = points.copy()
    corrupted[:8] = 1e4  # would wreck the fit if it were used
    corrupted[48:52] += 6.0  # occluded, estimated by the annotator: off by 6 px
    visibility[48:52] = -1
    fit = fit_to_landmarks_2d(face_model, corrupted, label_noise_mm(visibility))
    assert abs(np.degrees(face_model.euler_angles(fit.params))[0] - 70.0) < 4.0
    assert np.isfinite(fit.params).all()


def test_landmark_marching_moves_far_side_jaw_to_the_silhouette(face_model):
    params, points = synthetic_face(face_model, 55.0, 0.0, 0.0, seed=4)
    fit = fit_to_landmarks_2d(face_model, points, label_noise_mm(np.ones(68)), silhouette_contour=True)
    assert fit.marched > 0  # far-side jaw points were re-assigned
    frontal = fit_to_landmarks_2d(face_model, synthetic_face(face_model, 2.0, 0.0, 0.0, seed=4)[1],
                                  label_noise_mm(np.ones(68)), silhouette_contour=True)
    assert frontal.marched == 0  # nothing to march on a frontal face


def test_point_weights_follow_visibility_and_contour_rules():
    from frnet.train.train import JAW_FACTOR, OCCLUDED_WEIGHT, point_weights

    visibility = np.ones((3, 68), int)
    visibility[0, 30] = -1
    visibility[0, 40] = 0
    has = np.ones((3, 68), bool)
    has[0, 40] = False
    weights = point_weights(visibility, has, np.array([False, True, True]), np.array([10.0, 45.0, 5.0]),
                            np.array([False, False, True]))
    assert weights[0, 30] == OCCLUDED_WEIGHT and weights[0, 40] == 0 and weights[0, 50] == 1.0
    assert weights[0, 3] == JAW_FACTOR
    assert (weights[1, :17] == 0).all() and weights[1, 30] == 1.0  # 300-W outline jaw at 45° yaw: unused
    assert weights[2, 3] == JAW_FACTOR * 0.5  # coarse ytf68 labels count half


def tiny_cache(face_model, folder, count=24):
    """A label cache of ``count`` random faces in each of the v2 parts' formats."""
    rng = np.random.default_rng(0)
    from frnet.train.labels import CONTEXT_ROI

    for prefix, source, synthetic in (("", "ytf68", False), ("real2d_", "aflw", False), ("v2_profiled_", "ytf68", True)):
        params, human = [], []
        for i in range(count):
            yaw = rng.uniform(-85, 85) if prefix else rng.uniform(-20, 20)
            p, _ = synthetic_face(face_model, yaw, rng.uniform(-30, 30), 0.0, seed=i, scale=0.55)
            params.append(p)
            human.append(geometry.crop_to_image(face_model.landmarks68(p.astype(np.float32))[:, :2], CONTEXT_ROI))
        params = np.array(params, np.float32)
        human = np.array(human, np.float32)
        if synthetic:
            human[:] = np.nan
        visibility = np.ones((count, 68), np.int8)
        if prefix == "real2d_":
            visibility[:, :5] = 0
            human[:, :5] = np.nan
        split = np.array(["val" if i % 4 == 0 else "train" for i in range(count)])
        np.save(folder / f"{prefix}context.npy", rng.integers(0, 255, (count, 224, 224, 3), dtype=np.uint8))
        np.savez(folder / f"{prefix}labels.npz", params=params, human68=human, split=split,
                 source=np.array([source] * count), yaw_deg=np.degrees(face_model.euler_angles(params)[:, 0]),
                 synthetic=np.full(count, synthetic), visibility=visibility)


def test_balanced_epoch_draws_every_group_and_evens_out_yaw(face_model, tmp_path):
    from frnet.train.train import V2_PARTS, TrainingData, epoch_order

    tiny_cache(face_model, tmp_path, count=40)
    data = TrainingData(tmp_path, face_model, parts=V2_PARTS)
    order = epoch_order(data, np.random.default_rng(0), 4000, 0.5, "v2")
    assert len(order) == 4000 and (data.split[order] == "train").all()
    real2d = np.isin(data.source[order], ["aflw"]) & ~data.synthetic[order]
    assert 0.3 < real2d.mean() < 0.4  # V2_GROUP_SHARES["real2d"] = 0.35
    crops, params, human, weights, trust = data.batch_weighted(order[:8], np.random.default_rng(1), train=True)
    assert crops.shape == (8, 3, 120, 120) and weights.shape == (8, 68) and trust.shape == (8,)
    assert torch.isfinite(params).all()
    # --group-share overrides one group's share; the others keep theirs (renormalised)
    order = epoch_order(data, np.random.default_rng(0), 4000, 0.5, "v2", {"real2d": 0.8})
    real2d = np.isin(data.source[order], ["aflw"]) & ~data.synthetic[order]
    assert 0.55 < real2d.mean() < 0.6  # 0.8 / (0.2 + 0.8 + 0.45)


def test_named_overrides_of_loss_weights_and_shares():
    from frnet.train.train import LOSS_WEIGHTS, _named_values

    assert _named_values(["landmark_wing=0.1", "wpdc=5"], LOSS_WEIGHTS, "--loss-weight") == {
        "landmark_wing": 0.1, "wpdc": 5.0}
    assert _named_values(None, LOSS_WEIGHTS, "--loss-weight") == {}
    for bad in ("landmark=0.1", "wpdc=x", "wpdc=-1", "wpdc", "wpdc=nan"):
        with pytest.raises(SystemExit, match="--loss-weight"):
            _named_values([bad], LOSS_WEIGHTS, "--loss-weight")


def test_training_runs_and_resumes_on_a_tiny_cache(face_model, tmp_path):
    from frnet.train import train as training

    tiny_cache(face_model, tmp_path)
    args = dict(run=str(tmp_path / "run"), data=str(tmp_path), epochs=2, batch_size=8, samples_per_epoch=16,
                lr=1e-3, weight_decay=1e-4, threads=1, seed=0, resume=False, imagenet=None, init_from=None,
                profiled_fraction=0.5, no_profiled=False, max_minutes=0.0001, recipe="v2", device="cpu",
                loss_weight=None, group_share=None)
    result = training.train(types.SimpleNamespace(**args))  # stops after epoch 1 (--max-minutes)
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(log) == 2 and "val_aflw_nme_visible_bin_mean" in log[0] and np.isfinite(result["best_val_nme"])
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["loss_weights"]["landmark_wing"] == 0.05 and config["group_shares"]["real2d"] == 0.35
    assert config["parts"] == ["teacher", "real2d", "teacher_profiled"] or set(config["parts"]) == {
        "teacher", "real2d", "teacher_profiled"}
    training.train(types.SimpleNamespace(**(args | {"resume": True, "max_minutes": None})))
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["1", "2"]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["epoch"] == 2
    # a longer --epochs on resume re-lays the one-cycle schedule over the new total, keeping the step
    steps = state["scheduler"]["last_epoch"]
    training.train(types.SimpleNamespace(**(args | {"resume": True, "max_minutes": None, "epochs": 4})))
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["epoch"] == 4 and state["scheduler"]["total_steps"] == 4 * 2
    assert state["scheduler"]["last_epoch"] == steps + 2 * 2
    assert state["scheduler"]["_schedule_phases"][-1]["end_step"] == 4 * 2 - 1  # the anneal ends with the new total
    with pytest.raises(SystemExit, match="already taken"):
        training.train(types.SimpleNamespace(**(args | {"resume": True, "epochs": 1})))


@pytest.mark.skipif(shared_data_dir() is None or not (shared_data_dir() / "aflw_merlrav").is_dir(),
                    reason="../shared/data/aflw_merlrav not present")
def test_validation_sets_are_fixed_stratified_and_large_enough():
    from frnet.train import real_labels

    data = shared_data_dir()
    meta = real_labels.read_meta_csv(data / "aflw_merlrav" / "meta.csv")
    yaw = {n: float(m["yaw_deg"]) for n, m in meta.items()}
    chosen = real_labels.aflw_validation_names(yaw)
    assert len(chosen) == 1100 and chosen == real_labels.aflw_validation_names(dict(reversed(list(yaw.items()))))
    counts = np.histogram([abs(yaw[n]) for n in chosen], [0, 30, 60, 1000])[0]
    assert counts.tolist() == [400, 350, 350]
    helen = sorted(p.name for p in (data / "300w" / "helen_train" / "images").iterdir())
    assert len(real_labels.helen_validation_names(helen)) == 200


@pytest.mark.skipif(shared_data_dir() is None or not (shared_data_dir() / "aflw_merlrav").is_dir(),
                    reason="../shared/data/aflw_merlrav not present")
def test_real_labels_fit_aflw_and_300w_faces_and_agree_with_shipped_yaw(tmp_path):
    from frnet.train import real_labels

    summary = real_labels.build_real_labels(tmp_path, shared_data_dir(), limit=120)
    assert summary["kept"] > 0.85 * (summary["kept"] + sum(summary["dropped"].values()))
    with np.load(tmp_path / real_labels.LABELS_FILE) as data:
        source, vis, human = data["source"], data["visibility"], data["human68"]
        assert (np.isnan(human[vis == 0])).all() and np.isfinite(human[vis != 0]).all()
        assert set(source) == {"aflw", "afw", "helen_train"}
    assert np.load(tmp_path / real_labels.CONTEXT_FILE, mmap_mode="r").shape[1:] == (224, 224, 3)
    for name, entry in summary["per_yaw_bin"].items():
        assert entry["fit_nme_box_median_pct"] < 5.0, name
        if name.startswith("aflw"):
            # The fitted yaw agrees with the yaw AFLW ships (after its sign flip) in every bin.
            assert entry["yaw_abs_diff_median_deg"] < 12.0 and entry["yaw_same_sign_pct"] > 75, (name, entry)
