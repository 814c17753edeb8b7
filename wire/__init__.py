"""The wire schema shared by the device and the central gateway.

This package is the only code both sides import: the check record and the
answer (``record``), their sealing with COSE (``envelope``) and the MQTT
topics (``topics``). It imports nothing else of the project.
"""
