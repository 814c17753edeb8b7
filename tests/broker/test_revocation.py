"""Revoking a device: the gateway refuses its records, the CRL refuses its certificate."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from central.matching import WatchlistMatcher
from central.processor import GatewayKeys, Processor
from central.provision import FleetLayout
from central.store import Store
from hil.device_run import secure_element
from hotspot.cli import main
from wire import envelope, topics
from wire.record import CheckRecord, uuid7


def test_revoke_refuses_records_and_lists_the_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet"
    assert main(["provision", "--dir", str(fleet), "--port", "18883", "--device", "hh-7"]) == 0
    layout = FleetLayout(fleet)
    se = secure_element()
    public_hex = se.public_key(0).hex()
    assert (
        main(["central", "devices", "add", "--dir", str(fleet), "hh-7", "--public-key", public_hex])
        == 0
    )
    keys = GatewayKeys.load(layout.keys_dir / "records.key", layout.keys_dir / "answers.key")
    store = Store.open(layout.database_url)
    ledger = store.ledger
    processor = Processor(
        keys, store.registry, ledger, WatchlistMatcher(store.watchlist), store.verification
    )

    def sealed() -> bytes:
        record = CheckRecord(uuid7(), "hh-7", 1, b"b" * 16, 1, "op")
        return envelope.seal(
            record.encode(),
            "hh-7",
            lambda digest: se.sign_digest(0, digest),
            layout.records_public.read_bytes(),
            "central",
        )

    assert processor.handle(topics.records("hh-7"), sealed()) is not None  # answered
    capsys.readouterr()
    assert main(["central", "devices", "revoke", "--dir", str(fleet), "hh-7"]) == 0
    said = capsys.readouterr().out
    assert "1 certificate(s) added" in said and "reload the broker" in said

    assert processor.handle(topics.records("hh-7"), sealed()) is None  # dropped, not answered
    assert ledger.audit_events()[-1][2] == "dropped"
    issued = x509.load_pem_x509_certificate(
        (layout.device_dir("hh-7") / "tls" / "hh-7.pem").read_bytes()
    )
    crl = x509.load_pem_x509_crl((layout.ca_dir / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(issued.serial_number) is not None

    assert main(["central", "devices", "revoke", "--dir", str(fleet), "hh-7"]) == 2
    assert "already revoked" in capsys.readouterr().err
