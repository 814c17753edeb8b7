"""Face on the device: detect, landmarks, quality, alignment, embedding, token image.

The chain (``pipeline.FaceAnalyzer``) runs on every preview frame; a
``pipeline.CaptureWindow`` keeps the best frame of a capture and turns it into
the record's compact embedding and, when configured, an ICAO token image.
Nothing here logs or writes pixels: biometric data stays in memory.
"""
