"""Central's storage on SQLite and on PostgreSQL: the same behaviour from both engines."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from central_fixtures import face, good_template

from central import ledger as ledger_module
from central.database import Database, DatabaseError
from central.ledger import AuditEntry, Ledger
from central.migrations import MIGRATIONS
from central.registry import DeviceRegistry, UnknownDevice
from central.store import Store
from central.verification import (
    CONFIRMED,
    PENDING,
    Evidence,
    Side,
    VerificationError,
    VerificationQueue,
)
from central.watchlist import Watchlist, WatchlistEntry, WatchlistError
from hil.device_run import secure_element
from wire.record import uuid7


def test_migrations_run_once_and_in_order(database_url: str) -> None:
    first = Database(database_url)
    assert first.version() == MIGRATIONS[-1][0]
    again = Database(database_url)
    assert again.migrate() == []  # nothing left to apply
    rows = again.query("SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]


def test_instances_starting_together_migrate_once(database_url: str) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            Database(database_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Database(database_url).version() == MIGRATIONS[-1][0]


def test_opening_waits_while_another_connection_holds_the_file(tmp_path: Path) -> None:
    """SQLite runs no busy handler for the switch to the write-ahead log, so a gateway that
    opened the file while another held it (migrating it, say) failed at once with "database
    is locked" (seen once in the suite, two instances starting together). It now waits."""
    path = tmp_path / "central.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")  # a file in the rollback journal's mode
    # A writer's lock (as a migrating instance holds): readers may still come in, and a
    # reader wanting to write gets "busy" at once, since waiting could deadlock.
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    released = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        started = time.monotonic()
        database = Database(f"sqlite:{path}")
        assert time.monotonic() - started >= 0.4  # it waited for the holder, then opened
        assert database.query("PRAGMA journal_mode") == [("wal",)]
        assert database.version() == MIGRATIONS[-1][0]
    finally:
        released.join()
        holder.close()


def test_a_bad_url_says_what_to_use(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="sqlite:PATH or postgresql://"):
        Database("mysql://x")
    with pytest.raises(DatabaseError, match="run 'hotspot provision'"):
        Database(f"sqlite:{tmp_path / 'missing' / 'c.db'}")
    with pytest.raises(DatabaseError, match="cannot connect to postgresql://u:\\*\\*\\*@"):
        Database("postgresql://u:secret@127.0.0.1:1/x")


def test_registry(database_url: str) -> None:
    registry = DeviceRegistry(Database(database_url))
    key = secure_element().public_key(0)
    registry.add("hh-0001", key)
    assert registry.get("hh-0001").public_key == key
    with pytest.raises(UnknownDevice, match="not registered"):
        registry.get("hh-0002")
    assert registry.revoke("hh-0001") and not registry.revoke("hh-0001")
    with pytest.raises(UnknownDevice, match="revoked"):
        registry.get("hh-0001")
    registry.add("hh-0001", key)  # re-enrolled: active again
    assert [d.device_id for d in registry.all()] == ["hh-0001"]
    with pytest.raises(ValueError):
        registry.add("hh-0003", b"\x00" * 64)  # not a point on P-256


def test_watchlist_changes_are_logged_in_order(database_url: str) -> None:
    watchlist = Watchlist(Database(database_url))
    start = watchlist.last_change()
    watchlist.add(WatchlistEntry("WL-1", "red-notice", ((7, good_template(1)),)))
    watchlist.add_many(
        [
            WatchlistEntry("WL-2", "yellow-notice", face=face(2)),
            WatchlistEntry("WL-3", "blue-notice", ((2, good_template(3)),), face(3)),
        ]
    )
    assert watchlist.remove("WL-1") and not watchlist.remove("WL-1")
    watchlist.add(WatchlistEntry("WL-2", "red-notice", face=face(4)), replace=True)
    changes = watchlist.changes(start)
    assert [(ref, op) for _seq, ref, op in changes] == [
        ("WL-1", "add"),
        ("WL-2", "add"),
        ("WL-3", "add"),
        ("WL-1", "remove"),
        ("WL-2", "add"),
    ]
    assert [seq for seq, _r, _o in changes] == sorted(seq for seq, _r, _o in changes)
    assert len(watchlist) == 2
    stored = {e.reference: e for e in watchlist.entries()}
    assert stored["WL-2"].notice == "red-notice" and stored["WL-2"].face == face(4)
    assert stored["WL-3"].fingers == ((2, good_template(3)),)
    assert [e.reference for e in watchlist.entries(["WL-3", "nobody"])] == ["WL-3"]


def test_watchlist_pages_hold_every_entry_once_in_order(database_url: str) -> None:
    """A gateway loads the watchlist a page at a time (a million rows at once would be a
    gigabyte): the pages together are every entry once, in reference order, also across
    a page boundary and for references that sort differently as text and as numbers."""
    watchlist = Watchlist(Database(database_url))
    references = [f"WL-{n}" for n in (1, 2, 10, 11, 20, 100, 3)]
    watchlist.add_many(
        [WatchlistEntry(r, "red-notice", face=face(i)) for i, r in enumerate(references)]
    )
    pages = list(watchlist.pages(size=3))
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [row[0] for page in pages for row in page] == sorted(references)
    assert [row[0] for row in watchlist.rows()] == sorted(references)
    assert list(Watchlist(Database(database_url)).pages(size=3)) == pages


BAD = [
    (WatchlistEntry("WL-x", "red-notice"), "needs at least one finger or a face"),
    (WatchlistEntry("", "red-notice", face=face(1)), "a reference is 1-128"),
    (WatchlistEntry("WL x;DROP", "red-notice", face=face(1)), "a reference is 1-128"),
    (WatchlistEntry("WL-x", "wanted", face=face(1)), "unknown notice type 'wanted'"),
    (WatchlistEntry("WL-x", "red-notice", ((7, b"not a template"),)), "is not an ISO/IEC 19794-2"),
    (WatchlistEntry("WL-x", "red-notice", ((12, good_template(1)),)), "position 12 is not 0-10"),
    (
        WatchlistEntry("WL-x", "red-notice", ((7, good_template(1)), (7, good_template(2)))),
        "enrolled twice",
    ),
    (WatchlistEntry("WL-x", "red-notice", ((7, good_template(1, minutiae=5)),)), "5 minutiae"),
    (WatchlistEntry("WL-x", "red-notice", face=b"\x01" * 100), "128"),
    (WatchlistEntry("WL-x", "red-notice", face=b"\x00" * 128), "all zero"),
    (WatchlistEntry("WL-x", "red-notice", face=face(1), face_version="other-1"), "never compared"),
]


@pytest.mark.parametrize(("entry", "says"), BAD, ids=[b[1][:24] for b in BAD])
def test_garbage_watchlist_input_is_refused_with_the_reason(
    entry: WatchlistEntry, says: str, tmp_path: Path
) -> None:
    watchlist = Watchlist(Database(f"sqlite:{tmp_path / 'c.db'}"))
    with pytest.raises(WatchlistError, match=says):
        watchlist.add(entry)
    assert len(watchlist) == 0 and watchlist.changes(0) == []


def test_a_listed_reference_is_refused_unless_replaced_and_a_batch_is_all_or_none(
    database_url: str,
) -> None:
    watchlist = Watchlist(Database(database_url))
    watchlist.add(WatchlistEntry("WL-1", "red-notice", face=face(1)))
    with pytest.raises(WatchlistError, match=r"already listed.*--replace"):
        watchlist.add(WatchlistEntry("WL-1", "red-notice", face=face(2)))
    with pytest.raises(WatchlistError, match="already listed"):
        watchlist.add_many(
            [
                WatchlistEntry("WL-2", "red-notice", face=face(3)),
                WatchlistEntry("WL-1", "red-notice", face=face(2)),
            ]
        )
    with pytest.raises(WatchlistError, match="appears twice"):
        watchlist.add_many(
            [
                WatchlistEntry("WL-5", "red-notice", face=face(3)),
                WatchlistEntry("WL-5", "red-notice", face=face(2)),
            ]
        )
    assert [e.reference for e in watchlist.entries()] == ["WL-1"]
    assert next(watchlist.entries()).face == face(1)


def test_two_hosts_claiming_one_record_match_it_once(database_url: str) -> None:
    """Two gateways (two connections) take the same record at once: the database lets one
    match it; the other waits and gets the same bytes."""
    record_id = uuid7()
    computed: list[str] = []
    barrier = threading.Barrier(2)
    results: dict[str, tuple[bytes, bool]] = {}

    def instance(name: str) -> None:
        ledger = Ledger(Database(database_url))
        barrier.wait()

        def compute() -> tuple[bytes, AuditEntry]:
            computed.append(name)
            time.sleep(0.3)  # the other instance arrives while this one matches
            return f"answer from {name}".encode(), AuditEntry("answered", "hh-0001")

        results[name] = ledger.answer_once(record_id, "hh-0001", name, compute)

    threads = [threading.Thread(target=instance, args=(n,)) for n in ("host-a/1", "host-b/1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(computed) == 1
    answers = {answer for answer, _ in results.values()}
    assert answers == {f"answer from {computed[0]}".encode()}
    assert sorted(done for _, done in results.values()) == [False, True]
    assert Ledger(Database(database_url)).answered_count() == 1


def test_a_dead_instances_claim_is_taken_over(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "CLAIM_TIMEOUT_S", 0.3)
    db = Database(database_url)
    record_id = uuid7()
    # An instance claimed the record long ago and died before answering.
    db.execute(
        "INSERT INTO claims (record_id, owner, at_ms) VALUES (?, ?, ?)",
        (record_id, "host-dead/1", int(time.time() * 1000) - 60_000),
    )
    answer, computed = Ledger(db).answer_once(
        record_id, "hh-0001", "host-b/1", lambda: (b"late but sure", AuditEntry("answered"))
    )
    assert (answer, computed) == (b"late but sure", True)
    assert db.one("SELECT COUNT(*) FROM claims")[0] == 0  # type: ignore[index]


def test_a_slow_instance_whose_claim_was_taken_over_sends_the_answer_that_stands(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance so slow that its claim went stale and was taken over answers second:
    its own answer is not stored, and it sends the one that was (both send the same)."""
    monkeypatch.setattr(ledger_module, "CLAIM_TIMEOUT_S", 0.3)
    record_id = uuid7()
    claimed = threading.Event()
    results: dict[str, tuple[bytes, bool]] = {}

    def slow() -> tuple[bytes, AuditEntry]:
        claimed.set()
        time.sleep(1.2)  # past the claim timeout: the other instance takes over
        return b"answer from the slow one", AuditEntry("answered", "hh-0001")

    def run_slow() -> None:
        ledger = Ledger(Database(database_url))
        results["slow"] = ledger.answer_once(record_id, "hh-0001", "host-a/1", slow)

    thread = threading.Thread(target=run_slow)
    thread.start()
    assert claimed.wait(10)
    results["quick"] = Ledger(Database(database_url)).answer_once(
        record_id, "hh-0001", "host-b/1", lambda: (b"answer from the quick one", AuditEntry("a"))
    )
    thread.join()
    assert results["quick"] == (b"answer from the quick one", True)
    assert results["slow"] == (b"answer from the quick one", True)
    assert Ledger(Database(database_url)).answer_for(record_id) == b"answer from the quick one"


def test_answers_are_revised_forward_only_and_audited(database_url: str) -> None:
    ledger = Ledger(Database(database_url))
    rid = uuid7()
    assert ledger.record_answer(rid, "hh-1", b"first") == b"first"
    assert ledger.record_answer(rid, "hh-1", b"second") == b"first"  # the first one stands
    ledger.revise_answer(rid, b"verified", 1, AuditEntry("late answer", actor="examiner-1"))
    ledger.revise_answer(rid, b"stale", 1, AuditEntry("late answer", actor="examiner-2"))
    assert ledger.answer_for(rid) == b"verified"
    ledger.insert_audit(
        AuditEntry("answered", "hh-1", "r", "hit", "WL-1", 0.5, "d", "officer-7", "op-3")
    )
    row = Database(database_url).one(
        "SELECT officer, operation, outcome FROM audit WHERE event = 'answered'"
    )
    assert row == ("officer-7", "op-3", "hit")


def test_telemetry_series_keeps_the_latest(database_url: str) -> None:
    ledger = Ledger(Database(database_url))
    ledger.store_telemetry("hh-1", b"one")
    ledger.store_telemetry("hh-1", b"two")
    ledger.store_telemetry("hh-1", b"fix", kind="gnss")
    assert ledger.telemetry("hh-1") == b"two" and ledger.telemetry("hh-1", "gnss") == b"fix"
    assert ledger.telemetry("hh-2") is None


def _evidence() -> Evidence:
    return Evidence(
        Side(((7, good_template(1)),), b"jpeg"), Side(((7, good_template(1)),)), (0.2,), 0.7
    )


def test_verification_queue_decides_once_and_sends_once(database_url: str) -> None:
    store = Store.open(database_url)
    rid = uuid7()
    queue = store.verification
    assert queue.enqueue(rid, "hh-1", "WL-1", "red-notice", 1e-4, ("face",), _evidence())
    assert not queue.enqueue(rid, "hh-1", "WL-1", "red-notice", 1e-4, ("face",), _evidence())
    [item] = queue.items()
    assert item.state == PENDING and item.modalities == ("face",) and item.reference == "WL-1"
    assert queue.find(rid.hex()[:12]) == item
    with pytest.raises(VerificationError, match="at least 8 hex digits"):
        queue.find("12")
    assert queue.evidence(rid) == _evidence()
    with pytest.raises(VerificationError, match="examiner's name"):
        queue.decide(rid, True, "  ")
    queue.decide(rid, True, "examiner-1", "ridge detail agrees")
    with pytest.raises(VerificationError, match="already confirmed by examiner-1"):
        queue.decide(rid, False, "examiner-2")
    assert [i.state for i in queue.to_send()] == [CONFIRMED]
    # Two instances race to send the late answer: one wins.
    other = VerificationQueue(Database(database_url), store.ledger)
    assert queue.claim_send(rid) and not other.claim_send(rid)
    queue.purge_evidence(rid)
    assert queue.evidence(rid) is None and queue.to_send() == []
    audit = store.db.query("SELECT event, actor, outcome, detail FROM audit")
    assert ("verified", "examiner-1", CONFIRMED, "ridge detail agrees") in audit
    assert queue.counts() == {"pending": 0, "confirmed": 1, "rejected": 0}
