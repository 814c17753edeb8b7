"""The anti-rollback floor chosen in ota.toml: the secure element's counter, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ota_fixtures import Fleet, ota_cli, release

from ota import settings
from ota.errors import OtaError
from ota.layout import Layout
from ota.rootfs import install_root
from ota.settings import OtaSettings


def test_secure_element_floor_from_the_settings(fleet: Fleet, tmp_path: Path) -> None:
    from ota_fixtures import MODEL_1

    keys = tmp_path / "se"
    device_toml = tmp_path / "device.toml"
    device_toml.write_text(
        '[device]\nemulated = true\n[fingerprint]\nport = "emulated"\n'
        '[camera]\nindex = "emulated"\n[modem]\nport = "emulated"\n[fuel_gauge]\nbus = "emulated"\n'
        f'[secure_element]\ndriver = "softkey"\nsoftkey_dir = "{keys}"\n'
    )
    root = tmp_path / "dev-se"
    install_root(
        root,
        release(fleet.contents, "1.0.0", MODEL_1),
        fleet.repo.trusted_root(),
        OtaSettings(
            fleet.url,
            "hotspot-h1",
            ["--wait", "0.5", "--emulated"],
            floor="secure-element",
            device_config=str(device_toml),
        ),
    )
    for args in (("update", "1.1.0"), ("boot",), ("confirm",)):
        done = ota_cli(root, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    floor = json.loads(Layout(root).floor_file.read_text())
    assert floor["version"] == "1.1.0" and floor["counter"] >= 1 and floor["signature"]
    counters = json.loads((keys / "counters.json").read_text())
    assert counters == {"1": floor["counter"]}  # the chip's counter moved with the floor

    # Putting a forged floor file back is caught at the next start.
    Layout(root).floor_file.write_text(json.dumps({**floor, "version": "0.0.1"}))
    done = ota_cli(root, "boot")
    assert done.returncode != 0
    assert "floor" in (done.stdout + done.stderr).lower()


def test_an_unknown_floor_kind_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    settings.path(layout).parent.mkdir(parents=True)
    settings.path(layout).write_text('repository = "x"\nfloor = "tpm"\n')
    with pytest.raises(OtaError, match="floor must be one of"):
        settings.load(layout)
