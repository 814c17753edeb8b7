"""A scripted officer: drives the device service's interface over HTTP, as the page does.

The demo and the benchmark use it to work a shift without a browser: the same
calls the page makes (``/api/...`` with the ``X-Hotspot`` header and the
session cookie) and the same event stream, read in a background thread.
The browser tests drive the real page instead.
"""

from __future__ import annotations

import http.cookiejar
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any


class OfficerError(Exception):
    """The interface refused a call, or an awaited event did not come."""


Event = tuple[str, dict[str, Any]]


class Officer:
    def __init__(self, url: str, language: str = "en") -> None:
        self.url = url.rstrip("/")
        self.language = language
        self._jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._jar))
        self.seen: list[Event] = []
        """Every event of the stream, in order."""
        self._cursor = 0
        self._arrived = threading.Condition()
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.status: dict[str, Any] = {}
        """The latest status (the stream's hello, then each status event)."""
        self._stream: Any = None
        self._reader: threading.Thread | None = None

    # -- calls ------------------------------------------------------------------------------

    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body or {}).encode(),
            headers={
                "Content-Type": "application/json",
                "X-Hotspot": "1",
                "Accept-Language": self.language,
            },
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=60) as response:
                data: dict[str, Any] = json.loads(response.read() or b"{}")
                return data
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("message", "")
            except ValueError:
                detail = ""
            raise OfficerError(f"{path}: {exc.code} {detail}".strip()) from None

    def sign_in(self, officer: str, pin: str) -> None:
        self.call("/api/sign-in", {"officer": officer, "pin": pin, "language": self.language})
        self.listen()

    # -- the event stream -------------------------------------------------------------------

    def listen(self) -> None:
        """(Re)open the event stream; events go to :attr:`events`."""
        self.close()
        request = urllib.request.Request(
            self.url + "/api/events", headers={"Accept-Language": self.language}
        )
        self._stream = self._opener.open(request, timeout=3600)
        with self._arrived:
            seen = len(self.seen)
        self._reader = threading.Thread(target=self._read, name="officer-events", daemon=True)
        self._reader.start()
        # The stream's first event (hello) carries the status: wait for it, so that a caller
        # reading .status right after signing in never sees the empty one from before.
        deadline = time.monotonic() + 30
        with self._arrived:
            while not any(name == "hello" for name, _ in self.seen[seen:]):
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    break
                self._arrived.wait(min(left, 0.5))

    def _read(self) -> None:
        name, data = "message", []
        try:
            for raw in self._stream:
                line = raw.decode("utf-8").rstrip("\n")
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    self._arrive(name, json.loads("\n".join(data)))
                    name, data = "message", []
        except (OSError, ValueError, AttributeError):
            return  # the stream was closed

    def _arrive(self, name: str, data: dict[str, Any]) -> None:
        if name == "hello":
            self.status = data["status"]
        elif name == "status":
            self.status = data
        for listener in list(self._listeners):
            listener(name, data)
        with self._arrived:
            self.seen.append((name, data))
            self._arrived.notify_all()

    def subscribe(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``listener(name, data)`` for every event, on the reader's thread."""
        self._listeners.append(listener)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def wait_for(
        self,
        name: str,
        match: Callable[[dict[str, Any]], bool] = lambda _d: True,
        timeout_s: float = 60.0,
        errors: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """The next ``name`` event (after those already waited for) whose data satisfies
        ``match``; OfficerError on an ``errors`` event or at the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                while self._cursor < len(self.seen):
                    got, data = self.seen[self._cursor]
                    self._cursor += 1
                    if got in errors:
                        raise OfficerError(f"{got}: {data.get('message', data)}")
                    if got == name and match(data):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OfficerError(f"no {name} event within {timeout_s:.0f} s")
                self._arrived.wait(left)

    def wait_status(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """The latest status once ``predicate`` holds for it (or the latest at the timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while not predicate(self.status) and time.monotonic() < deadline:
                self._arrived.wait(max(0.0, deadline - time.monotonic()))
            return self.status

    # -- a check ----------------------------------------------------------------------------

    def capture_finger(self, position: int, timeout_s: float = 60.0) -> dict[str, Any]:
        self.call("/api/check/finger", {"position": position})
        done = self.wait_for(
            "finger.done", lambda d: d["position"] == position, timeout_s, ("finger.error",)
        )
        self.call("/api/check/finger", {"position": position, "accept": True})
        return done

    def capture_face(self, timeout_s: float = 60.0) -> dict[str, Any]:
        self.call("/api/check/face", {"step": "capture"})
        return self.wait_for("face.done", timeout_s=timeout_s, errors=("face.error",))

    def check(
        self, fingers: tuple[int, ...], case: str, face: bool = False
    ) -> tuple[str, str, list[dict[str, Any]]]:
        """A whole check: (record id, 'sent' or 'queued', the finger results)."""
        self.call("/api/check/begin", {"fingers": list(fingers)})
        results = [self.capture_finger(position) for position in fingers]
        if face:
            results.append(self.capture_face())
        sent = self.call("/api/check/submit", {"case": case})
        return str(sent["record_id"]), str(sent["state"]), results

    def acknowledge(self, record_id: str) -> bool:
        return bool(self.call("/api/check/acknowledge", {"record_id": record_id})["acknowledged"])
