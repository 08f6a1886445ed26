"""Merge the rows of a snapshot database into a bot's live database, through SQLite.

``merge_database(live, source)`` is what sync runs after a pull, what the ``snapshot.db``
merge driver runs on git's temporary copies, and what the bot runtime may run at start-up
so a fresh clone starts with the committed history. It is:

- **safe on a live file**: it only ever talks to the live database through SQLite
  (``ATTACH`` + ``INSERT ... ON CONFLICT``), in short ``BEGIN IMMEDIATE`` transactions of
  at most ``batch_rows`` rows with a busy timeout, so a running bot's writes wait at most
  one short batch; the file is never replaced;
- **idempotent and fast on repeat**: rows are matched by their natural key
  (``message_id``...), so a second run changes nothing;
- **a union**: rows are never deleted, except that a message archived on either side
  leaves ``messages`` for ``messages_archive`` (it is never in both tables).

When the live database does not exist yet it is created as a copy of the source (SQLite's
online backup API, then WAL mode like the bot's own), published with a link that never
overwrites a database another process created meanwhile.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from .dbtables import MACHINE_LOCAL_TABLES, TableInfo, conflict_update, list_tables, quote, table_info

__all__ = ["MergeStats", "merge_database"]

_MIN_ROWID = -(2**63)
_MESSAGE_TABLES = ("messages", "messages_archive")


@dataclass
class MergeStats:
    """What a merge changed in the live database."""

    created: bool = False  # the live database did not exist and was made from the source
    new_messages: int = 0  # message ids the live database did not have (hot or archived)
    inserted: dict[str, int] = field(default_factory=dict)  # rows added, per table
    updated: dict[str, int] = field(default_factory=dict)  # rows changed (a newer edit, an outcome)
    created_tables: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # table -> why it was not merged

    @property
    def changed(self) -> bool:
        return self.created or any(self.inserted.values()) or any(self.updated.values())


def merge_database(
    live_db: Path, source_db: Path, *, batch_rows: int = 2000, busy_timeout: float = 10.0
) -> MergeStats:
    """Merge every shared table of ``source_db`` into ``live_db``; see the module docstring.

    A missing ``source_db`` is nothing to merge. Raises StoreError naming both files when
    SQLite fails (a corrupt file, a lock held longer than ``busy_timeout`` seconds).
    """
    if not source_db.exists():
        return MergeStats()
    try:
        if not live_db.exists():
            created = _create_from(live_db, source_db)
            if created is not None:
                return created
        return _merge(live_db, source_db, batch_rows, busy_timeout)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot merge {source_db} into {live_db}: {exc}") from exc


def _uri(path: Path, mode: str) -> str:
    return f"{path.resolve().as_uri()}?mode={mode}"


def _count_messages(db: sqlite3.Connection) -> int:
    tables = set(list_tables(db))
    return sum(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _MESSAGE_TABLES if t in tables)


def _create_from(live_db: Path, source_db: Path) -> MergeStats | None:
    """Copy ``source_db`` to ``live_db``; None when another process created it meanwhile."""
    live_db.parent.mkdir(parents=True, exist_ok=True)
    tmp = live_db.with_name(f".{live_db.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(_uri(source_db, "ro"), uri=True)
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)
            for table in MACHINE_LOCAL_TABLES & set(list_tables(dst)):
                dst.execute(f"DROP TABLE {quote(table)}")
            dst.execute("PRAGMA journal_mode=WAL")
            stats = MergeStats(created=True, new_messages=_count_messages(dst))
            for table in list_tables(dst):
                stats.inserted[table] = dst.execute(f"SELECT COUNT(*) FROM {quote(table)}").fetchone()[0]
        finally:
            dst.close()
            src.close()
        try:
            os.link(tmp, live_db)  # never replaces: a bot that just created its database keeps it
        except FileExistsError:
            return None
        return stats
    finally:
        tmp.unlink(missing_ok=True)


def _merge(live_db: Path, source_db: Path, batch_rows: int, busy_timeout: float) -> MergeStats:
    stats = MergeStats()
    db = sqlite3.connect(_uri(live_db, "rw"), uri=True, timeout=busy_timeout, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        db.execute("ATTACH DATABASE ? AS src", (_uri(source_db, "ro"),))
        before = _count_messages(db)
        tables = [t for t in list_tables(db, "src") if t not in MACHINE_LOCAL_TABLES]
        # the archive first, so a message archived there is never put back into `messages`
        tables.sort(key=lambda t: (t != "messages_archive", t))
        for table in tables:
            _merge_table(db, table, stats, batch_rows)
        stats.new_messages = max(0, _count_messages(db) - before)
        db.execute("DETACH DATABASE src")
    finally:
        db.close()
    return stats


def _ensure_table(db: sqlite3.Connection, table: str, stats: MergeStats) -> None:
    if table in list_tables(db):
        return
    with _transaction(db):
        sql = db.execute("SELECT sql FROM src.sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()[0]
        db.execute(sql)  # unqualified: created in main
        for (index_sql,) in db.execute(
            "SELECT sql FROM src.sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL", (table,)
        ).fetchall():
            try:
                db.execute(index_sql)
            except sqlite3.OperationalError:  # a name taken by another table's index: the data still merges
                pass
    stats.created_tables.append(table)


def _merge_table(db: sqlite3.Connection, table: str, stats: MergeStats, batch_rows: int) -> None:
    _ensure_table(db, table, stats)
    live, source = table_info(db, table, "main"), table_info(db, table, "src")
    columns = [c for c in live.data_columns if c in source.columns and c != source.rowid_alias]
    missing = sorted(live.required - set(columns))
    if live.key is None or not set(live.key) <= set(columns):
        stats.skipped[table] = "no key to match rows on (only a machine-local rowid)"
        return
    if missing:
        stats.skipped[table] = f"the snapshot lacks required column(s) {', '.join(missing)}"
        return
    t, cols = quote(table), ", ".join(quote(c) for c in columns)
    update = conflict_update(table, set(columns))
    tail = f"ON CONFLICT({', '.join(map(quote, live.key))}) DO UPDATE SET {update}" if update else ""
    verb = "INSERT INTO" if update else "INSERT OR IGNORE INTO"
    archived = table == "messages" and "messages_archive" in list_tables(db)
    not_archived = " AND message_id NOT IN (SELECT message_id FROM main.messages_archive)" if archived else ""
    insert = f"{verb} main.{t} ({cols}) SELECT {cols} FROM src.{t} WHERE {{batch}}{not_archived} {tail}"
    statements = [insert]
    if archived:  # an edit of a message archived here goes to its archived row
        statements.append(_archive_edits(db, columns))
    before = db.execute(f"SELECT COUNT(*) FROM main.{t}").fetchone()[0]
    touched = 0
    for low, high in _batches(db, source, batch_rows):
        batch = f"src.{t}.rowid > {low} AND src.{t}.rowid <= {high}" if source.has_rowid else "1"
        with _transaction(db):
            for statement in statements:
                if statement:
                    touched += db.execute(statement.format(batch=batch)).rowcount
    if table == "messages_archive":
        touched += _move_archived(db)
    after = db.execute(f"SELECT COUNT(*) FROM main.{t}").fetchone()[0]
    stats.inserted[table] = max(0, after - before)
    stats.updated[table] = max(0, touched - stats.inserted[table])


def _archive_edits(db: sqlite3.Connection, columns: list[str]) -> str | None:
    archive = table_info(db, "messages_archive", "main")
    shared = [c for c in columns if c in archive.data_columns]
    update = conflict_update("messages_archive", set(shared))
    if not update or "message_id" not in shared:
        return None
    cols = ", ".join(map(quote, shared))
    return (
        f"INSERT INTO main.messages_archive ({cols}) SELECT {cols} FROM src.messages WHERE {{batch}} "
        "AND message_id IN (SELECT message_id FROM main.messages_archive) "
        f"ON CONFLICT(message_id) DO UPDATE SET {update}"
    )


def _move_archived(db: sqlite3.Connection) -> int:
    """Rows of ``messages`` that are archived (here or, now, from the source) leave ``messages``."""
    if "messages" not in list_tables(db):
        return 0
    hot, archive = table_info(db, "messages", "main"), table_info(db, "messages_archive", "main")
    shared = [c for c in hot.data_columns if c in archive.data_columns]
    cols = ", ".join(map(quote, shared))
    update = conflict_update("messages_archive", set(shared))
    tail = f"ON CONFLICT(message_id) DO UPDATE SET {update}" if update else "ON CONFLICT DO NOTHING"
    with _transaction(db):
        moved = db.execute(
            f"INSERT INTO main.messages_archive ({cols}) SELECT {cols} FROM main.messages "
            f"WHERE message_id IN (SELECT message_id FROM main.messages_archive) {tail}"
        ).rowcount
        moved += db.execute(
            "DELETE FROM main.messages WHERE message_id IN (SELECT message_id FROM main.messages_archive)"
        ).rowcount
    return moved


def _batches(db: sqlite3.Connection, source: TableInfo, batch_rows: int) -> list[tuple[int, int]]:
    """``(low, high]`` rowid ranges of at most ``batch_rows`` source rows; one pass without rowids."""
    if not source.has_rowid:
        return [(0, 0)]
    ranges, low = [], _MIN_ROWID
    t = quote(source.name)
    while True:
        high, count = db.execute(
            f"SELECT MAX(r), COUNT(*) FROM (SELECT rowid AS r FROM src.{t} WHERE rowid > ? ORDER BY rowid LIMIT ?)",
            (low, batch_rows),
        ).fetchone()
        if not count:
            return ranges
        ranges.append((low, high))
        low = high


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
