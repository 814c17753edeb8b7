"""A whole HOTSPOT system on loopback: fleet CA, Mosquitto, central gateway, devices.

Used by the end-to-end tests and the demo. Everything is real — TLS with
client certificates, the ACL, the broker's persistence, SQLite, COSE — only the
handheld's peripherals are emulated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from central.broker import MosquittoBroker
from central.database import Database
from central.gateway import Gateway
from central.ledger import Ledger
from central.matching import WatchlistMatcher
from central.processor import GatewayKeys, Processor
from central.provision import FleetCA, FleetLayout, central_keys
from central.registry import DeviceRegistry
from central.store import Store
from central.verification import VerificationQueue
from central.watchlist import Watchlist
from firmware.app import AppConfig, Handheld
from firmware.uplink import UplinkConfig
from hal.secure.protocol import SecureElement
from wire.answer import Answer


@dataclass
class System:
    root: Path
    ca: FleetCA
    broker: MosquittoBroker
    store: Store
    processor: Processor
    gateways: list[Gateway]

    @property
    def registry(self) -> DeviceRegistry:
        return self.store.registry

    @property
    def watchlist(self) -> Watchlist:
        return self.store.watchlist

    @property
    def ledger(self) -> Ledger:
        return self.store.ledger

    @property
    def verification(self) -> VerificationQueue:
        return self.store.verification

    @classmethod
    def start(cls, root: Path, gateways: int = 1, database: str | None = None) -> System:
        """Provision a fleet under ``root`` and start its broker and ``gateways`` instances
        (in this process); ``database`` is the central database URL (default SQLite)."""
        root.mkdir(parents=True, exist_ok=True)
        layout = FleetLayout(root)
        ca = FleetCA.create(layout.ca_dir)
        broker = MosquittoBroker(layout.broker_dir, ca).start()
        records_key, answers_key = central_keys(layout.keys_dir)
        if database is not None:
            layout.database_file.write_text(database + "\n")
        store = Store.open(layout.database_url)
        matcher = WatchlistMatcher(Watchlist(Database(layout.database_url)))
        if gateways:
            # Without in-process gateways (the benchmarks run their own processes) nothing
            # searches here: a refresher would index every person added beside them.
            matcher.start()
        processor = Processor(
            GatewayKeys.load(records_key, answers_key),
            store.registry,
            store.ledger,
            matcher,
            store.verification,
        )
        system = cls(root, ca, broker, store, processor, [])
        for index in range(gateways):
            system.start_gateway(str(index + 1))
        return system

    def start_gateway(self, instance: str) -> Gateway:
        if not self.processor.matcher.following:
            self.processor.matcher.start()
        creds = self.ca.issue("central", FleetLayout(self.root).central_tls)
        gateway = Gateway(self.processor, creds, "127.0.0.1", self.broker.port, instance).start()
        gateway.connected.wait(10)
        self.gateways.append(gateway)
        return gateway

    def stop_gateways(self) -> None:
        for gateway in self.gateways:
            gateway.stop()
        self.gateways.clear()

    def stop(self) -> None:
        self.stop_gateways()
        self.processor.matcher.stop()
        self.broker.stop()

    def handheld(
        self,
        device_id: str,
        secure_element: SecureElement,
        on_answer: Callable[[Answer], None],
        outbox_max_bytes: int | None = None,
        operation_id: str | None = None,
        **uplink_options: float | int,
    ) -> Handheld:
        """Register a device with the central service and build its application."""
        self.registry.add(device_id, secure_element.public_key(0))
        layout = FleetLayout(self.root)
        device_dir = layout.device_dir(device_id)
        creds = self.ca.issue(device_id, device_dir / "tls")
        uplink = UplinkConfig(
            device_id=device_id,
            host="127.0.0.1",
            port=self.broker.port,
            ca=creds.ca,
            cert=creds.cert,
            key=creds.key,
            central_answers_public=layout.answers_public,
            **uplink_options,  # type: ignore[arg-type]
        )
        config = AppConfig(
            device_id=device_id,
            operator_id="officer-1",
            data_dir=device_dir / "data",
            central_records_public=layout.records_public,
            uplink=uplink,
            outbox_max_bytes=outbox_max_bytes,
            operation_id=operation_id,
        )
        return Handheld(config, secure_element, on_answer)
