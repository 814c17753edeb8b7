"""What an operation checked and found, from the audit trail (no biometric data in it).

An operation is the ``operation`` id the handhelds put in every check record
(their configuration's ``[operation] id``). For each operation the report gives
the people checked, the final outcomes (a possible match counts as what the
examiner decided, or as pending), HITs by notice type and by the modalities
that agreed, the time from a check to its answer (median and 95th percentile;
it includes the time a check waited offline), the oldest backlog the devices
reported, and the same per device and per day. Training checks (emulated
hardware) are counted apart and in no other figure.

Exports: CSV (one row per device and day, then the totals) and PDF (the figures
and the charts, drawn by matplotlib, :mod:`central.charts`).
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from central.database import Database
from wire.answer import HIT, NO_HIT, POSSIBLE_MATCH, REJECTED


@dataclass
class Row:
    """One device on one day (UTC)."""

    device: str
    day: str
    checks: int = 0
    hits: int = 0
    possible: int = 0
    answer_s: list[float] = field(default_factory=list)

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.answer_s) if self.answer_s else None

    @property
    def p95_s(self) -> float | None:
        return _p95(self.answer_s)


@dataclass
class OperationReport:
    operation: str
    checks: int = 0
    training_checks: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    """Final outcomes: hit, no_hit, rejected, possible_match (still with an examiner)."""
    hits_by_notice: Counter[str] = field(default_factory=Counter)
    hits_by_modality: Counter[str] = field(default_factory=Counter)
    answer_s: list[float] = field(default_factory=list)
    backlog_age_s: dict[str, int] = field(default_factory=dict)
    """Per device, the oldest backlog it reported during the operation."""
    rows: list[Row] = field(default_factory=list)
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.answer_s) if self.answer_s else None

    @property
    def p95_s(self) -> float | None:
        return _p95(self.answer_s)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["operation", "device", "day", "checks", "hits", "possible_matches",
                         "median_answer_s", "p95_answer_s"])  # fmt: skip
        for row in self.rows:
            writer.writerow([self.operation, row.device, row.day, row.checks, row.hits,
                             row.possible, _fmt(row.median_s), _fmt(row.p95_s)])  # fmt: skip
        writer.writerow([self.operation, "all", "all", self.checks, self.outcomes[HIT],
                         self.outcomes[POSSIBLE_MATCH], _fmt(self.median_s),
                         _fmt(self.p95_s)])  # fmt: skip
        return out.getvalue()


def operations(db: Database) -> list[tuple[str, int]]:
    """The operations the audit knows, with their checks (training included), newest first."""
    rows = db.query(
        "SELECT operation, COUNT(*), MAX(at_ms) FROM audit WHERE event = 'answered' "
        "AND operation IS NOT NULL GROUP BY operation ORDER BY MAX(at_ms) DESC"
    )
    return [(str(r[0]), int(r[1])) for r in rows]


def build(db: Database, operation: str) -> OperationReport:
    report = OperationReport(operation)
    answered = db.query(
        "SELECT record_id, device_id, at_ms, outcome, notice, modalities, captured_ms, training "
        "FROM audit WHERE event = 'answered' AND operation = ? ORDER BY at_ms",
        (operation,),
    )
    late = {
        str(r[0]): (str(r[1]), r[2], r[3])
        for r in db.query(
            "SELECT a.record_id, a.outcome, a.notice, a.modalities FROM audit a "
            "WHERE a.event = 'late answer' AND a.record_id IN (SELECT record_id FROM audit "
            "WHERE event = 'answered' AND operation = ?)",
            (operation,),
        )
    }
    rows: dict[tuple[str, str], Row] = {}
    for record, device, at_ms, outcome, notice, modalities, captured_ms, training in answered:
        if training:
            report.training_checks += 1
            continue
        outcome = str(outcome)
        if str(record) in late:
            outcome, notice, modalities = late[str(record)]
        report.checks += 1
        report.outcomes[outcome] += 1
        at = int(at_ms)
        report.first_ms = at if report.first_ms is None else min(report.first_ms, at)
        report.last_ms = at if report.last_ms is None else max(report.last_ms, at)
        day = time.strftime("%Y-%m-%d", time.gmtime(at / 1000))
        row = rows.setdefault((str(device), day), Row(str(device), day))
        row.checks += 1
        if outcome == HIT:
            row.hits += 1
            report.hits_by_notice[str(notice or "unknown")] += 1
            report.hits_by_modality[str(modalities or "unknown")] += 1
        elif outcome == POSSIBLE_MATCH:
            row.possible += 1
        if captured_ms is not None:
            seconds = max(0.0, (at - int(captured_ms)) / 1000)
            report.answer_s.append(seconds)
            row.answer_s.append(seconds)
    report.rows = sorted(rows.values(), key=lambda r: (r.day, r.device))
    _backlog(db, report)
    return report


def _backlog(db: Database, report: OperationReport) -> None:
    if report.first_ms is None or report.last_ms is None:
        return
    for device in sorted({row.device for row in report.rows}):
        row = db.one(
            "SELECT MAX(backlog_age_s) FROM telemetry WHERE device_id = ? AND kind = 'app' "
            "AND at_ms BETWEEN ? AND ?",
            (device, report.first_ms - 3_600_000, report.last_ms + 3_600_000),
        )
        report.backlog_age_s[device] = int(row[0]) if row and row[0] is not None else 0


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


OUTCOME_ORDER = (HIT, POSSIBLE_MATCH, NO_HIT, REJECTED)
