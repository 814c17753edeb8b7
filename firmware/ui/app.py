"""The officer interface: a web application on loopback, shown full screen by Chromium.

One HTML page (server-rendered in the officer's language) and one script; the
page learns everything that happens from one server-sent event stream
(``/api/events``) and acts through small JSON calls. It calls into the
application (:class:`firmware.officer.desk.Desk`) and never the other way
round.

What keeps it safe on a device that changes hands:

* it listens on 127.0.0.1 only and answers only requests addressed to that
  host (no DNS rebinding), with a strict Content-Security-Policy: every asset
  comes from the device;
* every response that can carry a check's data is ``Cache-Control: no-store``;
  print bands and preview frames travel only in the event stream, which the
  browser never caches, and the page drops them once a check is submitted;
* the session is an HttpOnly, SameSite=Strict cookie; every state-changing
  call must carry the ``X-Hotspot`` header, which a cross-site form cannot send;
* previews go only to a signed-in, unlocked session; a locked screen still
  receives answers, so a HIT is never held back by the lock.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any, ClassVar

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from firmware.config import InterfaceSection
from firmware.officer.accounts import Session, SignInRefused
from firmware.officer.desk import Desk
from firmware.officer.events import Event
from firmware.officer.screen import error_code
from firmware.officer.workflow import Busy, NotReady
from firmware.outbox import OutboxFull
from firmware.ui import render
from firmware.ui.guard import Guard
from firmware.ui.i18n import Language, language, negotiate
from firmware.ui.messages import ERRORS

log = logging.getLogger(__name__)

SESSION_COOKIE = "hotspot_session"
LANGUAGE_COOKIE = "hotspot_lang"
PREVIEWS = {"finger.start", "finger.rows", "finger.done", "face.start", "face.frame", "face.done"}
"""Events that carry or describe a person's print or face: unlocked sessions only."""
PUBLIC = {"status"}
KEEPALIVE_S = 5.0


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("firmware.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


class Interface:
    """The routes, bound to one desk."""

    def __init__(self, desk: Desk, settings: InterfaceSection, port: int) -> None:
        self.desk, self.settings, self.port = desk, settings, port
        self._templates = _templates()
        self._streams: set[asyncio.Queue[Event | None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- helpers ----------------------------------------------------------------------------

    def session(self, request: Request, *, active: bool = True) -> Session | None:
        return self.desk.accounts.current(request.cookies.get(SESSION_COOKIE), active=active)

    def language_of(self, request: Request, session: Session | None) -> Language:
        offered = self.settings.languages
        for candidate in (
            request.cookies.get(LANGUAGE_COOKIE),
            session.language if session else None,
            self.settings.language or None,
            negotiate(request.headers.get("accept-language"), offered),
        ):
            if candidate in offered:
                return language(candidate)
        return language(offered[0] if "en" not in offered else "en")

    def snapshot(self, session: Session | None, lang: Language) -> dict[str, Any]:
        """Everything the page needs to draw itself (also sent first on each event stream)."""
        desk = self.desk
        hits = desk.pending_hits()
        data: dict[str, Any] = {
            "signed_in": session is not None,
            "locked": bool(session and session.locked),
            "officer": session.officer if session else None,
            "language": lang.code,
            "rtl": lang.rtl,
            "operation": vars(desk.operation),
            "training": desk.training,
            "status": render.status_texts(desk.status.status.as_dict(), lang),
            "pending_hits": len(hits),
        }
        if session is not None:
            data["hits"] = [render.line_texts(h, lang) for h in hits]
            data["shift"] = [render.line_texts(x, lang) for x in desk.shift(session)]
            data["shift_started_ms"] = session.shift.started_ms
            data["check"] = None if session.locked else desk.workflow.state()
        return data

    # -- pages ------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        session = self.session(request, active=False)
        lang = self.language_of(request, session)
        html = self._templates.get_template("index.html").render(
            _=lang.gettext,
            lang=lang,
            languages=[language(code) for code in self.settings.languages],
            strings=json.dumps(render.client_strings(lang), ensure_ascii=False),
            boot=json.dumps(self.snapshot(session, lang), ensure_ascii=False),
            training=self.desk.training,
        )
        return HTMLResponse(html)

    # -- the event stream -------------------------------------------------------------------

    async def events(self, request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        session = self.session(request, active=False)
        lang = self.language_of(request, session)
        loop = asyncio.get_running_loop()
        self._loop = loop
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=512)

        def offer(event: Event) -> None:
            # Preview frames are dropped, not queued, when the browser falls behind.
            if event.name == "face.frame" and queue.qsize() > 2:
                return
            if not queue.full():
                queue.put_nowait(event)

        def listener(event: Event) -> None:
            loop.call_soon_threadsafe(offer, event)

        unsubscribe = self.desk.hub.subscribe(listener)
        self._streams.add(queue)

        async def stream() -> AsyncIterator[str]:
            try:
                yield _sse("hello", self.snapshot(session, lang))
                locked = bool(session and session.locked)
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        event = Event("tick", {})
                    if event is None:
                        return
                    now = self.desk.accounts.current(token, active=False)
                    if session is not None and now is None:
                        yield _sse("session", {"signed_in": False})
                        return
                    if now is not None and now.locked != locked:
                        locked = now.locked
                        yield _sse("session", {"signed_in": True, "locked": locked})
                    if event.name == "tick":
                        yield ": keepalive\n\n"
                        continue
                    if event.name not in PUBLIC and now is None:
                        # nobody signed in here: no check's details, only that a HIT waits
                        if event.name == "answer":  # nobody signed in: say a HIT waits
                            yield _sse("hits.pending", {"count": len(self.desk.pending_hits())})
                        continue
                    if event.name in PREVIEWS and (now is None or now.locked):
                        continue
                    yield _sse(event.name, render.present(event, lang))
            finally:
                unsubscribe()
                self._streams.discard(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    def close_streams(self) -> None:
        """End every event stream (the service is stopping)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for queue in list(self._streams):
            loop.call_soon_threadsafe(queue.put_nowait, None)

    # -- calls ------------------------------------------------------------------------------

    async def sign_in(self, request: Request) -> Response:
        body = await _json(request)
        lang = self.language_of(request, None)
        officer, pin = str(body.get("officer", "")).strip(), str(body.get("pin", ""))
        try:
            token, session = await asyncio.to_thread(self.desk.accounts.sign_in, officer, pin)
        except SignInRefused as exc:
            if exc.locked_until_ms:
                message = lang.gettext(ERRORS["locked_out"]).format(
                    time=lang.time(exc.locked_until_ms)
                )
                return _error("locked_out", message, 403)
            message = lang.gettext(ERRORS["wrong_pin"])
            if exc.attempts_left is not None:
                message += " " + render.attempts_text(exc.attempts_left, lang)
            return _error("wrong_pin", message, 403)
        # The officer's explicit choice, if any: the language picked on this screen (a cookie
        # until sign-in), or one named in the call; the browser's own language is not a choice.
        chosen = body.get("language") or request.cookies.get(LANGUAGE_COOKIE)
        if chosen in self.settings.languages:
            self.desk.journal.set_language(session.officer, str(chosen))
        response = JSONResponse({"ok": True})
        response.set_cookie(
            SESSION_COOKIE, token, httponly=True, samesite="strict", path="/", secure=False
        )
        response.delete_cookie(LANGUAGE_COOKIE, path="/")
        return response

    async def unlock(self, request: Request) -> Response:
        body = await _json(request)
        token = request.cookies.get(SESSION_COOKIE) or ""
        session = self.session(request, active=False)
        lang = self.language_of(request, session)
        try:
            await asyncio.to_thread(self.desk.accounts.unlock, token, str(body.get("pin", "")))
        except SignInRefused as exc:
            if exc.locked_until_ms:
                message = lang.gettext(ERRORS["locked_out"]).format(
                    time=lang.time(exc.locked_until_ms)
                )
                return _error("locked_out", message, 403)
            return _error("wrong_pin", lang.gettext(ERRORS["wrong_pin"]), 403)
        return JSONResponse({"ok": True})

    async def lock(self, request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            self.desk.accounts.lock(token)
        return JSONResponse({"ok": True})

    async def sign_out(self, request: Request) -> Response:
        body = await _json(request)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            self.desk.accounts.sign_out(token, end_shift=bool(body.get("end_shift")))
        response = JSONResponse({"ok": True})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def set_language(self, request: Request) -> Response:
        body = await _json(request)
        code = str(body.get("language", ""))
        if code not in self.settings.languages:
            return _error("bad_request", f"unknown language {code!r}", 400)
        session = self.session(request)
        response = JSONResponse({"ok": True})
        if session is not None and not session.locked:
            self.desk.journal.set_language(session.officer, code)
            response.delete_cookie(LANGUAGE_COOKIE, path="/")
        else:
            response.set_cookie(LANGUAGE_COOKIE, code, samesite="strict", path="/")
        return response

    async def activity(self, request: Request) -> Response:
        session = self.session(request)
        return JSONResponse({"locked": bool(session and session.locked)})

    async def call(self, request: Request) -> Response:
        """The check's actions: one route, the action in the path."""
        session = self.session(request)
        lang = self.language_of(request, session)
        if session is None:
            return _error("session_expired", lang.gettext(ERRORS["session_expired"]), 401)
        if session.locked:
            return _error("locked", "", 423)
        action = request.path_params["action"]
        body = await _json(request)
        handler = self._actions.get(action)
        if handler is None:
            return _error("bad_request", f"unknown action {action!r}", 404)
        try:
            result = await asyncio.to_thread(handler, self, session, body)
        except (Busy, NotReady, OutboxFull, ValueError) as exc:
            code = (
                "busy"
                if isinstance(exc, Busy)
                else exc.code
                if isinstance(exc, NotReady)
                else error_code(exc)
                if isinstance(exc, OutboxFull)
                else "bad_request"
            )
            text = ERRORS.get(code)
            return _error(code, lang.gettext(text) if text else str(exc), 409)
        except Exception as exc:  # a sealing failure: the secure element, the disk
            code = error_code(exc)
            log.warning("check action %s failed: %s", action, type(exc).__name__)
            return _error(code, lang.gettext(ERRORS[code]), 500)
        return JSONResponse(result or {"ok": True})

    def _begin(self, session: Session, body: dict[str, Any]) -> None:
        fingers = tuple(int(x) for x in body.get("fingers", ()))
        self.desk.begin(session, fingers)

    def _finger(self, session: Session, body: dict[str, Any]) -> None:
        position = int(body.get("position", 0))
        if body.get("accept"):
            self.desk.workflow.accept_finger(position)
        else:
            self.desk.workflow.capture_finger(position)

    def _face(self, session: Session, body: dict[str, Any]) -> None:
        step = body.get("step")
        if step == "capture":
            self.desk.workflow.capture_face()
        elif step == "finish":
            self.desk.workflow.finish_face()
        elif step == "drop":
            self.desk.workflow.drop_face()
        else:
            raise ValueError(f"unknown face step {step!r}")

    def _submit(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        reference = str(body.get("case", "")).strip()[:64] or None
        record_id, sent = self.desk.submit(reference)
        return {"record_id": record_id.hex(), "state": "sent" if sent else "queued"}

    def _abandon(self, session: Session, body: dict[str, Any]) -> None:
        self.desk.workflow.abandon()

    def _acknowledge(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        record_id = bytes.fromhex(str(body.get("record_id", "")))
        return {"acknowledged": self.desk.acknowledge(session, record_id)}

    _actions: ClassVar[dict[str, Callable[[Interface, Session, dict[str, Any]], Any]]] = {
        "begin": _begin,
        "finger": _finger,
        "face": _face,
        "submit": _submit,
        "abandon": _abandon,
        "acknowledge": _acknowledge,
    }


def _sse(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def create_app(desk: Desk, settings: InterfaceSection, port: int) -> tuple[Starlette, Interface]:
    interface = Interface(desk, settings, port)
    static = str(resources.files("firmware.ui").joinpath("static"))

    def post(path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
        return Route(path, endpoint, methods=["POST"])

    app = Starlette(
        routes=[
            Route("/", interface.index),
            Route("/api/events", interface.events),
            post("/api/sign-in", interface.sign_in),
            post("/api/unlock", interface.unlock),
            post("/api/lock", interface.lock),
            post("/api/sign-out", interface.sign_out),
            post("/api/language", interface.set_language),
            post("/api/activity", interface.activity),
            post("/api/check/{action}", interface.call),
            Mount("/static", app=StaticFiles(directory=static), name="static"),
        ],
        middleware=[Middleware(Guard, port=port)],
    )
    return app, interface


def create_sealed_app(settings: InterfaceSection, port: int) -> Starlette:
    """The interface of a device whose case was opened: one page that says so, nothing else."""
    templates = _templates()
    static = str(resources.files("firmware.ui").joinpath("static"))

    async def page(request: Request) -> Response:
        offered = settings.languages
        code = (
            request.cookies.get(LANGUAGE_COOKIE)
            or settings.language
            or negotiate(request.headers.get("accept-language"), offered)
            or ("en" if "en" in offered else offered[0])
        )
        lang = language(code if code in offered else offered[0])
        return HTMLResponse(templates.get_template("sealed.html").render(_=lang.gettext, lang=lang))

    app = Starlette(
        routes=[
            Route("/", page),
            Mount("/static", app=StaticFiles(directory=static), name="static"),
        ],
        middleware=[Middleware(Guard, port=port)],
    )
    return app
