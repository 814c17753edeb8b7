"""Provisioning a fleet that devices reach from elsewhere, safely re-run; a gateway that waits
for its broker says so."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from cryptography import x509

from central.broker import MosquittoBroker, free_port
from central.gateway import Gateway
from central.provision import FleetCA, FleetLayout
from hotspot.cli import main


def _sans(cert: Path) -> set[str]:
    issued = x509.load_pem_x509_certificate(cert.read_bytes())
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in names}


def test_provision_names_the_broker_and_never_rekeys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet"
    args = ["provision", "--dir", str(fleet), "--port", "18883", "--listen", "0.0.0.0"]
    assert main([*args, "--name", "broker.border.example", "--name", "10.8.0.1"]) == 0
    layout = FleetLayout(fleet)
    broker_cert = layout.broker_dir / "broker.pem"
    assert {"broker.border.example", "10.8.0.1", "localhost", "127.0.0.1"} <= _sans(broker_cert)
    assert "listener 18883 0.0.0.0" in (layout.broker_dir / "mosquitto.conf").read_text()
    before = {
        p: p.read_bytes()
        for p in (broker_cert, layout.central_tls / "central.pem", layout.keys_dir / "records.key",
                  layout.ca_dir / "ca.pem")
    }  # fmt: skip
    # Again, adding a device and naming the same hosts: nothing is re-keyed.
    assert main([*args, "--name", "broker.border.example", "--device", "hh-0001"]) == 0
    assert main([*args, "--device", "hh-0001"]) == 0
    assert "kept" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in before} == before
    # A new name is a new broker certificate, still from the same CA.
    assert main([*args, "--name", "new.border.example"]) == 0
    assert "new.border.example" in _sans(broker_cert)
    assert (layout.ca_dir / "ca.pem").read_bytes() == before[layout.ca_dir / "ca.pem"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--port", "70000"], "is not a TCP port"),
        (["--listen", "everywhere"], "is not an address"),
        (["--device", "hh/01"], "must be 3-64 letters"),
        (["--database", "mysql://x"], "sqlite:PATH or postgresql://"),
    ],
)
def test_bad_provision_input_gets_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    assert main(["provision", "--dir", str(tmp_path / "f"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_gateway_without_its_broker_retries_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from unittest import mock

    caplog.set_level(logging.WARNING, logger="central.gateway")
    ca = FleetCA.create(tmp_path / "ca")
    creds = ca.issue("central", tmp_path / "central")
    port = free_port()
    processor = mock.Mock()  # a gateway that never gets a record needs no processor
    gateway = Gateway(processor, creds, "127.0.0.1", port, "waiting").start()
    try:
        deadline = time.monotonic() + 20
        while "cannot reach the broker" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        assert f"cannot reach the broker at 127.0.0.1:{port}" in caplog.text
        broker = MosquittoBroker(tmp_path / "broker", ca, port=port).start()
        try:
            assert gateway.connected.wait(20)
            assert "reached the broker after" in caplog.text
        finally:
            gateway.stop()
            broker.stop()
    finally:
        gateway.stop()


def test_json_logs_are_one_object_a_line(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    # A gateway that cannot reach its broker logs a warning: as JSON with --log-format json.
    fleet = tmp_path / "fleet"
    assert main(["provision", "--dir", str(fleet), "--port", str(free_port())]) == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "hotspot", "--log-format", "json", "central", "run", "--dir",
         str(fleet)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
    finally:
        process.terminate()
        process.wait(20)
    body = json.loads(line)
    assert body["level"] == "warning" and body["logger"] == "central.gateway"
    assert "cannot reach the broker" in body["msg"] and body["ts"].endswith("Z")


def test_the_central_unit_starts_as_written(tmp_path: Path) -> None:
    """The unit's command line is one the gateway accepts (it once passed --fleet)."""
    import shlex
    import subprocess
    import sys

    from ota.rootfs import CENTRAL_UNIT

    line = next(x for x in CENTRAL_UNIT.splitlines() if x.startswith("ExecStart="))
    fleet = tmp_path / "fleet"
    assert main(["provision", "--dir", str(fleet), "--port", str(free_port())]) == 0
    command = line.removeprefix("ExecStart=").format(python=sys.executable)
    command = command.replace("%i", "1").replace("/var/lib/hotspot-central", str(fleet))
    process = subprocess.Popen(
        shlex.split(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # it indexes the (empty) watchlist, then connects
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=20)
    assert first.startswith("watchlist indexed"), err
    assert "unrecognized arguments" not in err
