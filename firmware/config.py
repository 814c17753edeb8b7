"""Device configuration: a TOML file, or the embedded default (the emulated rig).

The configuration is validated when loaded, so a typo in the field is reported
with the file, the section and the key, before any device is touched.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from hal.errors import ConfigurationError


@dataclass(frozen=True)
class FingerprintConfig:
    driver: str = "r30x"
    port: str = "emulated"
    baudrate: int = 57600
    fast_baudrate: int = 115200
    password: int = 0
    address: int = 0xFFFFFFFF
    capture_timeout_s: float = 10.0


@dataclass(frozen=True)
class CameraConfig:
    driver: str = "picamera2"
    index: int | str = "emulated"
    width: int = 640
    height: int = 480
    token_image: bool = False
    """Put an ICAO token face image (small JPEG) in each record beside the embedding."""


@dataclass(frozen=True)
class ModemConfig:
    driver: str = "quectel"
    port: str = "emulated"
    apn: str = "internet"
    sim_pin: str = ""
    scenario: str = "default"


@dataclass(frozen=True)
class FuelGaugeConfig:
    driver: str = "max17048"
    bus: int | str = "emulated"
    address: int = 0x36


@dataclass(frozen=True)
class SecureElementConfig:
    driver: str = "atecc608"
    bus: int | str = "emulated"
    address: int = 0x60
    identity_slot: int = 0
    softkey_dir: str = "/var/lib/hotspot/keys"


@dataclass(frozen=True)
class DeviceConfig:
    fingerprint: FingerprintConfig
    camera: CameraConfig
    modem: ModemConfig
    fuel_gauge: FuelGaugeConfig
    secure_element: SecureElementConfig
    source: str = "<embedded default>"


_SECTIONS: dict[str, type[Any]] = {
    "fingerprint": FingerprintConfig,
    "camera": CameraConfig,
    "modem": ModemConfig,
    "fuel_gauge": FuelGaugeConfig,
    "secure_element": SecureElementConfig,
}


def default_text() -> str:
    return resources.files("firmware").joinpath("default.toml").read_text(encoding="utf-8")


def load(path: str | Path | None = None) -> DeviceConfig:
    """Load ``path``, or the embedded default when ``path`` is None."""
    if path is None:
        return parse(default_text(), "<embedded default>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read configuration {path}: {exc.strerror}") from exc
    return parse(text, str(path))


def parse(text: str, source: str) -> DeviceConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid TOML: {exc}") from exc
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise ConfigurationError(
            f"{source}: unknown section(s) {sorted(unknown)}; known: {sorted(_SECTIONS)}"
        )
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        sections[name] = _section(cls, data.get(name, {}), f"{source} [{name}]")
    return DeviceConfig(source=source, **sections)


def _section(cls: type[Any], values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}"
        )
    defaults = cls()
    for key, value in values.items():
        expected = type(getattr(defaults, key))
        annotation = str(known[key].type)
        if "int | str" in annotation:
            if not isinstance(value, int | str):
                raise ConfigurationError(f"{where}: {key} must be a number or a string")
        elif expected is float:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigurationError(f"{where}: {key} must be a number, got {value!r}")
        elif not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigurationError(
                f"{where}: {key} must be {expected.__name__}, got {type(value).__name__} {value!r}"
            )
    return cls(**values)
