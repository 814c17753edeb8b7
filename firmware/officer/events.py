"""Events from the application to whoever shows it: a small thread-safe hub.

The application's threads (capture, uplink, status) publish; each listener (a
browser's event stream, a test) gets every event in order through its own
callback, which must not block: the web layer's callback only hands the event
to its event loop. Event data are plain JSON-able values with message ids for
texts, never translated strings: each listener translates into its own
officer's language.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]


Listener = Callable[[Event], None]


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, name: str, **data: Any) -> None:
        event = Event(name, data)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # one broken listener must not starve the others
                log.exception("an event listener failed on %s", name)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._listeners)
