"""The console's HTTPS server: uvicorn with the console's certificate from the fleet CA."""

from __future__ import annotations

import threading
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

KEEP_ALIVE_S = 330
"""How long an idle browser connection stays open. Longer than Chromium reuses an idle
connection (300 s): with uvicorn's default of 5 s, a request sent on a connection the server
is closing at that instant fails in the browser ("Failed to fetch": a POST is not resent),
which an officer could meet after pausing a few seconds between two taps."""


class ConsoleError(Exception):
    """The console could not start; the message says why."""


class ConsoleServer:
    def __init__(self, app: Starlette, host: str, port: int, cert: Path, key: Path) -> None:
        self.host, self.port = host, port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/"

    def start(self, timeout_s: float = 15.0) -> ConsoleServer:
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < timeout_s:
            self._thread.join(0.05)
            waited += 0.05
        if not self._server.started:
            raise ConsoleError(
                f"the console could not listen on {self.host}:{self.port} (is another program "
                "using the port? choose one with --port)"
            )
        return self

    def wait(self) -> None:
        self._thread.join()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
