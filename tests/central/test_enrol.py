"""Enrolment's rules: the binding is checked, nothing is re-keyed unasked, rotation and a new
identity need their option, a bundle installs only on the device it was made for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from central.enrol import EnrolRefused, enrol
from central.provision import FleetCA, FleetLayout, central_keys
from central.store import Store
from firmware import config as config_mod
from firmware.enrol import EnrolmentFailed, install_bundle, make_request, merge_sections
from hil.device_run import secure_element
from wire.enrolment import EnrolmentError, EnrolmentRequest, ProvisioningBundle

BROKER = ("broker.border.test", 8883)


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[FleetLayout, Store]:
    layout = FleetLayout(tmp_path / "fleet")
    FleetCA.create(layout.ca_dir)
    central_keys(layout.keys_dir)
    return layout, Store.open(layout.database_url)


def device(tmp_path: Path, device_id: str = "hh-0001") -> Path:
    folder = tmp_path / device_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "device.toml"
    hardware = config_mod.default_text().replace(
        "[device]\nemulated = true\n", f'[device]\nemulated = true\nid = "{device_id}"\n', 1
    )
    assert device_id in hardware
    path.write_text(
        "# my handheld\n" + hardware + "\n[telemetry]  # keep this\nperiod_s = 30.0\n\n"
        '[uplink]\nwindow = 9\nhost = "old"\nport = 1\nca = "x"\ncert = "y"\n'
        'key = "tls/device.key"\n'
    )
    return path


def test_a_request_binds_the_tls_key_to_the_identity(tmp_path: Path) -> None:
    cfg = config_mod.load(device(tmp_path))
    request, key = make_request(cfg, secure_element())
    assert key == tmp_path / "hh-0001" / "tls" / "device.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert b"PRIVATE" not in request.encode()
    decoded = EnrolmentRequest.decode(request.encode())
    decoded.verify()
    # Another TLS key grafted onto this identity's request is caught.
    other, _ = make_request(config_mod.load(device(tmp_path / "other")), secure_element())
    grafted = json.loads(request.encode())
    grafted["csr"] = other.csr_pem.decode().replace("hh-0001", "hh-0001")
    with pytest.raises(EnrolmentError, match="did not sign"):
        EnrolmentRequest.decode(json.dumps(grafted).encode()).verify()
    with pytest.raises(EnrolmentError, match="not an enrolment request"):
        EnrolmentRequest.decode(b'{"format": "something else"}')


def test_enrolling_again_changes_nothing_and_rotation_needs_renew(
    tmp_path: Path, fleet: tuple[FleetLayout, Store]
) -> None:
    layout, store = fleet
    config = device(tmp_path)
    se = secure_element()
    first, key = make_request(config_mod.load(config), se)
    done = enrol(layout, store, first, BROKER)
    assert done.issued and done.registered
    again, _ = make_request(config_mod.load(config), se)
    repeat = enrol(layout, store, again, BROKER)
    assert not repeat.issued and not repeat.registered
    assert repeat.bundle.files["device.pem"] == done.bundle.files["device.pem"]
    install_bundle(config, done.bundle)
    cfg = config_mod.load(config)
    assert cfg.uplink is not None and (cfg.uplink.host, cfg.uplink.port) == BROKER
    assert cfg.uplink.window == 9  # the section's other keys are kept
    text = config.read_text()
    assert "# my handheld" in text and "[telemetry]  # keep this" in text

    rotated, next_key = make_request(config_mod.load(config), se, rotate=True)
    assert next_key.name == "device.next.key" and key.exists()
    with pytest.raises(EnrolRefused, match="--renew"):
        enrol(layout, store, rotated, BROKER)
    renewed = enrol(layout, store, rotated, BROKER, renew=True)
    assert renewed.issued and not renewed.registered
    old_key, new_key = key.read_bytes(), next_key.read_bytes()
    said = install_bundle(config, renewed.bundle)
    assert any("new TLS key is now in use" in line for line in said)
    assert key.read_bytes() == new_key != old_key and not next_key.exists()


def test_another_identity_under_an_enrolled_name_is_refused(
    tmp_path: Path, fleet: tuple[FleetLayout, Store]
) -> None:
    layout, store = fleet
    config = device(tmp_path)
    enrol(layout, store, make_request(config_mod.load(config), secure_element())[0], BROKER)
    impostor = device(tmp_path / "elsewhere")
    request, _ = make_request(config_mod.load(impostor), secure_element())  # another chip
    with pytest.raises(EnrolRefused, match="another identity key"):
        enrol(layout, store, request, BROKER)
    replaced = enrol(layout, store, request, BROKER, new_identity=True, renew=True)
    assert replaced.registered
    audit = store.db.query("SELECT detail FROM audit WHERE event = 'device enrolled'")
    assert any("NEW IDENTITY KEY" in str(row[0]) for row in audit)


def test_a_bundle_installs_only_where_it_belongs(
    tmp_path: Path, fleet: tuple[FleetLayout, Store]
) -> None:
    layout, store = fleet
    mine = device(tmp_path)
    bundle = enrol(layout, store, make_request(config_mod.load(mine), secure_element())[0],
                   BROKER).bundle  # fmt: skip
    other = device(tmp_path / "second", "hh-0002")
    with pytest.raises(EnrolmentFailed, match="this bundle is for 'hh-0001'"):
        install_bundle(other, bundle)
    (mine.parent / "tls" / "device.key").unlink()  # a handheld that lost its key
    with pytest.raises(EnrolmentFailed, match="does not have"):
        install_bundle(mine, bundle)
    broken = json.loads(bundle.encode())
    del broken["files"]["ca.pem"]
    with pytest.raises(EnrolmentError, match=r"missing \['ca.pem'\]"):
        ProvisioningBundle.decode(json.dumps(broken).encode())


def test_merging_sections_keeps_the_rest() -> None:
    text = '# top\n[device]\nid = "a"  # name\n\n[uplink]\nhost = "x"\n\n[modem]\napn = "i"\n'
    merged = merge_sections(text, {"uplink": {"host": "y", "port": 2}})
    assert "# top" in merged and 'id = "a"  # name' in merged and '[modem]\napn = "i"' in merged
    assert merged.count("[uplink]") == 1 and 'host = "y"' in merged and "port = 2" in merged
