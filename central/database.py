"""The central service's one database: SQLite embedded, PostgreSQL at scale (psycopg 3).

Every central table (devices, watchlist and its change log, answers and claims,
audit, verification queue, telemetry) lives in one database named by a URL:

* ``sqlite:PATH`` — a file, the embedded default (``hotspot provision`` makes
  ``FLEET/central/central.db``); gateway instances on one host share it
  through SQLite's write-ahead log;
* ``postgresql://USER@HOST:PORT/DB`` — one PostgreSQL shared by gateways on
  several hosts.

The code writes its SQL once, with ``?`` placeholders and the statements both
engines share (``INSERT ... ON CONFLICT``, ``RETURNING``); the few type names
that differ are tokens in the migrations (:mod:`central.migrations`), which
run in order at open, each once, recorded in ``schema_migrations``, under a
lock so that two instances starting together do not both migrate.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from central.migrations import MIGRATIONS, render

Row = tuple[Any, ...]


class DatabaseError(Exception):
    """The database cannot be opened or migrated; the message says what to check."""


SQLITE_WAIT_S = 30.0
"""How long a statement waits for another connection's lock before it fails."""


def _write_ahead_log(connection: sqlite3.Connection, path: Path) -> None:
    """Put the file in write-ahead-log mode, which lets gateways on one host share it.

    The mode is stored in the file, so after the first open this only reads it. Why the
    loop: the switch reads the file and then rewrites its header, and SQLite answers a
    reader that wants to write while another connection is writing with "database is
    locked" at once, without waiting (its busy handler would risk a deadlock there).
    Gateways starting together, one of them migrating, met exactly that."""
    deadline = time.monotonic() + SQLITE_WAIT_S
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise DatabaseError(
                    f"cannot open {path} ({exc}): another program holds it; stop it and retry"
                ) from None
            time.sleep(0.05)
            continue
        if mode != "wal":
            raise DatabaseError(
                f"{path} cannot use SQLite's write-ahead log (its file system refuses it, "
                f"journal mode {mode!r}): put the central database on a local disk"
            )
        return


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        if url.startswith("sqlite:"):
            self.dialect = "sqlite"
            path = Path(url[len("sqlite:") :])
            if not path.parent.is_dir():
                raise DatabaseError(f"{path.parent} does not exist: run 'hotspot provision'")
            self._sqlite = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=SQLITE_WAIT_S
            )
            _write_ahead_log(self._sqlite, path)
            self._sqlite.execute("PRAGMA synchronous=FULL")
            self._pg: Any = None
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            try:
                import psycopg  # noqa: F401 - only to say what to install
            except ImportError:
                raise DatabaseError(
                    "PostgreSQL needs psycopg: pip install 'hotspot[postgresql]'"
                ) from None
            self._pg = self._connect()
        else:
            raise DatabaseError(
                f"{url!r} is not a database URL: use sqlite:PATH or postgresql://USER@HOST:PORT/DB"
            )
        self.migrate()

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
            raise DatabaseError(f"cannot connect to {_safe(self.url)}: {first}") from None

    def _pg_cursor(self) -> Any:
        """A cursor, on a new connection if the server closed the last one (a restart, a
        failover): the statement that finds it closed fails, the next one reconnects."""
        if self._pg.closed:
            self._pg = self._connect()
        return self._pg.cursor()

    # -- statements -------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            if self._pg is not None:
                with self._pg_cursor() as cur:
                    cur.execute(self._sql(sql), params)
                    return [tuple(_plain(v) for v in row) for row in cur.fetchall()]
            return list(self._sqlite.execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        with self._lock:
            if self._pg is not None:
                with self._pg_cursor() as cur:
                    cur.execute(self._sql(sql), params)
                    return int(cur.rowcount)
            return int(self._sqlite.execute(sql, params).rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            if self._pg is not None:
                with self._pg_cursor() as cur:
                    cur.executemany(self._sql(sql), rows)
            else:
                self._sqlite.executemany(sql, rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """One transaction (immediate on SQLite: the write lock is taken at the start)."""
        with self._lock:
            if self._pg is not None:
                if self._pg.closed:
                    self._pg = self._connect()
                with self._pg.transaction():
                    yield self
                return
            self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._sqlite.execute("ROLLBACK")
                raise
            self._sqlite.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._pg is not None:
                self._pg.close()
            else:
                self._sqlite.close()

    # -- migrations -------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks, in order; the numbers applied."""
        applied: list[int] = []
        with self.transaction():
            if self.dialect == "postgresql":
                self.execute("SELECT pg_advisory_xact_lock(727310)")  # one migrator at a time
            self.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description TEXT NOT NULL)"
            )
            done = {int(r[0]) for r in self.query("SELECT version FROM schema_migrations")}
            for number, description, statements in MIGRATIONS:
                if number in done:
                    continue
                for statement in statements:
                    self.execute(render(statement, self.dialect))
                self.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                    (number, description),
                )
                applied.append(number)
        return applied

    def version(self) -> int:
        row = self.one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" in url and ":" in url.split("@", 1)[0].split("//", 1)[-1]:
        scheme, rest = url.split("//", 1)
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{scheme}//{user}:***@{rest.split('@', 1)[1]}"
    return url
