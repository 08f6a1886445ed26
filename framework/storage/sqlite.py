"""Opening a bot's SQLite database the one way every store here does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from ..errors import StoreError

__all__ = ["open_database"]


async def open_database(path: Path, schema: str, what: str) -> aiosqlite.Connection:
    """Connect to ``path`` (created if needed) in WAL mode and apply ``schema``.

    WAL: readers never block the writer, and a killed process leaves a consistent file.
    ``synchronous=NORMAL`` is durable across a process crash in WAL mode (only an OS crash
    can lose the last commits) and keeps ingest fast. The message store and the ledger
    share one file, so each waits briefly for the other's short transactions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = await aiosqlite.connect(path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.executescript(schema)
        await db.commit()
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the {what} in {path}: {exc}") from exc
    return db
