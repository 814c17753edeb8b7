"""ATECC608 framing, driver against the emulator, software key store."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.emulators.atecc608 import Atecc608Emulator, provisioned
from hal.emulators.i2cbus import EmulatedI2CBus, I2CBusServer
from hal.errors import BusError, SecureElementError, SecureElementStatus
from hal.i2c import I2CTransport, Message, SocketI2CBus
from hal.secure import atca
from hal.secure.atecc608 import Atecc608
from hal.secure.protocol import public_key_pem, verify_signature
from hal.secure.softkey import SoftKeyStore


def test_crc_vectors() -> None:
    # Info command (Helium's unit test) and the wake response.
    assert atca.command_packet(atca.Opcode.INFO, 0, 0) == bytes.fromhex("030730000000035D")
    assert atca.crc16(b"\x04\x11") == bytes.fromhex("3343")


@given(st.binary(min_size=1, max_size=150))
def test_response_parser_rejects_corruption(data: bytes) -> None:
    frame = bytes([len(data) + 3]) + data
    frame += atca.crc16(frame)
    if len(frame) > 255:
        return
    assert atca.parse_response(frame) == data
    broken = bytearray(frame)
    broken[1] ^= 0x01
    with pytest.raises(atca.SecureElementProtocolError):
        atca.parse_response(bytes(broken))


@given(st.binary(max_size=40))
def test_response_parser_raises_only_typed_errors(frame: bytes) -> None:
    with contextlib.suppress(atca.SecureElementProtocolError):
        atca.parse_response(frame)


@pytest.fixture
def chip() -> Atecc608Emulator:
    emu = provisioned(0)
    emu.time_scale = 0.1
    return emu


@pytest.fixture
def bus(chip: Atecc608Emulator) -> EmulatedI2CBus:
    bus = EmulatedI2CBus()
    bus.attach(0x60, chip)
    return bus


@pytest.fixture
def se(bus: EmulatedI2CBus) -> Atecc608:
    return Atecc608(I2CTransport(bus))


def test_chip_is_asleep_until_the_wake_pulse(bus: EmulatedI2CBus) -> None:
    with pytest.raises(OSError) as info:
        bus.i2c_rdwr(Message.read(0x60, 4))
    assert info.value.errno == 121
    with pytest.raises(OSError):
        bus.i2c_rdwr(Message.write(0x00, b"\x00"))  # the wake pulse itself is not acknowledged
    response = Message.read(0x60, 4)
    bus.i2c_rdwr(response)
    assert bytes(response) == atca.WAKE_RESPONSE


def test_info_serial_and_lock(se: Atecc608, chip: Atecc608Emulator) -> None:
    info = se.info()
    assert info.model == "ATECC608"
    assert info.serial == chip.serial.hex().upper()
    assert info.serial.startswith("0123") and info.serial.endswith("EE")
    assert info.locked


def test_random_is_32_fresh_bytes(se: Atecc608) -> None:
    a, b = se.random(), se.random()
    assert len(a) == 32 and a != b


def test_signatures_verify_with_the_public_key(se: Atecc608) -> None:
    public = se.public_key(0)
    digest = hashlib.sha256(b"check record").digest()
    signature = se.sign_digest(0, digest)
    assert len(signature) == 64
    assert verify_signature(public, digest, signature)
    assert not verify_signature(public, hashlib.sha256(b"other").digest(), signature)
    assert public_key_pem(public).startswith("-----BEGIN PUBLIC KEY-----")


def test_generate_key_replaces_the_slot(se: Atecc608) -> None:
    old = se.public_key(0)
    new = se.generate_key(0)
    assert new != old and se.public_key(0) == new


def test_empty_slot_is_an_execution_error(se: Atecc608) -> None:
    with pytest.raises(SecureElementStatus) as info:
        se.public_key(5)
    assert info.value.status == 0x0F


def test_counter_is_monotonic(se: Atecc608) -> None:
    start = se.counter(1)
    assert se.increment_counter(1) == start + 1
    assert se.increment_counter(1) == start + 2
    assert se.counter(1) == start + 2
    assert se.counter(0) == 0


def test_nack_fault(se: Atecc608, chip: Atecc608Emulator) -> None:
    chip.nack = True
    with pytest.raises(SecureElementError, match="does not wake"):
        se.random()


def test_corrupted_responses(se: Atecc608, chip: Atecc608Emulator) -> None:
    chip.corrupt_responses = True
    with pytest.raises(atca.SecureElementCrcError):
        se.random()


def test_watchdog_puts_the_chip_to_sleep(bus: EmulatedI2CBus, chip: Atecc608Emulator) -> None:
    import time

    chip.wake()
    time.sleep(1.4)
    with pytest.raises(OSError):
        bus.i2c_rdwr(Message.read(0x60, 4))


def test_emulated_keys_persist_in_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "chip.json"
    first = provisioned(0, state_file=state)
    bus = EmulatedI2CBus()
    bus.attach(0x60, first)
    public = Atecc608(I2CTransport(bus)).public_key(0)
    again = Atecc608Emulator(state_file=state)
    bus2 = EmulatedI2CBus()
    bus2.attach(0x60, again)
    assert Atecc608(I2CTransport(bus2)).public_key(0) == public
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600


@pytest.fixture
def served(bus: EmulatedI2CBus, tmp_path: Path) -> Iterator[str]:
    server = I2CBusServer(bus, str(tmp_path / "i2c.sock")).start()
    yield server.path
    server.stop()


def test_secure_element_over_the_rig_socket(served: str, chip: Atecc608Emulator) -> None:
    se = Atecc608(I2CTransport(SocketI2CBus(served)))
    digest = hashlib.sha256(b"x").digest()
    assert verify_signature(se.public_key(0), digest, se.sign_digest(0, digest))
    chip.nack = True
    with pytest.raises(SecureElementError):
        se.random()


def test_missing_socket_is_a_clear_error(tmp_path: Path) -> None:
    from hal.errors import DeviceNotFound

    with pytest.raises(DeviceNotFound, match="hotspot hil emulate"):
        SocketI2CBus(str(tmp_path / "nothing.sock"))


# -- software key store ------------------------------------------------------------------------


def test_softkey_has_the_same_behaviour(tmp_path: Path) -> None:
    store = SoftKeyStore(tmp_path / "keys")
    with pytest.raises(SecureElementError, match="provision"):
        store.public_key(0)
    public = store.generate_key(0)
    digest = hashlib.sha256(b"record").digest()
    assert verify_signature(public, digest, store.sign_digest(0, digest))
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "slot0.pem").st_mode) == 0o600
    assert store.increment_counter(0) == 1
    assert store.increment_counter(0) == 2
    reopened = SoftKeyStore(tmp_path / "keys")
    assert reopened.counter(0) == 2
    assert reopened.public_key(0) == public
    assert reopened.info().serial == store.info().serial
    with pytest.raises(ValueError):
        store.sign_digest(0, b"short")


def test_bus_error_wraps_the_errno() -> None:
    class Broken:
        def i2c_rdwr(self, *messages: object) -> None:
            raise OSError(110, "Connection timed out")

        def close(self) -> None:
            pass

    with pytest.raises(BusError, match="timed out"):
        I2CTransport(Broken()).read(0x60, 1)  # type: ignore[arg-type]


def _peer() -> tuple[object, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]
    return key, raw


def test_ecdh_agrees_with_the_peer(se: Atecc608, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from wire.envelope import public_key_from_raw

    peer, peer_raw = _peer()
    shared = se.ecdh(0, peer_raw)
    assert shared == peer.exchange(ec.ECDH(), public_key_from_raw(se.public_key(0)))  # type: ignore[attr-defined]
    store = SoftKeyStore(tmp_path / "k")
    public = store.generate_key(0)
    assert store.ecdh(0, peer_raw) == peer.exchange(ec.ECDH(), public_key_from_raw(public))  # type: ignore[attr-defined]


def test_ecdh_rejects_a_point_off_the_curve(se: Atecc608) -> None:
    with pytest.raises(SecureElementStatus):
        se.ecdh(0, b"\x01" * 64)
