"""'Service up' in the health check: under systemd the firmware unit must be active.

``systemctl`` is replaced by a script on PATH that answers like systemd does
(``is-active`` prints the state, exit 0 only for "active"); everything else is
the real command line on a real installed layout.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ota_fixtures import Fleet, ota_cli

from ota.state import SlotState

UNIT = "hotspot-firmware.service"


def _systemctl(folder: Path, state: str) -> Path:
    folder.mkdir(exist_ok=True)
    script = folder / "systemctl"
    code = 0 if state == "active" else 3
    script.write_text(f'#!/bin/sh\necho "$*" >> "{folder}/calls"\necho {state}\nexit {code}\n')
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize(("state", "outcome"), [("active", "1.1.0"), ("failed", "1.0.0")])
def test_confirm_requires_the_firmware_unit_active(
    fleet: Fleet, tmp_path: Path, state: str, outcome: str
) -> None:
    layout = fleet.device()
    bin_dir = _systemctl(tmp_path / f"bin-{state}", state)
    assert ota_cli(layout.root, "update", "1.1.0", path_first=bin_dir).returncode == 0
    assert ota_cli(layout.root, "boot", path_first=bin_dir).returncode == 0
    done = ota_cli(
        layout.root,
        *("confirm", "--require-active", UNIT, "--restart-unit", UNIT),
        path_first=bin_dir,
    )
    after = SlotState.load(layout.state_file)
    assert after.good_version == outcome and after.trial is None
    calls = (bin_dir / "calls").read_text()
    assert f"is-active {UNIT}" in calls
    if state == "active":
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 3
        assert f"{UNIT} is failed, not active" in done.stdout
        assert f"restart {UNIT}" in calls  # back on the good slot, the service restarts


def test_the_confirm_unit_asks_for_the_firmware_service() -> None:
    from ota import rootfs

    assert f"--require-active {UNIT}" in rootfs.CONFIRM_UNIT
