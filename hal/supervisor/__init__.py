"""The supervisor microcontroller (RP2040, MicroPython): power, tamper, alerts, a watchdog."""
