"""ISO/IEC 19794-2:2005 records: reference vector, round trips, malformed records."""

from __future__ import annotations

import contextlib
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.errors import WireError
from wire.iso19794_2 import (
    BIFURCATION,
    RIDGE_ENDING,
    FingerView,
    Minutia,
    MinutiaeRecord,
    TemplateError,
)

VECTOR = bytes.fromhex(
    "464D5200 20323000 0000002A 0000 019001E0 00C500C5 01 00"
    "01003C02"
    "4064007820 50"
    "80C800DCC03C"
    "0000".replace(" ", "")
)


def reference() -> MinutiaeRecord:
    return MinutiaeRecord(
        400,
        480,
        (
            FingerView(
                1,
                (
                    Minutia(100, 120, math.radians(45), RIDGE_ENDING, 80),
                    Minutia(200, 220, math.radians(270), BIFURCATION, 60),
                ),
                quality=60,
            ),
        ),
    )


def test_encoding_matches_the_reference_vector() -> None:
    assert reference().encode() == VECTOR


def test_decoding_the_reference_vector_is_bit_exact() -> None:
    record = MinutiaeRecord.decode(VECTOR)
    assert record.encode() == VECTOR
    view = record.views[0]
    assert (view.position, view.quality, len(view.minutiae)) == (1, 60, 2)
    first = view.minutiae[0]
    assert (first.x, first.y, first.kind, first.quality) == (100, 120, RIDGE_ENDING, 80)
    assert math.degrees(first.angle) == pytest.approx(45)


def test_ansi_variant_uses_two_degree_units() -> None:
    ansi = reference().encode_ansi()
    assert len(ansi) == len(VECTOR) + 2
    assert struct.unpack(">H", ansi[8:10])[0] == len(ansi)
    assert ansi[26 + 4 + 4] == 45 // 2 + 1 - 1  # 45 degrees in 2-degree units, rounded


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"XMR\x00" + b[4:], "format identifier"),
        (lambda b: b[:4] + b" 30\x00" + b[8:], "version"),
        (lambda b: b[:8] + struct.pack(">I", 99) + b[12:], "length field"),
        (lambda b: b[:-4], "length field"),
        (lambda b: b[:8] + struct.pack(">I", 36) + b[12:36], "record ends first"),
        (lambda b: b[:28] + bytes([0x40, 0x64 + 0, 0x01, 0xF0]) + b[32:], "outside"),
        (lambda b: b[:24] + bytes([11]) + b[25:], "finger position"),
        (lambda b: b[:10], "shorter than"),
    ],
)
def test_malformed_records_say_what_is_wrong(mutate: object, message: str) -> None:
    data = mutate(VECTOR)  # type: ignore[operator]
    with pytest.raises(TemplateError, match=message):
        MinutiaeRecord.decode(data)


def test_trailing_bytes_are_refused() -> None:
    data = bytearray(VECTOR + b"\x00")
    data[8:12] = struct.pack(">I", len(data))
    with pytest.raises(TemplateError, match="after the last finger view"):
        MinutiaeRecord.decode(bytes(data))


minutiae = st.builds(
    Minutia,
    x=st.integers(0, 399),
    y=st.integers(0, 479),
    angle=st.integers(0, 255).map(lambda a: a / 256 * 2 * math.pi),
    kind=st.sampled_from([0, 1, 2]),
    quality=st.integers(0, 100),
)


@given(st.lists(st.lists(minutiae, max_size=40), min_size=1, max_size=3))
def test_round_trip(views: list[list[Minutia]]) -> None:
    record = MinutiaeRecord(
        400, 480, tuple(FingerView(i + 1, tuple(v), quality=50) for i, v in enumerate(views))
    )
    data = record.encode()
    assert MinutiaeRecord.decode(data).encode() == data


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_template_errors(data: bytes) -> None:
    with contextlib.suppress(WireError):
        MinutiaeRecord.decode(data)
