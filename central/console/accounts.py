"""The console's accounts, roles and sessions, kept in the central database.

Passwords are hashed with scrypt (memory-hard; Python's hashlib, OpenSSL's
implementation) with a random salt per account. After ``MAX_FAILURES`` wrong
passwords in a row an account is locked for ``LOCKOUT_S``, whatever is typed
then, so a guesser gets a handful of tries an hour. Sessions are random tokens
(only their SHA-256 is stored, so a copy of the database opens no session),
each with its own CSRF token, and expire after ``SESSION_S``.

Roles, each including the ones before it: ``viewer`` (sees the fleet, the
reports), ``examiner`` (also decides possible matches), ``supervisor`` (also
manages the watchlist), ``administrator`` (also enrols and revokes devices and
manages accounts).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from central.database import Database

ROLES = ("viewer", "examiner", "supervisor", "administrator")
MAX_FAILURES = 5
LOCKOUT_S = 15 * 60
SESSION_S = 8 * 3600
MIN_PASSWORD = 10
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class AccountError(ValueError):
    """An account cannot be made or used; the message says why."""


@dataclass(frozen=True)
class Session:
    account: str
    role: str
    csrf: str

    def may(self, role: str) -> bool:
        """Whether this session's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _hash(password: str, salt: bytes) -> bytes:
    return salt + hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)


class Accounts:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, name: str, role: str, password: str, *, replace: bool = False) -> None:
        if not name or len(name) > 64 or not name.replace("-", "").replace(".", "").isalnum():
            raise AccountError("an account name is 1-64 letters, digits, '-' and '.'")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
        exists = self._db.one("SELECT 1 FROM console_accounts WHERE name = ?", (name,))
        if exists and not replace:
            raise AccountError(f"account {name!r} exists; use --replace to set a new password")
        hashed = _hash(password, secrets.token_bytes(16))
        self._db.execute(
            "INSERT INTO console_accounts (name, role, password, failures, locked_until_ms, "
            "created_ms) VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT (name) DO UPDATE SET "
            "role = excluded.role, password = excluded.password, failures = 0, "
            "locked_until_ms = 0",
            (name, role, hashed, _now()),
        )

    def sign_in(self, name: str, password: str) -> tuple[str, Session]:
        """A new session (its token, to put in a cookie) or AccountError saying why not."""
        row = self._db.one(
            "SELECT role, password, failures, locked_until_ms FROM console_accounts WHERE name = ?",
            (name,),
        )
        if row is None:
            _hash(password, b"\0" * 16)  # the same work as for a real account
            raise AccountError("wrong account name or password")
        role, stored, failures, locked_until = str(row[0]), bytes(row[1]), int(row[2]), int(row[3])
        if locked_until > _now():
            minutes = max(1, (locked_until - _now()) // 60_000)
            raise AccountError(f"this account is locked for {minutes} more minute(s)")
        if not hmac.compare_digest(_hash(password, stored[:16]), stored):
            failures += 1
            locked = _now() + LOCKOUT_S * 1000 if failures >= MAX_FAILURES else 0
            self._db.execute(
                "UPDATE console_accounts SET failures = ?, locked_until_ms = ? WHERE name = ?",
                (0 if locked else failures, locked, name),
            )
            if locked:
                raise AccountError(
                    f"{MAX_FAILURES} wrong passwords: this account is locked for "
                    f"{LOCKOUT_S // 60} minutes"
                )
            raise AccountError("wrong account name or password")
        self._db.execute("UPDATE console_accounts SET failures = 0 WHERE name = ?", (name,))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        self._db.execute(
            "INSERT INTO console_sessions (token_hash, account, csrf, expires_ms) "
            "VALUES (?, ?, ?, ?)",
            (_digest(token), name, csrf, _now() + SESSION_S * 1000),
        )
        return token, Session(name, role, csrf)

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        row = self._db.one(
            "SELECT s.account, a.role, s.csrf FROM console_sessions s "
            "JOIN console_accounts a ON a.name = s.account "
            "WHERE s.token_hash = ? AND s.expires_ms > ?",
            (_digest(token), _now()),
        )
        return None if row is None else Session(str(row[0]), str(row[1]), str(row[2]))

    def sign_out(self, token: str) -> None:
        self._db.execute("DELETE FROM console_sessions WHERE token_hash = ?", (_digest(token),))
        self._db.execute("DELETE FROM console_sessions WHERE expires_ms <= ?", (_now(),))

    def names(self) -> list[tuple[str, str]]:
        rows = self._db.query("SELECT name, role FROM console_accounts ORDER BY name")
        return [(str(r[0]), str(r[1])) for r in rows]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _now() -> int:
    return int(time.time() * 1000)
