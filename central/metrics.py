"""A gateway instance's metrics for Prometheus (prometheus-client, Apache-2.0) and its health.

``central run --metrics ADDR:PORT`` serves, on that address:

* ``/metrics`` — records in, answers out by outcome, refusals by reason, the time
  from a record's arrival to its answer (a histogram), the records waiting in the
  instance's queue, the people on the watchlist and the examiners' queue;
* ``/health`` — 200 with a JSON body when the instance is connected to the broker
  and its database answers, 503 with the reason otherwise (for a load balancer or
  systemd's watchdog script).

Each instance has a registry of its own, so several in one process (the tests)
do not collide. Nothing here carries biometric data.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records_in = Counter(
            "hotspot_records_in", "Records received from devices", registry=self.registry
        )
        self.answers_out = Counter(
            "hotspot_answers_out", "Answers sent, by outcome", ["outcome"], registry=self.registry
        )
        self.refused = Counter(
            "hotspot_records_refused",
            "Messages dropped or answered 'rejected', by reason",
            ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hotspot_answer_seconds",
            "From a record's arrival at the instance to its answer's publication",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "hotspot_queue_depth", "Records waiting in this instance", registry=self.registry
        )
        self.watchlist_people = Gauge(
            "hotspot_watchlist_people",
            "People on the watchlist as searched",
            registry=self.registry,
        )
        self.verification_pending = Gauge(
            "hotspot_verification_pending",
            "Possible matches waiting for an examiner",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class MetricsServer:
    """``/metrics`` and ``/health`` on one address, in a thread."""

    def __init__(
        self,
        metrics: Metrics,
        host: str,
        port: int,
        health: Callable[[], tuple[bool, dict[str, Any]]],
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    outer._send(self, 200, metrics.exposition(), CONTENT_TYPE_LATEST)
                elif self.path == "/health":
                    ok, body = health()
                    payload = json.dumps({"ok": ok, **body}).encode()
                    outer._send(self, 200 if ok else 503, payload, "application/json")
                else:
                    outer._send(self, 404, b"not found\n", "text/plain")

            def log_message(self, *_args: Any) -> None:
                pass  # scrapes every few seconds would drown the log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def now() -> float:
    return time.monotonic()
