"""The reminders the person set, in the bot's ``messages.db``, and their delivery state.

One row per reminder in ``reminders``, through its own connection (as the proactive log
does). A reminder moves ``pending`` -> ``sending`` (claimed: the scheduler is about to
send its DM, ``claimed_at`` and the exact ``delivery`` text noted first, in their own
committed transaction) -> ``sent``; a repeating one goes back to ``pending`` with its next
``due_at`` in the same transaction that records the send. ``cancelled`` is final.

Ids are time-ordered random text (the assistant's ``new_id``), never a rowid, so a
reminder keeps its id when ``sync`` merges the table between machines (a union by id,
the newer ``updated_at`` winning). Times are the message store's fixed-width ISO-8601
UTC text, so text order is time order.

:func:`read_reminders` is a plain ``sqlite3`` read for the CLI (no event loop, never a
write).
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..domain.assistant import new_id
from ..domain.reminders import REPEATS, STATUSES, Reminder
from ..errors import StoreError
from .timestamps import from_db as _parse_ts, to_db as _ts

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["REPEATS", "STATUSES", "REMINDERS_SCHEMA", "Reminder", "ReminderStore", "read_reminders"]

_log = logging.getLogger(__name__)

REMINDERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS reminders (
    id TEXT PRIMARY KEY,               -- random hex: the same id on every machine sync reaches
    text TEXT NOT NULL,
    due_at TEXT NOT NULL,              -- fixed-width ISO-8601 UTC; the next occurrence for a repeat
    repeat TEXT NOT NULL DEFAULT 'none',   -- 'none' | 'daily' | 'weekly'
    timezone TEXT NOT NULL DEFAULT 'UTC',  -- IANA zone whose wall clock a repeat keeps
    local_time TEXT NOT NULL DEFAULT '',   -- 'HH:MM:SS' in that zone: the time every repeat comes back to
    status TEXT NOT NULL DEFAULT 'pending',  -- 'pending' | 'sending' | 'sent' | 'cancelled'
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT,                      -- the last delivery (a repeat's latest)
    claimed_at TEXT,                   -- set with status 'sending': a send is under way or was cut short
    delivery TEXT,                     -- the exact DM text of the claimed send, to recognise it afterwards
    message_id TEXT                    -- the DM of the last delivery
);
CREATE INDEX IF NOT EXISTS idx_reminders_status_due ON reminders(status, due_at);
"""

_COLUMNS = (
    "id, text, due_at, repeat, timezone, local_time, status, created_at, updated_at, sent_at, claimed_at, "
    "delivery, message_id"
)


def _row(row: Iterable[Any]) -> Reminder:
    (id_, text, due_at, repeat, zone, local_time, status, created_at, updated_at, sent_at, claimed_at,
     delivery, message_id) = row
    return Reminder(
        id=id_, text=text, due_at=_parse_ts(due_at), repeat=repeat, timezone=zone,  # type: ignore[arg-type]
        local_time=local_time, status=status, created_at=_parse_ts(created_at),  # type: ignore[arg-type]
        updated_at=_parse_ts(updated_at), sent_at=_parse_ts(sent_at),  # type: ignore[arg-type]
        claimed_at=_parse_ts(claimed_at), delivery=delivery, message_id=message_id,
    )


class ReminderStore:
    """The ``reminders`` table. Open with :meth:`open`, close with :meth:`close`.

    Every write is its own committed transaction: the scheduler's exactly-once delivery
    rests on the claim being on disk before the DM goes out. Failures raise
    :class:`~framework.errors.StoreError`.
    """

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> ReminderStore:
        from .sqlite import open_database

        return cls(await open_database(path, REMINDERS_SCHEMA, "reminders"), path)

    async def close(self) -> None:
        # No checkpoint: the message store's close does it (as for the ledger).
        try:
            await self._db.commit()
        except sqlite3.Error as exc:
            _log.warning("could not commit the reminders %s on close: %s", self.path, exc)
        finally:
            await self._db.close()

    async def _write(self, sql: str, params: Iterable[Any], what: str) -> int:
        from .sqlite import run  # aiosqlite loads with the connection, not with this module

        try:
            changed = await run(self._db, sql, params)
            await self._db.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what} in the reminders of {self.path}: {exc}") from exc
        return changed

    async def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Reminder]:
        try:
            return [_row(r) for r in await self._db.execute_fetchall(sql, tuple(params))]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the reminders of {self.path}: {exc}") from exc

    # -- the tool's side --------------------------------------------------------------

    async def add(
        self, *, text: str, due_at: datetime, repeat: str, timezone: str, local_time: str, now: datetime
    ) -> Reminder:
        if repeat not in REPEATS:
            raise ValueError(f"repeat must be one of {', '.join(REPEATS)}, got {repeat!r}")
        reminder = Reminder(
            id=new_id(now), text=text, due_at=due_at, repeat=repeat, timezone=timezone, local_time=local_time,
            status="pending", created_at=now, updated_at=now,
        )
        await self._write(
            "INSERT INTO reminders (id, text, due_at, repeat, timezone, local_time, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (reminder.id, text, _ts(due_at), repeat, timezone, local_time, _ts(now), _ts(now)),
            "add a reminder",
        )
        return reminder

    async def get(self, reminder_id: str) -> Reminder | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM reminders WHERE id = ?", (reminder_id,))
        return rows[0] if rows else None

    async def find(self, statuses: Iterable[str] = ("pending", "sending")) -> list[Reminder]:
        """Reminders in ``statuses``, soonest first."""
        wanted = tuple(statuses)
        marks = ", ".join("?" for _ in wanted)
        return await self._rows(f"SELECT {_COLUMNS} FROM reminders WHERE status IN ({marks}) ORDER BY due_at, id",
                                wanted)

    async def cancel(self, reminder_id: str, now: datetime) -> bool:
        """Cancel a pending reminder; False when it is not pending (sent, cancelled, being sent, unknown)."""
        return bool(await self._write(
            "UPDATE reminders SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'pending'",
            (_ts(now), reminder_id), f"cancel reminder {reminder_id}",
        ))

    # -- the scheduler's side ---------------------------------------------------------

    async def due(self, now: datetime, limit: int = 50) -> list[Reminder]:
        """Pending reminders due at or before ``now``, oldest first."""
        return await self._rows(
            f"SELECT {_COLUMNS} FROM reminders WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
            (_ts(now), limit),
        )

    async def unresolved_claims(self, claimed_before: datetime) -> list[Reminder]:
        """Claims (status ``sending``) made at or before ``claimed_before``, oldest first."""
        return await self._rows(
            f"SELECT {_COLUMNS} FROM reminders WHERE status = 'sending' AND claimed_at <= ? ORDER BY claimed_at, id",
            (_ts(claimed_before),),
        )

    async def claim(self, reminder: Reminder, delivery: str, now: datetime) -> bool:
        """Mark ``reminder`` as being sent with ``delivery``, committed before the send.

        Succeeds only from the state the caller read (pending, or the same unresolved
        claim), so a reminder cancelled or claimed meanwhile is never sent.
        """
        if reminder.status == "pending":
            where, params = "status = 'pending'", ()
        else:
            where, params = "status = 'sending' AND claimed_at = ?", (_ts(reminder.claimed_at),)  # type: ignore[arg-type]
        return bool(await self._write(
            f"UPDATE reminders SET status = 'sending', claimed_at = ?, delivery = ?, updated_at = ? "
            f"WHERE id = ? AND {where}",
            (_ts(now), delivery, _ts(now), reminder.id, *params), f"claim reminder {reminder.id}",
        ))

    async def recorded_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        """Which of ``message_ids`` are recorded as some reminder's delivery."""
        wanted = tuple(message_ids)
        if not wanted:
            return set()
        marks = ", ".join("?" for _ in wanted)
        try:
            rows = await self._db.execute_fetchall(f"SELECT message_id FROM reminders WHERE message_id IN ({marks})",
                                                   wanted)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the reminders of {self.path}: {exc}") from exc
        return {r[0] for r in rows}

    async def mark_sent(
        self, reminder_id: str, *, claimed_at: datetime, message_id: str, now: datetime,
        next_due: datetime | None = None,
    ) -> bool:
        """Record the delivery of the claim made at ``claimed_at``; a repeat becomes pending
        again at ``next_due`` in the same transaction."""
        if next_due is None:
            sets, params = "status = 'sent'", ()
        else:
            sets, params = "status = 'pending', due_at = ?", (_ts(next_due),)
        return bool(await self._write(
            f"UPDATE reminders SET {sets}, sent_at = ?, message_id = ?, claimed_at = NULL, delivery = NULL, "
            "updated_at = ? WHERE id = ? AND status = 'sending' AND claimed_at = ?",
            (*params, _ts(now), message_id, _ts(now), reminder_id, _ts(claimed_at)),
            f"mark reminder {reminder_id} sent",
        ))


def read_reminders(database: Path, *, include_done: bool = False) -> list[Reminder]:
    """The reminders in ``database`` for ``bot_manager reminders``: read-only, no event loop.

    Pending ones (and those being sent) soonest first; ``include_done`` adds the sent and
    cancelled ones. An absent database or table is no reminders.
    """
    if not database.exists():
        return []
    statuses = STATUSES if include_done else ("pending", "sending")
    try:
        # A plain sqlite3 connection (the CLI has no event loop), outside the aiosqlite rule.
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='reminders'").fetchone() is None:
                return []
            marks = ", ".join("?" for _ in statuses)
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM reminders WHERE status IN ({marks}) ORDER BY due_at, id", statuses
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the reminders of {database}: {exc}") from exc
    return [_row(r) for r in rows]
