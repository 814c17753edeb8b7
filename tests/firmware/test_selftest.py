"""Self-test and capture on the embedded default rig, in process and through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from firmware import capture, config, selftest
from firmware.wiring import Devices


def test_selftest_of_the_emulated_rig_finds_every_device() -> None:
    with Devices(config.load()) as devices:
        report = selftest.run(devices)
    data = report.as_dict()
    assert report.ok, data
    d = data["devices"]
    assert d["fingerprint"]["image"] == "256x288" and d["fingerprint"]["baudrate"] == 115200
    assert d["modem"]["registration"] == "home" and d["modem"]["signal_dbm"] == -73
    assert d["modem"]["imei"] == "861536030196001"
    assert 0 < d["fuel_gauge"]["battery_percent"] <= 100
    assert len(d["secure_element"]["serial"]) == 18
    assert d["secure_element"]["public_key_pem"].startswith("-----BEGIN PUBLIC KEY")


def test_a_failing_device_does_not_hide_the_others() -> None:
    with Devices(config.load()) as devices:
        devices.fuel_gauge  # noqa: B018 - start the emulators
        devices.emulators["fuel_gauge"].nack = True
        report = selftest.run(devices)
    by_name = {d.name: d for d in report.devices}
    assert not report.ok
    assert not by_name["fuel_gauge"].ok and "BusError" in (by_name["fuel_gauge"].error or "")
    assert by_name["fingerprint"].ok and by_name["secure_element"].ok


def test_fingerprint_capture_streams_and_measures() -> None:
    cfg = config.load()
    rows: list[int] = []
    with Devices(cfg) as devices:
        result = capture.capture_finger(devices.fingerprint, 30.0, lambda d, t: rows.append(d))
        emulator = devices.emulators["fingerprint"]
        assert emulator.images_served == 1
        assert emulator.led_state[0] == 0x03  # left on "ok"
    assert rows[-1] == 288 and rows == sorted(rows)
    assert result.image.pixels.shape == (288, 256)
    assert result.result.quality.score >= 40 and len(result.result.minutiae) >= 12
    assert result.summary()["template_bytes"] == 30 + 6 * len(result.result.minutiae)


def test_face_capture_from_the_emulated_camera_keeps_the_best_frame() -> None:
    hints: list[tuple[str, ...]] = []
    with Devices(config.load()) as devices:
        result = capture.capture_face(
            devices.camera, frames=4, token_image=True, on_frame=lambda i, g: hints.append(g)
        )
    assert result.frames == 4 and result.faces == 4 and 0 <= result.best_index < 4
    assert len(hints) == 4
    assert result.face is not None and len(result.face.embedding) == 128
    assert result.face.quality == result.quality > 50
    assert result.face.token_image and result.face.token_image[:2] == b"\xff\xd8"  # JPEG


def test_cli_face_capture_prints_quality_guidance_and_size() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hotspot",
            "face",
            "capture",
            "--emulated",
            "--frames",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["faces"] == 3 and summary["embedding_bytes"] == 128
    assert 0 < summary["quality"] <= 100 and isinstance(summary["guidance"], list)


def test_cli_selftest_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "hal", "selftest", "--emulated", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and set(report["devices"]) == {
        "fingerprint",
        "camera",
        "modem",
        "fuel_gauge",
        "secure_element",
        "supervisor",
    }
    assert report["devices"]["supervisor"]["tamper"] == "closed"


def test_cli_reports_a_bad_config_in_one_line(tmp_path: object) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hotspot", "hal", "selftest", "--config", "/no/such.toml"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("hotspot: cannot read configuration")
    assert "Traceback" not in out.stderr


def test_a_capture_holds_the_marker_the_update_agent_waits_for(tmp_path: Path) -> None:
    marker = tmp_path / "run" / "hotspot" / "capturing"
    seen: list[bool] = []
    with Devices(config.load()) as devices:
        capture.capture_face(
            devices.camera,
            frames=2,
            on_frame=lambda i, g: seen.append(marker.exists()),
            marker=marker,
        )
    assert seen == [True, True] and not marker.exists()
    with pytest.raises(RuntimeError), capture.capturing(marker):
        assert marker.read_text().strip() == str(os.getpid())
        raise RuntimeError("the sensor fell off")
    assert not marker.exists()  # removed on an error too
