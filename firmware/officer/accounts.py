"""Signing officers in: PIN check, lockout after repeated failures, sessions, idle lock.

The officers and their PIN hashes come from the configuration (``[officers]``).
A session is a random token held by the browser in an HttpOnly cookie; the
device stores only its SHA-256, with the officer, the shift and when it was
last used, so a restarted service takes the officer back to the same shift
without a new sign-in as long as the session has not gone idle. A session
unused for ``idle_lock_s`` locks: the shift goes on (answers still arrive and
a HIT still takes the screen) but the officer must enter the PIN again.
Wrong PINs are counted per officer in the journal, so a restart does not
reset them; after ``pin_attempts`` the officer is locked out for
``lockout_s``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from firmware.config import OFFICER_ID, InterfaceSection
from firmware.officer.journal import Journal, Shift
from firmware.officer.pin import PinError, hash_pin, verify_pin

_DUMMY_HASH = hash_pin("000000", n=2**14)
"""Verified against when the officer id is unknown, so that the answer takes as long."""
PERSIST_EVERY_MS = 10_000
"""How stale a session's stored last use may be (a write per request would wear the card)."""


class SignInRefused(Exception):
    """Wrong officer id or PIN, or an officer locked out; ``locked_until_ms`` says till when."""

    def __init__(self, locked_until_ms: int = 0, attempts_left: int | None = None) -> None:
        super().__init__("locked out" if locked_until_ms else "wrong officer id or PIN")
        self.locked_until_ms = locked_until_ms
        self.attempts_left = attempts_left


@dataclass(frozen=True)
class Session:
    officer: str
    shift: Shift
    locked: bool
    language: str | None


class Accounts:
    def __init__(
        self,
        journal: Journal,
        officers: Mapping[str, str],
        settings: InterfaceSection,
        operation: Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._journal = journal
        self._officers = dict(officers)
        self._settings = settings
        self._operation = operation
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[bytes, tuple[int, int]] = {}
        """token hash -> (last use, last persisted), both in ms."""

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def sign_in(self, officer: str, pin: str) -> tuple[str, Session]:
        """A new session for ``officer``: (token for the cookie, session). SignInRefused."""
        self._verify(officer, pin)
        shift = self._journal.open_shift(officer, self._operation())
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        self._journal.add_session(digest, officer, shift.id)
        with self._lock:
            self._seen[digest] = (self._now(), self._now())
        return token, Session(officer, shift, False, self._journal.officer(officer).language)

    def _verify(self, officer: str, pin: str) -> None:
        if not OFFICER_ID.match(officer):
            raise SignInRefused()
        state = self._journal.officer(officer)
        if state.locked_until_ms > self._now():
            raise SignInRefused(state.locked_until_ms)
        stored = self._officers.get(officer)
        try:
            good = verify_pin(pin, stored or _DUMMY_HASH) and stored is not None
        except PinError:
            good = False
        if not good:
            limit = self._settings.pin_attempts
            after = self._journal.failed_attempt(
                officer, limit, int(self._settings.lockout_s * 1000)
            )
            if after.locked_until_ms > self._now():
                raise SignInRefused(after.locked_until_ms)
            raise SignInRefused(attempts_left=limit - after.failures)
        self._journal.signed_in(officer)

    def current(self, token: str | None, *, active: bool = True) -> Session | None:
        """The session of ``token`` (None if there is none); ``active`` marks it used now.

        A session idle for longer than the idle period comes back locked.
        """
        if not token:
            return None
        digest = _digest(token)
        row = self._journal.session(digest)
        if row is None:
            return None
        shift = self._journal.shift(row.shift)
        if shift is None:
            return None
        now = self._now()
        with self._lock:
            last, persisted = self._seen.get(digest, (row.last_seen_ms, row.last_seen_ms))
            locked = row.locked or now - last > self._settings.idle_lock_s * 1000
            if active and not locked:
                last = now
            if locked != row.locked or last - persisted > PERSIST_EVERY_MS:
                self._journal.touch_session(digest, locked)
                persisted = last
            self._seen[digest] = (last, persisted)
        language = self._journal.officer(row.officer).language
        return Session(row.officer, shift, locked, language)

    def lock(self, token: str) -> None:
        digest = _digest(token)
        self._journal.touch_session(digest, True)
        with self._lock:
            self._seen.pop(digest, None)

    def unlock(self, token: str, pin: str) -> Session:
        """The officer of a locked session proves it is still them; the session goes on."""
        session = self.current(token, active=False)
        if session is None:
            raise SignInRefused()
        self._verify(session.officer, pin)
        digest = _digest(token)
        self._journal.touch_session(digest, False)
        with self._lock:
            self._seen[digest] = (self._now(), self._now())
        return Session(session.officer, session.shift, False, session.language)

    def sign_out(self, token: str, *, end_shift: bool) -> None:
        session = self.current(token, active=False)
        if session is None:
            return
        if end_shift:
            self._journal.end_shift(session.shift.id)
        self._journal.drop_session(_digest(token))

    def set_language(self, token: str, language: str) -> None:
        session = self.current(token)
        if session is not None:
            self._journal.set_language(session.officer, language)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
