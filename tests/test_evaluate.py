"""``frnet.evaluate``: NME math, failures, yaw bins, the CSV/.pts/.mat readers, ``frnet-app eval``;
and the pure parts of the accuracy benchmark scripts (box conversion, CSV writer, .mat set writer)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from frnet import cli, evaluate, geometry
from frnet.datasets import LANDMARK_CSV_HEADER, shared_data_dir
from frnet.errors import InputError
from frnet.evaluate import GroundTruth

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared/data is not present (read-only dev data)")


def make_truth(seed: int = 0) -> np.ndarray:
    """68 points in a 100×64 box (√(w·h) = 80) with the outer eye corners 50 px apart."""
    rng = np.random.default_rng(seed)
    points = np.column_stack([rng.uniform(12, 108, 68), rng.uniform(22, 82, 68)])
    points[0], points[16] = (10, 20), (110, 84)
    points[36], points[45] = (30, 40), (80, 40)
    return points


def write_csv(path: Path, rows: dict[str, np.ndarray | None]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LANDMARK_CSV_HEADER)
        for name, points in rows.items():
            writer.writerow([name] + ([""] * 136 if points is None else [f"{v:.4f}" for v in points.reshape(-1)]))
    return path


def write_pts(path: Path, points_zero_based: np.ndarray) -> Path:
    body = "\n".join(f"{x + 1:.4f} {y + 1:.4f}" for x, y in points_zero_based)
    path.write_text(f"version: 1\nn_points:  68\n{{\n{body}\n}}\n")
    return path


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ math
def test_nme_of_a_known_offset_for_both_normalisations():
    truth = make_truth()
    predicted = truth + np.array([3.0, 4.0])  # every point 5 px off
    assert evaluate.bbox_size(truth) == pytest.approx(80.0)
    assert evaluate.outer_eye_distance(truth) == pytest.approx(50.0)
    assert evaluate.nme(predicted, truth, "box") == pytest.approx(5 / 80)
    assert evaluate.nme(predicted, truth, "eye") == pytest.approx(5 / 50)
    with pytest.raises(ValueError):
        evaluate.nme(predicted, truth, "diagonal")


def test_nme_averages_point_errors_and_ignores_depth():
    truth = make_truth()
    predicted = np.concatenate([truth.copy(), np.full((68, 1), 123.0)], axis=1)  # (68, 3): z ignored
    predicted[:34, 0] += 8.0  # half the points 8 px off, half exact → mean error 4 px
    result = evaluate.score({"a": predicted}, {"a": GroundTruth(truth)})
    image = result.images[0]
    assert image.nme_box == pytest.approx(4 / 80)
    assert image.nme_eye == pytest.approx(4 / 50)
    assert result.summary.nme_box == pytest.approx(4 / 80)


def test_failures_count_missing_predictions_and_large_errors():
    truth = make_truth()
    gt = {k: GroundTruth(truth) for k in ("good", "bad", "none", "absent")}
    predictions = {"good": truth + 1.0, "bad": truth + 12.0, "none": None, "extra": truth}
    result = evaluate.score(predictions, gt, failure_threshold=0.10)
    by_key = {s.key: s for s in result.images}
    assert not by_key["good"].failure and by_key["good"].detected
    assert by_key["bad"].failure and by_key["bad"].nme_box == pytest.approx(math.hypot(12, 12) / 80)
    assert by_key["none"].failure and not by_key["none"].detected and math.isnan(by_key["none"].nme_box)
    assert by_key["absent"].failure and not by_key["absent"].detected
    s = result.summary
    assert (s.count, s.detected, s.failures, s.unmatched_predictions) == (4, 2, 3, 1)
    # The means cover detected images only, failures by threshold included.
    assert s.nme_box == pytest.approx((math.hypot(1, 1) + math.hypot(12, 12)) / 2 / 80)
    # A looser threshold turns the large error into a success.
    assert evaluate.score(predictions, gt, failure_threshold=0.25).summary.failures == 2
    with pytest.raises(ValueError):
        evaluate.score(predictions, gt, failure_threshold=0.0)


def test_yaw_bins_and_balanced_mean():
    assert [evaluate.yaw_bin_index(y) for y in (0.0, 29.9, 30.0, -45.0, 60.0, -89.0, 97.0)] == [0, 0, 1, 1, 2, 2, 2]
    assert evaluate.yaw_bin_index(None) is None and evaluate.yaw_bin_index(float("nan")) is None
    truth = make_truth()
    gt = {"f": GroundTruth(truth, 10.0), "m1": GroundTruth(truth, -40.0), "m2": GroundTruth(truth, 50.0),
          "p": GroundTruth(truth, 75.0), "u": GroundTruth(truth, None)}
    offsets = {"f": 0.8, "m1": 1.6, "m2": 3.2, "u": 40.0}  # "p" has no prediction
    predictions = {k: truth + np.array([d, 0.0]) for k, d in offsets.items()}
    s = evaluate.score(predictions, gt).summary
    bins = {b.label: b for b in s.yaw_bins}
    assert list(bins) == ["0-30", "30-60", "60-90"]
    assert (bins["0-30"].count, bins["0-30"].detected) == (1, 1)
    assert bins["0-30"].nme_box == pytest.approx(0.8 / 80)
    assert bins["30-60"].nme_box == pytest.approx(2.4 / 80) and bins["30-60"].count == 2
    assert (bins["60-90"].count, bins["60-90"].detected, bins["60-90"].failures) == (1, 0, 1)
    assert bins["60-90"].nme_box is None
    assert s.balanced_nme_box == pytest.approx((0.8 / 80 + 2.4 / 80) / 2)  # bins holding detections
    # Without any yaw there are no bins and no balanced mean.
    plain = evaluate.score({"a": truth}, {"a": GroundTruth(truth)}).summary
    assert plain.yaw_bins == [] and plain.balanced_nme_box is None


# --------------------------------------------------------------------------------------- readers
def test_csv_predictions_and_ground_truth_with_empty_cells(tmp_path, caplog):
    truth = make_truth()
    pred_csv = write_csv(tmp_path / "pred.csv", {"sub/a.jpg": truth + 1.0, "b.png": None})
    predictions = evaluate.load_predictions(pred_csv)
    assert set(predictions) == {"a", "b"} and predictions["b"] is None
    np.testing.assert_allclose(predictions["a"], truth + 1.0, atol=1e-4)
    # A folder holding a landmarks68.csv (what frnet-app --image writes) works too.
    write_csv(tmp_path / "landmarks68.csv", {"a.jpg": truth})
    assert set(evaluate.load_predictions(tmp_path)) == {"a"}
    gt = evaluate.load_ground_truth(write_csv(tmp_path / "gt.csv", {"a.jpg": truth, "c.jpg": None}))
    assert set(gt) == {"a"} and gt["a"].yaw_deg is None  # the unannotated row is skipped
    assert "c.jpg" in caplog.text


def test_pts_file_and_folder_are_one_based(tmp_path):
    truth = make_truth()
    folder = tmp_path / "pts"
    folder.mkdir()
    write_pts(folder / "img_01.pts", truth)
    write_pts(folder / "img_02.pts", truth + 5)
    (folder / "notes.txt").write_text("ignored")
    gt = evaluate.load_ground_truth(folder)
    assert set(gt) == {"img_01", "img_02"}
    np.testing.assert_allclose(gt["img_01"].landmarks68, truth, atol=1e-4)
    single = evaluate.load_ground_truth(folder / "img_02.pts")
    np.testing.assert_allclose(single["img_02"].landmarks68, truth + 5, atol=1e-4)
    (folder / "short.pts").write_text("version: 1\nn_points: 2\n{\n1 2\n3 4\n}\n")
    with pytest.raises(InputError, match="short.pts"):
        evaluate.load_ground_truth(folder)


@pytest.mark.parametrize("transposed", [False, True])
def test_mat_files_in_both_orientations(tmp_path, transposed):
    from scipy.io import savemat

    truth = make_truth()
    pt3d = np.column_stack([truth + 1.0, np.linspace(-20, 20, 68)])  # (68, 3), 1-based x, y
    savemat(tmp_path / "face.mat", {"pt3d_68": pt3d if transposed else pt3d.T,
                                    "Pose_Para": np.array([[0.1, np.radians(-52.0), 0.05, 1, 2, 3, 0.001]])})
    gt = evaluate.load_ground_truth(tmp_path)["face"]
    np.testing.assert_allclose(gt.landmarks68, truth, atol=1e-9)
    assert gt.yaw_deg == pytest.approx(-52.0)
    savemat(tmp_path / "nopose.mat", {"pt3d_68": pt3d.T})
    assert evaluate.load_ground_truth(tmp_path / "nopose.mat")["nopose"].yaw_deg is None


def test_bad_files_raise_input_error_naming_them(tmp_path):
    from scipy.io import savemat

    with pytest.raises(InputError, match="missing.csv"):
        evaluate.load_ground_truth(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="nothing.csv"):
        evaluate.load_predictions(tmp_path / "nothing.csv")
    (tmp_path / "header.csv").write_text("name,x,y\na.jpg,1,2\n")
    with pytest.raises(InputError, match="header.csv"):
        evaluate.load_ground_truth(tmp_path / "header.csv")
    (tmp_path / "broken.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(InputError, match="broken.mat"):
        evaluate.load_ground_truth(tmp_path / "broken.mat")
    savemat(tmp_path / "nopoints.mat", {"pt2d": np.zeros((2, 21))})
    with pytest.raises(InputError, match="nopoints.mat.*pt3d_68"):
        evaluate.load_ground_truth(tmp_path / "nopoints.mat")
    savemat(tmp_path / "shape.mat", {"pt3d_68": np.zeros((3, 21))})
    with pytest.raises(InputError, match="shape.mat"):
        evaluate.load_ground_truth(tmp_path / "shape.mat")
    savemat(tmp_path / "text.mat", {"pt3d_68": "not numbers"})
    with pytest.raises(InputError, match="text.mat"):
        evaluate.load_ground_truth(tmp_path / "text.mat")
    savemat(tmp_path / "pose.mat", {"pt3d_68": np.zeros((3, 68)), "Pose_Para": np.array([[0.1]])})
    with pytest.raises(InputError, match="pose.mat.*Pose_Para"):
        evaluate.load_ground_truth(tmp_path / "pose.mat")
    (tmp_path / "labels.json").write_text("{}")
    with pytest.raises(InputError, match="labels.json"):
        evaluate.load_ground_truth(tmp_path / "labels.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="empty"):
        evaluate.load_ground_truth(empty)


def test_matching_is_by_file_stem(tmp_path):
    truth = make_truth()
    predictions = evaluate.load_predictions(write_csv(tmp_path / "p.csv", {"photos/img_01.jpg": truth}))
    folder = tmp_path / "gt"
    folder.mkdir()
    write_pts(folder / "img_01.pts", truth)
    result = evaluate.score(predictions, evaluate.load_ground_truth(folder))
    assert result.summary.detected == 1 and result.summary.nme_box == pytest.approx(0.0, abs=1e-6)
    # Nothing in common: certainly the wrong files.
    with pytest.raises(InputError, match="file stem"):
        evaluate.score({"other": truth}, {"img_01": GroundTruth(truth)})
    # Two rows with one stem cannot be matched.
    with pytest.raises(InputError, match="same file stem"):
        evaluate.load_predictions(write_csv(tmp_path / "dup.csv", {"a/x.jpg": truth, "b/x.png": truth}))


# ------------------------------------------------------------------------------------------- CLI
def test_frnet_app_eval_prints_a_table_and_writes_json(tmp_path, capsys):
    truth = make_truth()
    pred = write_csv(tmp_path / "pred.csv", {"a.jpg": truth + [3.0, 4.0], "b.jpg": None})
    gt = write_csv(tmp_path / "gt.csv", {"a.jpg": truth, "b.jpg": truth})
    out_json = tmp_path / "out" / "scores.json"
    code = cli.main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0
    assert "NME_box %" in out and "6.25" in out and "10.00" in out  # 5/80 and 5/50
    data = json.loads(out_json.read_text())
    assert data["summary"]["failures"] == 1 and data["images"][1]["nme_box"] is None  # NaN → null


def test_frnet_app_eval_bad_path_is_one_line_and_exit_2(tmp_path, capsys):
    pred = write_csv(tmp_path / "pred.csv", {"a.jpg": make_truth()})
    code = cli.main(["eval", "--pred", str(pred), "--gt", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("frnet-app: error:") and "nope" in lines[0]
    assert "Traceback" not in err
    assert cli.main(["eval", "--pred", str(pred), "--gt", str(pred), "--failure-threshold", "0"]) == 2


def test_ground_truth_csv_with_absent_points_and_pose(tmp_path):
    truth = make_truth()
    header = ["image"] + [f"{a}{i}" for i in range(68) for a in "xy"] + ["yaw_deg", "pitch_deg", "roll_deg"]
    cells = [f"{v:.3f}" for v in truth.reshape(-1)]
    absent = list(cells)
    absent[0:2] = ["", ""]  # point 0 self-occluded: no label
    path = tmp_path / "gt.csv"
    path.write_text("\ufeff" + ",".join(header) + "\n" + ",".join(["a.jpg"] + absent + ["-40", "", "3"]) + "\n"
                    + ",".join(["b.jpg"] + cells + ["", "", ""]) + "\n", encoding="utf-8")
    gt = evaluate.load_ground_truth(path)
    assert np.isnan(gt["a"].landmarks68[0]).all() and gt["a"].yaw_deg == -40.0
    assert np.isnan(gt["a"].pose_deg[1]) and gt["a"].pose_deg[2] == 3.0 and gt["b"].yaw_deg is None
    # Absent points are not scored: a prediction perfect elsewhere but far off at point 0 scores 0.
    wrong = truth.copy()
    wrong[0] += 50
    result = evaluate.score({"a": wrong, "b": truth}, gt, poses_deg={"a": np.array([-35.0, 2.0, 363.0])})
    by_key = {s.key: s for s in result.images}
    assert by_key["a"].nme_box == pytest.approx(0.0, abs=1e-4)
    assert by_key["a"].pose_error_deg[0] == pytest.approx(5.0) and np.isnan(by_key["a"].pose_error_deg[1])
    assert by_key["a"].pose_error_deg[2] == pytest.approx(0.0, abs=1e-9)  # 363° is 3°
    assert result.summary.pose_mae_deg["yaw"] == pytest.approx(5.0) and result.summary.pose_mae_deg["pitch"] is None
    # A point with one coordinate is an error naming the file.
    half = list(cells)
    half[0] = ""
    path.write_text(",".join(header) + "\n" + ",".join(["a.jpg"] + half + ["", "", ""]) + "\n")
    with pytest.raises(InputError, match="gt.csv"):
        evaluate.load_ground_truth(path)


@needs_shared
def test_shared_annotations_read():
    gt = evaluate.load_ground_truth(SHARED / "images" / "pts68")
    assert set(gt) == {"breakingbad", "einstein", "takeo"}
    assert all(g.landmarks68.shape == (68, 2) for g in gt.values())
    csv_path = SHARED / "ytf68" / "landmarks68.csv"
    result = evaluate.evaluate(csv_path, csv_path)
    assert result.summary.count == result.summary.detected > 3000
    assert result.summary.nme_box == pytest.approx(0.0) and result.summary.failures == 0


# ------------------------------------------------------------------------------ benchmark scripts
def test_peer_box_conversion_and_csv_writer(tmp_path):
    peers = load_script("peer_landmarks")
    roi = np.array([100.0, 200.0, 300.0, 400.0])
    box = peers.roi_to_dlib_box(roi)
    side = peers.DLIB_SIDE_PER_ROI * 200
    assert box[2] - box[0] == pytest.approx(side) and box[3] - box[1] == pytest.approx(side)
    assert (box[0] + box[2]) / 2 == pytest.approx(200)  # frontal: no sideways shift
    assert (box[1] + box[3]) / 2 == pytest.approx(300 + peers.DLIB_DY_PER_ROI * 200)
    # A turned face: the box moves towards the nose, mirrored for the other side.
    right, left = peers.roi_to_dlib_box(roi, 60.0), peers.roi_to_dlib_box(roi, -60.0)
    shift = peers.DLIB_DX_PER_SIN_YAW * np.sin(np.radians(60.0)) * 200
    assert (right[0] + right[2]) / 2 == pytest.approx(200 + shift) and shift > 0
    assert (left[0] + left[2]) / 2 == pytest.approx(200 - shift)
    assert (left[1] + left[3]) / 2 == pytest.approx((right[1] + right[3]) / 2)
    assert peers.box_iou(box, box) == pytest.approx(1.0) and peers.box_iou(left, right) < 1.0
    # frnet's JSON: the largest face's ROI and yaw.
    (tmp_path / "img_landmarks.json").write_text(json.dumps({"faces": [
        {"roi_box": [0, 0, 10, 10], "yaw_pitch_roll_deg": [5, 0, 0]},
        {"roi_box": [0, 0, 50, 50], "yaw_pitch_roll_deg": [-40, 1, 2]}]}))
    (tmp_path / "none_landmarks.json").write_text(json.dumps({"faces": []}))
    found_roi, found_yaw = peers.frnet_face(tmp_path, "img")
    assert found_roi.tolist() == [0, 0, 50, 50] and found_yaw == -40
    assert peers.frnet_face(tmp_path, "none") is None and peers.frnet_face(tmp_path, "missing") is None
    truth = make_truth()
    peers.write_csv(tmp_path / "p.csv", [("a.jpg", truth), ("b.jpg", None)])
    predictions = evaluate.load_predictions(tmp_path / "p.csv")
    assert predictions["b"] is None and np.abs(predictions["a"] - truth).max() <= 0.005


def test_profiled_set_writer_round_trips_through_the_csv_reader(tmp_path):
    from frnet.facemodel import load_face_model
    from frnet.train.labels import CONTEXT_ROI

    bench = load_script("accuracy_benchmark")
    model = load_face_model()
    params = np.zeros((3, model.num_params), np.float32)
    for row, yaw_deg in enumerate((35.0, -70.0, 50.0)):
        rotation = geometry.rotation_from_euler(np.radians(yaw_deg), 0.1, -0.05)
        params[row, :12] = geometry.compose_pose(0.55, rotation, np.array([60.0, 56.0, 0.0])).reshape(-1)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    np.savez(dataset / "v2_profiled_labels.npz", params=params, split=np.array(["val", "train", "val"]),
             name=np.array(["test_A_01.jpg@yaw+35", "training_B_02.jpg@yaw-70", "test_A_01.jpg@yaw+50"]))
    np.save(dataset / "v2_profiled_context.npy", np.zeros((3, 224, 224, 3), np.uint8))
    folder = tmp_path / "profiled_val"
    manifest = bench.build_profiled_val(folder, dataset, None, rebuild=False)
    assert manifest["images"] == 2 and manifest["faces"] == 1
    assert manifest["abs_yaw_bins"] == {"0-30": 0, "30-60": 2, "60-90": 0}
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["test_A_01_yaw+35.png", "test_A_01_yaw+50.png"]
    gt = evaluate.load_ground_truth(folder / "gt.csv")
    expected = geometry.crop_to_image(model.landmarks68(params[2]), CONTEXT_ROI)[:, :2]
    np.testing.assert_allclose(gt["test_A_01_yaw+50"].landmarks68, expected, atol=2e-3)
    assert gt["test_A_01_yaw+50"].yaw_deg == pytest.approx(50.0, abs=1e-3)
    np.testing.assert_allclose(gt["test_A_01_yaw+50"].pose_deg, np.degrees([np.radians(50.0), 0.1, -0.05]), atol=2e-3)
    # Markers: only the block between them is replaced.
    doc = tmp_path / "accuracy.md"
    doc.write_text(f"intro\n{bench.MARK_START}\nold\n{bench.MARK_END}\noutro\n")
    bench.write_doc(doc, f"{bench.MARK_START}\nnew\n{bench.MARK_END}")
    assert doc.read_text() == f"intro\n{bench.MARK_START}\nnew\n{bench.MARK_END}\noutro\n"


def test_manifests_name_source_files_by_content_not_by_modification_time(tmp_path):
    """A new machine's copy of ../shared has new mtimes: the sets (and the peers' saved
    predictions, keyed by the set's manifest) must be reused; changed content must not be."""
    import os

    bench = load_script("accuracy_benchmark")
    source = tmp_path / "landmarks68.csv"
    source.write_text("name,x0\na,1\n")
    stamp = bench._file_stamp(source)
    os.utime(source, (1_000_000, 1_000_000))
    assert bench._file_stamp(source) == stamp
    folder = tmp_path / "set"
    folder.mkdir()
    bench._write_manifest(folder, {"source": stamp, "images": 1})
    assert bench._manifest_ok(folder, {"source": bench._file_stamp(source)})
    source.write_text("name,x0\na,2\n")
    assert not bench._manifest_ok(folder, {"source": bench._file_stamp(source)})


def _aflw_subset(folder: Path, count: int = 6) -> Path:
    """``count`` AFLW faces at mixed yaw: symlinked images + a ground-truth CSV with pose columns."""
    from frnet.train.real_labels import read_meta_csv, read_partial_landmarks_csv, read_visibility_csv

    aflw = shared_data_dir() / "aflw_merlrav"
    points = read_partial_landmarks_csv(aflw / "landmarks68.csv")
    visibility = read_visibility_csv(aflw / "visibility68.csv")
    meta = read_meta_csv(aflw / "meta.csv")
    names = sorted(points, key=lambda n: float(meta[n]["yaw_deg"]))
    names = [names[i] for i in np.linspace(len(names) * 0.1, len(names) * 0.9, count).astype(int)]
    (folder / "images").mkdir(parents=True)
    header = LANDMARK_CSV_HEADER + ["yaw_deg", "pitch_deg", "roll_deg"]
    with open(folder / "gt.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for name in names:
            (folder / "images" / name).symlink_to(aflw / "images" / name)
            pts = np.where((visibility[name] == 0)[:, None], np.nan, points[name])
            writer.writerow([name] + ["" if math.isnan(v) else f"{v:.2f}" for v in pts.reshape(-1)]
                            + [f"{-float(meta[name]['yaw_deg']):.2f}", "", ""])
    return folder


needs_aflw = pytest.mark.skipif(shared_data_dir() is None or not (shared_data_dir() / "aflw_merlrav").is_dir(),
                                reason="../shared/data/aflw_merlrav not present")


@needs_aflw
@pytest.mark.parametrize("protocol", ["gt", "detector"])
def test_frnet_app_eval_images_runs_frnet_under_both_protocols(tmp_path, capsys, protocol):
    folder = _aflw_subset(tmp_path / "set")
    code = evaluate.main(["--images", str(folder / "images"), "--gt", str(folder / "gt.csv"), "--crop", protocol,
                          "--json", str(tmp_path / "out.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert f"({protocol} crop)" in out and "pose MAE (deg): yaw" in out
    summary = json.loads((tmp_path / "out.json").read_text())["summary"]
    assert summary["count"] == 6 and summary["detected"] >= (6 if protocol == "gt" else 5)
    # Real faces at mixed yaw: a working network lands well under 10 % NME_box and 20° of yaw.
    assert summary["nme_box"] < 0.10 and summary["pose_mae_deg"]["yaw"] < 20.0


@needs_aflw
def test_3ddfa_v2_peer_scores_like_its_published_accuracy(tmp_path):
    folder = _aflw_subset(tmp_path / "set")
    peers = shared_data_dir().parent / "peers" / "3ddfa_v2"
    if not (peers / "mb05_120x120.pth").is_file():
        pytest.skip("../shared/peers/3ddfa_v2 not present")
    pytest.importorskip("torch", reason="the 3DDFA_V2 peer needs torch (make setup)")
    peer = load_script("peer_3ddfa_v2")
    truth = evaluate.load_ground_truth(folder / "gt.csv")
    from frnet.eval_images import find_images

    landmarks, poses = peer.predict(find_images(folder / "images", set(truth)), truth, "gt")
    result = evaluate.score(landmarks, truth, poses_deg=poses)
    # 3DDFA_V2 reports ≈ 3.5 % NME on AFLW2000-3D; on these AFLW faces it lands below 8 %, and its
    # yaw, read in frnet's convention, agrees with AFLW's (sign-flipped) yaw.
    assert result.summary.detected == 6 and result.summary.nme_box < 0.08
    assert result.summary.pose_mae_deg["yaw"] < 15.0
