"""Parsers for AT command replies and URCs: pure functions over text.

Every function raises :class:`~hal.errors.ModemProtocolError` on anything it
cannot read (a truncated line, garbage, an out-of-range value) and nothing
else, which the fuzz tests check. Formats: 3GPP TS 27.007 and the Quectel
EC25 / SIMCom SIM7600 AT manuals (see ``shared/reference/devices.md`` sec. 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from hal.errors import ModemProtocolError
from hal.modem.protocol import ACCESS_TECHNOLOGIES, GnssFix, Registration

CME_TEXT_TO_CODE = {
    "sim not inserted": 10,
    "sim pin required": 11,
    "sim puk required": 12,
    "sim failure": 13,
    "sim busy": 14,
    "sim wrong": 15,
    "incorrect password": 16,
    "no network service": 30,
    "session is ongoing": 504,
    "session not active": 505,
    "not fixed now": 516,
}


def fields(body: str) -> list[str]:
    """Split a reply body on commas that are not inside double quotes."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in body:
        if ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == "," and not quoted:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if quoted:
        raise ModemProtocolError(f"unterminated quote in {body!r}")
    out.append("".join(current).strip())
    return out


def body_of(line: str, prefix: str) -> str:
    """The part after ``PREFIX:``; ModemProtocolError if the line has another prefix."""
    if not line.startswith(prefix + ":"):
        raise ModemProtocolError(f"expected a {prefix} line, got {line[:60]!r}")
    return line[len(prefix) + 1 :].strip()


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def to_int(value: str, what: str, lo: int | None = None, hi: int | None = None) -> int:
    text = unquote(value.strip())
    if not re.fullmatch(r"-?\d{1,10}", text):
        raise ModemProtocolError(f"{what}: {value[:40]!r} is not an integer")
    number = int(text)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ModemProtocolError(f"{what}: {number} outside {lo}..{hi}")
    return number


def to_float(value: str, what: str) -> float:
    text = value.strip()
    if not re.fullmatch(r"-?\d{1,12}(\.\d{0,12})?", text):
        raise ModemProtocolError(f"{what}: {value[:40]!r} is not a number")
    return float(text)


# -- result codes --------------------------------------------------------------


def parse_cme_error(line: str) -> tuple[int | None, str]:
    """``+CME ERROR: 10`` or ``+CME ERROR: SIM not inserted`` to (code, text)."""
    for prefix in ("+CME ERROR", "+CMS ERROR"):
        if line.startswith(prefix + ":"):
            detail = line[len(prefix) + 1 :].strip()
            if re.fullmatch(r"\d{1,4}", detail):
                return int(detail), detail
            return CME_TEXT_TO_CODE.get(detail.lower()), detail
    if line.strip() == "ERROR":
        return None, "ERROR"
    raise ModemProtocolError(f"not an error result: {line[:60]!r}")


# -- signal and registration -------------------------------------------------------


def parse_csq(line: str) -> tuple[int, int]:
    """``+CSQ: 17,99`` to (rssi, ber)."""
    parts = fields(body_of(line, "+CSQ"))
    if len(parts) != 2:
        raise ModemProtocolError(f"+CSQ needs 2 fields, got {len(parts)}")
    rssi = to_int(parts[0], "CSQ rssi", 0, 199)
    ber = to_int(parts[1], "CSQ ber", 0, 99)
    return rssi, ber


def csq_to_dbm(rssi: int) -> int | None:
    """3GPP rssi index to dBm: 0 = -113 dBm ... 31 = -51 dBm; 99 = unknown."""
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    return None


@dataclass(frozen=True)
class RegistrationInfo:
    stat: Registration
    area: str | None = None
    cell: str | None = None
    act: int | None = None


def parse_registration(line: str, solicited: bool) -> RegistrationInfo:
    """``+CREG``/``+CEREG``/``+CGREG`` as a query reply (``n,stat,...``) or a URC (``stat,...``)."""
    for prefix in ("+CEREG", "+CREG", "+CGREG"):
        if line.startswith(prefix + ":"):
            parts = fields(body_of(line, prefix))
            break
    else:
        raise ModemProtocolError(f"not a registration line: {line[:60]!r}")
    if solicited:
        if len(parts) < 2:
            raise ModemProtocolError(f"{prefix} reply needs n and stat: {line[:60]!r}")
        to_int(parts[0], f"{prefix} n", 0, 5)
        parts = parts[1:]
    stat = Registration(to_int(parts[0], f"{prefix} stat", 0, 5))
    area = unquote(parts[1]) if len(parts) > 1 and parts[1] else None
    cell = unquote(parts[2]) if len(parts) > 2 and parts[2] else None
    act = to_int(parts[3], f"{prefix} AcT", 0, 13) if len(parts) > 3 and parts[3] else None
    for value, what in ((area, "area code"), (cell, "cell id")):
        if value is not None and not re.fullmatch(r"[0-9A-Fa-f]{1,8}", value):
            raise ModemProtocolError(f"{prefix} {what} {value[:20]!r} is not hexadecimal")
    return RegistrationInfo(stat=stat, area=area, cell=cell, act=act)


def parse_cops(line: str) -> tuple[str | None, str | None]:
    """``+COPS: 0,0,"Operator",7`` to (operator, access technology name)."""
    parts = fields(body_of(line, "+COPS"))
    to_int(parts[0], "COPS mode", 0, 4)
    if len(parts) < 3:
        return None, None  # not registered: only the mode is reported
    operator = unquote(parts[2])
    act = None
    if len(parts) > 3 and parts[3]:
        act = ACCESS_TECHNOLOGIES.get(to_int(parts[3], "COPS AcT", 0, 13), "unknown")
    return operator, act


def parse_cpin(line: str) -> str:
    status = body_of(line, "+CPIN")
    if status not in {"READY", "SIM PIN", "SIM PUK", "SIM PIN2", "SIM PUK2", "PH-SIM PIN"}:
        raise ModemProtocolError(f"unknown SIM status {status[:30]!r}")
    return status


# -- data context ----------------------------------------------------------------------


def parse_qiact(lines: list[str], context: int = 1) -> str | None:
    """Quectel ``+QIACT: 1,1,1,"10.7.157.1"``: the IP of ``context`` if active."""
    for line in lines:
        parts = fields(body_of(line, "+QIACT"))
        if len(parts) < 4:
            raise ModemProtocolError(f"+QIACT needs 4 fields: {line[:60]!r}")
        if to_int(parts[0], "QIACT context", 1, 16) == context:
            state = to_int(parts[1], "QIACT state", 0, 1)
            return _ip(unquote(parts[3])) if state == 1 else None
    return None


def parse_cgact(lines: list[str], context: int = 1) -> bool:
    """3GPP ``+CGACT: 1,1`` lines: whether ``context`` is active."""
    for line in lines:
        parts = fields(body_of(line, "+CGACT"))
        if len(parts) != 2:
            raise ModemProtocolError(f"+CGACT needs 2 fields: {line[:60]!r}")
        if to_int(parts[0], "CGACT context", 1, 24) == context:
            return to_int(parts[1], "CGACT state", 0, 1) == 1
    return False


def parse_cgpaddr(line: str) -> str | None:
    parts = fields(body_of(line, "+CGPADDR"))
    to_int(parts[0], "CGPADDR context", 1, 24)
    if len(parts) < 2 or not unquote(parts[1]):
        return None
    return _ip(unquote(parts[1]))


def _ip(text: str) -> str:
    if not re.fullmatch(r"[0-9A-Fa-f.:]{2,45}", text):
        raise ModemProtocolError(f"{text[:50]!r} is not an IP address")
    return text


# -- GNSS ------------------------------------------------------------------------------


def parse_qgpsloc(line: str) -> GnssFix:
    """Quectel ``AT+QGPSLOC=2`` reply (decimal degrees)."""
    parts = fields(body_of(line, "+QGPSLOC"))
    if len(parts) != 11:
        raise ModemProtocolError(f"+QGPSLOC needs 11 fields, got {len(parts)}")
    lat = to_float(parts[1], "latitude")
    lon = to_float(parts[2], "longitude")
    _check_position(lat, lon)
    return GnssFix(
        latitude=lat,
        longitude=lon,
        hdop=to_float(parts[3], "hdop"),
        altitude_m=to_float(parts[4], "altitude"),
        satellites=to_int(parts[10], "satellites", 0, 99),
        utc=_utc(parts[9], parts[0]),
    )


def parse_cgpsinfo(line: str) -> GnssFix | None:
    """SIMCom ``+CGPSINFO: 4429.967842,N,01124.141582,E,250325,160319.0,57.7,0.0,``."""
    parts = fields(body_of(line, "+CGPSINFO"))
    if len(parts) < 8:
        raise ModemProtocolError(f"+CGPSINFO needs at least 8 fields, got {len(parts)}")
    if not any(parts[:4]):
        return None  # ",,,,,,,," means no fix
    lat = _ddmm(parts[0], parts[1], "NS", 2)
    lon = _ddmm(parts[2], parts[3], "EW", 3)
    _check_position(lat, lon)
    return GnssFix(
        latitude=lat,
        longitude=lon,
        altitude_m=to_float(parts[6], "altitude") if parts[6] else None,
        hdop=None,
        satellites=None,
        utc=_utc(parts[4], parts[5]),
    )


def _ddmm(value: str, hemi: str, allowed: str, deg_digits: int) -> float:
    if hemi not in tuple(allowed):
        raise ModemProtocolError(f"hemisphere {hemi[:5]!r} is not one of {allowed}")
    if not re.fullmatch(rf"\d{{{deg_digits}}}\d{{2}}\.\d{{1,8}}", value):
        raise ModemProtocolError(f"coordinate {value[:20]!r} is not (d)ddmm.mmmm")
    degrees = int(value[:deg_digits]) + float(value[deg_digits:]) / 60.0
    return -degrees if hemi in "SW" else degrees


def _check_position(lat: float, lon: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ModemProtocolError(f"position {lat},{lon} is outside the globe")


def _utc(date: str, time: str) -> datetime | None:
    if not date or not time:
        return None
    if not re.fullmatch(r"\d{6}", date) or not re.fullmatch(r"\d{6}(\.\d{1,3})?", time):
        raise ModemProtocolError(f"bad GNSS date/time {date[:10]!r} {time[:12]!r}")
    try:
        return datetime(
            2000 + int(date[4:6]),
            int(date[2:4]),
            int(date[0:2]),
            int(time[0:2]),
            int(time[2:4]),
            int(time[4:6]),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise ModemProtocolError(f"impossible GNSS date/time {date} {time}") from exc
