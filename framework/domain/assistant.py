"""The personal assistant's plain types: a todo, a calendar event, and their ids.

Times are aware UTC datetimes; showing them in the person's zone is the tools' job. Ids
are made where the row is born and never change, so the same todo has the same id on
every machine ``sync`` carries it to: 9 characters of milliseconds (time order) and 7
random ones (no two machines pick the same id in the same millisecond), in Crockford's
base 32, lower case.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

__all__ = ["PRIORITIES", "TODO_STATUSES", "CalendarEvent", "Todo", "new_id"]

PRIORITIES = ("low", "normal", "high")
TODO_STATUSES = ("open", "done")
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(now: datetime) -> str:
    """A time-ordered random id (16 characters) for a row made at ``now``."""
    millis = int(now.timestamp() * 1000)
    stamp = "".join(_ALPHABET[(millis >> (5 * i)) & 31] for i in reversed(range(9)))
    return stamp + "".join(secrets.choice(_ALPHABET) for _ in range(7))


@dataclass(frozen=True)
class Todo:
    id: str
    title: str
    notes: str
    due_at: datetime | None
    due_all_day: bool  # the due is a date: ``due_at`` is the end of that local day
    priority: str  # low | normal | high
    status: str  # open | done
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class CalendarEvent:
    id: str
    title: str
    start_at: datetime
    end_at: datetime  # exclusive: an event ending at 10:00 and one starting at 10:00 do not overlap
    all_day: bool
    location: str
    notes: str
    created_at: datetime
    updated_at: datetime

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start_at < end and start < self.end_at
