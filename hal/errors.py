"""One exception hierarchy for everything the hardware can do wrong.

Callers catch :class:`HalError` (or a device-kind subclass) and never a
transport's own exception: drivers translate ``OSError``, ``serial`` errors and
protocol violations into these types, so a fault in the field is always a typed
error with a message that says what happened and what to do, never a hang.
"""

from __future__ import annotations


class HalError(Exception):
    """Base of every hardware error."""


class DeviceTimeout(HalError):
    """The device did not answer within the deadline."""


class ProtocolError(HalError):
    """The device answered, but the bytes violate its wire protocol."""


class ChecksumError(ProtocolError):
    """A frame arrived whole but its checksum or CRC does not match."""


class DeviceNotFound(HalError):
    """Nothing answered at the configured resource (port, bus address, camera)."""


class BusError(HalError):
    """The bus refused the transfer (I2C NACK, serial port gone)."""


class ConfigurationError(HalError):
    """A resource or driver was configured with values it cannot use."""


# Fingerprint sensor -------------------------------------------------------


class FingerprintError(HalError):
    """Base of fingerprint-sensor errors."""


class SensorError(FingerprintError):
    """The sensor answered with a non-OK confirmation code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"fingerprint sensor error 0x{code:02X}: {message}")
        self.code = code


class NoFinger(SensorError):
    """No finger was on the sensor before the capture deadline."""


class CaptureFailed(SensorError):
    """The sensor saw a finger but could not form an image."""


class SensorTimeout(FingerprintError, DeviceTimeout):
    """The sensor stopped answering."""


class SensorProtocolError(FingerprintError, ProtocolError):
    """A packet from the sensor is malformed (bad header, length, PID)."""


class SensorChecksumError(SensorProtocolError, ChecksumError):
    """A packet from the sensor has a wrong checksum."""


# Modem ----------------------------------------------------------------------


class ModemError(HalError):
    """Base of modem errors."""


class ModemTimeout(ModemError, DeviceTimeout):
    """An AT command got no final result code in time."""


class ModemProtocolError(ModemError, ProtocolError):
    """The modem's reply cannot be parsed (garbage, truncated line)."""


class CommandError(ModemError):
    """The modem answered ERROR, +CME ERROR or +CMS ERROR."""

    def __init__(self, command: str, code: int | None, text: str) -> None:
        detail = f"{code}: {text}" if code is not None else text
        super().__init__(f"{command} failed ({detail})")
        self.command = command
        self.code = code
        self.text = text


class SimError(CommandError):
    """The SIM is missing, locked or failed (+CME ERROR 10..18)."""


class NoGnssFix(CommandError):
    """The GNSS receiver has no position fix yet (+CME ERROR 516)."""


# I2C devices ------------------------------------------------------------------


class FuelGaugeError(HalError):
    """Base of fuel-gauge errors."""


class SecureElementError(HalError):
    """Base of secure-element errors."""


class SecureElementStatus(SecureElementError):
    """The secure element answered with a non-zero status byte."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"secure element status 0x{status:02X}: {message}")
        self.status = status


class CameraError(HalError):
    """Base of camera errors."""


# Supervisor microcontroller ------------------------------------------------------


class SupervisorError(HalError):
    """Base of the supervisor's errors."""


class SupervisorCrcError(SupervisorError, ChecksumError):
    """A response from the supervisor fails its CRC (noise on the bus, a damaged frame)."""


class SupervisorVersionError(SupervisorError):
    """The supervisor speaks another major version of the protocol."""


class SupervisorRefused(SupervisorError):
    """The supervisor answered a command with an error result (``reason`` names it)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
