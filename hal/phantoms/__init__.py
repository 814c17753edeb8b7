"""Synthetic stimuli for the emulators and the tests, so nothing needs external data.

``fingerprint``: master prints and impressions with known identities.
``face``: camera frames built from an image that a package ships.
"""
