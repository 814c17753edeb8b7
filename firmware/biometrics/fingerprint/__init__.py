"""Fingerprint on the device: streamed block quality, LEADER minutiae, ISO/IEC 19794-2 records.

``blocks`` measures each 16x16 block while rows stream in from the sensor;
``leader`` runs the minutiae network once the image is complete; ``quality``
turns both into a 0-100 score, a per-block map and plain-words guidance;
``pipeline`` ties them together for the capture screen.
"""
