"""The central database's schema, as numbered migrations (never edited once released).

Statements use ``{BLOB}``, ``{SERIAL}`` and ``{REAL}`` where SQLite and PostgreSQL
name a type differently; :func:`render` fills them in. A new change is a new
migration at the end of :data:`MIGRATIONS`.
"""

from __future__ import annotations

TYPES = {
    "sqlite": {"BLOB": "BLOB", "SERIAL": "INTEGER PRIMARY KEY AUTOINCREMENT", "REAL": "REAL"},
    "postgresql": {"BLOB": "BYTEA", "SERIAL": "BIGSERIAL PRIMARY KEY", "REAL": "DOUBLE PRECISION"},
}

MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (
        1,
        "devices, watchlist with its change log, answers with claims, audit, telemetry",
        (
            """CREATE TABLE devices (
                id TEXT PRIMARY KEY,
                public_key {BLOB} NOT NULL,
                added_ms BIGINT NOT NULL,
                revoked_ms BIGINT
            )""",
            """CREATE TABLE watchlist (
                reference TEXT PRIMARY KEY,
                notice TEXT NOT NULL,
                fingers {BLOB} NOT NULL,
                face {BLOB},
                face_version TEXT,
                added_ms BIGINT NOT NULL
            )""",
            """CREATE TABLE watchlist_changes (
                seq {SERIAL},
                reference TEXT NOT NULL,
                op TEXT NOT NULL,
                at_ms BIGINT NOT NULL
            )""",
            """CREATE TABLE answered (
                record_id {BLOB} PRIMARY KEY,
                device_id TEXT NOT NULL,
                answer {BLOB} NOT NULL,
                revision INTEGER NOT NULL DEFAULT 0,
                at_ms BIGINT NOT NULL
            )""",
            """CREATE TABLE claims (
                record_id {BLOB} PRIMARY KEY,
                owner TEXT NOT NULL,
                at_ms BIGINT NOT NULL
            )""",
            """CREATE TABLE audit (
                seq {SERIAL},
                at_ms BIGINT NOT NULL,
                device_id TEXT,
                record_id TEXT,
                event TEXT NOT NULL,
                outcome TEXT,
                reference TEXT,
                score {REAL},
                detail TEXT,
                officer TEXT,
                operation TEXT,
                actor TEXT,
                training INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX audit_by_time ON audit (at_ms)",
            "CREATE INDEX audit_by_record ON audit (record_id)",
            """CREATE TABLE telemetry (
                seq {SERIAL},
                device_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                at_ms BIGINT NOT NULL,
                report {BLOB} NOT NULL
            )""",
            "CREATE INDEX telemetry_by_device ON telemetry (device_id, at_ms)",
        ),
    ),
    (
        2,
        "the verification queue of possible matches",
        (
            """CREATE TABLE verification (
                record_id {BLOB} PRIMARY KEY,
                device_id TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                state TEXT NOT NULL,
                reference TEXT NOT NULL,
                notice TEXT NOT NULL,
                fmr {REAL},
                modalities TEXT NOT NULL,
                evidence {BLOB} NOT NULL,
                decided_ms BIGINT,
                decided_by TEXT,
                sent_ms BIGINT,
                training INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX verification_by_state ON verification (state, created_ms)",
        ),
    ),
    (
        3,
        "the console's accounts and sessions",
        (
            """CREATE TABLE console_accounts (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                password {BLOB} NOT NULL,
                failures INTEGER NOT NULL DEFAULT 0,
                locked_until_ms BIGINT NOT NULL DEFAULT 0,
                created_ms BIGINT NOT NULL
            )""",
            """CREATE TABLE console_sessions (
                token_hash {BLOB} PRIMARY KEY,
                account TEXT NOT NULL,
                csrf TEXT NOT NULL,
                expires_ms BIGINT NOT NULL
            )""",
        ),
    ),
    (
        4,
        "what an operation's report needs in the audit: notice, modalities, capture time",
        (
            "ALTER TABLE audit ADD COLUMN notice TEXT",
            "ALTER TABLE audit ADD COLUMN modalities TEXT",
            "ALTER TABLE audit ADD COLUMN captured_ms BIGINT",
            "CREATE INDEX audit_by_operation ON audit (operation, event)",
        ),
    ),
    (
        5,
        "the backlog age of each telemetry report, for reports to read without decoding",
        ("ALTER TABLE telemetry ADD COLUMN backlog_age_s INTEGER",),
    ),
]


def render(statement: str, dialect: str) -> str:
    text = statement
    for token, name in TYPES[dialect].items():
        text = text.replace("{" + token + "}", name)
    return text
