"""Biometric processing on the device: templates from captures."""
