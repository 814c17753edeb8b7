"""The uplink: forward the outbox over MQTT v5 when the link is up; raise answers at once.

* Connects only while the modem reports the link up (``link_changed``), and
  backs off exponentially with jitter while the broker cannot be reached, so
  a fleet coming out of a dead zone does not hammer the broker in step.
* Persistent session (``clean_start=False`` and an explicit Session Expiry
  Interval: in MQTT v5 the session otherwise ends with the connection), QoS 1,
  at most ``window`` records in flight (cellular links choke on more).
* Sends what :meth:`Outbox.due` returns: new checks first, then the backlog
  oldest first; re-sends a record whose answer has not come within
  ``resend_after_s`` (same id; the central service answers it again).
* Answers arrive on the device's own results topic, signed by the central
  service; each is verified, stored with its record atomically (which removes
  the record from the outbox) and handed to ``on_answer`` — late answers for
  old records too.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.outbox import Outbox
from wire import envelope, topics
from wire.answer import Answer
from wire.errors import WireError
from wire.record import record_id_text

log = logging.getLogger(__name__)

CENTRAL_KID = "central"


@dataclass(frozen=True)
class UplinkConfig:
    device_id: str
    host: str
    port: int
    ca: Path
    cert: Path
    key: Path
    central_answers_public: Path
    window: int = 5
    resend_after_s: float = 30.0
    session_expiry_s: int = 7 * 24 * 3600
    backoff_min_s: float = 0.5
    backoff_max_s: float = 60.0


class Uplink:
    def __init__(
        self,
        config: UplinkConfig,
        outbox: Outbox,
        on_answer: Callable[[Answer], None],
        on_sent: Callable[[bytes], None] | None = None,
    ) -> None:
        self.config = config
        self._outbox = outbox
        self._on_answer = on_answer
        self._on_sent = on_sent
        public = serialization.load_pem_public_key(config.central_answers_public.read_bytes())
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("the central answers key must be a P-256 public key")
        self._central_key = public
        self._link_up = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[int, bytes] = {}
        self._sending: set[bytes] = set()
        self._early_acks: dict[int, bool] = {}
        self._failures = 0
        self._next_attempt = 0.0
        self.connected = threading.Event()
        self.connects = 0
        self.acked = 0
        """Records the broker has acknowledged (PUBACK) since start: a flush-rate counter."""
        self._client = self._make_client()
        self._loop_running = False
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self.beat = time.monotonic()
        """When the supervisor loop last went round: the service's watchdog reads it."""

    # -- control ---------------------------------------------------------------------------

    def start(self) -> Uplink:
        self.replay_unshown()
        self._thread.start()
        return self

    def replay_unshown(self) -> int:
        """Show answers that were stored but never displayed (the device died in between)."""
        shown = 0
        for record_id, payload in self._outbox.unshown_answers():
            answer = self.read_answer(payload)
            if answer is None:
                self._outbox.mark_shown(record_id)  # not an answer we can show: do not loop on it
                continue
            self._show(answer)
            shown += 1
        return shown

    def read_answer(self, payload: bytes) -> Answer | None:
        """A stored, signed answer verified against the central key; None if it does not."""
        try:
            return Answer.decode(envelope.verify_sign1(payload, CENTRAL_KID, self._central_key))
        except WireError:
            return None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _show(self, answer: Answer) -> None:
        try:
            self._on_answer(answer)
        except Exception:
            log.exception("the officer's display failed to take an answer")
            return
        self._outbox.mark_shown(answer.record_id)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._disconnect()

    def link_changed(self, up: bool) -> None:
        """Called from the modem's link events."""
        self._link_up = up
        if up:
            self._next_attempt = 0.0
            self._failures = 0
        self._wake.set()

    def publish_telemetry(self, report: dict[str, object]) -> bool:
        """Send a telemetry report; False if offline (nothing is queued: the next report,
        sent as soon as the link is up, supersedes it). Retained, so the broker keeps the
        latest report only, for whoever subscribes next."""
        if not self.connected.is_set():
            return False
        info = self._client.publish(
            topics.telemetry(self.config.device_id, "app"), cbor2.dumps(report), qos=1,
            retain=True,
        )  # fmt: skip
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def kick(self) -> None:
        """A new check is in the outbox: send it now if we can."""
        self._wake.set()

    # -- supervisor ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat = time.monotonic()
            if not self._link_up:
                if self.connected.is_set() or self._loop_running:
                    self._disconnect()
            elif not self.connected.is_set():
                if self._loop_running and self._failures == 0:
                    pass  # a connection attempt is under way
                elif time.monotonic() >= self._next_attempt:
                    self._connect()
            else:
                self._flush()
            self._wake.wait(0.25)
            self._wake.clear()

    def _connect(self) -> None:
        if self._loop_running:
            self._client.loop_stop()
            self._loop_running = False
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        try:
            self._client.connect(
                self.config.host,
                self.config.port,
                keepalive=30,
                clean_start=False,
                properties=props,
            )
        except (OSError, ssl.SSLError) as exc:
            self._backoff(f"cannot reach the broker: {exc}")
            return
        self._client.loop_start()
        self._loop_running = True

    def _backoff(self, why: str) -> None:
        self._failures += 1
        delay = min(
            self.config.backoff_max_s, self.config.backoff_min_s * 2 ** (self._failures - 1)
        )
        delay *= random.uniform(0.5, 1.5)
        self._next_attempt = time.monotonic() + delay
        log.info("uplink: %s; next attempt in %.1f s", why, delay)

    def _disconnect(self) -> None:
        with contextlib.suppress(Exception):
            self._client.disconnect()
        if self._loop_running:
            self._client.loop_stop()
            self._loop_running = False
        self.connected.clear()
        with self._lock:
            self._inflight.clear()
            self._sending.clear()
            self._early_acks.clear()

    def _flush(self) -> None:
        with self._lock:
            room = self.config.window - len(self._inflight)
            busy = set(self._sending)
        if room <= 0:
            return
        due = self._outbox.due(room + len(busy), int(self.config.resend_after_s * 1000))
        for pending in due:
            if pending.record_id in busy:
                continue
            if room <= 0:
                break
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.UserProperty = ("record-id", record_id_text(pending.record_id))
            props.ResponseTopic = topics.results(self.config.device_id)
            props.CorrelationData = pending.record_id
            props.MessageExpiryInterval = 7 * 24 * 3600
            # Never hold our lock across paho's: its network thread holds its own lock
            # while it calls _on_publish, which takes ours (lock-order inversion).
            info = self._client.publish(
                topics.records(self.config.device_id), pending.envelope, qos=1, properties=props
            )
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            with self._lock:
                acked_early = self._early_acks.pop(info.mid, None)
                if acked_early is None:
                    self._inflight[info.mid] = pending.record_id
                    self._sending.add(pending.record_id)
            if acked_early is not None and acked_early:
                self.acked += 1
                self._sent(pending.record_id)
            room -= 1

    # -- paho callbacks ----------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        c = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=c.device_id, protocol=mqtt.MQTTv5
        )
        client.tls_set(ca_certs=str(c.ca), certfile=str(c.cert), keyfile=str(c.key))
        client.max_inflight_messages_set(c.window)
        client.on_connect = self._on_connect
        client.on_socket_open = _no_delay
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._backoff(f"broker refused the connection: {reason}")
            return
        client.subscribe(topics.results(self.config.device_id), qos=1)
        self._failures = 0
        self.connects += 1
        self.connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        with self._lock:
            self._inflight.clear()
            self._sending.clear()
            self._early_acks.clear()
        if self._link_up and not self._stop.is_set():
            self._backoff(f"disconnected: {reason}")
        self._wake.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self._lock:
            record_id = self._inflight.pop(mid, None)
            if record_id is None:
                # The PUBACK beat _flush to registering the message id.
                self._early_acks[mid] = not reason.is_failure
                return
            self._sending.discard(record_id)
        if not reason.is_failure:
            self.acked += 1
            self._sent(record_id)  # the broker has it; the answer will remove it
        self._wake.set()

    def _sent(self, record_id: bytes) -> None:
        first = self._outbox.sent(record_id)
        if first and self._on_sent is not None:
            try:
                self._on_sent(record_id)
            except Exception:
                log.exception("the officer's display failed to take a sent check")

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = envelope.verify_sign1(bytes(msg.payload), CENTRAL_KID, self._central_key)
            answer = Answer.decode(payload)
        except WireError as exc:
            log.warning("ignored an answer that does not verify: %s", type(exc).__name__)
            return
        if not self._outbox.answered(answer.record_id, bytes(msg.payload), answer.revision):
            return  # the same answer again (the record was re-sent): already shown
        self._show(answer)


def _no_delay(_c: mqtt.Client, _u: Any, sock: Any) -> None:
    """Send each packet at once: Nagle's algorithm held answers and records back ~40 ms."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
