"""Charts for the console and the reports, drawn by matplotlib (PSF-style licence, no GPL).

Everything is drawn off-screen (the Agg and PDF backends) into bytes: nothing is
written to disk, nothing needs a display. The fleet map draws devices' GNSS
fixes over the country borders that ship with this package
(``central/data/borders.json``, Natural Earth, public domain) — no tile server.
"""

from __future__ import annotations

import functools
import io
import json
import math
from importlib import resources
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, ever

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from central.report import OUTCOME_ORDER, OperationReport

INK = "#14324a"
HIT_RED = "#b3261e"


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return out.getvalue()


def report_figures(report: OperationReport) -> list[Figure]:
    """The operation's charts: checks and HITs per day, outcomes, answer times, HITs by notice."""
    figures = []
    days = sorted({row.day for row in report.rows})
    checks = [sum(r.checks for r in report.rows if r.day == d) for d in days]
    hits = [sum(r.hits for r in report.rows if r.day == d) for d in days]
    figure, axis = plt.subplots(figsize=(6, 3))
    axis.bar(days, checks, color=INK, label="checks")
    axis.bar(days, hits, color=HIT_RED, label="HITs")
    axis.set_title(f"Operation {report.operation}: checks per day")
    axis.legend()
    figures.append(figure)

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    labels = [o for o in OUTCOME_ORDER if report.outcomes[o]]
    left.barh(labels, [report.outcomes[o] for o in labels], color=INK)
    left.set_title("Final outcomes")
    if report.answer_s:
        right.hist(report.answer_s, bins=min(30, max(5, len(report.answer_s) // 5)), color=INK)
    right.set_title("Check to answer (s)")
    figures.append(figure)

    if report.hits_by_notice:
        figure, axis = plt.subplots(figsize=(6, 2.5))
        names = sorted(report.hits_by_notice)
        axis.barh(names, [report.hits_by_notice[n] for n in names], color=HIT_RED)
        axis.set_title("HITs by notice type")
        figures.append(figure)
    return figures


def report_figures_count(report: OperationReport) -> list[int]:
    """The chart numbers :func:`report_png` draws for this report."""
    return list(range(3 if report.hits_by_notice else 2))


def report_png(report: OperationReport, index: int) -> bytes | None:
    figures = report_figures(report)
    for number, figure in enumerate(figures):
        if number != index:
            plt.close(figure)
    return _png(figures[index]) if 0 <= index < len(figures) else None


def report_pdf(report: OperationReport) -> bytes:
    """The report as a PDF: a page of figures, then the charts, then the per-device table."""
    out = io.BytesIO()
    with PdfPages(out) as pdf:
        page = plt.figure(figsize=(8.27, 11.69))  # A4
        lines = [
            f"HOTSPOT operation report: {report.operation}",
            "",
            f"People checked: {report.checks}   (training checks, not counted: "
            f"{report.training_checks})",
            "Final outcomes: "
            + ", ".join(f"{o.replace('_', ' ')} {report.outcomes[o]}" for o in OUTCOME_ORDER),
            "HITs by notice: "
            + (", ".join(f"{k} {v}" for k, v in sorted(report.hits_by_notice.items())) or "none"),
            "HITs by modality: "
            + (", ".join(f"{k} {v}" for k, v in sorted(report.hits_by_modality.items())) or "none"),
            f"Check to answer: median {_s(report.median_s)}, 95th percentile {_s(report.p95_s)}",
            "Oldest backlog reported: "
            + (", ".join(f"{d} {a} s" for d, a in sorted(report.backlog_age_s.items())) or "-"),
            "",
            "Device            Day         Checks  HITs  Possible  Median  p95",
        ]
        for row in report.rows:
            lines.append(
                f"{row.device:<17} {row.day}  {row.checks:>6}  {row.hits:>4}  {row.possible:>8}"
                f"  {_s(row.median_s):>6}  {_s(row.p95_s):>6}"
            )
        page.text(0.06, 0.96, "\n".join(lines[:70]), va="top", family="monospace", fontsize=8)
        pdf.savefig(page)
        plt.close(page)
        for figure in report_figures(report):
            pdf.savefig(figure, bbox_inches="tight")
            plt.close(figure)
    return out.getvalue()


def series_png(title: str, points: list[tuple[int, float]], unit: str) -> bytes:
    """One quantity of a device over time (battery, signal, backlog)."""
    import datetime as dt

    figure, axis = plt.subplots(figsize=(6, 2.4))
    if points:
        times = [dt.datetime.fromtimestamp(t / 1000, dt.UTC) for t, _ in points]
        axis.plot(times, [v for _, v in points], color=INK)  # type: ignore[arg-type]
    axis.set_title(title)
    axis.set_ylabel(unit)
    figure.autofmt_xdate()
    return _png(figure)


@functools.cache
def borders() -> list[list[tuple[float, float]]]:
    """Country outlines (lon, lat) shipped with the package."""
    text = resources.files("central").joinpath("data/borders.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return [[(float(x), float(y)) for x, y in line] for line in data["lines"]]


def map_png(fixes: dict[str, list[tuple[float, float]]]) -> bytes:
    """Each device's last GNSS fixes (lat, lon) over the shipped borders, framed on them."""
    figure, axis = plt.subplots(figsize=(7, 5))
    points = [p for track in fixes.values() for p in track]
    if points:
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        # at least a degree around the fixes, so that the borders nearby give the place
        pad = max(1.0, (max(lats) - min(lats)) * 0.3, (max(lons) - min(lons)) * 0.3)
        box = (min(lons) - pad, max(lons) + pad, min(lats) - pad, max(lats) + pad)
    else:
        box = (12.0, 30.0, 38.0, 48.0)  # the Western Balkans, where nothing has reported yet
    for line in borders():
        xs, ys = [p[0] for p in line], [p[1] for p in line]
        if max(xs) < box[0] or min(xs) > box[1] or max(ys) < box[2] or min(ys) > box[3]:
            continue
        axis.plot(xs, ys, color="#999999", linewidth=0.7)
    for device, track in sorted(fixes.items()):
        axis.plot([p[1] for p in track], [p[0] for p in track], marker="o", markersize=3)
        axis.annotate(device, (track[-1][1], track[-1][0]), fontsize=8)
    axis.set_xlim(box[0], box[1])
    axis.set_ylim(box[2], box[3])
    # a degree of longitude is cos(latitude) of a degree of latitude
    axis.set_aspect(1 / max(0.2, math.cos(math.radians((box[2] + box[3]) / 2))))
    axis.set_title("Last GNSS fixes")
    return _png(figure)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"
