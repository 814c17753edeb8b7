"""The hardware-in-the-loop rig: emulated (or real) peripherals, fault knobs, scenarios.

The rig drives the firmware from outside, as a bench would: it starts the
emulators on pseudo-terminals and a socket-served I2C bus, writes a device
configuration that points the firmware at them, runs the firmware as its own
process and reads what it prints. It never reaches into firmware internals.
"""
