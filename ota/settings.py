"""The device's update settings: ``/etc/hotspot/ota.toml`` under the install root.

Written by ``hotspot ota install-root``; read by ``update``, ``boot``,
``confirm`` and the rollout agent. Validated when loaded, so that a typo is
reported with the file and the key rather than as a failed update later.

On a handheld the device configuration (``device_config``, the one file the
device service reads) has the last word: its ``[update]`` section gives the
repository, the group, the battery floor and the anti-rollback floor, and its
``[device]``, ``[uplink]`` and ``[central]`` sections the agent's MQTT
connection, so the agent and the service never disagree on the broker or the
certificates.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ota.errors import OtaError
from ota.layout import Layout


@dataclass(frozen=True)
class MqttSettings:
    device_id: str
    host: str
    port: int
    ca: str
    cert: str
    key: str
    central_public: str
    """PEM of the central key that signs release announcements."""
    group: str = "default"


FLOORS = ("file", "secure-element")


@dataclass(frozen=True)
class OtaSettings:
    repository: str = ""
    """Base URL of the update repository (``.../metadata/``, ``.../targets/``)."""
    hardware: str = "hotspot-h1"
    health_args: list[str] = field(default_factory=list)
    """Extra arguments for ``hotspot hal health`` (``--config``, ``--broker``)."""
    health_deadline_s: float = 120.0
    min_battery_percent: float = 30.0
    floor: str = "file"
    """Anti-rollback floor: "secure-element" binds it to the chip's monotonic counter 1
    (``ota.antirollback.SecureElementFloor``); "file" where the device has no chip."""
    device_config: str = ""
    """The firmware's device TOML, for the secure element ("" = the embedded default)."""
    mqtt: MqttSettings | None = None

    def dump(self) -> str:
        lines = [
            "# Written by 'hotspot ota install-root'.",
            f"repository = {_q(self.repository)}",
            f"hardware = {_q(self.hardware)}",
            f"health_args = [{', '.join(_q(a) for a in self.health_args)}]",
            f"health_deadline_s = {self.health_deadline_s}",
            f"min_battery_percent = {self.min_battery_percent}",
            f"floor = {_q(self.floor)}",
            f"device_config = {_q(self.device_config)}",
        ]
        if self.mqtt is not None:
            lines.append("\n[mqtt]")
            for f in fields(self.mqtt):
                value = getattr(self.mqtt, f.name)
                lines.append(f"{f.name} = {value if isinstance(value, int) else _q(value)}")
        return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def path(layout: Layout) -> Path:
    return layout.config / "ota.toml"


def load(layout: Layout) -> OtaSettings:
    source = path(layout)
    try:
        data: dict[str, Any] = tomllib.loads(source.read_text())
    except FileNotFoundError:
        raise OtaError(f"{source} is missing: run 'hotspot ota install-root' first") from None
    except tomllib.TOMLDecodeError as exc:
        raise OtaError(f"{source}: not valid TOML: {exc}") from None
    mqtt = data.pop("mqtt", None)
    known = {f.name for f in fields(OtaSettings)}
    unknown = set(data) - known
    if unknown:
        raise OtaError(f"{source}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    if data.get("floor", "file") not in FLOORS:
        raise OtaError(f"{source}: floor must be one of {list(FLOORS)}, not {data['floor']!r}")
    try:
        mqtt_settings = MqttSettings(**mqtt) if mqtt is not None else None
        settings = OtaSettings(**data, mqtt=mqtt_settings)
    except TypeError as exc:
        raise OtaError(f"{source} [mqtt]: {exc}") from None
    return from_device_config(settings) if settings.device_config else settings


def from_device_config(settings: OtaSettings) -> OtaSettings:
    """``settings`` with what the device configuration says about updates and the broker."""
    from firmware import config as config_mod
    from hal.errors import ConfigurationError

    try:
        device = config_mod.load(settings.device_config)
    except ConfigurationError as exc:
        raise OtaError(str(exc)) from None
    changes: dict[str, Any] = {}
    update = device.update
    if update is not None:
        changes |= {
            "repository": update.repository or settings.repository,
            "hardware": update.hardware,
            "min_battery_percent": update.min_battery_percent,
            "floor": update.floor,
            "health_deadline_s": update.health_deadline_s,
        }
    if not settings.health_args:
        changes["health_args"] = ["--config", settings.device_config]
    if settings.mqtt is None and device.uplink is not None and device.central is not None:
        changes["mqtt"] = MqttSettings(
            device_id=device.device.id,
            host=device.uplink.host,
            port=device.uplink.port,
            ca=str(device.path(device.uplink.ca)),
            cert=str(device.path(device.uplink.cert)),
            key=str(device.path(device.uplink.key)),
            central_public=str(device.path(device.central.answers_public)),
            group=update.group if update is not None else "default",
        )
    return replace(settings, **changes)
