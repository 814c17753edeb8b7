"""Cameras: the protocol, the picamera2 driver."""
