"""Officer PINs, hashed with scrypt (memory-hard: 16 MiB a guess, about 0.1 s on the device).

A PIN has few digits, so the hash must make each guess expensive for someone
holding a copy of the configuration; the lockout (``firmware.officer.accounts``)
limits guesses at the device itself. The stored form is
``scrypt$N$r$p$<salt b64>$<hash b64>``, so the cost can be raised later
without invalidating existing hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

N, R, P = 2**14, 8, 1
MIN_DIGITS, MAX_DIGITS = 4, 12


class PinError(ValueError):
    """A PIN that cannot be used, or a stored hash that is not one of ours."""


def check_pin(pin: str) -> None:
    if not pin.isdigit() or not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        raise PinError(f"a PIN is {MIN_DIGITS} to {MAX_DIGITS} digits")


def hash_pin(pin: str, *, n: int = N) -> str:
    check_pin(pin)
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=R, p=P, maxmem=64 * 1024 * 1024)
    return "$".join(("scrypt", str(n), str(R), str(P), _b64(salt), _b64(digest)))


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches ``stored``; compares in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            pin.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(expected),
        )
    except ValueError as exc:
        raise PinError("the stored PIN hash is not a 'hotspot device officer add' hash") from exc
    return hmac.compare_digest(actual, expected)


def is_hash(stored: str) -> bool:
    parts = stored.split("$")
    return len(parts) == 6 and parts[0] == "scrypt" and all(x.isdigit() for x in parts[1:4])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
