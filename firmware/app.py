"""The handheld application: a check from capture to answer.

``check()`` turns captures into a record (ISO/IEC 19794-2 templates, never
images), has the secure element sign it, encrypts it to the central service,
and stores it in the outbox before it returns: from then on the check survives
a power cut and leaves when the link allows. Answers come back through the
uplink and are handed to ``on_answer`` (the officer's display).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware import __version__, storage_key
from firmware.biometrics.fingerprint.pipeline import VERSION as FINGER_MODEL
from firmware.biometrics.fingerprint.pipeline import FingerprintAnalyzer, FingerResult
from firmware.outbox import Outbox
from firmware.uplink import Uplink, UplinkConfig
from hal.errors import HalError
from hal.fingerprint.protocol import FingerImage
from hal.modem.protocol import LinkState, Modem
from hal.power.protocol import FuelGauge
from hal.secure.protocol import SecureElement
from wire import envelope
from wire.answer import Answer
from wire.record import CheckRecord, Face, Finger, Gnss, uuid7

log = logging.getLogger(__name__)

WRAP_KEY = "outbox-key-wrap"


@dataclass(frozen=True)
class AppConfig:
    device_id: str
    operator_id: str
    data_dir: Path
    central_records_public: Path
    uplink: UplinkConfig
    identity_slot: int = 0
    outbox_max_bytes: int | None = None
    training: bool = False
    """Emulated hardware: every record says so, and the central service never counts it."""
    operation_id: str | None = None
    finger_threads: int = 1
    """LiteRT threads for the minutiae network (``[fingerprint] threads``)."""


def boot_id() -> bytes:
    try:
        return uuid.UUID(Path("/proc/sys/kernel/random/boot_id").read_text().strip()).bytes
    except (OSError, ValueError):
        return os.urandom(16)


_BOOT_ID = boot_id()


class Handheld:
    def __init__(
        self,
        config: AppConfig,
        secure_element: SecureElement,
        on_answer: Callable[[Answer], None],
        modem: Modem | None = None,
        on_sent: Callable[[bytes], None] | None = None,
    ) -> None:
        self.config = config
        self._se = secure_element
        self._modem = modem
        config.data_dir.mkdir(parents=True, exist_ok=True)
        path = config.data_dir / "outbox.db"
        wrap = Outbox.read_meta(path, WRAP_KEY)
        if wrap is None:
            # A first start, or a card whose key was wiped (tamper): whatever it still
            # holds was sealed under a key that is gone, so it goes too.
            for leftover in (
                path,
                path.with_name("outbox.db-wal"),
                path.with_name("outbox.db-shm"),
            ):
                leftover.unlink(missing_ok=True)
            wrap, key = storage_key.new_wrapping(secure_element, config.identity_slot)
            self.outbox = Outbox(path, key, config.device_id, max_bytes=config.outbox_max_bytes)
            self.outbox.write_meta(WRAP_KEY, wrap)
        else:
            key = storage_key.unwrap(secure_element, config.identity_slot, wrap)
            self.outbox = Outbox(path, key, config.device_id, max_bytes=config.outbox_max_bytes)
        self._central_pem = config.central_records_public.read_bytes()
        self._fingerprints: FingerprintAnalyzer | None = None
        self.uplink = Uplink(config.uplink, self.outbox, on_answer, on_sent)
        if modem is not None:
            modem.subscribe(self.link_changed)

    def start(self) -> Handheld:
        self.uplink.start()
        return self

    @staticmethod
    def wipe(data_dir: Path) -> bool:
        """Destroy the outbox key's wrapping: nothing sealed on this card opens again."""
        return Outbox.wipe_meta(data_dir / "outbox.db", WRAP_KEY)

    def stop(self) -> None:
        self.uplink.stop()
        self.outbox.close()

    def link_changed(self, state: LinkState) -> None:
        self.uplink.link_changed(state.up)

    def templates(
        self, fingers: list[tuple[int, FingerImage | FingerResult]]
    ) -> tuple[Finger, ...]:
        """The record's fingers: ISO/IEC 19794-2 templates with their quality (0-100).

        A capture already analysed on the way in (``capture_finger``) is used as is;
        a bare image is analysed here.
        """
        out = []
        for position, capture in fingers:
            if isinstance(capture, FingerImage):
                if self._fingerprints is None:
                    self._fingerprints = FingerprintAnalyzer(threads=self.config.finger_threads)
                capture = self._fingerprints.analyse(capture.pixels, capture.ppi)
            template = capture.record(position).encode()
            out.append(Finger(position, capture.quality.score, template))
        return tuple(out)

    def check(
        self,
        fingers: tuple[Finger, ...],
        face: Face | None = None,
        *,
        officer: str | None = None,
        case_reference: str | None = None,
        journal: tuple[int, bytes] | None = None,
    ) -> bytes:
        """Seal and queue a check; returns its record id. OutboxFull if there is no room.

        ``journal`` is the shift journal's line for it (shift id, sealed details),
        stored in the same transaction (:meth:`Outbox.put`).
        """
        record_id, sealed = self.seal(fingers, face, officer=officer, case_reference=case_reference)
        self.outbox.put(record_id, sealed, live=True, journal=journal)
        self.uplink.kick()
        return record_id

    def seal(
        self,
        fingers: tuple[Finger, ...],
        face: Face | None = None,
        *,
        officer: str | None = None,
        case_reference: str | None = None,
    ) -> tuple[bytes, bytes]:
        """A new check record, signed by the secure element and encrypted: (record id, envelope)."""
        record_id = uuid7()
        record = CheckRecord(
            record_id=record_id,
            device_id=self.config.device_id,
            captured_ms=int(time.time() * 1000),
            boot_id=_BOOT_ID,
            monotonic_ms=int(time.monotonic() * 1000),
            operator_id=officer or self.config.operator_id,
            fingers=fingers,
            face=face,
            gnss=self._position(),
            firmware_version=__version__,
            model_versions={"minutiae": FINGER_MODEL},
            training=self.config.training,
            operation_id=self.config.operation_id,
            case_reference=case_reference,
        )
        sealed = envelope.seal(
            record.encode(),
            self.config.device_id,
            lambda digest: self._se.sign_digest(self.config.identity_slot, digest),
            self._central_pem,
            "central",
        )
        return record_id, sealed

    def telemetry(self, fuel_gauge: FuelGauge | None = None) -> dict[str, object]:
        """Battery, signal, position, backlog and versions — never biometric data."""
        now = int(time.time() * 1000)
        oldest = self.outbox.oldest_ms()
        report: dict[str, object] = {
            "v": 1,
            "at": now,
            "training": self.config.training,
            "backlog": len(self.outbox),
            "backlog_age_s": 0 if oldest is None else max(0, (now - oldest) // 1000),
            "fw": __version__,
            "models": {"minutiae": FINGER_MODEL},
        }
        if fuel_gauge is not None:
            try:
                battery = fuel_gauge.read()
                report["battery"] = {
                    "soc": battery.soc_percent,
                    "volts": battery.voltage_v,
                    "charging": battery.charging,
                }
            except HalError as exc:
                report["battery"] = {"error": type(exc).__name__}
        if self._modem is not None:
            link = self._modem.link
            report["link"] = {
                "up": link.up,
                "dbm": link.signal_dbm,
                "operator": link.operator,
                "act": link.access_technology,
            }
        position = self._position()
        if position is not None:
            report["gnss"] = [position.latitude, position.longitude]
        return report

    def send_telemetry(self, fuel_gauge: FuelGauge | None = None) -> bool:
        return self.uplink.publish_telemetry(self.telemetry(fuel_gauge))

    def _position(self) -> Gnss | None:
        if self._modem is None:
            return None
        try:
            fix = self._modem.gnss_fix()
        except HalError:
            return None
        return Gnss(fix.latitude, fix.longitude, fix.altitude_m, fix.hdop)
