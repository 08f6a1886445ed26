"""The proactive log: every message the bot sent unprompted, and whether anyone took it up.

One row per conversation starter (``kind='proactive'``) or follow-up (``'followup'``) in
``proactive_posts``, in the bot's ``messages.db`` next to the message history, through
its own connection (as the usage ledger does). The proactive policy reads its caps and
gaps from here (:meth:`ProactiveLog.posts_since`, :meth:`ProactiveLog.last_post_at`),
and its success rates (:meth:`ProactiveLog.success_rates`) once
:meth:`ProactiveLog.evaluate` has written each post's outcome back: ``engaged`` when a
human wrote in the channel within the window after the post, or reacted to it;
``ignored`` otherwise.

Timestamps use the message store's fixed-width ISO-8601 UTC text, so text order is
time order.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import StoreError
from .timestamps import to_db as _ts, from_db as _parse_ts
from ..ports import ActivityStorePort, ProactivePost

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["KINDS", "OUTCOMES", "PROACTIVE_SCHEMA", "ProactiveLog", "ProactivePost"]

_log = logging.getLogger(__name__)

KINDS = ("proactive", "followup")
OUTCOMES = ("engaged", "ignored")

PROACTIVE_SCHEMA = """
CREATE TABLE IF NOT EXISTS proactive_posts (
    message_id TEXT PRIMARY KEY,
    guild_id TEXT NOT NULL,            -- '' for direct messages
    channel_id TEXT NOT NULL,
    kind TEXT NOT NULL,                -- 'proactive' | 'followup'
    posted_at TEXT NOT NULL,           -- fixed-width ISO-8601 UTC
    outcome TEXT,                      -- NULL until evaluated; 'engaged' | 'ignored'
    evaluated_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_proactive_channel_posted ON proactive_posts(channel_id, posted_at);
CREATE INDEX IF NOT EXISTS idx_proactive_posted ON proactive_posts(posted_at);
"""

_COLUMNS = "message_id, guild_id, channel_id, kind, posted_at, outcome, evaluated_at"


def _row_to_post(row: Iterable[Any]) -> ProactivePost:
    message_id, guild_id, channel_id, kind, posted_at, outcome, evaluated_at = row
    return ProactivePost(
        message_id=message_id,
        guild_id=guild_id or None,
        channel_id=channel_id,
        kind=kind,
        posted_at=_parse_ts(posted_at),  # type: ignore[arg-type]  # NOT NULL column
        outcome=outcome,
        evaluated_at=_parse_ts(evaluated_at),
    )


def _check(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")


class ProactiveLog:
    """Unprompted posts and their outcomes. Open with :meth:`open`, close with :meth:`close`.

    Reads and writes raise :class:`~framework.errors.StoreError` on a database failure: a
    post that is not recorded would not count towards the caps, so the caller should know.
    """

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> ProactiveLog:
        """Open (creating if needed) the ``proactive_posts`` table in the SQLite file at ``path``."""
        from .sqlite import open_database

        return cls(await open_database(path, PROACTIVE_SCHEMA, "proactive log"), path)

    async def close(self) -> None:
        # No checkpoint: the message store's close does it (as for the ledger).
        try:
            await self._db.commit()
        except sqlite3.Error as exc:
            _log.warning("could not commit the proactive log %s on close: %s", self.path, exc)
        finally:
            await self._db.close()

    # -- writing --------------------------------------------------------------------------

    async def record(
        self, *, message_id: str, guild_id: str | None, channel_id: str, kind: str, posted_at: datetime
    ) -> None:
        """Record a post the bot sent (``guild_id`` None in a DM); a second record of it is ignored."""
        _check(kind, KINDS, "kind")
        await self._write(
            "INSERT OR IGNORE INTO proactive_posts (message_id, guild_id, channel_id, kind, posted_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (message_id, guild_id or "", channel_id, kind, _ts(posted_at)),
            f"record the {kind} post {message_id}",
        )

    async def set_outcome(self, message_id: str, outcome: str, evaluated_at: datetime) -> None:
        """Write how a post landed: ``"engaged"`` or ``"ignored"``."""
        _check(outcome, OUTCOMES, "outcome")
        await self._write(
            "UPDATE proactive_posts SET outcome = ?, evaluated_at = ? WHERE message_id = ?",
            (outcome, _ts(evaluated_at), message_id),
            f"set the outcome of {message_id}",
        )

    async def _write(self, sql: str, params: tuple[Any, ...], what: str) -> None:
        from .sqlite import run  # aiosqlite loads with the connection, not with this module

        try:
            await run(self._db, sql, params)
            await self._db.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what} in the proactive log {self.path}: {exc}") from exc

    # -- reading --------------------------------------------------------------------------

    async def _rows(self, sql: str, params: Iterable[Any]) -> list[Any]:
        try:
            return list(await self._db.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the proactive log {self.path}: {exc}") from exc

    async def posts_since(
        self, since: datetime, *, channel_id: str | None = None, kind: str | None = None
    ) -> list[ProactivePost]:
        """Posts at or after ``since``, oldest first; optionally of one channel and one kind."""
        _check(kind, KINDS, "kind")
        sql, params = self._filtered("posted_at >= ?", [_ts(since)], channel_id, kind)
        return [_row_to_post(r) for r in await self._rows(f"SELECT {_COLUMNS} FROM proactive_posts WHERE {sql} "
                                                         "ORDER BY posted_at", params)]

    async def last_post_at(self, *, channel_id: str | None = None, kind: str | None = "proactive") -> datetime | None:
        """Time of the latest post (anywhere, or in one channel; of ``kind``, None = any kind)."""
        _check(kind, KINDS, "kind")
        sql, params = self._filtered("1", [], channel_id, kind)
        rows = await self._rows(f"SELECT posted_at FROM proactive_posts WHERE {sql} ORDER BY posted_at DESC LIMIT 1",
                                params)
        return _parse_ts(rows[0][0]) if rows else None

    @staticmethod
    def _filtered(sql: str, params: list[Any], channel_id: str | None, kind: str | None) -> tuple[str, list[Any]]:
        if channel_id is not None:
            sql += " AND channel_id = ?"
            params.append(channel_id)
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return sql, params

    async def pending_evaluation(self, older_than: datetime) -> list[ProactivePost]:
        """Posts without an outcome yet, posted at or before ``older_than``, oldest first."""
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM proactive_posts WHERE posted_at <= ? AND outcome IS NULL ORDER BY posted_at",
            [_ts(older_than)],
        )
        return [_row_to_post(r) for r in rows]

    async def success_rates(self, since: datetime) -> dict[str, tuple[int, int]]:
        """``{channel_id: (engaged, evaluated)}`` over the evaluated proactive posts since ``since``."""
        # Counted here rather than with GROUP BY, which SQLite would serve by scanning the
        # whole (channel_id, posted_at) index instead of searching the window.
        rows = await self._rows(
            "SELECT channel_id, outcome FROM proactive_posts "
            "WHERE posted_at >= ? AND kind = 'proactive' AND outcome IS NOT NULL",
            [_ts(since)],
        )
        rates: dict[str, tuple[int, int]] = {}
        for channel, outcome in rows:
            engaged, evaluated = rates.get(channel, (0, 0))
            rates[channel] = (engaged + (outcome == "engaged"), evaluated + 1)
        return rates

    # -- evaluation -----------------------------------------------------------------------

    async def evaluate(
        self,
        store: ActivityStorePort,
        *,
        now: datetime,
        window_minutes: float = 30,
        self_id: str | None = None,
    ) -> int:
        """Write the outcome of every post whose window has passed; return how many.

        ``engaged``: a human (``is_bot`` false, so neither this bot nor another) wrote in
        the channel within ``window_minutes`` after the post, or someone other than
        ``self_id`` (the bot's user id) reacted to it within that window. ``ignored``
        otherwise. A post still inside its window waits for a later call.
        """
        window = timedelta(minutes=window_minutes)
        evaluated = 0
        for post in await self.pending_evaluation(now - window):
            until = post.posted_at + window
            humans = await store.authors_since(post.channel_id, post.posted_at, humans_only=True, until=until)
            reactors = await store.reaction_users(post.message_id, until=until) - {self_id}
            outcome = "engaged" if humans or reactors else "ignored"
            await self.set_outcome(post.message_id, outcome, now)
            evaluated += 1
        if evaluated:
            _log.info("evaluated %d unprompted posts in %s", evaluated, self.path)
        return evaluated
