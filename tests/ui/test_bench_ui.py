"""``hotspot bench ui`` runs end to end (real service, Chromium, emulated rig) and reports
every figure it promises; the figures themselves are for the benchmark, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_ui_reports_every_figure() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "bench", "ui", "--rounds", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    for key in ("guidance_ms", "queued_ms", "hit_paint_ms", "preview_fps", "page_kb"):
        assert result[key] > 0, key
    assert result["service_rss_mb"] >= result["service_rss_now_mb"] > 50
    assert result["checks"] == 2 and result["fingers"] == 4
