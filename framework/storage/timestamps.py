"""The one timestamp format of the bot's database: fixed-width ISO-8601 UTC text.

Fixed width makes text order time order, so ``(channel_id, timestamp)`` indexes serve
range queries directly. Shared by the message store, the proactive log and the ledger
(and therefore by sync, which merges their rows). No aiosqlite import: cheap to load.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["FORMAT", "to_db", "from_db"]

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_db(value: datetime) -> str:
    """A datetime as stored; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(FORMAT)


def from_db(value: str | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (None stays None).

    Read with ``fromisoformat`` (which takes the trailing ``Z`` since Python 3.11): about
    50 times faster than ``strptime``, and every message of a model request's transcript
    is read this way."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # never written by to_db; read as UTC like a naive datetime given to it
        return parsed.replace(tzinfo=timezone.utc)
    return parsed if parsed.tzinfo is timezone.utc else parsed.astimezone(timezone.utc)
