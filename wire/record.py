"""The check record and the answer, and their CBOR encoding (schema version 1).

A record is encoded as a CBOR map with short text keys; decoding is strict —
every field is type- and range-checked, unknown keys are refused — so a
malformed or hostile payload becomes :class:`~wire.errors.MalformedRecord`
before anything acts on it. ``v`` carries the schema version; a version this
code does not know is :class:`~wire.errors.UnsupportedVersion`.

Field table (version 1):

=========  =====================================================================
``v``      schema version, 1
``id``     record id, 16-byte UUIDv7 (time-ordered; the deduplication key)
``dev``    device id
``t``      capture time, milliseconds since the Unix epoch (UTC)
``mono``   [boot id (16 bytes), monotonic milliseconds since boot]
``gnss``   [lat, lon, altitude m | null, hdop | null] or null
``op``     operator id
``fp``     list of fingers: {``pos`` ISO finger position 0-10, ``q`` quality
           0-100, ``fmt`` template format, ``tpl`` template bytes}
``face``   {``emb`` quantised embedding, ``ver`` model version, ``q`` quality,
           ``img`` token JPEG or null} or null
``sw``     {``fw`` firmware version, ``models`` {name: version}}
=========  =====================================================================
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import cbor2

from wire.errors import MalformedRecord, TooLarge, UnsupportedVersion

VERSION = 1
MAX_RECORD_BYTES = 64 * 1024
"""A record with ten fingers, a face and a token image stays far below this."""

TEMPLATE_FORMATS = {"iso19794-2:2005", "incits378:2004"}


def uuid7(unix_ms: int | None = None) -> bytes:
    """A UUIDv7 (RFC 9562): 48-bit millisecond timestamp, then random bits."""
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return bytes(raw)


def record_id_text(record_id: bytes) -> str:
    return str(uuid.UUID(bytes=record_id))


@dataclass(frozen=True)
class Finger:
    position: int
    quality: int
    template: bytes
    format: str = "iso19794-2:2005"


@dataclass(frozen=True)
class Face:
    embedding: bytes
    model_version: str
    quality: int
    token_image: bytes | None = None


@dataclass(frozen=True)
class Gnss:
    latitude: float
    longitude: float
    altitude_m: float | None = None
    hdop: float | None = None


@dataclass(frozen=True)
class CheckRecord:
    record_id: bytes
    device_id: str
    captured_ms: int
    boot_id: bytes
    monotonic_ms: int
    operator_id: str
    fingers: tuple[Finger, ...] = ()
    face: Face | None = None
    gnss: Gnss | None = None
    firmware_version: str = ""
    model_versions: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        data: dict[str, Any] = {
            "v": VERSION,
            "id": self.record_id,
            "dev": self.device_id,
            "t": self.captured_ms,
            "mono": [self.boot_id, self.monotonic_ms],
            "gnss": None
            if self.gnss is None
            else [self.gnss.latitude, self.gnss.longitude, self.gnss.altitude_m, self.gnss.hdop],
            "op": self.operator_id,
            "fp": [
                {"pos": f.position, "q": f.quality, "fmt": f.format, "tpl": f.template}
                for f in self.fingers
            ],
            "face": None
            if self.face is None
            else {
                "emb": self.face.embedding,
                "ver": self.face.model_version,
                "q": self.face.quality,
                "img": self.face.token_image,
            },
            "sw": {"fw": self.firmware_version, "models": dict(self.model_versions)},
        }
        encoded: bytes = cbor2.dumps(data)
        if len(encoded) > MAX_RECORD_BYTES:
            raise TooLarge(f"record of {len(encoded)} bytes exceeds {MAX_RECORD_BYTES}")
        return encoded

    @classmethod
    def decode(cls, data: bytes) -> CheckRecord:
        if len(data) > MAX_RECORD_BYTES:
            raise TooLarge(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}")
        m = _load_map(data, "record")
        version = m.get("v")
        if version != VERSION:
            raise UnsupportedVersion(
                f"record schema version {version!r} is not supported (this side reads {VERSION}); "
                "update the central service or the device firmware"
            )
        _only(m, {"v", "id", "dev", "t", "mono", "gnss", "op", "fp", "face", "sw"}, "record")
        mono = _get(m, "mono", list)
        if len(mono) != 2:
            raise MalformedRecord("mono must be [boot id, milliseconds]")
        gnss_raw = m.get("gnss")
        gnss = None
        if gnss_raw is not None:
            if not isinstance(gnss_raw, list) or len(gnss_raw) != 4:
                raise MalformedRecord("gnss must be [lat, lon, alt, hdop] or null")
            lat, lon = _num(gnss_raw[0], "lat", -90, 90), _num(gnss_raw[1], "lon", -180, 180)
            alt = None if gnss_raw[2] is None else _num(gnss_raw[2], "alt", -500, 10000)
            hdop = None if gnss_raw[3] is None else _num(gnss_raw[3], "hdop", 0, 100)
            gnss = Gnss(lat, lon, alt, hdop)
        fingers = tuple(_finger(f) for f in _get(m, "fp", list))
        if len(fingers) > 10:
            raise MalformedRecord(f"{len(fingers)} fingers in one record; at most 10")
        face_raw = m.get("face")
        face = None if face_raw is None else _face(face_raw)
        sw = _get(m, "sw", dict)
        _only(sw, {"fw", "models"}, "sw")
        models = _get(sw, "models", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in models.items()):
            raise MalformedRecord("sw.models must map names to version strings")
        return cls(
            record_id=_bytes(m, "id", 16, 16),
            device_id=_text(m, "dev", 64),
            captured_ms=_int(m, "t", 0, 2**48),
            boot_id=_bytes_value(mono[0], "mono[0]", 16, 16),
            monotonic_ms=_int_value(mono[1], "mono[1]", 0, 2**48),
            operator_id=_text(m, "op", 64),
            fingers=fingers,
            face=face,
            gnss=gnss,
            firmware_version=_text(sw, "fw", 64),
            model_versions=dict(models),
        )


HIT = "hit"
NO_HIT = "no_hit"
REJECTED = "rejected"


@dataclass(frozen=True)
class Answer:
    """The central service's answer to one record."""

    record_id: bytes
    outcome: str
    """``hit``, ``no_hit`` or ``rejected`` (the record could not be processed)."""
    score: float = 0.0
    reference: str | None = None
    """The matched watchlist entry's reference (never biometric data)."""
    notice: str | None = None
    """The notice type of the matched entry (for example an INTERPOL red notice)."""
    answered_ms: int = 0
    reason: str | None = None

    def encode(self) -> bytes:
        payload: bytes = cbor2.dumps(
            {
                "v": VERSION,
                "id": self.record_id,
                "out": self.outcome,
                "score": float(self.score),
                "ref": self.reference,
                "notice": self.notice,
                "at": self.answered_ms,
                "why": self.reason,
            }
        )
        return payload

    @classmethod
    def decode(cls, data: bytes) -> Answer:
        if len(data) > 4096:
            raise TooLarge(f"answer of {len(data)} bytes exceeds 4096")
        m = _load_map(data, "answer")
        if m.get("v") != VERSION:
            raise UnsupportedVersion(f"answer schema version {m.get('v')!r} is not supported")
        _only(m, {"v", "id", "out", "score", "ref", "notice", "at", "why"}, "answer")
        outcome = _text(m, "out", 16)
        if outcome not in (HIT, NO_HIT, REJECTED):
            raise MalformedRecord(f"unknown outcome {outcome!r}")
        return cls(
            record_id=_bytes(m, "id", 16, 16),
            outcome=outcome,
            score=_num(m.get("score"), "score", -1e9, 1e9),
            reference=_opt_text(m, "ref", 128),
            notice=_opt_text(m, "notice", 64),
            answered_ms=_int(m, "at", 0, 2**48),
            reason=_opt_text(m, "why", 256),
        )


# -- strict field readers ---------------------------------------------------------------


def _load_map(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = cbor2.loads(data)
    except Exception as exc:
        raise MalformedRecord(f"{what} is not valid CBOR: {type(exc).__name__}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise MalformedRecord(f"{what} must be a CBOR map with text keys")
    return value


def _only(m: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(m) - allowed
    if unknown:
        raise MalformedRecord(f"unknown field(s) {sorted(unknown)} in {what}")


def _get(m: dict[str, Any], key: str, kind: type) -> Any:
    if key not in m:
        raise MalformedRecord(f"missing field {key!r}")
    value = m[key]
    if not isinstance(value, kind):
        raise MalformedRecord(f"field {key!r} must be {kind.__name__}")
    return value


def _int_value(value: Any, key: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise MalformedRecord(f"field {key!r} must be an integer in {lo}..{hi}")
    return value


def _int(m: dict[str, Any], key: str, lo: int, hi: int) -> int:
    return _int_value(m.get(key), key, lo, hi)


def _num(value: Any, key: str, lo: float, hi: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
        raise MalformedRecord(f"field {key!r} must be a number in {lo}..{hi}")
    return float(value)


def _text(m: dict[str, Any], key: str, max_len: int) -> str:
    value = m.get(key)
    if not isinstance(value, str) or len(value) > max_len:
        raise MalformedRecord(f"field {key!r} must be text of at most {max_len} characters")
    return value


def _opt_text(m: dict[str, Any], key: str, max_len: int) -> str | None:
    return None if m.get(key) is None else _text(m, key, max_len)


def _bytes_value(value: Any, key: str, lo: int, hi: int) -> bytes:
    if not isinstance(value, bytes) or not lo <= len(value) <= hi:
        raise MalformedRecord(f"field {key!r} must be {lo}..{hi} bytes")
    return value


def _bytes(m: dict[str, Any], key: str, lo: int, hi: int) -> bytes:
    return _bytes_value(m.get(key), key, lo, hi)


def _finger(raw: Any) -> Finger:
    if not isinstance(raw, dict):
        raise MalformedRecord("each finger must be a map")
    _only(raw, {"pos", "q", "fmt", "tpl"}, "finger")
    fmt = _text(raw, "fmt", 32)
    if fmt not in TEMPLATE_FORMATS:
        raise MalformedRecord(f"template format {fmt!r} is not one of {sorted(TEMPLATE_FORMATS)}")
    return Finger(
        position=_int(raw, "pos", 0, 10),
        quality=_int(raw, "q", 0, 100),
        template=_bytes(raw, "tpl", 1, 8192),
        format=fmt,
    )


def _face(raw: Any) -> Face:
    if not isinstance(raw, dict):
        raise MalformedRecord("face must be a map or null")
    _only(raw, {"emb", "ver", "q", "img"}, "face")
    image = raw.get("img")
    return Face(
        embedding=_bytes(raw, "emb", 16, 2048),
        model_version=_text(raw, "ver", 64),
        quality=_int(raw, "q", 0, 100),
        token_image=None if image is None else _bytes_value(image, "img", 1, 48 * 1024),
    )
