"""Central's database, real on both engines: SQLite in a temporary file, and PostgreSQL
(the session's server, ``postgres`` in tests/conftest.py, a new database per test)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh central database URL on each engine in turn."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'central.db'}"
    return str(request.getfixturevalue("postgres").new_database())
