"""The fleet pages: every device's last report, their GNSS fixes on a map, a device's history."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import cbor2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import charts
from central.console.accounts import Session
from central.verification import PENDING
from wire import topics
from wire.rollout import UpdateReport

if TYPE_CHECKING:
    from central.console.app import Console

HISTORY_DAYS = 3
FIXES = 10
QUANTITIES = {
    "battery": ("Battery", "%"),
    "signal": ("Signal", "dBm"),
    "backlog": ("Checks waiting", "checks"),
}


def decode(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        body = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def value(report: dict[str, Any], quantity: str) -> float | None:
    """One quantity of an app telemetry report (None when it is not there)."""
    if quantity == "battery":
        battery = report.get("battery")
        found = battery.get("soc") if isinstance(battery, dict) else None
    elif quantity == "signal":
        link = report.get("link")
        found = link.get("dbm") if isinstance(link, dict) else None
    else:
        found = report.get(quantity)
    return float(found) if isinstance(found, int | float) else None


def summary(console: Console, device_id: str) -> dict[str, Any]:
    """What the fleet table shows of a device."""
    app = decode(console.store.ledger.telemetry(device_id, "app"))
    update = UpdateReport.from_telemetry(
        decode(console.store.ledger.telemetry(device_id, "update"))
    )
    at = app.get("at")
    battery = value(app, "battery")
    signal = value(app, "signal")
    charging = isinstance(app.get("battery"), dict) and app["battery"].get("charging")
    return {
        "seen": console_when(at) if isinstance(at, int) else None,
        "stale": isinstance(at, int) and time.time() * 1000 - at > 15 * 60_000,
        "battery": None if battery is None else f"{battery:.0f} %" + (" +" if charging else ""),
        "signal": None if signal is None else f"{signal:.0f} dBm",
        "backlog": app.get("backlog"),
        "backlog_age": app.get("backlog_age_s"),
        "firmware": app.get("fw"),
        "training": bool(app.get("training")),
        "update_state": None if update is None else f"{update.version}: {update.state}",
    }


def console_when(ms: int) -> str:
    from central.console.app import when

    return when(ms)


def routes(console: Console) -> list[Route]:
    store = console.store

    @console.needs("viewer")
    async def fleet(request: Request, session: Session) -> Response:
        devices = [
            {"id": d.device_id, "revoked": d.revoked, **summary(console, d.device_id)}
            for d in store.registry.all()
        ]
        pending = store.verification.counts()[PENDING]
        return console.page("fleet.html", session, devices=devices, pending=pending)

    @console.needs("viewer")
    async def fleet_map(request: Request, session: Session) -> Response:
        since = int((time.time() - HISTORY_DAYS * 86400) * 1000)
        fixes: dict[str, list[tuple[float, float]]] = {}
        for device in store.registry.all():
            track = []
            for _at, raw in store.ledger.telemetry_series(device.device_id, "app", since):
                gnss = decode(raw).get("gnss")
                if isinstance(gnss, list) and len(gnss) == 2:
                    track.append((float(gnss[0]), float(gnss[1])))
            if track:
                fixes[device.device_id] = track[-FIXES:]
        return Response(charts.map_png(fixes), media_type="image/png")

    @console.needs("viewer")
    async def device(request: Request, session: Session) -> Response:
        device_id = request.path_params["device"]
        try:
            topics.check_device_id(device_id)
            store.registry.get(device_id)
        except Exception as exc:
            if "revoked" not in str(exc):
                return console.refuse(session, 404, str(exc))
        return console.page(
            "device.html",
            session,
            device=device_id,
            facts=summary(console, device_id),
            quantities=QUANTITIES,
            days=HISTORY_DAYS,
        )

    @console.needs("viewer")
    async def history(request: Request, session: Session) -> Response:
        device_id, quantity = request.path_params["device"], request.path_params["quantity"]
        if quantity not in QUANTITIES:
            return Response(status_code=404)
        since = int((time.time() - HISTORY_DAYS * 86400) * 1000)
        points = []
        for at, raw in store.ledger.telemetry_series(device_id, "app", since):
            found = value(decode(raw), quantity)
            if found is not None:
                points.append((at, found))
        title, unit = QUANTITIES[quantity]
        return Response(charts.series_png(f"{device_id}: {title}", points, unit),
                        media_type="image/png")  # fmt: skip

    return [
        Route("/", fleet),
        Route("/fleet/map.png", fleet_map),
        Route("/devices/{device}", device),
        Route("/devices/{device}/{quantity}.png", history),
    ]
