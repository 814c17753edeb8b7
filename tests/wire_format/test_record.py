"""The check record and answer schema: round trips, strict decoding, fuzzing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire import topics
from wire.answer import HIT, POSSIBLE_MATCH, Answer
from wire.errors import MalformedRecord, TooLarge, UnsupportedVersion, WireError
from wire.record import CheckRecord, uuid7

MakeRecord = Callable[..., CheckRecord]


def test_round_trip(make_record: MakeRecord) -> None:
    record = make_record()
    assert CheckRecord.decode(record.encode()) == record


def test_ten_fingers_and_a_face_stay_compact(make_record: MakeRecord) -> None:
    assert len(make_record(fingers=10).encode()) < 4096


def test_uuid7_is_time_ordered_and_versioned() -> None:
    a, b = uuid7(1000), uuid7(2000)
    assert a < b and a[6] >> 4 == 7 and a[8] >> 6 == 0b10


def test_unknown_version_is_refused_clearly(make_record: MakeRecord) -> None:
    data = cbor2.loads(make_record().encode())
    data["v"] = 3
    with pytest.raises(UnsupportedVersion, match="version 3 is not supported"):
        CheckRecord.decode(cbor2.dumps(data))


def test_training_operation_and_case_reference_travel(make_record: MakeRecord) -> None:
    import dataclasses

    record = dataclasses.replace(
        make_record(), training=True, operation_id="op-7", case_reference="RC/2026/118"
    )
    back = CheckRecord.decode(record.encode())
    assert (back.training, back.operation_id, back.case_reference) == (True, "op-7", "RC/2026/118")


def test_a_version_1_record_is_still_read_as_a_real_check(make_record: MakeRecord) -> None:
    data = cbor2.loads(make_record().encode())
    for key in ("trn", "opn", "case"):
        del data[key]
    data["v"] = 1
    record = CheckRecord.decode(cbor2.dumps(data))
    assert record.training is False and record.operation_id is None
    data["trn"] = True  # a version-1 record has no such field
    with pytest.raises(MalformedRecord, match="unknown field"):
        CheckRecord.decode(cbor2.dumps(data))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", b"short", "'id'"),
        ("dev", 5, "'dev'"),
        ("t", -1, "'t'"),
        ("fp", [{"pos": 11, "q": 1, "fmt": "iso19794-2:2005", "tpl": b"x"}], "'pos'"),
        ("fp", [{"pos": 1, "q": 1, "fmt": "wsq", "tpl": b"x"}], "format"),
        ("gnss", [91.0, 0.0, None, None], "'lat'"),
        ("face", {"emb": b"", "ver": "x", "q": 1, "img": None}, "'emb'"),
        ("extra", 1, "unknown field"),
        ("trn", 1, "'trn'"),
        ("case", "x" * 65, "'case'"),
    ],
)
def test_malformed_fields_are_named(
    make_record: MakeRecord, field: str, value: object, message: str
) -> None:
    data = cbor2.loads(make_record().encode())
    data[field] = value
    with pytest.raises(MalformedRecord, match=message):
        CheckRecord.decode(cbor2.dumps(data))


def test_oversized_record() -> None:
    with pytest.raises(TooLarge):
        CheckRecord.decode(b"\x00" * 70_000)


@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_wire_errors(data: bytes) -> None:
    for decoder in (CheckRecord.decode, Answer.decode):
        with contextlib.suppress(WireError):
            decoder(data)


@given(
    st.dictionaries(
        st.sampled_from(["v", "id", "dev", "t", "mono", "fp", "sw", "op"]),
        st.one_of(
            st.integers(),
            st.binary(max_size=20),
            st.text(max_size=5),
            st.lists(st.integers(), max_size=3),
            st.none(),
        ),
    )
)
def test_structured_garbage_raises_only_wire_errors(data: dict[str, object]) -> None:
    with contextlib.suppress(WireError):
        CheckRecord.decode(cbor2.dumps({"v": 1, **data}))
        CheckRecord.decode(cbor2.dumps({"v": 2, **data}))


def test_answer_round_trip_and_validation() -> None:
    answer = Answer(uuid7(), HIT, 0.97, "WL-000042", "red-notice", 1_790_000_000_000)
    assert Answer.decode(answer.encode()) == answer
    bad = cbor2.loads(answer.encode())
    bad["out"] = "maybe"
    with pytest.raises(MalformedRecord, match="outcome"):
        Answer.decode(cbor2.dumps(bad))


def test_a_possible_match_and_its_verification_are_two_revisions() -> None:
    first = Answer(
        uuid7(),
        POSSIBLE_MATCH,
        0.71,
        "WL-9",
        "red-notice",
        1,
        fmr=2.5e-3,
        modalities=("face",),
        final=False,
        training=True,
    )
    assert Answer.decode(first.encode()) == first
    verified = Answer(first.record_id, HIT, 0.71, "WL-9", "red-notice", 2, revision=1)
    back = Answer.decode(verified.encode())
    assert back.final and back.revision == 1 and back.fmr is None
    for key, value in (("mods", ["iris"]), ("fmr", 2.0), ("final", "yes"), ("rev", -1)):
        data = cbor2.loads(first.encode())
        data[key] = value
        with pytest.raises(MalformedRecord, match=key):
            Answer.decode(cbor2.dumps(data))


def test_a_version_1_answer_is_read_as_final() -> None:
    data = {
        "v": 1,
        "id": uuid7(),
        "out": "no_hit",
        "score": 0.0,
        "ref": None,
        "notice": None,
        "at": 5,
        "why": None,
    }
    answer = Answer.decode(cbor2.dumps(data))
    assert answer.final and answer.revision == 0 and answer.modalities == ()


def test_topics_confine_devices() -> None:
    assert topics.records("hh-0001") == "hotspot/v1/hh-0001/records"
    assert topics.device_of("hotspot/v1/hh-0001/records") == "hh-0001"
    for bad in ("a/b", "#", "+", "x", "hh 1"):
        with pytest.raises(ValueError):
            topics.records(bad)
    with pytest.raises(ValueError):
        topics.device_of("other/v1/hh-0001/records")
