"""The operations console: a Starlette application over central's store, served over TLS.

It calls into central (the store, the verification queue, the evidence sheet)
and nothing calls into it. Every page needs a session (:mod:`.accounts`); every
form carries the session's CSRF token; every response says ``no-store`` (the
evidence sheets are biometric data and must not stay in a browser's cache) and
a content security policy that allows nothing from elsewhere.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central import evidence as evidence_sheet
from central.console.accounts import AccountError, Accounts, Session
from central.provision import FleetLayout
from central.store import Store
from central.verification import PENDING, VerificationError

COOKIE = "hotspot_console"
HERE = Path(__file__).parent
HEADERS = [
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class Headers:
    """ASGI middleware: the security headers on every response, static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v) for k, v in message.get("headers", []) if k not in dict(HEADERS)
                ] + HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


Handler = Callable[[Request, Session], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Console:
    """What every page needs: the store, the accounts, the templates, the role check."""

    def __init__(self, store: Store, layout: FleetLayout | None = None) -> None:
        self.store = store
        self.layout = layout
        """The fleet folder (its CA): enrolment from the console needs it."""
        self.accounts = Accounts(store.db)
        self._templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
        )
        self._templates.globals["when"] = when

    def page(self, template: str, session: Session | None, status: int = 200, **values: Any
             ) -> Response:  # fmt: skip
        html = self._templates.get_template(template).render(session=session, **values)
        return HTMLResponse(html, status_code=status)

    def refuse(
        self, session: Session | None, status: int, error: str, back: tuple[str, str] | None = None
    ) -> Response:
        """The refusal page: what went wrong, and a way back to the form (``(path, title)``)."""
        return self.page("denied.html", session, status, role=None, error=error, back=back)

    def needs(self, role: str) -> Callable[[Handler], Endpoint]:
        """A page for ``role`` and above: signed in, and a POST must carry the CSRF token."""

        def wrap(handler: Handler) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                session = self.accounts.session(request.cookies.get(COOKIE))
                if session is None:
                    return RedirectResponse("/login", status_code=303)
                if not session.may(role):
                    return self.page("denied.html", session, 403, role=role)
                if request.method == "POST":
                    form = await form_of(request)
                    if form.get("csrf") != session.csrf:
                        return self.page("denied.html", session, 403, role="a valid form")
                return await handler(request, session)

            return endpoint

        return wrap


def create_app(store: Store, layout: FleetLayout | None = None) -> Starlette:
    from central.console import admin, fleet, reports

    console = Console(store, layout)
    accounts = console.accounts

    async def login_form(request: Request) -> Response:
        return console.page("login.html", None)

    async def login(request: Request) -> Response:
        form = await form_of(request)
        name, password = form.get("name", ""), form.get("password", "")
        try:
            token, _session = accounts.sign_in(name, password)
        except AccountError as exc:
            store.ledger.audit("console sign-in refused", detail=str(exc), actor=name[:64])
            return console.page("login.html", None, 401, error=str(exc), name=name)
        store.ledger.audit("console sign-in", actor=name)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, secure=True, samesite="strict")
        return response

    @console.needs("viewer")
    async def logout(request: Request, session: Session) -> Response:
        accounts.sign_out(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @console.needs("viewer")
    async def queue(request: Request, session: Session) -> Response:
        pending = store.verification.items(PENDING)
        decided = [i for i in store.verification.items(None) if i.state != PENDING][-50:]
        return console.page("queue.html", session, pending=pending, decided=decided)

    @console.needs("examiner")
    async def item(request: Request, session: Session) -> Response:
        try:
            found = store.verification.find(request.path_params["record"])
        except VerificationError as exc:
            return console.refuse(session, 404, str(exc))
        return console.page("item.html", session, item=found)

    @console.needs("examiner")
    async def sheet(request: Request, session: Session) -> Response:
        try:
            found = store.verification.find(request.path_params["record"])
        except VerificationError:
            return Response(status_code=404)
        evidence = store.verification.evidence(found.record_id)
        if evidence is None:
            return Response(status_code=410)  # decided and sent: the evidence is gone
        store.ledger.audit(
            "evidence viewed", device_id=found.device_id, record_id=found.record_hex,
            actor=session.account,
        )  # fmt: skip
        return Response(evidence_sheet.sheet(evidence, found.reference), media_type="image/png")

    @console.needs("examiner")
    async def decide(request: Request, session: Session) -> Response:
        form = await form_of(request)
        action = form.get("action")
        try:
            found = store.verification.find(request.path_params["record"])
            if action not in ("confirm", "reject"):
                raise VerificationError("choose confirm or reject")
            store.verification.decide(
                found.record_id, action == "confirm", session.account, form.get("note", "")
            )
        except VerificationError as exc:
            return console.refuse(session, 409, str(exc))
        return RedirectResponse("/verification", status_code=303)

    app = Starlette(
        routes=[
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            *fleet.routes(console),
            *reports.routes(console),
            *admin.routes(console),
            Route("/verification", queue),
            Route("/verification/{record}", item, methods=["GET"]),
            Route("/verification/{record}", decide, methods=["POST"]),
            Route("/verification/{record}/sheet.png", sheet),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
    app.add_middleware(Headers)
    return app


FORM_BYTES = 16_384
UPLOAD_BYTES = 262_144
"""A form with files (templates, an enrolment request: a few kilobytes each) stays under this."""


async def form_of(request: Request) -> dict[str, str]:
    """The posted form's text fields (URL-encoded, or multipart when it carries files)."""
    return (await form_and_files(request))[0]


async def form_and_files(request: Request) -> tuple[dict[str, str], dict[str, bytes]]:
    """The posted form: text fields, and the files' contents by field name (multipart, read
    by python-multipart through Starlette, size-limited before anything is parsed)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        body = await request.body()
        if len(body) > UPLOAD_BYTES:
            return {}, {}
        form = await request.form(max_files=6, max_fields=24, max_part_size=UPLOAD_BYTES)
        fields: dict[str, str] = {}
        files: dict[str, bytes] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(key, value)
            elif value.filename:
                await value.seek(0)  # the CSRF check read the same form before the handler
                files.setdefault(key, await value.read())
        return fields, files
    body = await request.body()
    if len(body) > FORM_BYTES:
        return {}, {}
    parsed = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
    return {key: values[0] for key, values in parsed.items()}, {}


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))
