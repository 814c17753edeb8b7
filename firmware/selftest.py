"""Self-test: probe every configured device and say what was found.

Each device is probed on its own, so one broken part does not hide the state
of the others; a failure carries the typed error's message, which says what to
check. Nothing here prints or returns biometric data.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware.wiring import Devices
from hal.errors import HalError, NoGnssFix
from hal.modem.protocol import LinkState
from hal.secure.protocol import public_key_pem


@dataclass
class DeviceReport:
    name: str
    ok: bool
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class SelfTestReport:
    config: str
    devices: list[DeviceReport]

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.devices)

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "ok": self.ok,
            "devices": {
                d.name: {"ok": d.ok, **d.facts, **({"error": d.error} if d.error else {})}
                for d in self.devices
            },
        }


def run(devices: Devices, registration_wait_s: float = 3.0) -> SelfTestReport:
    probes: list[tuple[str, Callable[[Devices], dict[str, Any]]]] = [
        ("fingerprint", _fingerprint),
        ("camera", _camera),
        ("modem", lambda d: _modem(d, registration_wait_s)),
        ("fuel_gauge", _fuel_gauge),
        ("secure_element", _secure_element),
    ]
    if devices.config.supervisor is not None:
        probes.append(("supervisor", _supervisor))
    reports = []
    for name, probe in probes:
        try:
            reports.append(DeviceReport(name, True, probe(devices)))
        except HalError as exc:
            reports.append(DeviceReport(name, False, error=f"{type(exc).__name__}: {exc}"))
        except (OSError, ValueError) as exc:
            reports.append(DeviceReport(name, False, error=f"{type(exc).__name__}: {exc}"))
    return SelfTestReport(devices.config.source, reports)


def _fingerprint(devices: Devices) -> dict[str, Any]:
    info = devices.fingerprint.open()
    return {
        "model": info.model,
        "image": f"{info.width}x{info.height}",
        "ppi": info.ppi,
        "bits_per_pixel": info.bits_per_pixel,
        **{k: v for k, v in info.details.items()},
    }


def _camera(devices: Devices) -> dict[str, Any]:
    camera = devices.camera
    info = camera.open()
    frame = camera.capture()
    return {
        "model": info.model,
        "frame": f"{info.width}x{info.height}",
        "mean_level": round(float(np.mean(frame.pixels)), 1),
    }


def _modem(devices: Devices, wait_s: float) -> dict[str, Any]:
    modem = devices.modem
    registered = threading.Event()

    def on_link(state: LinkState) -> None:
        if state.registration.registered:
            registered.set()

    modem.subscribe(on_link)
    identity = modem.open()
    sim = modem.sim_status()
    pin = devices.config.modem.sim_pin
    if sim == "SIM PIN" and pin:
        modem.unlock_sim(pin)
        sim = modem.sim_status()
    link = modem.refresh()
    deadline = time.monotonic() + wait_s
    while not link.registration.registered and time.monotonic() < deadline:
        registered.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        link = modem.refresh()
    facts: dict[str, Any] = {
        "manufacturer": identity.manufacturer,
        "model": identity.model,
        "revision": identity.revision,
        "imei": identity.imei,
        "sim": sim,
        "registration": link.registration.name.lower(),
        "signal_dbm": link.signal_dbm,
        "operator": link.operator,
        "access_technology": link.access_technology,
    }
    try:
        fix = modem.gnss_fix()
        facts["gnss"] = f"{fix.latitude:.5f},{fix.longitude:.5f}"
    except NoGnssFix:
        facts["gnss"] = "no fix"
    return facts


def _fuel_gauge(devices: Devices) -> dict[str, Any]:
    gauge = devices.fuel_gauge
    part = gauge.open()
    status = gauge.read()
    return {
        "part": part,
        "battery_percent": status.soc_percent,
        "voltage_v": status.voltage_v,
        "rate_percent_per_h": status.rate_percent_per_h,
        "low": status.low,
    }


def _secure_element(devices: Devices) -> dict[str, Any]:
    se = devices.secure_element
    info = se.info()
    slot = devices.config.secure_element.identity_slot
    public = se.public_key(slot)
    return {
        "model": info.model,
        "serial": info.serial,
        "locked": info.locked,
        "identity_slot": slot,
        "public_key_sha256": hashlib.sha256(public).hexdigest()[:16],
        "public_key_pem": public_key_pem(public),
    }


def _supervisor(devices: Devices) -> dict[str, Any]:
    supervisor = devices.supervisor
    assert supervisor is not None
    info = supervisor.open()
    battery = supervisor.battery()
    tamper = supervisor.tamper()
    return {
        "firmware": info.firmware,
        "protocol": f"{info.protocol[0]}.{info.protocol[1]}",
        "battery_mv": battery.millivolts,
        "battery_percent": battery.percent,
        "charger": battery.charger,
        "wake_reason": supervisor.wake_reason(),
        "tamper": "LATCHED: the case was opened" if tamper.latched else "closed",
        "tamper_count": tamper.count,
    }
