"""The real broker enforces TLS client certificates and confines each device to its topics."""

from __future__ import annotations

import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.provision import Credentials

Fleet = Any


def client(fleet: Fleet, creds: Credentials | None, name: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    if creds is None:
        c.tls_set(ca_certs=str(fleet.ca.cert_path))
    else:
        c.tls_set(ca_certs=str(creds.ca), certfile=str(creds.cert), keyfile=str(creds.key))
    return c


def connect(c: mqtt.Client, fleet: Fleet) -> mqtt.ReasonCode | None:
    done = threading.Event()
    result: list[mqtt.ReasonCode] = []

    def on_connect(_c, _u, _f, reason, _p):  # type: ignore[no-untyped-def]
        result.append(reason)
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", fleet.broker.port, properties=Properties(PacketTypes.CONNECT))
    c.loop_start()
    done.wait(5)
    return result[0] if result else None


def test_a_client_without_certificate_is_refused(fleet: Fleet) -> None:
    c = client(fleet, None, "anon")
    with pytest.raises((ssl.SSLError, OSError, ConnectionError)):
        c.connect("127.0.0.1", fleet.broker.port)
        for _ in range(20):
            c.loop(0.1)
            if c.is_connected():
                break
        assert not c.is_connected()
        raise ConnectionError("refused")


def collector(c: mqtt.Client) -> tuple[list[tuple[str, bytes]], threading.Event]:
    got: list[tuple[str, bytes]] = []
    arrived = threading.Event()

    def on_message(_c, _u, msg):  # type: ignore[no-untyped-def]
        got.append((msg.topic, msg.payload))
        arrived.set()

    c.on_message = on_message
    return got, arrived


def subscribe(c: mqtt.Client, topic: str) -> None:
    done = threading.Event()
    c.on_subscribe = lambda *_args: done.set()
    c.subscribe(topic, qos=1)
    assert done.wait(5)


def test_device_b_cannot_read_a_results_or_publish_as_a(fleet: Fleet) -> None:
    a = client(fleet, fleet.credentials("hh-000a"), "hh-000a")
    b = client(fleet, fleet.credentials("hh-000b"), "hh-000b")
    central = client(fleet, fleet.credentials("central"), "central-1")
    for c in (a, b, central):
        assert connect(c, fleet) == 0
    got_a, arrived_a = collector(a)
    got_b, _ = collector(b)
    got_central, arrived_central = collector(central)
    subscribe(a, "hotspot/v1/hh-000a/results")
    subscribe(b, "hotspot/v1/hh-000a/results")  # B tries to read A's answers
    subscribe(b, "hotspot/v1/+/results")
    subscribe(central, "hotspot/v1/+/records")

    central.publish("hotspot/v1/hh-000a/results", b"answer-for-a", qos=1).wait_for_publish(5)
    assert arrived_a.wait(5)
    # B publishing into A's records must not reach the central service; its own must.
    b.publish("hotspot/v1/hh-000a/records", b"forged", qos=1).wait_for_publish(5)
    b.publish("hotspot/v1/hh-000b/records", b"own", qos=1).wait_for_publish(5)
    assert arrived_central.wait(5)
    arrived_central.clear()
    arrived_central.wait(1.0)
    assert got_a == [("hotspot/v1/hh-000a/results", b"answer-for-a")]
    assert got_b == []
    assert got_central == [("hotspot/v1/hh-000b/records", b"own")]
    for c in (a, b, central):
        c.loop_stop()
        c.disconnect()


def test_a_revoked_certificate_is_refused_after_the_broker_reloads(fleet: Fleet) -> None:
    import time

    stolen = fleet.credentials("hh-stolen")
    honest = fleet.credentials("hh-honest")
    first = client(fleet, stolen, "hh-stolen")
    assert connect(first, fleet) == 0
    first.disconnect()
    first.loop_stop()

    assert fleet.ca.revoke("hh-stolen") == 1
    assert fleet.ca.revoke("hh-stolen") == 0  # already on the list
    fleet.broker.reload()
    time.sleep(0.5)

    again = client(fleet, stolen, "hh-stolen")
    try:
        reason = connect(again, fleet)
    except (ssl.SSLError, OSError):
        reason = None
    assert reason is None or reason != 0  # the handshake fails: no CONNACK success
    assert not again.is_connected()
    again.loop_stop()
    still = client(fleet, honest, "hh-honest")
    assert connect(still, fleet) == 0  # the others are untouched
    still.disconnect()
    still.loop_stop()
