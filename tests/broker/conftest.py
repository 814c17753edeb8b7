"""A real Mosquitto broker with the fleet's TLS and ACL, for the central/uplink tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from central.broker import MosquittoBroker
from central.provision import Credentials, FleetCA


@dataclass
class Fleet:
    ca: FleetCA
    broker: MosquittoBroker
    dir: Path

    def credentials(self, name: str) -> Credentials:
        return self.ca.issue(name, self.dir / "clients")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail(
            "mosquitto is not installed: './dev test' installs it (apt-get install mosquitto)"
        )
    base = tmp_path_factory.mktemp("fleet")
    ca = FleetCA.create(base / "ca")
    broker = MosquittoBroker(base / "broker", ca).start()
    yield Fleet(ca, broker, base)
    broker.stop()
