"""The central gateway: a :class:`~central.processor.Processor` attached to the broker.

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

What a record gets (verification, matching, the answer, what is rejected and how)
is :mod:`central.processor`'s; this module is the broker session around it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.processor import Processor
from central.provision import Credentials
from wire import topics

if TYPE_CHECKING:
    from central.metrics import Metrics  # prometheus-client: only where metrics are served

log = logging.getLogger(__name__)

LATE_ANSWER_POLL_S = 0.5
"""How often an instance looks for examiners' verdicts to send."""
TELEMETRY_DAYS = 90.0
"""How long central keeps telemetry (``central run --telemetry-days``)."""
PRUNE_EVERY_S = 3600.0
RECONNECT_MAX_S = 5
"""The longest wait between two tries to reach the broker."""
ANSWER_EXPIRY_S = 7 * 24 * 3600
"""An answer waits this long at the broker for a handheld that is offline."""


class Gateway:
    """A :class:`Processor` attached to the broker."""

    def __init__(
        self,
        processor: Processor,
        credentials: Credentials,
        host: str,
        port: int,
        instance: str = "1",
        telemetry_days: float = TELEMETRY_DAYS,
        metrics: Metrics | None = None,
    ) -> None:
        self.processor = processor
        self.metrics = metrics
        processor.metrics = metrics
        self._host, self._port = host, port
        self._queue: queue.Queue[tuple[mqtt.MQTTMessage, float] | None] = queue.Queue()
        self.connected = threading.Event()
        """Set once the instance is subscribed (the broker has acknowledged its subscriptions):
        from then on it takes its share of the records."""
        self._left = threading.Event()
        self._subscribing: set[int] = set()
        self.instance = instance
        self.processed = 0
        self.failed_connects = 0
        self._stopping = False
        self.telemetry_days = telemetry_days
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            # Unique across hosts: two hosts' instance 1 must not take each other's session.
            client_id=f"central-{socket.gethostname()}-{instance}"[:64],
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.tls_set(
            ca_certs=str(credentials.ca),
            certfile=str(credentials.cert),
            keyfile=str(credentials.key),
        )
        client.max_inflight_messages_set(50)
        # A broker that is down or restarting is retried with a back-off doubling from
        # 0.2 s to at most RECONNECT_MAX_S, and each failed try is logged.
        client.reconnect_delay_set(0.2, RECONNECT_MAX_S)  # type: ignore[arg-type]
        client.on_connect_fail = self._on_connect_fail
        client.on_connect = self._on_connect
        client.on_socket_open = _no_delay
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = lambda _c, _u, msg: self._queue.put((msg, time.monotonic()))
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
        self._stopping = True
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

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self.connected.is_set() and not self._stopping:
            log.warning(
                "gateway %s lost the broker at %s:%s (%s); reconnecting with back-off up to %s s",
                self.instance, self._host, self._port, reason, RECONNECT_MAX_S,
            )  # fmt: skip
        self.connected.clear()
        self._left.set()

    def _on_connect_fail(self, *_args: Any) -> None:
        self.failed_connects += 1
        if self.failed_connects in (1, 2, 5) or self.failed_connects % 20 == 0:
            log.warning(
                "gateway %s cannot reach the broker at %s:%s (%d tries); retrying every %s s "
                "at most: is mosquitto running, and is this the port 'hotspot provision' set?",
                self.instance, self._host, self._port, self.failed_connects, RECONNECT_MAX_S,
            )  # fmt: skip

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the gateway: %s", reason)
            return
        if self.failed_connects:
            log.warning("gateway %s reached the broker after %d failed tries",
                        self.instance, self.failed_connects)  # fmt: skip
            self.failed_connects = 0
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
        next_late = 0.0
        next_prune = time.monotonic() + 60
        next_gauges = 0.0
        while True:
            if time.monotonic() >= next_late:
                next_late = time.monotonic() + LATE_ANSWER_POLL_S
                self._send_late_answers()
            if self.metrics is not None and time.monotonic() >= next_gauges:
                next_gauges = time.monotonic() + 5.0
                self._gauges()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_S
                with contextlib.suppress(Exception):
                    self.processor.ledger.prune_telemetry(self.telemetry_days)
            try:
                item = self._queue.get(timeout=LATE_ANSWER_POLL_S)
            except queue.Empty:
                continue
            if item is None:
                return
            msg, arrived = item
            if self.metrics is not None:
                self.metrics.queue_depth.set(self._queue.qsize())
            if "/telemetry/" in msg.topic:
                self.processor.telemetry(msg.topic, bytes(msg.payload))
                if msg.qos:
                    self._client.ack(msg.mid, msg.qos)
                continue
            try:
                result = self.processor.handle(msg.topic, bytes(msg.payload))
            except Exception:
                log.exception("record processing failed; the broker will deliver it again")
                continue
            if result is not None and not self._publish(*result):
                continue  # not acknowledged: the broker re-delivers, the ledger answers again
            self._client.ack(msg.mid, msg.qos)
            self.processed += 1
            if self.metrics is not None and result is not None:
                self.metrics.latency.observe(time.monotonic() - arrived)

    def _gauges(self) -> None:
        assert self.metrics is not None
        self.metrics.watchlist_people.set(self.processor.matcher.gallery.view.people)
        with contextlib.suppress(Exception):
            pending = self.processor.verification.counts()["pending"]
            self.metrics.verification_pending.set(pending)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether this instance can answer: subscribed at the broker, its database reachable."""
        body: dict[str, Any] = {
            "instance": self.instance,
            "broker": self.connected.is_set(),
            "processed": self.processed,
            "watchlist_people": self.processor.matcher.gallery.view.people,
        }
        try:
            self.processor.ledger.answered_count()
            body["database"] = True
        except Exception as exc:  # the reason goes to the body, the check fails
            body["database"] = False
            body["why"] = f"database: {str(exc).splitlines()[0][:200]}"
        if not body["broker"]:
            body.setdefault("why", "not connected to the broker")
        return bool(body["broker"] and body["database"]), body

    def _publish(self, topic: str, answer: bytes) -> bool:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.MessageExpiryInterval = ANSWER_EXPIRY_S
        info = self._client.publish(topic, answer, qos=1, properties=props)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _send_late_answers(self) -> None:
        """Examiners' verdicts, to the handhelds that are waiting for them."""
        if not self.connected.is_set():
            return
        try:
            late = self.processor.late_answers()
        except Exception:
            log.exception("reading the verification queue failed; retrying")
            return
        for topic, answer, record_id in late:
            if self._publish(topic, answer):
                self.processor.verification.purge_evidence(record_id)
            else:
                self.processor.verification.release_send(record_id)


def _no_delay(_c: mqtt.Client, _u: Any, sock: Any) -> None:
    """Send each answer at once: Nagle's algorithm held them back ~40 ms."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
