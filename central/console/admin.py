"""Administration in the console: the watchlist, the device registry, the rollouts.

Every change is recorded in the audit with the account that made it. Adding to the
watchlist takes the same files as ``hotspot central watchlist add`` (ISO/IEC 19794-2
templates, a face embedding) and the same validation, whose refusal is shown as it
is. Enrolling a handheld takes the request ``hotspot device enrol`` wrote and hands
back the provisioning bundle for ``hotspot device install-bundle``: the device's
keys never pass through the console.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from central.console.accounts import Session
from central.console.fleet import decode
from central.watchlist import NOTICES, WatchlistEntry, WatchlistError
from wire.enrolment import EnrolmentError, EnrolmentRequest
from wire.rollout import UpdateReport

if TYPE_CHECKING:
    from central.console.app import Console


WATCHLIST = ("/watchlist", "Back to the watchlist")
DEVICES = ("/devices", "Back to the device registry")
FINGER_FIELDS = 4
"""Finger rows on the add form (an entry may carry more through the command line)."""


def routes(console: Console) -> list[Route]:
    from central.console.app import form_and_files, form_of

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
        return console.page(
            "watchlist.html",
            session,
            entries=entries[:2000],
            total=len(entries),
            notices=NOTICES,
            finger_rows=range(FINGER_FIELDS),
        )

    @console.needs("supervisor")
    async def watchlist_add(request: Request, session: Session) -> Response:
        form, files = await form_and_files(request)
        reference, notice = form.get("reference", "").strip(), form.get("notice", "")
        fingers = []
        for row in range(FINGER_FIELDS):
            template = files.get(f"finger{row}")
            position = form.get(f"position{row}", "")
            if template is None:
                continue
            if not position.isdigit() or not 1 <= int(position) <= 10:
                return console.refuse(
                    session, 400, "choose the finger's position (1-10)", WATCHLIST
                )
            fingers.append((int(position), template))
        entry = WatchlistEntry(reference, notice, tuple(fingers), files.get("face"))
        replace = form.get("replace") == "yes"
        try:
            store.watchlist.add(entry, replace=replace)
        except WatchlistError as exc:
            return console.refuse(session, 400, str(exc), WATCHLIST)
        store.ledger.audit(
            "watchlist replace" if replace else "watchlist add",
            reference=reference,
            actor=session.account,
            detail=f"{notice}; {len(fingers)} finger(s); face: {entry.face is not None}",
        )
        return RedirectResponse("/watchlist", status_code=303)

    @console.needs("supervisor")
    async def watchlist_remove(request: Request, session: Session) -> Response:
        reference = (await form_of(request)).get("reference", "")
        if not store.watchlist.remove(reference):
            return console.refuse(session, 404, f"no watchlist entry {reference!r}", WATCHLIST)
        store.ledger.audit("watchlist remove", reference=reference, actor=session.account)
        return RedirectResponse("/watchlist", status_code=303)

    @console.needs("viewer")
    async def devices(request: Request, session: Session) -> Response:
        return console.page("devices.html", session, devices=store.registry.all())

    @console.needs("administrator")
    async def enrol(request: Request, session: Session) -> Response:
        from central.enrol import EnrolRefused
        from central.enrol import enrol as enrol_device

        if console.layout is None:
            return console.refuse(
                session, 409, "this console was started without the fleet folder", DEVICES
            )
        form, files = await form_and_files(request)
        host, _, port = form.get("broker", "").strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            return console.refuse(
                session, 400, "give the broker as ADDRESS:PORT, e.g. 10.0.0.2:8883", DEVICES
            )
        if "request" not in files:
            return console.refuse(
                session, 400, "choose the request file 'hotspot device enrol' wrote", DEVICES
            )
        try:
            done = enrol_device(
                console.layout,
                store,
                EnrolmentRequest.decode(files["request"]),
                (host.strip("[]"), int(port)),
                group=form.get("group", "").strip() or "default",
                repository=form.get("repository", "").strip(),
                update_root_json=files.get("update_root"),
                renew=form.get("renew") == "yes",
                new_identity=form.get("new_identity") == "yes",
                actor=session.account,
            )
        except (EnrolmentError, EnrolRefused, ValueError) as exc:
            return console.refuse(session, 400, f"enrolment refused: {exc}", DEVICES)
        device_id = done.bundle.device_id
        return Response(
            done.bundle.encode(),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="{device_id}.bundle.json"',
                "Cache-Control": "no-store",
            },
        )

    @console.needs("administrator")
    async def revoke(request: Request, session: Session) -> Response:
        device_id = (await form_of(request)).get("device", "")
        if not store.registry.revoke(device_id):
            return console.refuse(
                session, 409, f"{device_id} is not registered or already revoked", DEVICES
            )
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
        Route("/watchlist/add", watchlist_add, methods=["POST"]),
        Route("/watchlist/remove", watchlist_remove, methods=["POST"]),
        Route("/devices", devices, methods=["GET"]),
        Route("/devices/enrol", enrol, methods=["POST"]),
        Route("/devices/revoke", revoke, methods=["POST"]),
        Route("/rollouts", rollouts),
    ]
