"""Builds the handheld's devices from the configuration.

This is the only firmware module that names concrete drivers and emulators.
For a resource set to ``"emulated"`` it starts the emulator and connects the
*real* driver to it over the real transport, so the emulated rig runs the code
that ships. Everything opened here is closed by :meth:`Devices.close`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from typing import Any

from firmware.config import DeviceConfig
from hal.camera.protocol import Camera
from hal.errors import ConfigurationError, SecureElementError, SensorTimeout
from hal.fingerprint.protocol import FingerprintSensor
from hal.i2c import I2CTransport, open_bus
from hal.modem.protocol import Modem
from hal.power.protocol import FuelGauge
from hal.secure.protocol import SecureElement
from hal.serialport import open_serial
from hal.supervisor.protocol import Supervisor


class Devices:
    """Lazily built devices of one configuration; each is created on first use."""

    def __init__(self, config: DeviceConfig, *, realtime_emulation: bool = False) -> None:
        self.config = config
        self.realtime_emulation = realtime_emulation
        self._stack = contextlib.ExitStack()
        self._cache: dict[str, Any] = {}
        self._emulated_bus: Any = None
        self.emulators: dict[str, Any] = {}
        """Emulators started for this configuration, by device name (for the rig's knobs)."""

    def __enter__(self) -> Devices:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()
        self._cache.clear()

    @property
    def fingerprint(self) -> FingerprintSensor:
        return self._get("fingerprint", self._make_fingerprint)  # type: ignore[no-any-return]

    @property
    def camera(self) -> Camera:
        return self._get("camera", self._make_camera)  # type: ignore[no-any-return]

    @property
    def modem(self) -> Modem:
        return self._get("modem", self._make_modem)  # type: ignore[no-any-return]

    @property
    def fuel_gauge(self) -> FuelGauge:
        return self._get("fuel_gauge", self._make_fuel_gauge)  # type: ignore[no-any-return]

    @property
    def secure_element(self) -> SecureElement:
        return self._get("secure_element", self._make_secure_element)  # type: ignore[no-any-return]

    @property
    def supervisor(self) -> Supervisor | None:
        """The supervisor microcontroller, or None where the configuration names none."""
        if self.config.supervisor is None:
            return None
        return self._get("supervisor", self._make_supervisor)  # type: ignore[no-any-return]

    def _get(self, name: str, factory: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = factory()
        return self._cache[name]

    # -- fingerprint -------------------------------------------------------------------

    def _make_fingerprint(self) -> FingerprintSensor:
        cfg = self.config.fingerprint
        if cfg.driver == "fap-sdk-emulated":
            from hal.emulators.fap_sdk import FapSdkEmulator
            from hal.fingerprint.vendor_sdk import VendorSdkSensor

            sdk = FapSdkEmulator()
            self.emulators["fingerprint"] = sdk
            sensor = VendorSdkSensor(sdk)
            sensor.open()
            return sensor
        if cfg.driver != "r30x":
            raise ConfigurationError(f"unknown fingerprint driver {cfg.driver!r}; use r30x")
        from hal.fingerprint.r30x import R30xSensor

        path = cfg.port
        if path == "emulated":
            from hal.emulators.r30x import R30xEmulator

            emu = R30xEmulator(
                baudrate=cfg.baudrate,
                password=cfg.password,
                address=cfg.address,
                realtime=self.realtime_emulation,
            ).start()
            self._stack.callback(emu.stop)
            self.emulators["fingerprint"] = emu
            path = emu.path
        port = open_serial(path, cfg.baudrate, 0.05)
        self._stack.callback(port.close)
        r30x = R30xSensor(port, address=cfg.address, password=cfg.password)
        # The module keeps a changed baud rate in flash: try the factory rate, then the fast one.
        rates = [cfg.baudrate] + ([cfg.fast_baudrate] if cfg.fast_baudrate else [])
        last: SensorTimeout | None = None
        for rate in rates:
            port.baudrate = rate
            try:
                r30x.open()
                break
            except SensorTimeout as exc:
                last = exc
        else:
            assert last is not None
            raise last
        if cfg.fast_baudrate and port.baudrate != cfg.fast_baudrate:
            r30x.set_baudrate(cfg.fast_baudrate)
        return r30x

    # -- camera --------------------------------------------------------------------------

    def _make_camera(self) -> Camera:
        cfg = self.config.camera
        if cfg.driver != "picamera2":
            raise ConfigurationError(f"unknown camera driver {cfg.driver!r}; use picamera2")
        from hal.camera.picamera2_driver import Picamera2Camera

        index = cfg.index
        if index == "emulated":
            from hal.emulators import camera as emulated_camera

            emulated_camera.install()
            self.emulators["camera"] = emulated_camera.EmulatedPicamera2
            index = 0
        if not isinstance(index, int):
            raise ConfigurationError(f"camera index {index!r} must be a number or 'emulated'")
        camera = Picamera2Camera(index, cfg.width, cfg.height)
        self._stack.callback(camera.close)
        return camera

    # -- modem -----------------------------------------------------------------------------

    def _make_modem(self) -> Modem:
        cfg = self.config.modem
        from hal.modem.dialects import DIALECTS
        from hal.modem.driver import AtModem

        if cfg.driver not in DIALECTS:
            raise ConfigurationError(
                f"unknown modem driver {cfg.driver!r}; use one of {sorted(DIALECTS)}"
            )
        path = cfg.port
        if path == "emulated":
            from hal.emulators.modem import ModemEmulator

            emu = ModemEmulator(dialect=cfg.driver, scenario=cfg.scenario).start()
            self._stack.callback(emu.stop)
            self.emulators["modem"] = emu
            path = emu.path
        port = open_serial(path, 115200, 0.1)
        self._stack.callback(port.close)
        modem = AtModem(port, DIALECTS[cfg.driver]())
        self._stack.callback(modem.close)
        return modem

    # -- I2C devices ----------------------------------------------------------------------

    def _transport(self, bus: int | str, name: str) -> I2CTransport:
        if bus == "emulated":
            if self._emulated_bus is None:
                from hal.emulators.i2cbus import EmulatedI2CBus

                self._emulated_bus = EmulatedI2CBus()
                self.emulators["i2c"] = self._emulated_bus
            self._attach_emulated(name)
            return I2CTransport(self._emulated_bus, "emulated I2C bus")
        handle = open_bus(bus)
        self._stack.callback(handle.close)
        return I2CTransport(handle, f"I2C bus {bus}")

    def _attach_emulated(self, name: str) -> None:
        if name == "supervisor":
            from supervisor.emulator import SupervisorEmulator

            assert self.config.supervisor is not None
            emulator = SupervisorEmulator(address=self.config.supervisor.address).start()
            self._stack.callback(emulator.stop)
            self._emulated_bus.attach(self.config.supervisor.address, emulator)
            self.emulators["supervisor"] = emulator
        elif name == "fuel_gauge":
            from hal.emulators.max17048 import Max17048Emulator

            gauge = Max17048Emulator()
            self._emulated_bus.attach(self.config.fuel_gauge.address, gauge)
            self.emulators["fuel_gauge"] = gauge
        else:
            from hal.emulators.atecc608 import provisioned

            chip = provisioned(self.config.secure_element.identity_slot)
            self._emulated_bus.attach(self.config.secure_element.address, chip)
            self.emulators["secure_element"] = chip

    def _make_fuel_gauge(self) -> FuelGauge:
        cfg = self.config.fuel_gauge
        if cfg.driver != "max17048":
            raise ConfigurationError(f"unknown fuel-gauge driver {cfg.driver!r}; use max17048")
        from hal.power.max17048 import Max17048

        return Max17048(self._transport(cfg.bus, "fuel_gauge"), cfg.address)

    def _make_supervisor(self) -> Supervisor:
        cfg = self.config.supervisor
        assert cfg is not None
        if cfg.driver != "rp2040":
            raise ConfigurationError(f"unknown supervisor driver {cfg.driver!r}; use rp2040")
        from hal.supervisor.rp2040 import Rp2040Supervisor

        return Rp2040Supervisor(self._transport(cfg.bus, "supervisor"), cfg.address)

    def _make_secure_element(self) -> SecureElement:
        cfg = self.config.secure_element
        if cfg.driver == "softkey":
            from hal.secure.softkey import SoftKeyStore

            directory = cfg.softkey_dir
            if directory == "emulated":
                tmp = tempfile.TemporaryDirectory(prefix="hotspot-keys-")
                self._stack.callback(tmp.cleanup)
                directory = tmp.name
            store = SoftKeyStore(directory)
            try:
                store.public_key(cfg.identity_slot)
            except SecureElementError:  # first boot: create the identity key
                store.generate_key(cfg.identity_slot)
            return store
        if cfg.driver != "atecc608":
            raise ConfigurationError(
                f"unknown secure-element driver {cfg.driver!r}; use atecc608 or softkey"
            )
        from hal.secure.atecc608 import Atecc608

        return Atecc608(self._transport(cfg.bus, "secure_element"), cfg.address)
