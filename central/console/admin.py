"""Administration in the console: the watchlist, the device registry, the rollouts.

Every change is recorded in the audit with the account that made it. Adding to
the watchlist needs template files and stays with ``hotspot central watchlist
add`` (which validates them the same way); the console lists and removes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from central.console.accounts import Session
from central.console.fleet import decode
from wire.rollout import UpdateReport

if TYPE_CHECKING:
    from central.console.app import Console


def routes(console: Console) -> list[Route]:
    from central.console.app import form_of

    store = console.store

    @console.needs("viewer")
    async def watchlist(request: Request, session: Session) -> Response:
        entries = [
            (
                e.reference,
                e.notice,
                ",".join(str(p) for p, _ in e.fingers) or "-",
                e.face is not None,
            )
            for e in store.watchlist.entries()
        ]
        return console.page("watchlist.html", session, entries=entries[:2000], total=len(entries))

    @console.needs("supervisor")
    async def watchlist_remove(request: Request, session: Session) -> Response:
        reference = (await form_of(request)).get("reference", "")
        if not store.watchlist.remove(reference):
            return console.refuse(session, 404, f"no watchlist entry {reference!r}")
        store.ledger.audit("watchlist remove", reference=reference, actor=session.account)
        return RedirectResponse("/watchlist", status_code=303)

    @console.needs("viewer")
    async def devices(request: Request, session: Session) -> Response:
        return console.page("devices.html", session, devices=store.registry.all())

    @console.needs("administrator")
    async def revoke(request: Request, session: Session) -> Response:
        device_id = (await form_of(request)).get("device", "")
        if not store.registry.revoke(device_id):
            return console.refuse(session, 409, f"{device_id} is not registered or already revoked")
        store.ledger.audit(
            "device revoked",
            device_id=device_id,
            actor=session.account,
            detail="records refused from now on; 'hotspot central devices revoke' also "
            "revokes its certificate",
        )
        return RedirectResponse("/devices", status_code=303)

    @console.needs("viewer")
    async def rollouts(request: Request, session: Session) -> Response:
        by_rollout: dict[tuple[str, str, str], list[tuple[str, UpdateReport]]] = defaultdict(list)
        for device in store.registry.all():
            report = UpdateReport.from_telemetry(
                decode(store.ledger.telemetry(device.device_id, "update"))
            )
            if report is not None:
                key = (report.rollout, report.group, report.version)
                by_rollout[key].append((device.device_id, report))
        return console.page("rollouts.html", session, rollouts=sorted(by_rollout.items()))

    return [
        Route("/watchlist", watchlist, methods=["GET"]),
        Route("/watchlist/remove", watchlist_remove, methods=["POST"]),
        Route("/devices", devices, methods=["GET"]),
        Route("/devices/revoke", revoke, methods=["POST"]),
        Route("/rollouts", rollouts),
    ]
