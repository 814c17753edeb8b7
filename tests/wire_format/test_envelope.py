"""Sealing with COSE: the device signs through the secure element, central opens with cwt."""

from __future__ import annotations

from collections.abc import Callable

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hal.secure.atecc608 import Atecc608
from hil.device_run import secure_element
from wire import envelope
from wire.errors import BadSignature, DecryptionFailed, MalformedRecord, WireError
from wire.record import CheckRecord


@pytest.fixture(scope="module")
def central() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture(scope="module")
def chip() -> Atecc608:
    return secure_element()


def seal(chip: Atecc608, central: tuple[bytes, bytes], record: CheckRecord) -> bytes:
    return envelope.seal(
        record.encode(), record.device_id, lambda d: chip.sign_digest(0, d), central[1], "c1"
    )


def test_sealed_by_the_secure_element_opened_by_central(
    make_record: Callable[..., CheckRecord], chip: Atecc608, central: tuple[bytes, bytes]
) -> None:
    record = make_record()
    sealed = seal(chip, central, record)
    assert record.encode() not in sealed and bytes(270) not in sealed  # no plaintext template
    device_key = envelope.public_key_from_raw(chip.public_key(0))
    opened = envelope.open_sealed(sealed, "hh-0001", central[0], "c1", device_key)
    assert CheckRecord.decode(opened) == record


def test_replay_under_another_device_topic_does_not_open(
    make_record: Callable[..., CheckRecord], chip: Atecc608, central: tuple[bytes, bytes]
) -> None:
    sealed = seal(chip, central, make_record())
    key = envelope.public_key_from_raw(chip.public_key(0))
    with pytest.raises(DecryptionFailed, match="another device"):
        envelope.open_sealed(sealed, "hh-0002", central[0], "c1", key)


def test_wrong_device_key_is_a_bad_signature(
    make_record: Callable[..., CheckRecord], chip: Atecc608, central: tuple[bytes, bytes]
) -> None:
    sealed = seal(chip, central, make_record())
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(BadSignature):
        envelope.open_sealed(sealed, "hh-0001", central[0], "c1", stranger)


def test_forged_signature(
    make_record: Callable[..., CheckRecord], central: tuple[bytes, bytes], chip: Atecc608
) -> None:
    forged = envelope.seal(
        make_record().encode(), "hh-0001", lambda d: b"\x01" * 64, central[1], "c1"
    )
    key = envelope.public_key_from_raw(chip.public_key(0))
    with pytest.raises(BadSignature):
        envelope.open_sealed(forged, "hh-0001", central[0], "c1", key)


def test_signed_under_another_kid(
    make_record: Callable[..., CheckRecord], central: tuple[bytes, bytes], chip: Atecc608
) -> None:
    signed = envelope.sign1(make_record().encode(), "hh-9999", lambda d: chip.sign_digest(0, d))
    key = envelope.public_key_from_raw(chip.public_key(0))
    with pytest.raises(BadSignature, match="hh-9999"):
        envelope.verify_sign1(signed, "hh-0001", key)


def test_every_tampered_byte_is_rejected(
    make_record: Callable[..., CheckRecord], chip: Atecc608, central: tuple[bytes, bytes]
) -> None:
    sealed = seal(chip, central, make_record(fingers=1, face=False))
    key = envelope.public_key_from_raw(chip.public_key(0))
    for index in range(0, len(sealed), max(1, len(sealed) // 60)):
        broken = bytearray(sealed)
        broken[index] ^= 0x40
        with pytest.raises(WireError):
            envelope.open_sealed(bytes(broken), "hh-0001", central[0], "c1", key)


def test_not_a_sign1_inside(
    make_record: Callable[..., CheckRecord], central: tuple[bytes, bytes]
) -> None:
    with pytest.raises(MalformedRecord):
        envelope.verify_sign1(
            cbor2.dumps([1, 2]), "hh-0001", ec.generate_private_key(ec.SECP256R1()).public_key()
        )
