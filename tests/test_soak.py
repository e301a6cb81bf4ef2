"""The soak script (scripts/soak.py) in a short run: 15 s of the sample clip looped, through the real
``frnet-app --video`` code path, in its own process; memory must not grow after the warm-up.

The full run (``scripts/soak.py --minutes 10``) and its numbers are in docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOAK = REPO / "scripts" / "soak.py"
MAX_GROWTH_MB = 32


def test_short_soak_has_bounded_memory_and_writes_every_frame(tmp_path):
    report_path = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(SOAK), "--minutes", "0.25", "--sample-every", "40", "--max-growth-mb", str(MAX_GROWTH_MB),
         "--json", str(report_path), "--", "--renderer", "cpu", "--threads", "2"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    verdict = report["verdict"]
    assert report["passed"] and verdict["memory_ok"]
    assert verdict["rss_growth_mb"] <= MAX_GROWTH_MB
    assert verdict["frames_in"] == verdict["frames_out"] == 480  # the 8 s sample clip twice, every frame written
    assert len(report["samples"]) >= 10 and all(s["window_fps"] > 0 for s in report["samples"][1:])
    assert "verdict: PASS" in done.stdout
