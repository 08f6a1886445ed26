"""Message history in SQLite (seed 004 §4.5) through aiosqlite, in WAL mode.

Every message the bot sees is stored, its own included; edits and deletes are tracked
(a deleted message keeps its row with ``deleted_at`` set, so reply chains and the
conversation log still make sense). Timestamps are stored as fixed-width ISO-8601 UTC
text, so text order is time order and the ``(channel_id, timestamp)`` index serves
``get_recent`` directly.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import aiosqlite

from ..domain import IncomingMessage, StoredMessage
from .sqlite import open_database

__all__ = ["MessageStore", "SCHEMA"]

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
CREATE TABLE IF NOT EXISTS reactions (
    message_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    emoji TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
"""

_COLUMNS = (
    "message_id, channel_id, guild_id, author_id, author_name, content, timestamp, "
    "is_bot, has_attachments, mentions, reference_id, edited_at, deleted_at"
)


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


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


class MessageStore:
    """Async SQLite store of one bot's messages. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> MessageStore:
        return cls(await open_database(path, SCHEMA, "message store"), path)

    async def close(self) -> None:
        """Flush the WAL into the main file (so the committed .db is whole) and close."""
        try:
            await self._db.commit()
            await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            # Nothing is lost: the WAL holds every committed row and SQLite replays it
            # on the next open. Only the tidy single-file state is missed.
            _log.warning("could not checkpoint %s on close: %s", self.path, exc)
        finally:
            await self._db.close()

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
        # A message seen twice (gateway replay after RESUME) is stored once.
        await self._db.executemany(
            "INSERT OR IGNORE INTO messages (message_id, channel_id, guild_id, author_id, author_name, "
            "content, timestamp, is_bot, has_attachments, mentions, reference_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        await self._db.commit()

    async def mark_edited(self, message_id: str, content: str | None, edited_at: datetime) -> bool:
        """Record an edit; ``content`` None keeps the old text (an embed-only update)."""
        cursor = await self._db.execute(
            "UPDATE messages SET content = COALESCE(?, content), edited_at = ? WHERE message_id = ?",
            (content, _ts(edited_at), message_id),
        )
        await self._db.commit()
        return cursor.rowcount > 0

    async def mark_deleted(self, message_id: str, deleted_at: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE messages SET deleted_at = ? WHERE message_id = ? AND deleted_at IS NULL",
            (_ts(deleted_at), message_id),
        )
        await self._db.commit()
        return cursor.rowcount > 0

    async def add_reaction(self, message_id: str, user_id: str, emoji: str, at: datetime) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO reactions (message_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)",
            (message_id, user_id, emoji, _ts(at)),
        )
        await self._db.commit()

    async def remove_reaction(self, message_id: str, user_id: str, emoji: str) -> None:
        await self._db.execute(
            "DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?", (message_id, user_id, emoji)
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
        rows = list(await self._db.execute_fetchall(f"SELECT {_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)))
        return _row_to_message(rows[0]) if rows else None

    async def get_recent(self, channel_id: str, limit: int = 20, include_deleted: bool = False) -> list[StoredMessage]:
        """The last ``limit`` messages of a channel, oldest first."""
        where = "" if include_deleted else "AND deleted_at IS NULL"
        # execute_fetchall runs whole in the worker thread: no cursor is left open if the
        # caller is cancelled mid-read (an open cursor blocks the checkpoint on close).
        rows = await self._db.execute_fetchall(
            f"SELECT {_COLUMNS} FROM messages WHERE channel_id = ? {where} ORDER BY timestamp DESC LIMIT ?",
            (channel_id, limit),
        )
        return [_row_to_message(r) for r in reversed(list(rows))]

    async def get_since(self, channel_id: str, since: datetime) -> list[StoredMessage]:
        rows = await self._db.execute_fetchall(
            f"SELECT {_COLUMNS} FROM messages WHERE channel_id = ? AND timestamp > ? AND deleted_at IS NULL "
            "ORDER BY timestamp",
            (channel_id, _ts(since)),
        )
        return [_row_to_message(r) for r in rows]

    async def count(self) -> int:
        rows = list(await self._db.execute_fetchall("SELECT COUNT(*) FROM messages"))
        return int(rows[0][0])
