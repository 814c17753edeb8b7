"""The device's update agent: follows its group's release announcement, installs when it may.

A separate service from the firmware (``hotspot-ota-agent.service``): the
process that replaces the application must not be part of it, and it must go
on reporting when the new release does not come up. It holds its own MQTT
session (client id ``<device>-ota``, the device's certificate), subscribes to
the retained announcement of its group, verifies the central signature, and
when the announced version is newer than the running one and the device may
update — idle, not capturing, battery high enough — it installs it
(:class:`ota.install.Installer`), has it activated (restart + health check,
:mod:`ota.boot`), and reports each step in its telemetry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion

from ota.bundle import parse_version
from ota.errors import OtaError
from ota.install import Installer
from ota.layout import Layout
from ota.settings import MqttSettings
from ota.state import SlotState
from wire import topics
from wire.errors import WireError
from wire.rollout import Announcement, UpdateReport

log = logging.getLogger(__name__)

Conditions = Callable[[], str | None]
"""Why the device may not update now ('battery 12% < 30%', 'capture in progress'), or None."""
Activate = Callable[[], None]
"""Start the trial slot and let the guard judge it (a restart under systemd)."""


class RolloutAgent:
    def __init__(
        self,
        layout: Layout,
        mqtt_settings: MqttSettings,
        installer: Installer,
        activate: Activate,
        conditions: Conditions = lambda: None,
        retry_s: float = 60.0,
    ) -> None:
        self.layout, self.settings, self.installer = layout, mqtt_settings, installer
        self._activate, self._conditions, self._retry_s = activate, conditions, retry_s
        key = serialization.load_pem_public_key(Path(mqtt_settings.central_public).read_bytes())
        assert isinstance(key, ec.EllipticCurvePublicKey)
        self._central = key
        self._wanted: Announcement | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{mqtt_settings.device_id}-ota",
            protocol=mqtt.MQTTv5,
        )
        s = mqtt_settings
        self._client.tls_set(ca_certs=s.ca, certfile=s.cert, keyfile=s.key)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = lambda *_a: self.connected.clear()
        self._thread = threading.Thread(target=self._run, name="ota-agent", daemon=True)

    def start(self) -> RolloutAgent:
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=30)
        self._client.loop_start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self._client.disconnect()
        self._client.loop_stop()

    # -- MQTT --------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the update agent: %s", reason)
            return
        client.subscribe(topics.release(self.settings.group), qos=1)
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if not msg.payload:
            self._wanted = None  # the rollout was withdrawn
            return
        try:
            announcement = Announcement.verify(bytes(msg.payload), self._central)
        except WireError as exc:
            log.warning("ignored a release announcement that does not verify: %s", exc)
            return
        if announcement.group != self.settings.group:
            log.warning("ignored an announcement for group %s", announcement.group)
            return
        self._wanted = announcement
        self._wake.set()

    def report(
        self, wanted: Announcement, state: str, progress: float = 0.0, why: str = ""
    ) -> None:
        running = SlotState.load(self.layout.state_file).good_version
        body = UpdateReport(
            wanted.rollout, wanted.version, state, running, self.settings.group, progress, why
        )
        telemetry = {"v": 1, "at": int(time.time() * 1000), "ota": body.as_telemetry()}
        # Its own sub-topic, retained: the broker keeps the latest state only, and the device
        # service's report (telemetry/app) never overwrites it.
        self._client.publish(
            topics.telemetry(self.settings.device_id, "update"),
            cbor2.dumps(telemetry),
            qos=1,
            retain=True,
        )

    # -- the work ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._retry_s)
            self._wake.clear()
            wanted = self._wanted
            if wanted is None or self._stop.is_set():
                continue
            state = SlotState.load(self.layout.state_file)
            if parse_version(wanted.version) <= parse_version(state.good_version):
                continue  # already there (or newer); nothing to do
            if state.last.get("version") == wanted.version and state.trial is None:
                continue  # tried and rolled back: wait for the next release
            why = self._conditions()
            if why is not None:
                self.report(wanted, "deferred", why=why)
                continue
            self._update(wanted)

    def _update(self, wanted: Announcement) -> None:
        def progress(step: str, done: int, total: int) -> None:
            if step == "download" and total:
                self.report(wanted, "downloading", done / total)

        self.report(wanted, "downloading")
        try:
            self.installer.install(wanted.version, progress)
        except OtaError as exc:
            self.report(wanted, "failed", why=str(exc))
            return
        self.report(wanted, "trial")
        try:
            self._activate()
        except OtaError as exc:
            log.warning("activation failed: %s", exc)
        state = SlotState.load(self.layout.state_file)
        if state.trial is not None:
            return  # still on trial: the guard decides at the next start
        outcome = state.last.get("outcome", "failed")
        self.report(wanted, outcome, 1.0, str(state.last.get("reason", "")))
