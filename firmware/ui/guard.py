"""What every response of the officer interface passes through: the host check (no DNS
rebinding), the CSRF header on writes, and the security and cache headers.

Plain ASGI (not Starlette's BaseHTTPMiddleware), so that the event stream is passed
through as it is written. Every response that can carry a check's data is
``no-store``; only the static assets may be revalidated from the cache.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_HEADER = "x-hotspot"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; media-src 'self' data:; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def _hosts(port: int) -> set[str]:
    """The Host headers a request to this interface can carry (no DNS rebinding)."""
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


class Guard:
    """Host check, CSRF header on writes, security and cache headers on every response."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self._hosts = _hosts(port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = None
        if headers.get("host") not in self._hosts:
            refused = Response("wrong host", status_code=421)
        elif scope["method"] == "POST" and headers.get(CSRF_HEADER) != "1":
            refused = Response("missing X-Hotspot header", status_code=403)
        if refused is not None:
            await refused(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Content-Security-Policy"] = CSP
                out["X-Content-Type-Options"] = "nosniff"
                out["Referrer-Policy"] = "no-referrer"
                out["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                out["Cache-Control"] = "no-cache" if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
