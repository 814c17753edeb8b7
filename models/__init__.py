"""TFLite models with their build scripts, model cards and checksums (issues 3 and 5).

Empty until those issues land.
"""
