"""Operation reports in the console: the figures, charts, and CSV and PDF exports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import charts, report
from central.console.accounts import Session

if TYPE_CHECKING:
    from central.console.app import Console


def routes(console: Console) -> list[Route]:
    store = console.store

    def known(operation: str) -> bool:
        return operation in {name for name, _ in report.operations(store.db)}

    @console.needs("viewer")
    async def index(request: Request, session: Session) -> Response:
        return console.page("reports.html", session, operations=report.operations(store.db))

    @console.needs("viewer")
    async def show(request: Request, session: Session) -> Response:
        operation = request.path_params["operation"]
        if not known(operation):
            return console.refuse(session, 404, f"no check belongs to operation {operation!r}")
        built = report.build(store.db, operation)
        charts_count = len(charts.report_figures_count(built))
        return console.page("report.html", session, r=built, charts=range(charts_count),
                            order=report.OUTCOME_ORDER)  # fmt: skip

    @console.needs("viewer")
    async def chart(request: Request, session: Session) -> Response:
        operation = request.path_params["operation"]
        if not known(operation):
            return Response(status_code=404)
        png = charts.report_png(report.build(store.db, operation), request.path_params["n"])
        return Response(png, media_type="image/png") if png else Response(status_code=404)

    @console.needs("viewer")
    async def export(request: Request, session: Session) -> Response:
        operation, kind = request.path_params["operation"], request.path_params["kind"]
        if not known(operation) or kind not in ("csv", "pdf"):
            return Response(status_code=404)
        built = report.build(store.db, operation)
        store.ledger.audit("report exported", detail=f"{operation} as {kind}",
                           actor=session.account)  # fmt: skip
        name = f"hotspot-{operation}.{kind}"
        headers = {"content-disposition": f'attachment; filename="{name}"'}
        if kind == "csv":
            return Response(built.to_csv(), media_type="text/csv", headers=headers)
        return Response(charts.report_pdf(built), media_type="application/pdf", headers=headers)

    return [
        Route("/reports", index),
        Route("/reports/{operation}", show),
        Route("/reports/{operation}/chart-{n:int}.png", chart),
        Route("/reports/{operation}/export.{kind}", export),
    ]
