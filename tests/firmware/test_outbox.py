"""The outbox: sealed at rest, ordered, acknowledged by answers, bounded, power-cut safe."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from firmware import storage_key
from firmware.outbox import Outbox, OutboxCorrupt, OutboxFull
from hal.secure.softkey import SoftKeyStore
from wire.record import uuid7

KEY = bytes(range(32))
SECRET = b"MINUTIAE-TEMPLATE-" * 20


def test_rows_are_sealed_at_rest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", KEY, "hh-0001")
    rid = uuid7()
    box.put(rid, SECRET)
    assert [p.envelope for p in box.due(10)] == [SECRET]
    box.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"MINUTIAE" not in raw


def test_new_checks_overtake_the_backlog_which_goes_oldest_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", KEY, "hh-0001")
    backlog = [uuid7(1000 + i) for i in range(3)]
    for rid in backlog:
        box.put(rid, b"old")
        box.sent(rid)  # sent once while the link flapped: now backlog
    fresh = uuid7()
    box.put(fresh, b"new")
    order = [p.record_id for p in box.due(10, resend_after_ms=0)]
    assert order == [fresh, *backlog]


def test_only_the_answer_removes_a_record(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", KEY, "hh-0001")
    rid = uuid7()
    box.put(rid, b"env")
    box.sent(rid)
    assert len(box) == 1  # sent is not done
    assert box.due(10, resend_after_ms=60_000) == []  # not due again yet
    assert [p.attempts for p in box.due(10, resend_after_ms=0)] == [1]  # but re-sent later
    assert box.answered(rid, b"answer")
    assert len(box) == 0 and box.answer(rid) == b"answer"
    assert not box.answered(rid, b"answer")  # a duplicate answer is harmless
    assert box.unshown_answers() == [(rid, b"answer")]
    box.mark_shown(rid)
    assert box.unshown_answers() == []


def test_put_is_idempotent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", KEY, "hh-0001")
    rid = uuid7()
    box.put(rid, b"a")
    box.put(rid, b"a")
    assert len(box) == 1


def test_full_outbox_refuses_and_keeps_what_it_has(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", KEY, "hh-0001", max_bytes=96 * 1024)
    stored = []
    with pytest.raises(OutboxFull, match="NOT stored") as info:
        for _ in range(1000):
            rid = uuid7()
            box.put(rid, os.urandom(3000))
            stored.append(rid)
    assert "coverage" in str(info.value)
    assert 5 < len(stored) < 1000
    assert box.ids() == set(stored)
    assert len(box.due(1000)) == len(stored)  # everything still decrypts


def test_free_space_reserve(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", KEY, "hh-0001", reserve_bytes=2**62)
    with pytest.raises(OutboxFull):
        box.put(uuid7(), b"x")
    assert len(box) == 0


def test_another_devices_key_cannot_read(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", KEY, "hh-0001")
    box.put(uuid7(), b"x")
    box.close()
    with pytest.raises(OutboxCorrupt, match="another device"):
        Outbox(tmp_path / "o.db", bytes(32), "hh-0001").due(1)
    with pytest.raises(OutboxCorrupt):
        Outbox(tmp_path / "o.db", KEY, "hh-0002").due(1)


def test_the_key_is_recomputed_by_the_secure_element(tmp_path: Path) -> None:
    se = SoftKeyStore(tmp_path / "keys")
    se.generate_key(0)
    stored, key = storage_key.new_wrapping(se, 0)
    assert storage_key.unwrap(se, 0, stored) == key
    other = SoftKeyStore(tmp_path / "other")
    other.generate_key(0)
    assert storage_key.unwrap(other, 0, stored) != key


WRITER = textwrap.dedent(
    """
    import sys
    from firmware.outbox import Outbox
    from wire.record import uuid7
    box = Outbox(sys.argv[1], bytes(range(32)), "hh-0001")
    while True:
        rid = uuid7()
        box.put(rid, b"x" * 900)
        print(rid.hex(), flush=True)
        if len(box) > 30:
            for p in box.due(3):
                box.answered(p.record_id, b"a")
                print("A" + p.record_id.hex(), flush=True)
    """
)


@pytest.mark.parametrize("run", range(12))
def test_power_cut_at_a_random_instant_loses_nothing(tmp_path: Path, run: int) -> None:
    db = tmp_path / "o.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    time.sleep(random.uniform(0.4, 1.2))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    lines = out.split()
    committed = {bytes.fromhex(x) for x in lines if not x.startswith("A")}
    answered = {bytes.fromhex(x[1:]) for x in lines if x.startswith("A")}
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    box = Outbox(db, KEY, "hh-0001")
    queued = box.ids()
    # Every acknowledged put is still queued, or was answered (the writer may die
    # between committing an answer and printing that it did).
    for record_id in committed - answered:
        assert record_id in queued or box.answer(record_id) == b"a"
    assert not (queued & answered)  # nothing answered comes back
    assert all(box.answer(r) == b"a" for r in answered)
    assert len(box.due(10_000)) == len(queued)


def test_a_later_revision_of_an_answer_replaces_it_and_is_shown_again(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", KEY, "hh-0001")
    rid = uuid7()
    box.put(rid, b"env")
    assert box.answered(rid, b"possible match", revision=0)
    box.mark_shown(rid)
    assert not box.answered(rid, b"possible match", revision=0)  # the same one again
    assert box.answered(rid, b"verified: hit", revision=1)
    assert box.answer(rid) == b"verified: hit"
    assert box.unshown_answers() == [(rid, b"verified: hit")]
    assert not box.answered(rid, b"possible match", revision=0)  # a stale copy arrives late
    assert box.answer(rid) == b"verified: hit"


def test_the_journal_line_is_written_with_the_check_or_not_at_all(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", KEY, "hh-0001", max_bytes=64 * 1024)
    rid = uuid7()
    box.put(rid, b"env", journal=(7, b"CASE-REF-SECRET"))
    row = box._db.execute("SELECT shift, sealed FROM checks WHERE id = ?", (rid,)).fetchone()
    assert row[0] == 7 and box.open(rid, bytes(row[1])) == b"CASE-REF-SECRET"
    with pytest.raises(OutboxFull):
        for _ in range(1000):
            box.put(uuid7(), os.urandom(2000), journal=(7, b"x" * 500))
    records = {bytes(r[0]) for r in box._db.execute("SELECT id FROM records")}
    lines = {bytes(r[0]) for r in box._db.execute("SELECT id FROM checks")}
    assert records == lines  # the refused check left neither
    box.close()
    assert b"CASE-REF-SECRET" not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


def test_an_outbox_of_the_previous_schema_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE answers (id BLOB PRIMARY KEY, received_ms INTEGER NOT NULL, "
        "shown INTEGER NOT NULL DEFAULT 0, sealed BLOB NOT NULL);"
    )
    old.close()
    box = Outbox(path, KEY, "hh-0001")
    rid = uuid7()
    box.put(rid, b"env")
    assert box.answered(rid, b"a") and box.answered(rid, b"b", revision=2)
    assert box._db.execute("PRAGMA user_version").fetchone()[0] == 1
    box.close()
    assert Outbox(path, KEY, "hh-0001").answer(rid) == b"b"  # opening again changes nothing
