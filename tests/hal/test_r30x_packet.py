"""Byte-level conformance of the R30x packet codec (vectors from devices.md sec. 1.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.errors import NoFinger, SensorChecksumError, SensorError, SensorProtocolError
from hal.fingerprint import r30x_packet as pkt

VECTORS = {
    "GenImg": (pkt.Pid.COMMAND, b"\x01", "EF01FFFFFFFF010003010005"),
    "UpImage": (pkt.Pid.COMMAND, b"\x0a", "EF01FFFFFFFF0100030A000E"),
    "VfyPwd(0)": (pkt.Pid.COMMAND, b"\x13\x00\x00\x00\x00", "EF01FFFFFFFF01000713000000000 01B"),
    "ReadSysPara": (pkt.Pid.COMMAND, b"\x0f", "EF01FFFFFFFF0100030F0013"),
    "ACK OK": (pkt.Pid.ACK, b"\x00", "EF01FFFFFFFF07000300000A"),
    "ACK no finger": (pkt.Pid.ACK, b"\x02", "EF01FFFFFFFF07000302000C"),
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_encode_matches_reference_vectors(name: str) -> None:
    pid, payload, expected = VECTORS[name]
    assert pkt.encode(pid, payload).hex().upper() == expected.replace(" ", "")


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_decode_reference_vectors(name: str) -> None:
    pid, payload, expected = VECTORS[name]
    packet = pkt.decode(bytes.fromhex(expected.replace(" ", "")))
    assert (packet.pid, packet.payload, packet.address) == (pid, payload, 0xFFFFFFFF)


def test_bad_checksum_is_a_typed_error() -> None:
    frame = bytearray(pkt.encode(pkt.Pid.ACK, b"\x00"))
    frame[-1] ^= 1
    with pytest.raises(SensorChecksumError, match="checksum"):
        pkt.decode(bytes(frame))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\xef\x01\xff", "truncated"),
        (b"\xee\x01" + bytes(10), "header"),
        (pkt.encode(pkt.Pid.ACK, b"\x00")[:-1], "length field"),
        (b"\xef\x01\xff\xff\xff\xff\x09\x00\x03\x00\x00\x0c", "identifier"),
        (b"\xef\x01\xff\xff\xff\xff\x07\x01\x10" + bytes(3), "outside"),
    ],
)
def test_malformed_frames_are_rejected_with_a_reason(frame: bytes, message: str) -> None:
    with pytest.raises(SensorProtocolError, match=message):
        pkt.decode(frame)


def test_confirmation_codes_map_to_typed_errors() -> None:
    pkt.raise_for_confirmation(0x00, "x")
    with pytest.raises(NoFinger):
        pkt.raise_for_confirmation(0x02, "GenImg")
    with pytest.raises(SensorError) as info:
        pkt.raise_for_confirmation(0x13, "VfyPwd")
    assert info.value.code == 0x13 and "password" in str(info.value)
    with pytest.raises(SensorError, match="unknown"):
        pkt.raise_for_confirmation(0xAB, "x")


def test_nibble_packing_keeps_the_upper_four_bits() -> None:
    pixels = bytes(range(0, 256, 1))
    packed = pkt.pack_nibbles(pixels)
    assert len(packed) == 128
    assert pkt.unpack_nibbles(packed) == bytes((p >> 4) * 17 for p in pixels)


@given(st.binary(max_size=300))
def test_decoder_raises_only_typed_errors(data: bytes) -> None:
    try:
        packet = pkt.decode(data)
    except SensorProtocolError:
        return
    assert packet.encode() == data


@given(st.sampled_from(list(pkt.Pid)), st.binary(max_size=256), st.integers(0, 2**32 - 1))
def test_encode_decode_round_trip(pid: int, payload: bytes, address: int) -> None:
    assert pkt.decode(pkt.encode(pid, payload, address)) == pkt.Packet(pid, payload, address)
