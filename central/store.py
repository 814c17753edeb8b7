"""Everything central keeps, opened together from one database URL."""

from __future__ import annotations

from dataclasses import dataclass

from central.database import Database
from central.ledger import Ledger
from central.registry import DeviceRegistry
from central.verification import VerificationQueue
from central.watchlist import Watchlist


@dataclass(frozen=True)
class Store:
    db: Database
    registry: DeviceRegistry
    watchlist: Watchlist
    ledger: Ledger
    verification: VerificationQueue

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and migrate) the database at ``url`` (:mod:`central.database`)."""
        db = Database(url)
        ledger = Ledger(db)
        return cls(db, DeviceRegistry(db), Watchlist(db), ledger, VerificationQueue(db, ledger))

    def close(self) -> None:
        self.db.close()
