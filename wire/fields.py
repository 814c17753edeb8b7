"""Strict readers of CBOR maps: every wire object is decoded through these.

Each reader checks type and range and raises :class:`~wire.errors.MalformedRecord`
naming the field, so that a hostile or broken payload is refused before anything
acts on it, with a message that says which field was wrong.
"""

from __future__ import annotations

from typing import Any

import cbor2

from wire.errors import MalformedRecord


def load_map(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = cbor2.loads(data)
    except Exception as exc:
        raise MalformedRecord(f"{what} is not valid CBOR: {type(exc).__name__}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise MalformedRecord(f"{what} must be a CBOR map with text keys")
    return value


def only(m: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(m) - allowed
    if unknown:
        raise MalformedRecord(f"unknown field(s) {sorted(unknown)} in {what}")


def get(m: dict[str, Any], key: str, kind: type) -> Any:
    if key not in m:
        raise MalformedRecord(f"missing field {key!r}")
    value = m[key]
    if not isinstance(value, kind):
        raise MalformedRecord(f"field {key!r} must be {kind.__name__}")
    return value


def int_value(value: Any, key: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise MalformedRecord(f"field {key!r} must be an integer in {lo}..{hi}")
    return value


def integer(m: dict[str, Any], key: str, lo: int, hi: int) -> int:
    return int_value(m.get(key), key, lo, hi)


def number(value: Any, key: str, lo: float, hi: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
        raise MalformedRecord(f"field {key!r} must be a number in {lo}..{hi}")
    return float(value)


def text(m: dict[str, Any], key: str, max_len: int) -> str:
    value = m.get(key)
    if not isinstance(value, str) or len(value) > max_len:
        raise MalformedRecord(f"field {key!r} must be text of at most {max_len} characters")
    return value


def opt_text(m: dict[str, Any], key: str, max_len: int) -> str | None:
    return None if m.get(key) is None else text(m, key, max_len)


def bytes_value(value: Any, key: str, lo: int, hi: int) -> bytes:
    if not isinstance(value, bytes) or not lo <= len(value) <= hi:
        raise MalformedRecord(f"field {key!r} must be {lo}..{hi} bytes")
    return value


def byte_string(m: dict[str, Any], key: str, lo: int, hi: int) -> bytes:
    return bytes_value(m.get(key), key, lo, hi)


def boolean(m: dict[str, Any], key: str, default: bool = False) -> bool:
    value = m.get(key, default)
    if not isinstance(value, bool):
        raise MalformedRecord(f"field {key!r} must be true or false")
    return value
