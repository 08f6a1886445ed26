"""Opening a bot's SQLite database the one way every store here does."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from ..errors import StoreError

__all__ = ["open_database", "run", "run_many"]


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
        await run(db, "PRAGMA journal_mode=WAL")
        await run(db, "PRAGMA synchronous=NORMAL")
        await run(db, "PRAGMA busy_timeout=5000")
        await db.executescript(schema)
        await db.commit()
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the {what} in {path}: {exc}") from exc
    return db


# Every statement goes through these two: aiosqlite hands back a cursor whose sqlite3 object,
# if simply dropped, is finalised by the garbage collector on the event-loop thread, and that
# resets a cached statement the connection's worker thread may be binding at that moment
# ("bad parameter or other API misuse", then a write lock never released). Closing the
# cursor runs in the worker thread, so nothing is left for the collector to touch.


async def run(db: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> int:
    """Execute one statement in the connection's thread; return its rowcount."""
    cursor = await db.execute(sql, tuple(params))
    try:
        return cursor.rowcount
    finally:
        await cursor.close()


async def run_many(db: aiosqlite.Connection, sql: str, rows: Iterable[Iterable[Any]]) -> int:
    """``executemany`` in the connection's thread; return the rowcount."""
    cursor = await db.executemany(sql, rows)
    try:
        return cursor.rowcount
    finally:
        await cursor.close()
