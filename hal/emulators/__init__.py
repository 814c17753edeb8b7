"""Wire-faithful emulators of every device of the handheld.

Each emulator speaks the device's real protocol on the real kind of transport
(a pseudo-terminal for UART devices, an I2C transaction bus for the fuel gauge
and secure element) so that the shipping drivers, and independent client
libraries, work against it unchanged. Each exposes fault knobs that the
hardware-in-the-loop rig (``hil``) turns.
"""
