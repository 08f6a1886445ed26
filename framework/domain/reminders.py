"""A reminder the person set, and the time arithmetic of its delivery.

Plain data and pure functions: the store (``framework.storage.reminders``), the tool and
the scheduler (``framework.assistant``) share them. Times are aware UTC datetimes; a
reminder also carries the person's IANA zone and the local wall-clock time it was set
for, so a repeat comes back at the same local time across a daylight-saving change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "LATE_AFTER",
    "REPEATS",
    "STATUSES",
    "Reminder",
    "delivery_text",
    "local_time_of",
    "next_occurrence",
]

REPEATS = ("none", "daily", "weekly")
STATUSES = ("pending", "sending", "sent", "cancelled")

# The scheduler wakes every 30 s, so an on-time delivery is at most that late; past a
# minute it was missed (the bot was down, or a crash was recovered) and the DM says so.
LATE_AFTER = timedelta(seconds=60)

_STEP = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


@dataclass(frozen=True)
class Reminder:
    """One reminder. ``status``: pending -> sending (claimed) -> sent, or cancelled.

    ``due_at`` is the next delivery (UTC); ``local_time`` (``HH:MM:SS`` in ``timezone``)
    is the wall-clock time every repeat keeps. ``claimed_at`` and ``delivery`` (the exact
    DM text) are set while a send is under way or was cut short; ``message_id`` is the
    DM of the last delivery.
    """

    id: str
    text: str
    due_at: datetime
    repeat: str
    timezone: str
    local_time: str
    status: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    claimed_at: datetime | None = None
    delivery: str | None = None
    message_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO-8601 UTC text."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


def local_time_of(moment: datetime, zone: str) -> str:
    """``HH:MM:SS``: the wall-clock time of ``moment`` in ``zone``."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S")


def _at_local(day: date, wall: str, zone: ZoneInfo) -> datetime:
    """``wall`` on ``day`` in ``zone``, as UTC.

    A wall time that does not exist that day (skipped by a spring-forward change) comes
    out one gap later (02:30 -> 03:30), the usual reading; a doubled one (autumn) is its
    first occurrence (``fold=0``).
    """
    hour, minute, second = (int(part) for part in wall.split(":"))
    local = datetime.combine(day, time(hour, minute, second), tzinfo=zone)
    return local.astimezone(timezone.utc)


def next_occurrence(reminder: Reminder, after: datetime) -> datetime | None:
    """The first occurrence of a repeating reminder later than ``after`` (None for a one-off).

    Counted in the reminder's zone from the local date of its current ``due_at``, at its
    ``local_time``: a daily 08:00 stays 08:00 local across a DST change (its UTC time
    moves by the change), and a reminder missed for days while the bot was down comes
    back once, at its next time, not once per missed day.
    """
    step = _STEP.get(reminder.repeat)
    if step is None:
        return None
    zone = ZoneInfo(reminder.timezone)
    wall = reminder.local_time or local_time_of(reminder.due_at, reminder.timezone)
    day = reminder.due_at.astimezone(zone).date()
    while True:
        day += step
        candidate = _at_local(day, wall, zone)
        if candidate > after:
            return candidate


def delivery_text(reminder: Reminder, now: datetime) -> str:
    """The DM for ``reminder`` delivered at ``now``: marked late, with the local time it
    was due, when it is more than :data:`LATE_AFTER` behind."""
    text = f"⏰ Reminder: {reminder.text}"
    if now - reminder.due_at <= LATE_AFTER:
        return text
    zone = ZoneInfo(reminder.timezone)
    due_local = reminder.due_at.astimezone(zone)
    shown = due_local.strftime("%H:%M")
    if due_local.date() != now.astimezone(zone).date():
        shown = f"{due_local.strftime('%a')} {due_local.day} {due_local.strftime('%b')} {shown}"
    return f"{text} (late: was due {shown})"
