"""A whole system on loopback (Mosquitto, central gateway) and emulated handhelds."""

from __future__ import annotations

import itertools
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from firmware.app import Handheld
from hil.device_run import secure_element
from hil.system import System
from wire.answer import Answer

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: './dev test' installs it")
    s = System.start(tmp_path_factory.mktemp("system"))
    yield s
    s.stop()


@dataclass
class Device:
    app: Handheld
    answers: list[Answer] = field(default_factory=list)
    event: threading.Event = field(default_factory=threading.Event)

    def wait_answers(self, count: int, timeout: float) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while len(self.answers) < count and time.monotonic() < deadline:
            self.event.wait(0.1)
            self.event.clear()
        return len(self.answers) >= count

    def report(self, system: System) -> str:
        """Where the records stand, for an assertion message: a rare failure (a record that
        waits for the re-send) is explained from this, not re-run until it shows again."""
        uplink = self.app.uplink
        gateways = ", ".join(
            f"{g.instance}: {g.processed} processed, "
            f"{'connected' if g.connected.is_set() else 'NOT connected'}"
            for g in system.gateways
        )
        return (
            f"{len(self.answers)} answered, {len(self.app.outbox)} in the outbox, "
            f"{uplink.acked} acknowledged by the broker, {uplink.connects} connects; "
            f"gateways: {gateways or 'none'}\nbroker log:\n{system.broker.log_tail()}"
        )


@pytest.fixture
def new_device(system: System) -> Iterator[Callable[..., Device]]:
    made: list[Device] = []

    def make(**options: Any) -> Device:
        holder: list[Device] = []

        def on_answer(answer: Answer) -> None:
            holder[0].answers.append(answer)
            holder[0].event.set()

        app = system.handheld(f"hh-{next(_ids):04d}", secure_element(), on_answer, **options)
        device = Device(app)
        holder.append(device)
        made.append(device)
        return device

    yield make
    for device in made:
        device.app.stop()
