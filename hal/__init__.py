"""Hardware abstraction layer of the HOTSPOT handheld.

Split as in labgrid: a *protocol* says what a device kind can do
(``hal.fingerprint.protocol``), a *resource* says where a device is
(``hal.resources``), a *driver* says how to speak to it (one small module per
driver). Every driver receives its transport by injection, so the same driver
runs against the real part and against the wire-faithful emulators in
``hal.emulators``.

This package imports nothing else of the project.
"""
