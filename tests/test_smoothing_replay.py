"""The offline smoother replay (scripts/smoothing_replay.py) reproduces the real CLI's smoothing,
and the temporal benchmark's metrics behave on hand-made trajectories."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from support import REPO, SAMPLE_VIDEO

sys.path.insert(0, str(REPO / "scripts"))
import smoothing_replay as sr  # noqa: E402
import temporal_benchmark as tb  # noqa: E402

from frnet.smoothing import SMOOTHING_LEVELS  # noqa: E402

FRAMES = 30


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return sr.record(SAMPLE_VIDEO, FRAMES, tmp_path_factory.mktemp("replay"))


def test_replay_without_smoothing_is_the_per_frame_output(recording, tmp_path):
    from frnet.facemodel import load_face_model

    cli = tb.run_cli(SAMPLE_VIDEO, "none", tmp_path, FRAMES)
    ours = sr.replay(recording, None, load_face_model())
    assert len(cli) == len(ours) == FRAMES
    assert sum(len(f["faces"]) for f in ours) >= FRAMES  # the sample has a face in every frame
    for a, b in zip(cli, ours):
        for fa, fb in zip(a["faces"], b["faces"]):
            assert np.abs(np.asarray(fa["landmarks68"]) - np.asarray(fb["landmarks68"])).max() < 0.02


@pytest.mark.parametrize("level", ["light", "strong"])
def test_replay_reproduces_the_cli_smoothing(recording, tmp_path, level):
    from frnet.facemodel import load_face_model

    cli = tb.run_cli(SAMPLE_VIDEO, level, tmp_path, FRAMES)
    ours = sr.replay(recording, SMOOTHING_LEVELS[level], load_face_model())
    raw = sr.replay(recording, None, load_face_model())
    worst = moved = 0.0
    for a, b, r in zip(cli, ours, raw):
        for fa, fb, fr in zip(a["faces"], b["faces"], r["faces"]):
            worst = max(worst, float(np.abs(np.asarray(fa["landmarks68"])[:, :2] - np.asarray(fb["landmarks68"])[:, :2]).max()))
            moved = max(moved, float(np.abs(np.asarray(fa["landmarks68"])[:, :2] - np.asarray(fr["landmarks68"])[:, :2]).max()))
    assert worst < 0.05, f"replay differs from the CLI by {worst:.3f} px"
    assert moved > 0.2, "smoothing changed nothing: the comparison would not catch a broken replay"


def test_variants_parse_onto_the_base_preset():
    name, settings = sr.parse_variant("calm:min_cutoff_hz=0.5,identity_window=100", SMOOTHING_LEVELS["light"])
    assert name == "calm" and settings.min_cutoff_hz == 0.5 and settings.identity_window == 100
    assert settings.beta == SMOOTHING_LEVELS["light"].beta
    with pytest.raises(SystemExit, match="no field 'gain'"):
        sr.parse_variant("x:gain=2", SMOOTHING_LEVELS["light"])


def test_lag_metric_finds_a_known_delay():
    t = np.arange(90)
    truth = np.zeros((90, 68, 2))
    truth[:, :, 0] = 100 + 40 * np.sin(2 * np.pi * t / 30)[:, None]
    delayed = np.zeros_like(truth)
    delayed[:, :, 0] = 100 + 40 * np.sin(2 * np.pi * (t - 2) / 30)[:, None] + 3.0  # 2 frames late, offset
    assert tb.lag_ms(delayed, truth, np.ones(90, bool)) == pytest.approx(2000 / 30, abs=4)
    assert tb.lag_ms(truth, truth, np.ones(90, bool)) == pytest.approx(0, abs=4)


def test_jitter_metric_measures_second_differences():
    points = np.zeros((10, 68, 2))
    points[::2, :, 0] = 1.0  # alternating by 1 px: second difference 2 px every frame
    size = np.full(10, 100.0)
    assert tb.jitter(points, size, np.ones(10, bool)) == pytest.approx(0.02)
    assert tb.jitter(np.zeros((10, 68, 2)), size, np.ones(10, bool)) == 0.0
