"""``hotspot bench uplink`` on a small scale: it runs the real system and its figures add up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import uplink
from hotspot.cli import main


@pytest.mark.parametrize(
    ("store", "sizes"),
    [("sqlite", [150, 300]), ("postgresql", [200])],
    ids=["sqlite", "postgresql"],
)
def test_small_uplink_benchmark_measures_every_figure(
    tmp_path: Path, store: str, sizes: list[int]
) -> None:
    figures = uplink.run(
        sizes, backlog=20, live=3, say=lambda _m: None, root=tmp_path, gateways=2, store=store
    )
    assert 1000 < figures.record_bytes < 4096  # ten ISO templates and a face, sealed
    assert figures.enqueue_per_s > 0 and figures.flush_per_s > 0
    assert 0 < figures.answer_ms_p50 <= figures.answer_ms_p99
    keys = {str(s) for s in sizes}
    assert set(figures.drain_s) == keys and figures.store == store
    for size in keys:
        # Two of the twenty checks are people on the watchlist; both are found, no one else is.
        assert figures.identification_rate[size] == 1.0
        assert figures.false_outcomes[size] == 0
        assert figures.drain_s[size] > 0 and figures.index_ready_s[size] > 0
        assert 0 < figures.false_hit_rate[size] < figures.false_possible_rate[size] < 1e-2
        assert 0 < figures.watchlist_update_visible_ms[size] < 30_000
        assert figures.gateway_peak_mb[size] > 50 and figures.search_ms_p50[size] > 0
        # The gateways' CPU for twenty checks is more than nothing and less than a second each.
        assert 0 < figures.gateway_cpu_ms_per_check[size] < 1000
        assert 50 < figures.gateway_serving_mb[size] <= figures.gateway_peak_mb[size]
    report = uplink.report(figures)
    assert f"{max(sizes):,} people:" in report and f"{store}, 2 gateway(s)" in report


def test_bench_command_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "uplink", "--sizes", "ten"]) == 2
    assert "--sizes takes numbers" in capsys.readouterr().err


def test_json_has_the_agreed_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        uplink,
        "run",
        lambda sizes, backlog, live, say, root, gateways, store: uplink.Figures(
            record_bytes=3000, drain_s={str(s): 1.0 for s in sizes}, backlog=backlog
        ),
    )
    assert main(["bench", "uplink", "--sizes", "10,20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("enqueue_per_s", "flush_per_s", "record_bytes", "answer_ms_p50", "answer_ms_p99"):
        assert key in out
    assert out["drain_s"] == {"10": 1.0, "20": 1.0}
