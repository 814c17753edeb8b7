"""The interface's HTTP server: uvicorn on 127.0.0.1 in a thread of the device service."""

from __future__ import annotations

import threading
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

KEEP_ALIVE_S = 330
"""How long an idle browser connection stays open. Longer than Chromium reuses an idle
connection (300 s): with uvicorn's default of 5 s, a request sent on a connection the server
is closing at that instant fails in the browser ("Failed to fetch": a POST is not resent),
which an officer could meet after pausing a few seconds between two taps."""


class InterfaceError(Exception):
    """The interface could not start (the port is taken)."""


class InterfaceServer:
    def __init__(
        self, app: Starlette, port: int, on_stop: Callable[[], None] = lambda: None
    ) -> None:
        """``on_stop`` runs first when the server stops (it ends the open event streams)."""
        self._on_stop = on_stop
        self.port = port
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="interface", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self, timeout_s: float = 15.0) -> InterfaceServer:
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < timeout_s:
            self._thread.join(0.05)
            waited += 0.05
        if not self._server.started:
            raise InterfaceError(
                f"the officer interface could not listen on 127.0.0.1:{self.port} (is another "
                "program using the port? set [interface] port)"
            )
        return self

    def stop(self) -> None:
        self._on_stop()
        self._server.should_exit = True
        self._thread.join(timeout=10)
