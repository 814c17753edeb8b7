"""The HOTSPOT device application.

It depends on the HAL's protocols only; the one module that names concrete
drivers and emulators is :mod:`firmware.wiring`, which builds the devices
from the configuration.
"""

__version__ = "0.1.0"
