"""Install, health check, commit and rollback on a real slot layout in a temporary root."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ota_fixtures import MODEL_2, Fleet, outbox_digest, release

from ota import boot, health, settings, slots
from ota.antirollback import FileFloor, SecureElementFloor
from ota.client import UpdateClient
from ota.errors import NotApplicable, RollbackRefused, TrustError
from ota.install import Installer
from ota.layout import Layout
from ota.state import MAX_BOOTS, SlotState

BAD_CONFIG = """
[fuel_gauge]
bus = "unix:/nonexistent/fuel-gauge"
"""


def _installer(fleet: Fleet, layout: Layout) -> Installer:
    client = UpdateClient(layout.tuf, fleet.url, layout.trusted_root.read_bytes())
    return Installer(layout, client, FileFloor(layout.floor_file), "hotspot-h1")


def _health(layout: Layout):  # type: ignore[no-untyped-def]
    cfg = settings.load(layout)
    return lambda slot: health.check_slot(slot, cfg.health_args, 60)


def test_model_only_update_moves_the_model_not_the_application(fleet: Fleet) -> None:
    layout = fleet.device()
    done = _installer(fleet, layout).install("1.1.0")
    assert done.via == "files" and done.files_fetched == 1
    assert done.bytes_downloaded == len(MODEL_2)
    assert done.files_reused > 50
    state = SlotState.load(layout.state_file)
    assert (state.trial, state.trial_version, state.good) == ("b", "1.1.0", "a")
    assert slots.active(layout) == "b"
    assert slots.verify(layout.slot("b"), slots.manifest_of(layout, "b")) == []  # type: ignore[arg-type]


def test_healthy_release_is_committed_and_raises_the_floor(fleet: Fleet) -> None:
    layout = fleet.device()
    before = outbox_digest(layout)
    _installer(fleet, layout).install("1.1.0")
    assert boot.boot(layout, FileFloor(layout.floor_file)) == "b"
    verdict = boot.confirm(layout, FileFloor(layout.floor_file), _health(layout))
    assert (verdict.outcome, verdict.version) == ("installed", "1.1.0"), verdict.reason
    state = SlotState.load(layout.state_file)
    assert (state.good, state.good_version, state.trial) == ("b", "1.1.0", None)
    assert FileFloor(layout.floor_file).version() == "1.1.0"
    assert outbox_digest(layout) == before


def test_release_failing_its_health_check_is_rolled_back(fleet: Fleet) -> None:
    bad = fleet.tmp / "bad.toml"
    bad.write_text(BAD_CONFIG)
    layout = fleet.device(health_args=("--config", str(bad)))
    before = outbox_digest(layout)
    _installer(fleet, layout).install("1.1.0")
    boot.boot(layout, FileFloor(layout.floor_file))
    verdict = boot.confirm(layout, FileFloor(layout.floor_file), _health(layout))
    assert verdict.outcome == "rolled-back"
    assert "hal.fuel_gauge" in verdict.reason
    assert slots.active(layout) == "a"
    state = SlotState.load(layout.state_file)
    assert (state.good_version, state.trial, state.last["outcome"]) == (
        "1.0.0",
        None,
        "rolled-back",
    )
    assert FileFloor(layout.floor_file).version() == "1.0.0"
    assert outbox_digest(layout) == before


def test_release_that_does_not_even_import_is_rolled_back(fleet: Fleet) -> None:
    broken = dict(fleet.contents)
    broken["app/firmware/health.py"] = b"raise ImportError('broken build')\n"
    fleet.repo.publish(release(broken, "1.2.0", MODEL_2))
    layout = fleet.device()
    _installer(fleet, layout).install("1.2.0")
    boot.boot(layout, FileFloor(layout.floor_file))
    verdict = boot.confirm(layout, FileFloor(layout.floor_file), _health(layout))
    assert verdict.outcome == "rolled-back" and "broken build" in verdict.reason


def test_crash_loop_returns_to_the_good_slot(fleet: Fleet) -> None:
    layout = fleet.device()
    floor = FileFloor(layout.floor_file)
    _installer(fleet, layout).install("1.1.0")
    for _ in range(MAX_BOOTS):
        assert boot.boot(layout, floor) == "b"  # the service crashes before confirm
    assert boot.boot(layout, floor) == "a"
    state = SlotState.load(layout.state_file)
    assert state.trial is None and "not healthy after" in state.last["reason"]
    assert slots.active(layout) == "a"


def test_refusals_install_nothing(fleet: Fleet) -> None:
    fleet.repo.publish(release(fleet.contents, "1.3.0", MODEL_2, hardware=("hotspot-h2",)))
    fleet.repo.publish(release(fleet.contents, "1.4.0", MODEL_2, min_previous="1.2.0"))
    fleet.repo.publish(release(fleet.contents, "1.5.0", MODEL_2, migrations=("outbox-v2",)))
    layout = fleet.device()
    installer = _installer(fleet, layout)
    with pytest.raises(NotApplicable, match="hotspot-h2"):
        installer.install("1.3.0")
    with pytest.raises(NotApplicable, match=r"at least 1\.2\.0"):
        installer.install("1.4.0")
    with pytest.raises(NotApplicable, match="outbox-v2"):
        installer.install("1.5.0")
    with pytest.raises(NotApplicable, match="not newer"):
        installer.install("1.0.0")
    with pytest.raises(TrustError, match="not in the signed targets"):
        installer.install("9.9.9")
    FileFloor(layout.floor_file).raise_to("1.2.0")  # e.g. state.json restored from an old copy
    with pytest.raises(RollbackRefused, match=r"older than 1\.2\.0"):
        installer.install("1.1.0")
    assert not layout.slot("b").exists()
    assert SlotState.load(layout.state_file).trial is None


def test_tampered_file_installs_nothing(fleet: Fleet) -> None:
    (blob,) = [p for p in (fleet.repo.targets_dir / "blobs").iterdir() if p.read_bytes() == MODEL_2]
    blob.write_bytes(MODEL_2[:-1] + b"\0")
    layout = fleet.device()
    with pytest.raises(TrustError):
        _installer(fleet, layout).install("1.1.0")
    assert not layout.slot("b").exists() and slots.active(layout) == "a"


def test_secure_element_floor_detects_an_old_copy(tmp_path: Path) -> None:
    from hil.device_run import secure_element

    se = secure_element(tmp_path / "atecc.json")
    floor = SecureElementFloor(tmp_path / "floor.json", se)
    assert floor.version() is None
    floor.raise_to("1.1.0")
    old = (tmp_path / "floor.json").read_bytes()
    floor.raise_to("1.2.0")
    assert floor.version() == "1.2.0"
    (tmp_path / "floor.json").write_bytes(old)
    with pytest.raises(TrustError, match="old copy"):
        floor.version()


def test_secure_element_floor_finishes_a_raise_cut_short(tmp_path: Path) -> None:
    from hil.device_run import secure_element

    se = secure_element(tmp_path / "atecc.json")
    floor = SecureElementFloor(tmp_path / "floor.json", se)
    floor.raise_to("1.1.0")
    counter = se.counter(1)
    se.increment_counter = lambda _counter_id: 0  # type: ignore[method-assign]  # power cut
    floor.raise_to("1.2.0")
    del se.increment_counter
    assert se.counter(1) == counter  # the chip never counted
    assert floor.version() == "1.2.0"  # recognised as interrupted, completed
    assert se.counter(1) == counter + 1
    forged = (tmp_path / "floor.json").read_text().replace("1.2.0", "0.1.0")
    (tmp_path / "floor.json").write_text(forged)
    with pytest.raises(TrustError, match="not signed"):
        floor.version()


def test_guard_script_runs_from_the_good_slot(fleet: Fleet) -> None:
    layout = fleet.device()
    _installer(fleet, layout).install("1.1.0")
    guard = layout.opt / "bin" / "hotspot-guard"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(guard), "slots"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert '"current": "b"' in done.stdout and '"version": "1.1.0"' in done.stdout
    unit = (layout.units / "hotspot-firmware.service").read_text()
    assert "ExecStartPre=" in unit and "WatchdogSec=" in unit and "Type=notify" in unit
    assert sys.executable in unit


def test_the_kiosk_unit_shows_the_officer_interface_and_keeps_nothing(fleet: Fleet) -> None:
    layout = fleet.device()
    unit = (layout.units / "hotspot-kiosk.service").read_text()
    start = unit.split("ExecStart=", 1)[1]
    assert start.startswith("/usr/bin/cage ") and "/usr/bin/chromium --kiosk" in start
    assert "--app=http://127.0.0.1:8080/" in start  # loopback only
    assert "--incognito" in start and "--user-data-dir=/run/" in start  # no profile on the card
    assert "--disable-background-networking" in start
    assert "User=hotspot-kiosk" in unit and "Wants=hotspot-firmware.service" in unit
    assert "WantedBy=graphical.target" in unit
    # every line of the unit parses as systemd's key=value (continuations end in a backslash)
    for line in unit.splitlines():
        assert not line or line.startswith(("#", "[", " ")) or "=" in line, line


def test_a_cut_while_a_slot_is_replaced_leaves_a_complete_slot(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Power lost after the old inactive slot was dealt with and before the new one took its
    name: the next start finds a complete slot there, never a missing or half-deleted one
    (it used to delete the old slot first)."""
    layout = fleet.device()
    _installer(fleet, layout).install("1.1.0")
    boot.boot(layout, FileFloor(layout.floor_file))
    boot.confirm(layout, FileFloor(layout.floor_file), _health(layout))
    manifest = slots.manifest_of(layout, "b")
    assert manifest is not None and slots.manifest_of(layout, "a") is not None
    real_rename = os.rename

    def cut(src: object, dst: object) -> None:
        if str(src).endswith(".a.new"):
            raise OSError("power cut")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", cut)
    by_digest = {d: layout.slot("b") / n for n, d in manifest.files.items()}
    with pytest.raises(OSError, match="power cut"):
        slots.assemble(layout, "a", manifest, by_digest.__getitem__)
    monkeypatch.setattr(os, "rename", real_rename)
    assert boot.boot(layout, FileFloor(layout.floor_file)) == "b"  # the next start
    restored = slots.manifest_of(layout, "a")
    assert restored is not None and slots.verify(layout.slot("a"), restored) == []


def test_the_health_check_runs_the_slots_code_from_a_relative_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a relative --root the check used to run with a relative PYTHONPATH from inside the
    slot, which named nothing, so Python imported the installed checkout instead of the
    release on trial (a healthy release was rolled back; a broken one could pass)."""
    app = tmp_path / "root" / "slots" / "b" / "app" / "hotspot"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "__main__.py").write_text(
        'import json; print(json.dumps({"ok": True, "checks": {"the-slot": {"ok": True}}}))\n'
    )
    monkeypatch.chdir(tmp_path)
    report = health.check_slot(Path("root/slots/b"), ["--emulated"], 60)
    assert report.ok and "the-slot" in report.checks, report


def test_a_health_check_that_passes_but_exits_badly_says_how_it_ended(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A release whose checks all pass but whose process then fails (a crash while exiting)
    is not healthy, and the reason gives how it ended and the last line on stderr, not
    "failing: unknown" (what a soak of the system tests once showed, with nothing to go on).
    The journal gets the whole stderr, with the Python stacks of a crash."""
    app = tmp_path / "slot" / "app" / "hotspot"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "__main__.py").write_text(
        "import json, os, sys\n"
        'print(json.dumps({"ok": True, "checks": {"models": {"ok": True}}}), flush=True)\n'
        "def on_the_way_out():\n"
        "    os.abort()\n"
        "on_the_way_out()\n"
    )
    with caplog.at_level(logging.WARNING, logger="ota.health"):
        report = health.check_slot(tmp_path / "slot", [], 60)
    assert not report.ok
    assert "every check passed" in report.reason and "died of SIGABRT" in report.reason, report
    assert "on_the_way_out" in caplog.text, caplog.text
