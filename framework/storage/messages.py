"""Message history in SQLite through aiosqlite, in WAL mode.

Every message the bot sees is stored, its own included; edits and deletes are tracked
(a deleted message keeps its row with ``deleted_at`` set, so reply chains and the
conversation log still make sense). Timestamps are stored as fixed-width ISO-8601 UTC
text, so text order is time order and the ``(channel_id, timestamp)`` index serves
``get_recent`` directly.

Old messages move to ``messages_archive`` (:meth:`MessageStore.cleanup_old`, after 90
days by default): the hot table stays small for the per-message queries, nothing is deleted, and
:meth:`MessageStore.get` still finds an archived message (a reply chain to an old one).
The move is one ``DELETE`` per batch; a trigger on this connection copies each deleted
row into the archive inside that same statement, so a batch is atomic however other
coroutines interleave their writes on the shared connection, and a killed process
leaves every row in exactly one of the two tables (or, after an interrupted run, a row
in both, which the next run resolves). Reactions stay in ``reactions``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import aiosqlite

from ..domain import IncomingMessage, StoredMessage
from ..errors import StoreError
from .timestamps import to_db as _ts, from_db as _parse_ts
from ..ports import ChannelInfo
from .sqlite import open_database, run, run_many

__all__ = ["ChannelInfo", "MessageStore", "SCHEMA"]

_log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    message_id TEXT UNIQUE NOT NULL,
    channel_id TEXT NOT NULL,
    guild_id TEXT NOT NULL,            -- '' for direct messages
    author_id TEXT NOT NULL,
    author_name TEXT NOT NULL,
    content TEXT,
    timestamp DATETIME NOT NULL,
    is_bot BOOLEAN NOT NULL,
    has_attachments BOOLEAN NOT NULL,
    mentions TEXT,                     -- JSON array of mentioned user ids
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    reference_id TEXT,                 -- the message this one replies to
    edited_at DATETIME,
    deleted_at DATETIME
);
CREATE INDEX IF NOT EXISTS idx_channel_timestamp ON messages(channel_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_guild ON messages(guild_id);
-- last_seen: a user's latest message in a guild
CREATE INDEX IF NOT EXISTS idx_author_guild_timestamp ON messages(author_id, guild_id, timestamp);
-- cleanup_old: the oldest rows, whatever their channel
CREATE INDEX IF NOT EXISTS idx_timestamp ON messages(timestamp);
-- Messages older than the upkeep horizon. Its own id: a rowid of `messages` can be
-- reused once the newest rows are gone, so it is not copied.
CREATE TABLE IF NOT EXISTS messages_archive (
    id INTEGER PRIMARY KEY,
    message_id TEXT UNIQUE NOT NULL,
    channel_id TEXT NOT NULL,
    guild_id TEXT NOT NULL,
    author_id TEXT NOT NULL,
    author_name TEXT NOT NULL,
    content TEXT,
    timestamp DATETIME NOT NULL,
    is_bot BOOLEAN NOT NULL,
    has_attachments BOOLEAN NOT NULL,
    mentions TEXT,
    created_at DATETIME,
    reference_id TEXT,
    edited_at DATETIME,
    deleted_at DATETIME
);
CREATE INDEX IF NOT EXISTS idx_archive_channel_timestamp ON messages_archive(channel_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_archive_timestamp ON messages_archive(timestamp);
CREATE TABLE IF NOT EXISTS reactions (
    message_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    emoji TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
-- TEMP: lives on the store's own connection only, so a purge run by hand through another
-- connection really deletes. On this connection a delete from `messages` is a move.
CREATE TEMP TRIGGER IF NOT EXISTS messages_move_to_archive BEFORE DELETE ON main.messages BEGIN
    INSERT OR IGNORE INTO messages_archive (message_id, channel_id, guild_id, author_id, author_name,
        content, timestamp, is_bot, has_attachments, mentions, created_at, reference_id, edited_at, deleted_at)
    VALUES (OLD.message_id, OLD.channel_id, OLD.guild_id, OLD.author_id, OLD.author_name,
        OLD.content, OLD.timestamp, OLD.is_bot, OLD.has_attachments, OLD.mentions, OLD.created_at,
        OLD.reference_id, OLD.edited_at, OLD.deleted_at);
END;
"""

_COLUMNS = (
    "message_id, channel_id, guild_id, author_id, author_name, content, timestamp, "
    "is_bot, has_attachments, mentions, reference_id, edited_at, deleted_at"
)


_INSERT = (
    "INSERT OR IGNORE INTO messages (message_id, channel_id, guild_id, author_id, author_name, "
    "content, timestamp, is_bot, has_attachments, mentions, reference_id) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
)
_INSERT_UNLESS_ARCHIVED = _INSERT + " WHERE NOT EXISTS (SELECT 1 FROM messages_archive WHERE message_id = ?1)"


def _row_to_message(row: Iterable[Any]) -> StoredMessage:
    (mid, cid, gid, aid, aname, content, ts, is_bot, has_att, mentions, ref, edited, deleted) = row
    return StoredMessage(
        message_id=mid,
        channel_id=cid,
        guild_id=gid or None,
        author_id=aid,
        author_name=aname,
        content=content or "",
        timestamp=_parse_ts(ts) or datetime.now(timezone.utc),
        is_bot=bool(is_bot),
        has_attachments=bool(has_att),
        mentions=tuple(json.loads(mentions)) if mentions else (),
        reference_id=ref,
        edited_at=_parse_ts(edited),
        deleted=deleted is not None,
    )


def _write_problem(path: Path, timeout: float) -> str | None:
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=timeout, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"database {path.name} not writable: {exc}"
    return None


class MessageStore:
    """Async SQLite store of one bot's messages. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, db: aiosqlite.Connection, path: Path, archived_until: str | None = None) -> None:
        self._db = db
        self.path = path
        # No archived message is newer than this (stored form); None while the archive is
        # empty. Only a message this old can be a late replay of an archived one, so only
        # such a message pays for the archive lookup on insert: ingest of live traffic
        # costs nothing extra.
        self._archived_until = archived_until

    @classmethod
    async def open(cls, path: Path) -> MessageStore:
        db = await open_database(path, SCHEMA, "message store")
        rows = list(await db.execute_fetchall("SELECT MAX(timestamp) FROM messages_archive"))
        return cls(db, path, rows[0][0] if rows else None)

    async def close(self) -> None:
        """Flush the WAL into the main file (so the committed .db is whole) and close."""
        try:
            await self._db.commit()
            await run(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            # Nothing is lost: the WAL holds every committed row and SQLite replays it
            # on the next open. Only the tidy single-file state is missed.
            _log.warning("could not checkpoint %s on close: %s", self.path, exc)
        finally:
            await self._db.close()

    async def write_problem(self, timeout: float = 2.0) -> str | None:
        """Why the database cannot take a write now (one line), or None when it can: a write
        lock taken and given back at once (readiness asks this; no row is written). It uses
        its own short-lived connection: a BEGIN on the store's shared one would interleave
        with the store's own writes, and its ROLLBACK could undo them."""
        return await asyncio.to_thread(_write_problem, self.path, timeout)

    async def add(self, message: IncomingMessage) -> None:
        await self.add_many([message])

    async def add_many(self, messages: Iterable[IncomingMessage]) -> None:
        rows = [
            (
                m.message_id,
                m.channel_id,
                m.guild_id or "",
                m.author_id,
                m.author_name,
                m.content,
                _ts(m.timestamp),
                m.is_bot,
                m.has_attachments,
                json.dumps(list(m.mentions)),
                m.reference_id,
            )
            for m in messages
        ]
        # A message seen twice (gateway replay after RESUME) is stored once, and one
        # already moved to the archive is not stored again in the hot table.
        horizon = self._archived_until
        if horizon is not None and any(r[6] <= horizon for r in rows):
            old = [r for r in rows if r[6] <= horizon]
            rows = [r for r in rows if r[6] > horizon]
            await run_many(self._db, _INSERT_UNLESS_ARCHIVED, old)
        if rows:
            await run_many(self._db, _INSERT, rows)
        await self._db.commit()

    async def mark_edited(self, message_id: str, content: str | None, edited_at: datetime) -> bool:
        """Record an edit; ``content`` None keeps the old text (an embed-only update).

        An archived message is edited in the archive.
        """
        return await self._update_either(
            "UPDATE {table} SET content = COALESCE(?, content), edited_at = ? WHERE message_id = ?",
            (content, _ts(edited_at), message_id),
        )

    async def mark_deleted(self, message_id: str, deleted_at: datetime) -> bool:
        """Record a delete (the row stays, with ``deleted_at``); also in the archive."""
        return await self._update_either(
            "UPDATE {table} SET deleted_at = ? WHERE message_id = ? AND deleted_at IS NULL",
            (_ts(deleted_at), message_id),
        )

    async def _update_either(self, sql: str, params: tuple[Any, ...]) -> bool:
        # The hot table first; the archive only for a message that is not there (rare:
        # an edit or delete of a message older than the upkeep horizon).
        changed = await run(self._db, sql.format(table="messages"), params)
        if changed == 0:
            changed = await run(self._db, sql.format(table="messages_archive"), params)
        await self._db.commit()
        return changed > 0

    async def add_reaction(self, message_id: str, user_id: str, emoji: str, at: datetime) -> None:
        await run(
            self._db,
            "INSERT OR IGNORE INTO reactions (message_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)",
            (message_id, user_id, emoji, _ts(at)),
        )
        await self._db.commit()

    async def remove_reaction(self, message_id: str, user_id: str, emoji: str) -> None:
        await run(
            self._db, "DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?",
            (message_id, user_id, emoji),
        )
        await self._db.commit()

    async def reactions_for(self, message_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """``{message_id: {emoji: count}}`` for the given messages."""
        ids = list(message_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self._db.execute_fetchall(
            f"SELECT message_id, emoji, COUNT(*) FROM reactions WHERE message_id IN ({marks}) "
            "GROUP BY message_id, emoji ORDER BY message_id, MIN(created_at)",
            ids,
        )
        out: dict[str, dict[str, int]] = {}
        for message_id, emoji, count in rows:
            out.setdefault(message_id, {})[emoji] = int(count)
        return out

    async def count_after(self, channel_id: str, after: datetime, *, humans_only: bool = True) -> int:
        """Messages posted in a channel after ``after`` (the stale-reply guard's measure)."""
        bots = "AND is_bot = 0" if humans_only else ""
        rows = list(
            await self._db.execute_fetchall(
                f"SELECT COUNT(*) FROM messages WHERE channel_id = ? AND timestamp > ? AND deleted_at IS NULL {bots}",
                (channel_id, _ts(after)),
            )
        )
        return int(rows[0][0])

    async def get(self, message_id: str) -> StoredMessage | None:
        """One message by id, from the hot table or else the archive."""
        for table in ("messages", "messages_archive"):
            rows = list(
                await self._db.execute_fetchall(f"SELECT {_COLUMNS} FROM {table} WHERE message_id = ?", (message_id,))
            )
            if rows:
                return _row_to_message(rows[0])
        return None

    async def get_recent(self, channel_id: str, limit: int = 20, include_deleted: bool = False) -> list[StoredMessage]:
        """The last ``limit`` messages of a channel, oldest first."""
        where = "" if include_deleted else "AND deleted_at IS NULL"
        # execute_fetchall runs whole in the worker thread: no cursor is left open if the
        # caller is cancelled mid-read (an open cursor blocks the checkpoint on close).
        rows = await self._db.execute_fetchall(
            # Messages can share a timestamp (a burst, a backfill, a coarse clock); the
            # snowflake id breaks the tie in the order they were sent.
            f"SELECT {_COLUMNS} FROM messages WHERE channel_id = ? {where} "
            "ORDER BY timestamp DESC, CAST(message_id AS INTEGER) DESC LIMIT ?",
            (channel_id, limit),
        )
        return [_row_to_message(r) for r in reversed(list(rows))]

    async def count(self) -> int:
        """Messages in the hot table (the archive not included)."""
        return await self._scalar_int("SELECT COUNT(*) FROM messages")

    async def count_archived(self) -> int:
        """Messages moved to the archive by :meth:`cleanup_old`."""
        return await self._scalar_int("SELECT COUNT(*) FROM messages_archive")

    async def _scalar_int(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        rows = list(await self._db.execute_fetchall(sql, params))
        return int(rows[0][0])

    async def _scalar_ts(self, sql: str, params: tuple[Any, ...]) -> datetime | None:
        rows = list(await self._db.execute_fetchall(sql, params))
        return _parse_ts(rows[0][0]) if rows else None

    # -- activity (the agentic engine) -------------------------------------------------------
    # These read the hot table only: what is older than the upkeep horizon (90 days by
    # default) counts as "not seen".

    async def last_seen(self, user_id: str, *, guild_id: str | None) -> datetime | None:
        """When the user last wrote a message (not deleted) in the guild; ``guild_id`` None = in DMs."""
        return await self._scalar_ts(
            "SELECT timestamp FROM messages WHERE author_id = ? AND guild_id = ? AND deleted_at IS NULL "
            "ORDER BY timestamp DESC LIMIT 1",
            (user_id, guild_id or ""),
        )

    async def authors_since(
        self, channel_id: str, since: datetime, *, humans_only: bool = True, until: datetime | None = None
    ) -> set[str]:
        """Authors of the messages (not deleted) in a channel at or after ``since`` (and at or before ``until``)."""
        sql = "SELECT DISTINCT author_id FROM messages WHERE channel_id = ? AND timestamp >= ? AND deleted_at IS NULL"
        params: list[Any] = [channel_id, _ts(since)]
        if until is not None:
            sql += " AND timestamp <= ?"
            params.append(_ts(until))
        if humans_only:
            sql += " AND is_bot = 0"
        return {row[0] for row in await self._db.execute_fetchall(sql, params)}

    async def last_message_at(self, channel_id: str, *, humans_only: bool = False) -> datetime | None:
        """Time of the channel's latest message not deleted (by a human, with ``humans_only``)."""
        return await self._latest_in("messages", channel_id, humans_only)

    async def _latest_in(self, table: str, channel_id: str, humans_only: bool) -> datetime | None:
        bots = "AND is_bot = 0" if humans_only else ""
        return await self._scalar_ts(
            f"SELECT timestamp FROM {table} WHERE channel_id = ? AND deleted_at IS NULL {bots} "
            "ORDER BY timestamp DESC LIMIT 1",
            (channel_id,),
        )

    async def channel_info(self, channel_id: str) -> ChannelInfo | None:
        """The channel's guild and latest activity, or None if no message of it is stored.

        A channel whose messages are all archived is still known (from the archive).
        """
        for table in ("messages", "messages_archive"):
            rows = list(
                await self._db.execute_fetchall(
                    f"SELECT guild_id FROM {table} WHERE channel_id = ? ORDER BY timestamp DESC LIMIT 1",
                    (channel_id,),
                )
            )
            if rows:
                return ChannelInfo(
                    channel_id=channel_id,
                    guild_id=rows[0][0] or None,
                    last_message_at=await self._latest_in(table, channel_id, False),
                    last_human_message_at=await self._latest_in(table, channel_id, True),
                )
        return None

    async def reaction_users(self, message_id: str, *, until: datetime | None = None) -> set[str]:
        """Who reacts to a message now (a removed reaction is gone), counting those added by ``until``."""
        sql = "SELECT DISTINCT user_id FROM reactions WHERE message_id = ?"
        params: list[Any] = [message_id]
        if until is not None:
            sql += " AND created_at <= ?"
            params.append(_ts(until))
        return {row[0] for row in await self._db.execute_fetchall(sql, params)}

    # -- history backfill ------------------------------------------------------------------------
    # Snowflake ids carry their creation time and rise with it; they are stored as text,
    # so they are compared as integers.

    async def last_message_id(self, channel_id: str, *, before: datetime) -> str | None:
        """The id of the channel's latest message (deleted ones count) older than ``before``."""
        rows = list(
            await self._db.execute_fetchall(
                "SELECT message_id FROM messages WHERE channel_id = ? AND timestamp < ? "
                "ORDER BY timestamp DESC, CAST(message_id AS INTEGER) DESC LIMIT 1",
                (channel_id, _ts(before)),
            )
        )
        return rows[0][0] if rows else None

    async def dm_channel_ids(self, limit: int) -> list[str]:
        """Direct-message channels with a stored message, the most recently active first."""
        rows = await self._db.execute_fetchall(
            "SELECT channel_id FROM messages WHERE guild_id = '' GROUP BY channel_id "
            "ORDER BY MAX(timestamp) DESC LIMIT ?",
            (limit,),
        )
        return [row[0] for row in rows]

    async def known_ids(self, message_ids: Iterable[str]) -> set[str]:
        """Which of these messages are stored (in the hot table or the archive)."""
        ids = list(dict.fromkeys(message_ids))
        known: set[str] = set()
        for start in range(0, len(ids), 500):  # under SQLite's limit on bound parameters
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for table in ("messages", "messages_archive"):
                rows = await self._db.execute_fetchall(
                    f"SELECT message_id FROM {table} WHERE message_id IN ({marks})", chunk
                )
                known.update(row[0] for row in rows)
        return known

    async def replied_to(self, message_ids: Iterable[str], author_id: str) -> set[str]:
        """Which of these messages ``author_id`` has a stored reply to (the bot's answers)."""
        ids = list(dict.fromkeys(message_ids))
        replied: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self._db.execute_fetchall(
                f"SELECT DISTINCT reference_id FROM messages WHERE author_id = ? AND reference_id IN ({marks})",
                [author_id, *chunk],
            )
            replied.update(row[0] for row in rows)
        return replied

    # -- upkeep --------------------------------------------------------------------------------

    async def cleanup_old(self, days: float = 90, *, now: datetime, batch: int = 5000) -> int:
        """Move messages older than ``days`` before ``now`` to ``messages_archive``; return how many.

        One transaction per ``batch`` rows, committed before the next, so ingest goes on
        between batches and a killed run loses nothing (see the module docstring).
        Running it again moves nothing new. Reactions are not touched.
        """
        if days < 0:
            raise ValueError(f"days must be 0 or more, got {days}")
        if batch < 1:
            raise ValueError(f"batch must be 1 or more, got {batch}")
        cutoff = _ts(now - timedelta(days=days))
        # Raised before the first row moves: an add() from here on checks the archive for
        # any message this old (see add_many).
        if self._archived_until is None or cutoff > self._archived_until:
            self._archived_until = cutoff
        moved = 0
        while True:
            # The trigger messages_move_to_archive copies each row inside this statement.
            try:
                count = await run(
                    self._db,
                    "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE timestamp < ? LIMIT ?)",
                    (cutoff, batch),
                )
                await self._db.commit()
            except sqlite3.Error as exc:
                # The failed statement undid itself: every row is still in one table.
                raise StoreError(
                    f"cannot archive messages older than {cutoff} in {self.path} ({moved} moved so far): {exc}"
                ) from exc
            moved += count
            if count < batch:
                break
        if moved:
            _log.info("archived %d messages older than %s from %s", moved, cutoff, self.path)
        return moved
