"""The central gateway: consume records, verify, decrypt, deduplicate, match, answer.

Several instances may run side by side: they share the MQTT v5 subscription
``$share/central/hotspot/v1/+/records``, so each record goes to one of them.
Messages are acknowledged to the broker only after the answer is stored and
published (paho's manual acks), so a gateway killed mid-record leaves the
message to the broker to deliver again; the ledger makes that harmless.

An instance has no session beyond its connection (clean start, session
expiry 0). The broker keeps handing a disconnected instance's persistent
session its share of the shared subscription (Mosquitto queues records for
it, eclipse/mosquitto#1747), so any session that outlived its connection would
hold records back until it expired. Ending the session with the DISCONNECT
packet is not enough: a connection can end without the broker reading that
packet (a crash, a lost link, or Mosquitto failing to write a SUBACK to an
instance that stopped right after connecting, which it logs as "out of
memory" and which skips the DISCONNECT still in its buffer). Records that were
in flight to an instance that vanishes are not lost: the devices keep each
record until it is answered and re-send it.

What is rejected, and how: a message on a topic that is not a device's, from
an unregistered or revoked device, too large, or that does not decrypt or
verify is dropped and audited (nothing authenticated it, so nothing is
answered). A record that verifies but cannot be used (unknown schema version,
malformed fields, a device id that disagrees with the topic) is answered
``rejected`` with the reason, so the device stops re-sending and tells the
officer. Nothing biometric is logged.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.ledger import AuditEntry, Ledger
from central.matching import WatchlistMatcher
from central.provision import Credentials
from central.registry import DeviceRegistry, UnknownDevice
from wire import envelope, topics
from wire.answer import HIT, MODALITIES, NO_HIT, REJECTED, Answer
from wire.errors import MalformedRecord, UnsupportedVersion, WireError
from wire.record import CheckRecord, record_id_text

log = logging.getLogger(__name__)

CENTRAL_KID = "central"
MAX_PAYLOAD = envelope.MAX_ENVELOPE_BYTES


@dataclass(frozen=True)
class GatewayKeys:
    records_private_pem: bytes
    answers_private: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, records_key: Path, answers_key: Path) -> GatewayKeys:
        answers = serialization.load_pem_private_key(answers_key.read_bytes(), password=None)
        if not isinstance(answers, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{answers_key} is not a P-256 key")
        return cls(records_key.read_bytes(), answers)

    def sign_digest(self, digest: bytes) -> bytes:
        der = self.answers_private.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        r, s = utils.decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Processor:
    """The broker-independent core: one payload in, at most one answer out."""

    def __init__(
        self,
        keys: GatewayKeys,
        registry: DeviceRegistry,
        ledger: Ledger,
        matcher: WatchlistMatcher,
    ) -> None:
        self.keys = keys
        self.registry = registry
        self.ledger = ledger
        self.matcher = matcher

    def telemetry(self, topic: str, payload: bytes) -> bool:
        """Keep a device's telemetry report if it is well-formed CBOR from a registered device."""
        try:
            device_id = topics.device_of(topic)
            self.registry.get(device_id)
            report = cbor2.loads(payload)
        except (ValueError, UnknownDevice, cbor2.CBORDecodeError):
            return False
        if not isinstance(report, dict) or len(payload) > 4096:
            return False
        self.ledger.store_telemetry(device_id, payload)
        return True

    def handle(self, topic: str, payload: bytes) -> tuple[str, bytes] | None:
        """Process one message; return (results topic, signed answer) or None if dropped."""
        try:
            device_id = topics.device_of(topic)
        except ValueError:
            self.ledger.audit("dropped", detail=f"not a device topic: {topic[:80]}")
            return None
        if len(payload) > MAX_PAYLOAD:
            self.ledger.audit("dropped", device_id=device_id, detail=f"{len(payload)} bytes")
            return None
        try:
            device = self.registry.get(device_id)
        except UnknownDevice as exc:
            self.ledger.audit("dropped", device_id=device_id, detail=str(exc))
            return None
        try:
            signed = envelope.open_sealed(
                payload, device_id, self.keys.records_private_pem, CENTRAL_KID, device.key()
            )
        except WireError as exc:
            self.ledger.audit("dropped", device_id=device_id, detail=type(exc).__name__)
            return None
        try:
            record = CheckRecord.decode(signed)
        except (UnsupportedVersion, MalformedRecord) as exc:
            record_id = _salvage_id(signed)
            self.ledger.audit(
                "rejected", device_id=device_id, detail=f"{type(exc).__name__}: {exc}"
            )
            if record_id is None:
                return None
            return self._answer(device_id, Answer(record_id, REJECTED, reason=str(exc)[:250]))
        if record.device_id != device_id:
            reason = f"record claims device {record.device_id!r} on {device_id!r}'s topic"
            self.ledger.audit("rejected", device_id=device_id, detail=reason)
            return self._answer(device_id, Answer(record.record_id, REJECTED, reason=reason))
        existing = self.ledger.answer_for(record.record_id)
        if existing is not None:
            self.ledger.audit(
                "duplicate", device_id=device_id, record_id=record_id_text(record.record_id)
            )
            return topics.results(device_id), existing
        outcome = self.matcher.search(record)
        answer = Answer(
            record.record_id,
            HIT if outcome.hit else NO_HIT,
            score=round(outcome.score, 4),
            reference=outcome.reference,
            notice=outcome.notice,
            answered_ms=int(time.time() * 1000),
            modalities=tuple(m for m in outcome.modality.split("+") if m in MODALITIES),
            training=record.training,
        )
        # A training check (emulated hardware) is answered like any other, so that the
        # exercise is real, but the audit marks it and no report counts it as a check.
        training = "TRAINING (emulated hardware), " if record.training else ""
        audit = AuditEntry(
            "answered",
            device_id=device_id,
            record_id=record_id_text(record.record_id),
            outcome=answer.outcome,
            reference=answer.reference,
            score=answer.score,
            detail=f"{training}{outcome.modality}, estimated FMR {outcome.fmr:.1e}, "
            f"officer {record.operator_id}, operation {record.operation_id or '-'}",
        )
        return self._answer(device_id, answer, audit)

    def _answer(
        self, device_id: str, answer: Answer, audit: AuditEntry | None = None
    ) -> tuple[str, bytes]:
        signed = envelope.sign1(answer.encode(), CENTRAL_KID, self.keys.sign_digest)
        stands = self.ledger.record_answer(answer.record_id, device_id, signed, audit)
        return topics.results(device_id), stands


def _salvage_id(signed: bytes) -> bytes | None:
    """The record id of a record we cannot otherwise read (to answer 'rejected')."""
    try:
        data = cbor2.loads(signed)
    except Exception:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, bytes) and len(value) == 16 else None


class Gateway:
    """A :class:`Processor` attached to the broker."""

    def __init__(
        self,
        processor: Processor,
        credentials: Credentials,
        host: str,
        port: int,
        instance: str = "1",
    ) -> None:
        self.processor = processor
        self._host, self._port = host, port
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self.connected = threading.Event()
        """Set once the instance is subscribed (the broker has acknowledged its subscriptions):
        from then on it takes its share of the records."""
        self._left = threading.Event()
        self._subscribing: set[int] = set()
        self.instance = instance
        self.processed = 0
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"central-{instance}",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.tls_set(
            ca_certs=str(credentials.ca),
            certfile=str(credentials.cert),
            keyfile=str(credentials.key),
        )
        client.max_inflight_messages_set(50)
        client.reconnect_delay_set(0.2, 5)  # type: ignore[arg-type]  # paho takes floats
        client.on_connect = self._on_connect
        client.on_socket_open = _no_delay
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = lambda _c, _u, msg: self._queue.put(msg)
        self._client = client
        self._worker = threading.Thread(target=self._work, name="gateway", daemon=True)

    def start(self) -> Gateway:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0  # the session ends with the connection (see above)
        self._client.connect_async(self._host, self._port, clean_start=True, properties=props)
        self._client.loop_start()
        self._worker.start()
        return self

    def stop(self) -> None:
        """Finish the records already received, then leave.

        An instance still subscribing is given a moment to finish, so that the broker
        sees an orderly exit; it holds no session either way.
        """
        self._queue.put(None)
        self._worker.join(timeout=5)
        self.connected.wait(1.0 if self._subscribing else 0.0)
        was_connected = self._client.is_connected()
        self._client.disconnect()
        # The network thread writes the DISCONNECT; stopping it first could drop
        # the packet, and the broker would keep the session (and its share) alive.
        if was_connected and not self._left.wait(5):
            log.warning("gateway %s: the broker may not have seen it leave", self.instance)
        self._client.loop_stop()

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected.clear()
        self._left.set()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the gateway: %s", reason)
            return
        _rc, mid = client.subscribe([(topics.RECORDS_SHARED, 1), (topics.TELEMETRY_SHARED, 0)])
        if mid is not None:
            self._subscribing.add(mid)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, reasons: Any, _p: Any) -> None:
        self._subscribing.discard(mid)
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("gateway %s: the broker refused a subscription: %s", self.instance, failed)
            return
        self.connected.set()

    def _work(self) -> None:
        while True:
            msg = self._queue.get()
            if msg is None:
                return
            if msg.topic.endswith("/telemetry"):
                self.processor.telemetry(msg.topic, bytes(msg.payload))
                if msg.qos:
                    self._client.ack(msg.mid, msg.qos)
                continue
            try:
                result = self.processor.handle(msg.topic, bytes(msg.payload))
            except Exception:
                log.exception("record processing failed; the broker will deliver it again")
                continue
            if result is not None:
                topic, answer = result
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.MessageExpiryInterval = 7 * 24 * 3600
                info = self._client.publish(topic, answer, qos=1, properties=props)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    continue  # not acknowledged: the broker re-delivers, the ledger answers again
            self._client.ack(msg.mid, msg.qos)
            self.processed += 1


def _no_delay(_c: mqtt.Client, _u: Any, sock: Any) -> None:
    """Send each answer at once: Nagle's algorithm held them back ~40 ms."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
