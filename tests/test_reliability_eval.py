"""``frnet-app eval`` and ``frnet-app bench``: options and outputs checked before running, and the
annotation readers' new cases (issue 16; rows of docs/reliability.md, "Evaluation and benchmark").
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest

from frnet import bench
from support import SAMPLE, assert_one_error_line, run_cli
from test_evaluate import make_truth, write_csv, write_pts
from support import UNWRITABLE, needs_unwritable
from support import out_files


def assert_one_bench_error(stderr: str, *fragments: str) -> None:
    """One ``frnet-app bench: error: …`` line (the subcommand's own prefix) and no traceback."""
    errors = [line for line in stderr.splitlines() if line.startswith(("frnet-app bench: error:", "frnet-app: error:"))]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    truth = {f"img{i}.jpg": make_truth(i) for i in range(3)}
    gt = write_csv(tmp_path / "gt.csv", truth)
    pred = write_csv(tmp_path / "pred.csv", {name: points + 0.5 for name, points in truth.items()})
    return pred, gt


# ------------------------------------------------------------------------------------------- eval


def test_csv_with_a_utf8_bom_is_accepted(capsys, tmp_path):
    """A spreadsheet's "CSV UTF-8" starts with a byte-order mark: it was refused (wrong header)."""
    pred, gt = _pair(tmp_path)
    for path in (pred, gt):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code, stdout, stderr = run_cli(capsys, "eval", "--pred", pred, "--gt", gt)
    assert code == 0, stderr
    assert "images 3, with a prediction 3, failures 0" in stdout


def test_conflicting_duplicate_prediction_rows_are_an_error_naming_the_image(capsys, tmp_path):
    pred, gt = _pair(tmp_path)
    lines = pred.read_text().splitlines()
    moved = lines[2].split(",")
    moved[1] = str(float(moved[1]) + 30)
    pred.write_text("\n".join([*lines, ",".join(moved)]) + "\n")
    code, _, stderr = run_cli(capsys, "eval", "--pred", pred, "--gt", gt)
    assert code == 2
    assert_one_error_line(stderr, "img1.jpg", "lines 3 and 5")


def test_identical_duplicate_rows_count_once(capsys, tmp_path):
    pred, gt = _pair(tmp_path)
    lines = pred.read_text().splitlines()
    pred.write_text("\n".join([*lines, lines[1]]) + "\n")
    code, stdout, stderr = run_cli(capsys, "eval", "--pred", pred, "--gt", gt)
    assert code == 0, stderr
    assert "images 3, with a prediction 3" in stdout


@pytest.mark.parametrize("kind", ["csv-one-point", "pts-eyes-coincide"])
def test_degenerate_ground_truth_is_an_error_naming_the_file(capsys, tmp_path, kind):
    """All 68 points on one spot gave NME = inf and a raw ``RuntimeWarning``."""
    pred, gt = _pair(tmp_path)
    if kind == "csv-one-point":
        truth = {f"img{i}.jpg": make_truth(i) for i in range(3)}
        truth["img2.jpg"] = np.full((68, 2), 50.0)
        gt = write_csv(tmp_path / "gt.csv", truth)
        fragments = ("gt.csv", "img2.jpg", "degenerate")
    else:
        folder = tmp_path / "pts"
        folder.mkdir()
        for i in range(3):
            points = make_truth(i)
            if i == 1:
                points[45] = points[36]  # outer eye corners on one spot
            write_pts(folder / f"img{i}.pts", points)
        gt = folder
        fragments = ("img1.pts", "eye corners")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may escape
        code, stdout, stderr = run_cli(capsys, "eval", "--pred", pred, "--gt", gt)
    assert code == 2
    assert_one_error_line(stderr, *fragments)
    assert "inf" not in stdout


def test_json_equal_to_the_predictions_is_refused_and_they_are_kept(capsys, tmp_path):
    pred, gt = _pair(tmp_path)
    before = pred.read_bytes()
    code, _, stderr = run_cli(capsys, "eval", "--pred", pred, "--gt", gt, "--json", pred)
    assert code == 2
    assert_one_error_line(stderr, "--json", "is an input")
    assert pred.read_bytes() == before


def test_json_to_dev_null_is_written_in_place(capsys, tmp_path):
    """``eval --json /dev/null`` replaced the device node with a regular file (as root)."""
    from test_reliability_outputs import require_in_place

    require_in_place(os.devnull)
    pred, gt = _pair(tmp_path)
    code, _, stderr = run_cli(capsys, "eval", "--pred", pred, "--gt", gt, "--json", os.devnull, "-q")
    assert code == 0, stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@needs_unwritable
def test_unwritable_json_is_refused_before_reading_anything(capsys, tmp_path, monkeypatch):
    pred, gt = _pair(tmp_path)
    from frnet import evaluate

    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("must not evaluate"))
    code, _, stderr = run_cli(capsys, "eval", "--pred", pred, "--gt", gt, "--json", UNWRITABLE / "e.json")
    assert code == 2
    assert_one_error_line(stderr, "cannot write", str(UNWRITABLE))


def test_json_that_is_a_folder_is_refused(capsys, tmp_path):
    pred, gt = _pair(tmp_path)
    code, _, stderr = run_cli(capsys, "eval", "--pred", pred, "--gt", gt, "--json", tmp_path)
    assert code == 2
    assert_one_error_line(stderr, "is a folder")


# ------------------------------------------------------------------------------------------ bench


@pytest.fixture
def no_benchmark(monkeypatch):
    """Fails the test if the benchmark would start running."""
    monkeypatch.setattr(bench, "run", lambda *a, **k: pytest.fail("the benchmark must not run"))


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--warmup", "-3", "--warmup"), ("--frames", "0", "--frames"), ("--frames", "-5", "--frames"),
    ("--threads", "0", "--threads"),
])
def test_bench_option_bounds(capsys, tmp_path, no_benchmark, option, value, fragment):
    """``bench --warmup -3`` ran and printed ``nan``."""
    code, stdout, stderr = run_cli(capsys, "bench", "--clips", SAMPLE, option, value, "--no-peer", "--no-reference")
    assert code == 2
    assert_one_bench_error(stderr, fragment)
    assert "nan" not in stdout


@needs_unwritable
def test_bench_unwritable_json_is_refused_before_running(capsys, tmp_path, no_benchmark):
    """An unwritable ``bench --json`` was only found after the whole benchmark."""
    code, _, stderr = run_cli(capsys, "bench", "--clips", SAMPLE, "--json", UNWRITABLE / "b.json",
                              "--no-peer", "--no-reference")
    assert code == 2
    assert_one_bench_error(stderr, "cannot write", str(UNWRITABLE))


def test_bench_json_equal_to_a_clip_is_refused(capsys, tmp_path, no_benchmark):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(SAMPLE.read_bytes())
    code, _, stderr = run_cli(capsys, "bench", "--clips", clip, "--json", clip, "--no-peer", "--no-reference")
    assert code == 2
    assert_one_bench_error(stderr, "--json", "is an input")
    assert clip.read_bytes() == SAMPLE.read_bytes() and out_files(tmp_path) == ["clip.mp4"]
