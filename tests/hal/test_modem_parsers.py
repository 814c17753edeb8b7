"""AT reply parsers: the formats of devices.md sec. 2.2, and fuzzing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.errors import ModemProtocolError
from hal.modem import parsers
from hal.modem.protocol import Registration


def test_csq_to_dbm() -> None:
    assert parsers.parse_csq("+CSQ: 17,99") == (17, 99)
    assert parsers.csq_to_dbm(0) == -113
    assert parsers.csq_to_dbm(17) == -79
    assert parsers.csq_to_dbm(31) == -51
    assert parsers.csq_to_dbm(99) is None


@pytest.mark.parametrize(
    ("line", "solicited", "stat", "area", "cell", "act"),
    [
        ("+CREG: 0,1", True, Registration.HOME, None, None, None),
        ('+CREG: 2,1,"1234","001122BB"', True, Registration.HOME, "1234", "001122BB", None),
        ('+CEREG: 2,1,"8d83","671f98a",7', True, Registration.HOME, "8d83", "671f98a", 7),
        ("+CEREG: 2", False, Registration.SEARCHING, None, None, None),
        ('+CEREG: 5,"8d83","671f98a",7', False, Registration.ROAMING, "8d83", "671f98a", 7),
        ("+CREG:  0 , 3", True, Registration.DENIED, None, None, None),
    ],
)
def test_registration(
    line: str, solicited: bool, stat: Registration, area: str | None, cell: str | None, act: Any
) -> None:
    info = parsers.parse_registration(line, solicited)
    assert (info.stat, info.area, info.cell, info.act) == (stat, area, cell, act)


def test_cops_and_cpin() -> None:
    assert parsers.parse_cops('+COPS: 0,0,"CHINA MOBILE",7') == ("CHINA MOBILE", "E-UTRAN")
    assert parsers.parse_cops("+COPS: 0") == (None, None)
    assert parsers.parse_cpin("+CPIN: SIM PIN") == "SIM PIN"
    with pytest.raises(ModemProtocolError):
        parsers.parse_cpin("+CPIN: BANANA")


def test_data_context_replies() -> None:
    assert parsers.parse_qiact(['+QIACT: 1,1,1,"10.7.157.1"']) == "10.7.157.1"
    assert parsers.parse_qiact([]) is None
    assert parsers.parse_qiact(['+QIACT: 1,0,1,""']) is None
    assert parsers.parse_cgact(["+CGACT: 1,1", "+CGACT: 2,0"]) is True
    assert parsers.parse_cgpaddr('+CGPADDR: 1,"10.64.1.2"') == "10.64.1.2"


def test_quectel_gnss() -> None:
    fix = parsers.parse_qgpsloc(
        "+QGPSLOC: 202008.0,-22.98486,-43.35916,2.5,4.0,2,0.00,0.0,0.0,290119,09"
    )
    assert (fix.latitude, fix.longitude, fix.hdop, fix.altitude_m, fix.satellites) == (
        -22.98486,
        -43.35916,
        2.5,
        4.0,
        9,
    )
    assert fix.utc == datetime(2019, 1, 29, 20, 20, 8, tzinfo=UTC)


def test_simcom_gnss() -> None:
    fix = parsers.parse_cgpsinfo(
        "+CGPSINFO: 4429.967842,N,01124.141582,E,250325,160319.0,57.7,0.0,"
    )
    assert fix is not None
    assert fix.latitude == pytest.approx(44 + 29.967842 / 60)
    assert fix.longitude == pytest.approx(11 + 24.141582 / 60)
    assert fix.altitude_m == 57.7
    assert parsers.parse_cgpsinfo("+CGPSINFO: ,,,,,,,,") is None


def test_cme_errors() -> None:
    assert parsers.parse_cme_error("+CME ERROR: 10") == (10, "10")
    assert parsers.parse_cme_error("+CME ERROR: SIM not inserted") == (10, "SIM not inserted")
    assert parsers.parse_cme_error("ERROR") == (None, "ERROR")


@pytest.mark.parametrize(
    "line",
    [
        "+CSQ: 17",
        "+CSQ: x,99",
        "+QGPSLOC: 1,2,3",
        "+QGPSLOC: 202008.0,99.5,0,1,1,2,0,0,0,290119,09",
        "+CGPSINFO: 4429.9,Q,01124.1,E,250325,160319.0,1,0,",
        '+CEREG: 2,1,"zz","1",7',
        '+COPS: 0,0,"unterminated',
    ],
)
def test_malformed_lines_are_typed_errors(line: str) -> None:
    functions: list[Callable[[str], object]] = [
        parsers.parse_csq,
        parsers.parse_qgpsloc,
        parsers.parse_cgpsinfo,
        lambda text: parsers.parse_registration(text, True),
        parsers.parse_cops,
    ]
    prefix = line.split(":")[0]
    fn = {
        "+CSQ": parsers.parse_csq,
        "+QGPSLOC": parsers.parse_qgpsloc,
        "+CGPSINFO": parsers.parse_cgpsinfo,
        "+CEREG": lambda text: parsers.parse_registration(text, True),
        "+COPS": parsers.parse_cops,
    }[prefix]
    assert fn in functions or callable(fn)
    with pytest.raises(ModemProtocolError):
        fn(line)


PARSERS: list[Callable[[str], object]] = [
    parsers.parse_csq,
    parsers.parse_cops,
    parsers.parse_cpin,
    parsers.parse_cgpaddr,
    parsers.parse_qgpsloc,
    parsers.parse_cgpsinfo,
    parsers.parse_cme_error,
    lambda s: parsers.parse_registration(s, True),
    lambda s: parsers.parse_registration(s, False),
    lambda s: parsers.parse_qiact([s]),
    lambda s: parsers.parse_cgact([s]),
]

prefixes = st.sampled_from(
    [
        "+CSQ: ",
        "+COPS: ",
        "+CPIN: ",
        "+CGPADDR: ",
        "+QGPSLOC: ",
        "+CGPSINFO: ",
        "+CME ERROR: ",
        "+CREG: ",
        "+CEREG: ",
        "+QIACT: ",
        "+CGACT: ",
        "",
    ]
)
bodies = st.text(alphabet=st.characters(codec="latin-1"), max_size=80)
structured = st.lists(
    st.one_of(st.integers(-5, 2**33).map(str), st.text('0123456789.,-"NSEW', max_size=12)),
    max_size=12,
).map(",".join)


@given(prefixes, st.one_of(bodies, structured), st.integers(0, len(PARSERS) - 1))
def test_parsers_raise_only_typed_errors(prefix: str, body: str, which: int) -> None:
    with contextlib.suppress(ModemProtocolError):
        PARSERS[which](prefix + body)
