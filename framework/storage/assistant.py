"""The personal assistant's state: todos, calendar events and settings, in ``messages.db``.

Three tables next to the message history, through their own connection (as the
proactive log and the usage ledger do):

- ``todos`` and ``events``: one row per item, keyed by an id made where the item was
  born (:func:`framework.domain.assistant.new_id`), so ``sync`` can merge two machines'
  rows as a union by id. A delete is a tombstone (``deleted_at``), never a removed row:
  a removed row would come back from the other machine's copy at the next sync;
- ``assistant_settings``: ``key -> value`` (the person's time zone is ``timezone``),
  shared with the reminders and ``/settings``.

Every change stamps ``updated_at``; sync keeps the newer row and lets a tombstone stick
(framework.sync.dbtables). Times are the message store's fixed-width UTC text.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..domain.assistant import CalendarEvent, Todo
from ..errors import StoreError
from .timestamps import from_db as _parse_ts, to_db as _ts

if TYPE_CHECKING:
    import aiosqlite

__all__ = [
    "ASSISTANT_SCHEMA", "AssistantStore", "EVENT_COLUMNS", "TODO_COLUMNS", "read_events", "read_setting", "read_todos",
    "row_to_event", "row_to_todo",
]

_log = logging.getLogger(__name__)

ASSISTANT_SCHEMA = """
CREATE TABLE IF NOT EXISTS todos (
    id TEXT PRIMARY KEY,               -- time-ordered random id, the same on every machine
    title TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    due_at TEXT,                       -- fixed-width ISO-8601 UTC, or NULL
    due_all_day INTEGER NOT NULL DEFAULT 0,  -- the due is a date (due_at: the end of that local day)
    priority TEXT NOT NULL DEFAULT 'normal', -- low | normal | high
    status TEXT NOT NULL DEFAULT 'open',     -- open | done
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT,
    deleted_at TEXT                    -- a tombstone: sync never brings a deleted todo back
);
CREATE INDEX IF NOT EXISTS idx_todos_status_due ON todos(status, due_at);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    start_at TEXT NOT NULL,            -- UTC
    end_at TEXT NOT NULL,              -- UTC, exclusive
    all_day INTEGER NOT NULL DEFAULT 0,
    location TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_events_start ON events(start_at);
CREATE TABLE IF NOT EXISTS assistant_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

TODO_COLUMNS = "id, title, notes, due_at, due_all_day, priority, status, created_at, updated_at, completed_at"
EVENT_COLUMNS = "id, title, start_at, end_at, all_day, location, notes, created_at, updated_at"


def row_to_todo(row: Iterable[Any]) -> Todo:
    id_, title, notes, due_at, due_all_day, priority, status, created_at, updated_at, completed_at = row
    return Todo(
        id=id_, title=title, notes=notes or "", due_at=_parse_ts(due_at), due_all_day=bool(due_all_day),
        priority=priority, status=status, created_at=_parse_ts(created_at),  # type: ignore[arg-type]
        updated_at=_parse_ts(updated_at), completed_at=_parse_ts(completed_at),  # type: ignore[arg-type]
    )


def row_to_event(row: Iterable[Any]) -> CalendarEvent:
    id_, title, start_at, end_at, all_day, location, notes, created_at, updated_at = row
    return CalendarEvent(
        id=id_, title=title, start_at=_parse_ts(start_at), end_at=_parse_ts(end_at),  # type: ignore[arg-type]
        all_day=bool(all_day), location=location or "", notes=notes or "",
        created_at=_parse_ts(created_at), updated_at=_parse_ts(updated_at),  # type: ignore[arg-type]
    )


def _ts_or_none(value: datetime | None) -> str | None:
    return _ts(value) if value is not None else None


class AssistantStore:
    """Todos, events and settings. Open with :meth:`open`, close with :meth:`close`.

    Reads and writes raise :class:`~framework.errors.StoreError` on a database failure.
    """

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> AssistantStore:
        """Open (creating if needed) the assistant's tables in the SQLite file at ``path``."""
        from .sqlite import open_database

        return cls(await open_database(path, ASSISTANT_SCHEMA, "assistant store"), path)

    async def close(self) -> None:
        try:
            await self._db.commit()
        except sqlite3.Error as exc:
            _log.warning("could not commit the assistant store %s on close: %s", self.path, exc)
        finally:
            await self._db.close()

    async def _write(self, sql: str, params: Iterable[Any], what: str) -> int:
        from .sqlite import run  # aiosqlite loads with the connection, not with this module

        try:
            count = await run(self._db, sql, params)
            await self._db.commit()
            return count
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what} in the assistant store {self.path}: {exc}") from exc

    async def _rows(self, sql: str, params: Iterable[Any]) -> list[Any]:
        try:
            return list(await self._db.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the assistant store {self.path}: {exc}") from exc

    # -- todos ----------------------------------------------------------------------------

    async def add_todo(self, todo: Todo) -> None:
        await self._write(
            f"INSERT INTO todos ({TODO_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (todo.id, todo.title, todo.notes, _ts_or_none(todo.due_at), int(todo.due_all_day), todo.priority,
             todo.status, _ts(todo.created_at), _ts(todo.updated_at), _ts_or_none(todo.completed_at)),
            f"add the todo {todo.id}",
        )

    async def get_todo(self, todo_id: str) -> Todo | None:
        rows = await self._rows(f"SELECT {TODO_COLUMNS} FROM todos WHERE id = ? AND deleted_at IS NULL", [todo_id])
        return row_to_todo(rows[0]) if rows else None

    async def list_todos(self, status: str | None = "open") -> list[Todo]:
        """Todos of ``status`` (None: all), open ones by due time (undated last), done ones newest first."""
        where, params = "deleted_at IS NULL", []
        if status is not None:
            where += " AND status = ?"
            params.append(status)
        rows = await self._rows(
            f"SELECT {TODO_COLUMNS} FROM todos WHERE {where} "
            "ORDER BY status DESC, due_at IS NULL, due_at, completed_at DESC, created_at",  # open ones first
            params,
        )
        return [row_to_todo(r) for r in rows]

    async def save_todo(self, todo: Todo) -> None:
        """Write every field of an existing todo (its ``updated_at`` already set by the caller)."""
        await self._write(
            "UPDATE todos SET title = ?, notes = ?, due_at = ?, due_all_day = ?, priority = ?, status = ?, "
            "updated_at = ?, completed_at = ? WHERE id = ? AND deleted_at IS NULL",
            (todo.title, todo.notes, _ts_or_none(todo.due_at), int(todo.due_all_day), todo.priority, todo.status,
             _ts(todo.updated_at), _ts_or_none(todo.completed_at), todo.id),
            f"update the todo {todo.id}",
        )

    async def delete_todo(self, todo_id: str, now: datetime) -> bool:
        """Tombstone a todo; False when there is no such (live) todo."""
        return bool(await self._write(
            "UPDATE todos SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
            (_ts(now), _ts(now), todo_id), f"delete the todo {todo_id}",
        ))

    # -- events ---------------------------------------------------------------------------

    async def add_event(self, event: CalendarEvent) -> None:
        await self._write(
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.id, event.title, _ts(event.start_at), _ts(event.end_at), int(event.all_day), event.location,
             event.notes, _ts(event.created_at), _ts(event.updated_at)),
            f"add the event {event.id}",
        )

    async def get_event(self, event_id: str) -> CalendarEvent | None:
        rows = await self._rows(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ? AND deleted_at IS NULL", [event_id])
        return row_to_event(rows[0]) if rows else None

    async def events_between(self, start: datetime, end: datetime, *, exclude: str | None = None) -> list[CalendarEvent]:
        """Live events that overlap ``[start, end)``, by start time. An event ending exactly at
        ``start`` (or starting exactly at ``end``) does not overlap: the intervals only touch."""
        rows = await self._rows(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE deleted_at IS NULL AND start_at < ? AND end_at > ? "
            "AND id != ? ORDER BY start_at, end_at",
            [_ts(end), _ts(start), exclude or ""],
        )
        return [row_to_event(r) for r in rows]

    async def save_event(self, event: CalendarEvent) -> None:
        await self._write(
            "UPDATE events SET title = ?, start_at = ?, end_at = ?, all_day = ?, location = ?, notes = ?, "
            "updated_at = ? WHERE id = ? AND deleted_at IS NULL",
            (event.title, _ts(event.start_at), _ts(event.end_at), int(event.all_day), event.location, event.notes,
             _ts(event.updated_at), event.id),
            f"update the event {event.id}",
        )

    async def delete_event(self, event_id: str, now: datetime) -> bool:
        """Tombstone an event; False when there is no such (live) event."""
        return bool(await self._write(
            "UPDATE events SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
            (_ts(now), _ts(now), event_id), f"delete the event {event_id}",
        ))

    # -- settings -------------------------------------------------------------------------

    async def get_setting(self, key: str, default: str | None = None) -> str | None:
        rows = await self._rows("SELECT value FROM assistant_settings WHERE key = ?", [key])
        return rows[0][0] if rows else default

    async def set_setting(self, key: str, value: str, now: datetime) -> None:
        await self._write(
            "INSERT INTO assistant_settings (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, _ts(now)), f"set {key}",
        )



# -- read-only, for the CLI (no event loop, never a write) ------------------------------------


def _read(database: Path, table: str, sql: str, params: Iterable[Any] = ()) -> list[Any]:
    """Rows of ``sql`` in ``database`` opened read-only; none when the file or the table is absent."""
    if not database.exists():
        return []
    try:
        # A plain sqlite3 connection (no event loop here), so the aiosqlite cursor rule
        # of the store's other statements does not apply.
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is None:
                return []
            return conn.execute(sql, tuple(params)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the {table} of {database}: {exc}") from exc


def read_todos(database: Path, *, include_done: bool = False) -> list[Todo]:
    """The live todos (open ones; ``include_done`` adds the done ones), open first by due time."""
    where = "deleted_at IS NULL" + ("" if include_done else " AND status = 'open'")
    rows = _read(database, "todos", f"SELECT {TODO_COLUMNS} FROM todos WHERE {where} "
                 "ORDER BY status DESC, due_at IS NULL, due_at, completed_at DESC, created_at")
    return [row_to_todo(r) for r in rows]


def read_events(database: Path, start: datetime, end: datetime) -> list[CalendarEvent]:
    """The live events overlapping ``[start, end)``, by start time."""
    rows = _read(database, "events", f"SELECT {EVENT_COLUMNS} FROM events WHERE deleted_at IS NULL "
                 "AND start_at < ? AND end_at > ? ORDER BY start_at, end_at", (_ts(end), _ts(start)))
    return [row_to_event(r) for r in rows]


def read_setting(database: Path, key: str) -> str | None:
    rows = _read(database, "assistant_settings", "SELECT value FROM assistant_settings WHERE key = ?", (key,))
    return rows[0][0] if rows else None
