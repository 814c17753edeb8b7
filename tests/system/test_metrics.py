"""A gateway's metrics and health, scraped over HTTP as Prometheus would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from central.gateway import Gateway
from central.metrics import Metrics, MetricsServer
from central.provision import FleetLayout
from hil.system import System
from wire.record import Finger

NewDevice = Callable[..., Any]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_count_records_and_health_follows_the_broker(
    system: System, new_device: NewDevice
) -> None:
    creds = system.ca.issue("central", FleetLayout(system.root).central_tls)
    metrics = Metrics()
    gateway = Gateway(
        system.processor, creds, "127.0.0.1", system.broker.port, "metered", metrics=metrics
    ).start()
    server = MetricsServer(metrics, "127.0.0.1", 0, gateway.health).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert gateway.connected.wait(10)
        others = [g for g in system.gateways]
        system.stop_gateways()  # every record goes to the metered instance
        device = new_device()
        device.app.start()
        device.app.uplink.link_changed(True)
        device.app.check((Finger(2, 60, b"not a template"),))
        assert device.wait_answers(1, 30), device.report(system)
        # The answer can reach the device before the instance has noted its latency.
        for _ in range(100):
            status, text = _get(base + "/metrics")
            if "hotspot_answer_seconds_count 1.0" in text:
                break
            gateway.connected.wait(0.05)
        assert status == 200
        assert "hotspot_records_in_total 1.0" in text
        assert 'hotspot_answers_out_total{outcome="no_hit"} 1.0' in text
        assert "hotspot_answer_seconds_count 1.0" in text
        status, body = _get(base + "/health")
        assert status == 200 and json.loads(body)["broker"] is True
        system.broker.kill()
        for _ in range(100):
            status, body = _get(base + "/health")
            if status == 503:
                break
            gateway.connected.wait(0.1)
        assert status == 503 and json.loads(body)["why"] == "not connected to the broker"
    finally:
        server.stop()
        gateway.stop()
        system.broker.start()
        for other in others:
            system.start_gateway(other.instance)
