"""``hotspot bench uplink`` on a small scale: it runs the real system and its figures add up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import uplink
from hotspot.cli import main


def test_small_uplink_benchmark_measures_every_figure(tmp_path: Path) -> None:
    figures = uplink.run(
        [150, 300], backlog=20, live=3, say=lambda _m: None, root=tmp_path, gateways=2
    )
    assert 1000 < figures.record_bytes < 4096  # ten ISO templates and a face, sealed
    assert figures.enqueue_per_s > 0 and figures.flush_per_s > 0
    assert 0 < figures.answer_ms_p50 <= figures.answer_ms_p99
    assert set(figures.drain_s) == {"150", "300"}
    for size in ("150", "300"):
        # Two of the twenty checks are people on the watchlist; both are found, no one else is.
        assert figures.hits_found[size] == "2/2"
        assert figures.false_hits[size] == 0
        assert figures.drain_s[size] > 0
    assert "drain 20 checks vs     300 people" in uplink.report(figures)


def test_bench_command_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "uplink", "--sizes", "ten"]) == 2
    assert "--sizes takes numbers" in capsys.readouterr().err


def test_json_has_the_agreed_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        uplink,
        "run",
        lambda sizes, backlog, live, say, root, gateways: uplink.Figures(
            record_bytes=3000, drain_s={str(s): 1.0 for s in sizes}, backlog=backlog
        ),
    )
    assert main(["bench", "uplink", "--sizes", "10,20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("enqueue_per_s", "flush_per_s", "record_bytes", "answer_ms_p50", "answer_ms_p99"):
        assert key in out
    assert out["drain_s"] == {"10": 1.0, "20": 1.0}
