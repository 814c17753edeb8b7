"""``hotspot bench fleet`` on a small fleet: every figure is measured and adds up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import fleet
from hotspot.cli import main


def test_small_fleet_benchmark_measures_every_figure(tmp_path: Path) -> None:
    figures = fleet.run(8, 3.0, lambda _m: None, tmp_path)
    assert figures.devices == 8 and figures.field_msgs_per_s == pytest.approx(8 / 30)
    assert figures.telemetry_msgs_per_s > figures.field_msgs_per_s  # it keeps up with 8
    assert 0 < figures.bytes_per_device_day < 50e6
    assert figures.operation_checks == 8 * 120 and figures.telemetry_rows >= 8 * 8640
    assert figures.report_ms > 0
    assert "reports/s" in fleet.report(figures)


def test_bench_fleet_refuses_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fleet", "--devices", "0"]) == 2
    assert "--devices needs at least 1" in capsys.readouterr().err


def test_json_has_the_agreed_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        fleet, "run", lambda devices, seconds, say, root: fleet.FleetFigures(
            devices, 40.0, devices / 30, 1e6, 120.0, 10, 20)
    )  # fmt: skip
    assert main(["bench", "fleet", "--devices", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("devices", "telemetry_msgs_per_s", "bytes_per_device_day", "report_ms"):
        assert key in out
