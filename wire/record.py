"""The check record and its CBOR encoding (schema version 2; version 1 is still read).

A record is encoded as a CBOR map with short text keys; decoding is strict —
every field is type- and range-checked, unknown keys are refused — so a
malformed or hostile payload becomes :class:`~wire.errors.MalformedRecord`
before anything acts on it. ``v`` carries the schema version; a version this
code does not know is :class:`~wire.errors.UnsupportedVersion`.

Field table (version 2):

=========  =====================================================================
``v``      schema version, 2 (1 is read as a version-2 record without the
           fields marked *v2*)
``id``     record id, 16-byte UUIDv7 (time-ordered; the deduplication key)
``dev``    device id
``t``      capture time, milliseconds since the Unix epoch (UTC)
``mono``   [boot id (16 bytes), monotonic milliseconds since boot]
``gnss``   [lat, lon, altitude m | null, hdop | null] or null
``op``     officer id (who took the check)
``fp``     list of fingers: {``pos`` ISO finger position 0-10, ``q`` quality
           0-100, ``fmt`` template format, ``tpl`` template bytes}
``face``   {``emb`` quantised embedding, ``ver`` model version, ``q`` quality,
           ``img`` token JPEG or null} or null
``sw``     {``fw`` firmware version, ``models`` {name: version}}
``trn``    *v2* true when the check was taken on emulated hardware (training):
           the central service never treats it as a real check
``opn``    *v2* operation id or null (the operation the officer works in)
``case``   *v2* the officer's case reference or null (free text, no names)
=========  =====================================================================
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import cbor2

from wire import fields as f
from wire.errors import MalformedRecord, TooLarge, UnsupportedVersion

VERSION = 2
READS = (1, 2)
MAX_RECORD_BYTES = 64 * 1024
"""A record with ten fingers, a face and a token image stays far below this."""

TEMPLATE_FORMATS = {"iso19794-2:2005", "incits378:2004"}
MAX_ID_TEXT = 64
"""Longest device, officer, operation id or case reference."""


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
    """The officer who took the check."""
    fingers: tuple[Finger, ...] = ()
    face: Face | None = None
    gnss: Gnss | None = None
    firmware_version: str = ""
    model_versions: dict[str, str] = field(default_factory=dict)
    training: bool = False
    """Taken on emulated hardware: an exercise, never a real check."""
    operation_id: str | None = None
    case_reference: str | None = None

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
                {"pos": x.position, "q": x.quality, "fmt": x.format, "tpl": x.template}
                for x in self.fingers
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
            "trn": self.training,
            "opn": self.operation_id,
            "case": self.case_reference,
        }
        encoded: bytes = cbor2.dumps(data)
        if len(encoded) > MAX_RECORD_BYTES:
            raise TooLarge(f"record of {len(encoded)} bytes exceeds {MAX_RECORD_BYTES}")
        return encoded

    @classmethod
    def decode(cls, data: bytes) -> CheckRecord:
        if len(data) > MAX_RECORD_BYTES:
            raise TooLarge(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}")
        m = f.load_map(data, "record")
        version = m.get("v")
        if version not in READS:
            raise UnsupportedVersion(
                f"record schema version {version!r} is not supported (this side reads "
                f"{', '.join(map(str, READS))}); update the central service or the device firmware"
            )
        allowed = {"v", "id", "dev", "t", "mono", "gnss", "op", "fp", "face", "sw"}
        if version >= 2:
            allowed |= {"trn", "opn", "case"}
        f.only(m, allowed, "record")
        mono = f.get(m, "mono", list)
        if len(mono) != 2:
            raise MalformedRecord("mono must be [boot id, milliseconds]")
        fingers = tuple(_finger(x) for x in f.get(m, "fp", list))
        if len(fingers) > 10:
            raise MalformedRecord(f"{len(fingers)} fingers in one record; at most 10")
        face_raw = m.get("face")
        sw = f.get(m, "sw", dict)
        f.only(sw, {"fw", "models"}, "sw")
        models = f.get(sw, "models", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in models.items()):
            raise MalformedRecord("sw.models must map names to version strings")
        return cls(
            record_id=f.byte_string(m, "id", 16, 16),
            device_id=f.text(m, "dev", MAX_ID_TEXT),
            captured_ms=f.integer(m, "t", 0, 2**48),
            boot_id=f.bytes_value(mono[0], "mono[0]", 16, 16),
            monotonic_ms=f.int_value(mono[1], "mono[1]", 0, 2**48),
            operator_id=f.text(m, "op", MAX_ID_TEXT),
            fingers=fingers,
            face=None if face_raw is None else _face(face_raw),
            gnss=_gnss(m.get("gnss")),
            firmware_version=f.text(sw, "fw", 64),
            model_versions=dict(models),
            training=f.boolean(m, "trn"),
            operation_id=f.opt_text(m, "opn", MAX_ID_TEXT),
            case_reference=f.opt_text(m, "case", MAX_ID_TEXT),
        )


def _gnss(raw: Any) -> Gnss | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 4:
        raise MalformedRecord("gnss must be [lat, lon, alt, hdop] or null")
    lat, lon = f.number(raw[0], "lat", -90, 90), f.number(raw[1], "lon", -180, 180)
    alt = None if raw[2] is None else f.number(raw[2], "alt", -500, 10000)
    hdop = None if raw[3] is None else f.number(raw[3], "hdop", 0, 100)
    return Gnss(lat, lon, alt, hdop)


def _finger(raw: Any) -> Finger:
    if not isinstance(raw, dict):
        raise MalformedRecord("each finger must be a map")
    f.only(raw, {"pos", "q", "fmt", "tpl"}, "finger")
    fmt = f.text(raw, "fmt", 32)
    if fmt not in TEMPLATE_FORMATS:
        raise MalformedRecord(f"template format {fmt!r} is not one of {sorted(TEMPLATE_FORMATS)}")
    return Finger(
        position=f.integer(raw, "pos", 0, 10),
        quality=f.integer(raw, "q", 0, 100),
        template=f.byte_string(raw, "tpl", 1, 8192),
        format=fmt,
    )


def _face(raw: Any) -> Face:
    if not isinstance(raw, dict):
        raise MalformedRecord("face must be a map or null")
    f.only(raw, {"emb", "ver", "q", "img"}, "face")
    image = raw.get("img")
    return Face(
        embedding=f.byte_string(raw, "emb", 16, 2048),
        model_version=f.text(raw, "ver", 64),
        quality=f.integer(raw, "q", 0, 100),
        token_image=None if image is None else f.bytes_value(image, "img", 1, 48 * 1024),
    )
