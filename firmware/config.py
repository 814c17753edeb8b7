"""Device configuration: one TOML file holds everything a handheld needs.

Sections (``firmware/default.toml`` is the emulated example, README shows a real one):

* ``[device]`` its id and whether it runs on emulated hardware (``emulated``,
  always stated: an emulated handheld is a training device, and says so on
  screen and in every record);
* the hardware: ``[fingerprint]``, ``[camera]``, ``[modem]``, ``[fuel_gauge]``,
  ``[secure_element]`` (driver and resource of each part);
* the service: ``[uplink]`` (broker, fleet CA, client certificate and key),
  ``[central]`` (the central public keys), ``[interface]`` (languages, idle
  lock, PIN lockout), ``[officers]`` (id = PIN hash), ``[operation]`` and
  ``[telemetry]``.

The file is validated when loaded, so a typo, a missing section or a missing
file is reported with the file, the section and the key before any device is
touched. Nothing is silently defaulted to an emulator: a resource is emulated
only where the file says ``"emulated"`` and ``[device] emulated = true``, or
where ``--emulated`` was given on the command line (:func:`load` with
``emulated=True``), which fills the hardware sections that are absent with
in-process emulators.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from hal.errors import ConfigurationError
from wire import topics

EMULATED = "emulated"
LANGUAGES = ("en", "fr", "sq", "mk", "sr_Latn", "sr_Cyrl", "bs", "ro", "ar")
"""The officer interface's languages (gettext catalogues shipped in ``firmware/i18n``)."""
MAX_THREADS = 4
"""A Raspberry Pi 4 or 5 has four cores."""
OFFICER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _help(text: str) -> Any:
    return field(metadata={"help": text})


@dataclass(frozen=True)
class DeviceSection:
    emulated: bool = _help("true on a training device with emulated hardware, else false")
    id: str = ""
    """The device id (its MQTT client id and certificate name); the service needs it."""
    data_dir: str = "/var/lib/hotspot/data"
    capture_marker: str = "/run/hotspot/capturing"
    """Exists while a capture runs; the update agent waits for it to go (tmpfs)."""


@dataclass(frozen=True)
class FingerprintConfig:
    port: str = _help("the sensor's serial port, e.g. /dev/ttyAMA0")
    driver: str = "r30x"
    baudrate: int = 57600
    fast_baudrate: int = 115200
    password: int = 0
    address: int = 0xFFFFFFFF
    capture_timeout_s: float = 10.0
    threads: int = 1
    """LiteRT threads for the minutiae network (see ``models.runtime``)."""


@dataclass(frozen=True)
class CameraConfig:
    index: int | str = _help("the libcamera camera number, e.g. 0")
    driver: str = "picamera2"
    width: int = 640
    height: int = 480
    token_image: bool = False
    """Put an ICAO token face image (small JPEG) in each record beside the embedding."""


@dataclass(frozen=True)
class ModemConfig:
    port: str = _help("the modem's AT port, e.g. /dev/ttyUSB2")
    driver: str = "quectel"
    apn: str = "internet"
    sim_pin: str = ""
    scenario: str = "default"


@dataclass(frozen=True)
class FuelGaugeConfig:
    bus: int | str = _help("the I2C bus number, e.g. 1")
    driver: str = "max17048"
    address: int = 0x36


@dataclass(frozen=True)
class SecureElementConfig:
    bus: int | str = _help("the I2C bus number, e.g. 1")
    driver: str = "atecc608"
    address: int = 0x60
    identity_slot: int = 0
    softkey_dir: str = "/var/lib/hotspot/keys"


@dataclass(frozen=True)
class SupervisorConfig:
    """The supervisor microcontroller, where the handheld has one (the section is optional)."""

    bus: int | str = _help("the I2C bus number, e.g. 1")
    driver: str = "rp2040"
    address: int = 0x1A
    heartbeat_timeout_s: int = 60
    """Silence after which the supervisor power-cycles the main board."""
    shutdown_grace_s: int = 30
    """Between the supervisor's shutdown request and its power cut."""
    poweroff_command: str = "systemctl poweroff"
    """Run by the service when the officer holds the power button or the battery runs out
    ("" runs nothing: the supervisor cuts the power after the grace period)."""


@dataclass(frozen=True)
class UplinkSection:
    host: str = _help("the broker's host name or address")
    port: int = _help("the broker's TLS port, e.g. 8883")
    ca: str = _help("the fleet CA certificate (PEM)")
    cert: str = _help("this device's client certificate (PEM)")
    key: str = _help("this device's TLS key (PEM, readable by the service only)")
    window: int = 5
    resend_after_s: float = 30.0


@dataclass(frozen=True)
class CentralSection:
    records_public: str = _help("the central key records are encrypted to (PEM)")
    answers_public: str = _help("the central key that signs answers (PEM)")


@dataclass(frozen=True)
class InterfaceSection:
    port: int = 8080
    """The officer interface listens on 127.0.0.1 at this port, never on another address."""
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))
    language: str = ""
    """The language before an officer picks one; "" follows the browser."""
    idle_lock_s: float = 120.0
    pin_attempts: int = 5
    lockout_s: float = 300.0


@dataclass(frozen=True)
class OperationSection:
    id: str = ""
    name: str = ""
    site: str = ""


@dataclass(frozen=True)
class TelemetrySection:
    period_s: float = 60.0


@dataclass(frozen=True)
class UpdateSection:
    """Over-the-air updates (read by ``hotspot ota`` through ``device_config`` in ota.toml)."""

    repository: str = ""
    """Base URL of the update repository ("" until the fleet has one)."""
    group: str = "default"
    """The rollout group this device follows."""
    hardware: str = "hotspot-h1"
    min_battery_percent: float = 30.0
    floor: str = "file"
    """Anti-rollback floor: "secure-element" (the chip's monotonic counter) or "file"."""
    health_deadline_s: float = 120.0


HARDWARE: dict[str, type[Any]] = {
    "fingerprint": FingerprintConfig,
    "camera": CameraConfig,
    "modem": ModemConfig,
    "fuel_gauge": FuelGaugeConfig,
    "secure_element": SecureElementConfig,
}
SERVICE: dict[str, type[Any]] = {
    "supervisor": SupervisorConfig,
    "uplink": UplinkSection,
    "central": CentralSection,
    "interface": InterfaceSection,
    "operation": OperationSection,
    "telemetry": TelemetrySection,
    "update": UpdateSection,
}
_RESOURCE_KEYS = {"fingerprint": "port", "camera": "index", "modem": "port",
                  "fuel_gauge": "bus", "secure_element": "bus"}  # fmt: skip


@dataclass(frozen=True)
class DeviceConfig:
    fingerprint: FingerprintConfig
    camera: CameraConfig
    modem: ModemConfig
    fuel_gauge: FuelGaugeConfig
    secure_element: SecureElementConfig
    device: DeviceSection = DeviceSection(emulated=True)
    supervisor: SupervisorConfig | None = None
    """None: this handheld has no supervisor microcontroller."""
    uplink: UplinkSection | None = None
    central: CentralSection | None = None
    interface: InterfaceSection = InterfaceSection()
    operation: OperationSection = OperationSection()
    telemetry: TelemetrySection = TelemetrySection()
    update: UpdateSection | None = None
    officers: dict[str, str] = field(default_factory=dict)
    """Officer id -> PIN hash (``hotspot device officer add`` writes one)."""
    source: str = "<embedded default>"

    @property
    def training(self) -> bool:
        """Emulated hardware: every record is flagged, the interface says TRAINING."""
        return self.device.emulated

    def path(self, value: str) -> Path:
        """A path from the file, relative to the file's own folder."""
        path = Path(value)
        if path.is_absolute() or self.source.startswith("<"):
            return path
        return Path(self.source).parent / path

    def require_service(self) -> None:
        """Refuse what the device service cannot run without, naming what to fix."""
        if not self.device.id:
            raise ConfigurationError(
                f"{self.source} [device]: missing key 'id' (this handheld's device id)"
            )
        for name in ("uplink", "central"):
            section = getattr(self, name)
            if section is None:
                needed = ", ".join(f.name for f in fields(SERVICE[name]) if _required(f))
                raise ConfigurationError(
                    f"{self.source}: section [{name}] is missing; the device service needs "
                    f"it ({needed})"
                )
            for f in fields(section):
                if f.name in ("ca", "cert", "key", "records_public", "answers_public"):
                    path = self.path(getattr(section, f.name))
                    if not path.is_file():
                        raise ConfigurationError(
                            f"{self.source} [{name}] {f.name}: {path} does not exist or is "
                            "not a file"
                        )
        if not self.officers:
            raise ConfigurationError(
                f"{self.source}: section [officers] is empty: nobody could sign in; add an "
                "officer with 'hotspot device officer add --config FILE ID'"
            )


def default_text() -> str:
    return resources.files("firmware").joinpath("default.toml").read_text(encoding="utf-8")


def load(path: str | Path | None = None, *, emulated: bool = False) -> DeviceConfig:
    """Load ``path``; ``emulated`` (``--emulated``) fills absent hardware with emulators.

    Without a path the embedded default is loaded, which is the emulated rig and
    says so (``[device] emulated = true``); callers that run for an officer ask
    for a path or ``--emulated`` explicitly (see ``firmware.cli``).
    """
    if path is None:
        return parse(default_text(), "<embedded default>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read configuration {path}: {exc.strerror}") from exc
    return parse(text, str(path), emulated=emulated)


def parse(text: str, source: str, *, emulated: bool = False) -> DeviceConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid TOML: {exc}") from exc
    known = {"device", "officers", *HARDWARE, *SERVICE}
    unknown = set(data) - known
    if unknown:
        raise ConfigurationError(
            f"{source}: unknown section(s) {sorted(unknown)}; known: {sorted(known)}"
        )
    raw_device = dict(data.get("device", {}))
    if emulated:
        raw_device["emulated"] = True
    elif "device" not in data:
        raise ConfigurationError(
            f"{source}: section [device] is missing; say 'emulated = false' for real hardware "
            "(and the device 'id'), or run with --emulated for training"
        )
    device = _section(DeviceSection, raw_device, f"{source} [device]")
    if device.id:
        try:
            topics.check_device_id(device.id)
        except ValueError as exc:
            raise ConfigurationError(f"{source} [device] id: {exc}") from None
    sections: dict[str, Any] = {}
    for name, cls in HARDWARE.items():
        values = data.get(name)
        if (
            name == "secure_element"
            and isinstance(values, dict)
            and values.get("driver") == ("softkey")
        ):
            values = {"bus": "", **values}  # a key store in files: no bus, its folder instead
        if values is None:
            if not emulated:
                raise ConfigurationError(
                    f"{source}: section [{name}] is missing; name the part's "
                    f'{_RESOURCE_KEYS[name]} (or "emulated" on a training device)'
                )
            values = {_RESOURCE_KEYS[name]: EMULATED}
        section = _section(cls, values, f"{source} [{name}]")
        if name == "fingerprint" and not 1 <= section.threads <= MAX_THREADS:
            raise ConfigurationError(
                f"{source} [fingerprint] threads: {section.threads} is not 1-{MAX_THREADS} "
                "(the minutiae network's threads; 1 unless measured faster on this handheld)"
            )
        resource = getattr(section, _RESOURCE_KEYS[name])
        if resource == EMULATED and not device.emulated:
            raise ConfigurationError(
                f'{source} [{name}] {_RESOURCE_KEYS[name]} = "emulated" but [device] emulated '
                "is false: name the real part, or set emulated = true for a training device"
            )
        sections[name] = section
    for name, cls in SERVICE.items():
        if name in data:
            sections[name] = _section(cls, data[name], f"{source} [{name}]")
    supervisor = sections.get("supervisor")
    if supervisor is not None and supervisor.bus == EMULATED and not device.emulated:
        raise ConfigurationError(
            f'{source} [supervisor] bus = "emulated" but [device] emulated is false: name the '
            "real bus, or set emulated = true for a training device"
        )
    update = sections.get("update")
    if update is not None and update.floor not in ("file", "secure-element"):
        raise ConfigurationError(
            f'{source} [update] floor: {update.floor!r}; use "file" or "secure-element"'
        )
    interface = sections.get("interface", InterfaceSection())
    _check_interface(interface, f"{source} [interface]")
    officers = data.get("officers", {})
    for officer, pin_hash in officers.items():
        if not OFFICER_ID.match(officer) or not isinstance(pin_hash, str):
            raise ConfigurationError(
                f"{source} [officers] {officer!r}: an officer id is 1-64 letters, digits, '.', "
                "'_' or '-', and its value a PIN hash ('hotspot device officer add' writes it)"
            )
    return DeviceConfig(source=source, device=device, officers=dict(officers), **sections)


def _check_interface(section: InterfaceSection, where: str) -> None:
    unknown = [x for x in section.languages if x not in LANGUAGES]
    if unknown or not section.languages:
        raise ConfigurationError(
            f"{where} languages: {unknown or 'none'} not shipped; choose from {list(LANGUAGES)}"
        )
    if section.language and section.language not in section.languages:
        raise ConfigurationError(f"{where} language: {section.language!r} is not in languages")
    if not 1 <= section.port <= 65535:
        raise ConfigurationError(f"{where} port: {section.port} is not a TCP port (1-65535)")
    if section.idle_lock_s <= 0 or section.pin_attempts < 1 or section.lockout_s < 0:
        raise ConfigurationError(
            f"{where}: idle_lock_s must be positive, pin_attempts at least 1, lockout_s >= 0"
        )


def _required(f: dataclasses.Field[Any]) -> bool:
    return "help" in f.metadata


def _section(cls: type[Any], values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigurationError(f"{where}: must be a table of keys")
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}"
        )
    for f in known.values():
        if _required(f) and f.name not in values:
            raise ConfigurationError(f"{where}: missing key '{f.name}' ({f.metadata['help']})")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        _check_type(value, hints[key], where, key)
    return cls(**values)


def _check_type(value: Any, hint: Any, where: str, key: str) -> None:
    if hint == int | str:
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        expected = "a number or a string"
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        expected = "a number"
    elif hint is bool:
        ok, expected = isinstance(value, bool), "true or false"
    elif hint is int:
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "int"
    elif typing.get_origin(hint) is list:
        ok = isinstance(value, list) and all(isinstance(x, str) for x in value)
        expected = "a list of strings"
    else:
        ok, expected = isinstance(value, str), "str"
    if not ok:
        raise ConfigurationError(
            f"{where}: {key} must be {expected}, got {type(value).__name__} {value!r}"
        )
