"""The link supervisor: bring the data context up whenever the network registers us.

Registration arrives as a URC at any moment (coverage returns in the valley);
the PDP context does not come up by itself. The supervisor reacts to the
modem's link events — never blocking the URC thread — and polls now and then
because a missed URC must not leave the device offline for long.
"""

from __future__ import annotations

import logging
import threading
import time

from hal.errors import HalError
from hal.modem.protocol import LinkState, Modem

log = logging.getLogger(__name__)


class LinkSupervisor:
    def __init__(self, modem: Modem, apn: str, poll_s: float = 10.0) -> None:
        self._modem = modem
        self._apn = apn
        self._poll = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="link", daemon=True)
        self.beat = time.monotonic()
        """When the loop last went round (an AT command that never returns stops it)."""
        modem.subscribe(self._on_link)

    def start(self) -> LinkSupervisor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _on_link(self, state: LinkState) -> None:
        if state.registration.registered and not state.up:
            self._wake.set()

    @property
    def poll_s(self) -> float:
        return self._poll

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat = time.monotonic()
            try:
                state = self._modem.link
                if state.registration.registered and not state.up:
                    self._modem.connect(self._apn)
                else:
                    self._modem.refresh()
            except HalError as exc:
                log.warning("link supervisor: %s", exc)
            self._wake.wait(self._poll)
            self._wake.clear()
