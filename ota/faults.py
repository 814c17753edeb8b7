"""Named points in the install where the test rig can cut the power.

``HOTSPOT_OTA_KILL_AT=STEP`` makes the process kill itself with SIGKILL the
first time it reaches ``checkpoint(STEP)`` — as abrupt as a pulled battery:
no ``finally``, no flush, no atexit. The kill-at-every-step tests use it to
prove that each step leaves a bootable slot and an intact outbox. Unset (as
on every device), a checkpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "HOTSPOT_OTA_KILL_AT"
STEPS = ("download", "verify", "unpack", "switch", "first-boot", "commit")


def checkpoint(step: str) -> None:
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
