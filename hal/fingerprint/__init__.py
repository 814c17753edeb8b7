"""Fingerprint sensors: the protocol, the R30x UART driver and the USB-SDK seam."""

from hal.fingerprint.protocol import FingerImage, FingerprintSensor, ImageStream, SensorInfo

__all__ = ["FingerImage", "FingerprintSensor", "ImageStream", "SensorInfo"]
