"""The ``reminders`` client tool: create, list and cancel the person's reminders.

A reminder is created for an absolute time (``at``: ISO 8601 with a UTC offset, checked
by :func:`framework.assistant.times.parse_when`) or a relative one (``in_minutes``, or
``in`` as text: "in 2 hours", "90 minutes", "1h30m"), optionally repeating daily or
weekly at the same local wall-clock time (in the person's zone, across DST changes). It
is stored in UTC; :class:`~framework.assistant.reminder_delivery.ReminderDelivery`
sends it to the master's DM when due. Unusable input is refused with a
:class:`~framework.domain.ToolError` saying what to write instead.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ..clock import Clock
from ..domain import ConversationScope, ToolError
from ..domain.reminders import REPEATS, LATE_AFTER, Reminder, local_time_of
from ..ports import ReminderStorePort
from .times import parse_when, show

__all__ = ["ReminderTool", "ZoneSource", "FixedZone", "parse_relative"]

MAX_TEXT = 1000  # the DM adds a prefix and a late note; Discord takes 2,000 characters
MAX_AHEAD = timedelta(days=3660)  # ten years: anything further is a typo

_UNITS = {
    "w": 7 * 86400, "wk": 7 * 86400, "wks": 7 * 86400, "week": 7 * 86400, "weeks": 7 * 86400,
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}
_PART = re.compile(r"(\d+(?:\.\d+)?|\ban?\b)\s*([a-z]+)")
_RELATIVE_HELP = 'write `in` like "in 2 hours", "90 minutes", "1h30m" or "2 days", or give in_minutes'


class ZoneSource(Protocol):
    """The person's time zone, read when a tool runs (a setting that may change)."""

    async def current(self) -> ZoneInfo: ...


class FixedZone:
    """A zone that never changes (the config's, when no setting store is wired)."""

    def __init__(self, name: str) -> None:
        self._zone = ZoneInfo(name)

    async def current(self) -> ZoneInfo:
        return self._zone


def parse_relative(value: object) -> float:
    """``"in 2 hours"``, ``"90 minutes"``, ``"1h30m"``, ``"an hour"`` in seconds; ToolError otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"`in` must be text; {_RELATIVE_HELP}")
    text = value.strip().lower()
    text = re.sub(r"^in\s+", "", text)
    text = re.sub(r"\s*(,|and)\s*", " ", text).strip()
    total, pos = 0.0, 0
    for match in _PART.finditer(text):
        if text[pos:match.start()].strip():
            break
        number, unit = match.groups()
        if unit not in _UNITS:
            raise ToolError(f"`in` {value!r}: unknown unit {unit!r}; {_RELATIVE_HELP}")
        total += (1.0 if number in ("a", "an") else float(number)) * _UNITS[unit]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise ToolError(f"`in` {value!r} is not a duration; {_RELATIVE_HELP}")
    return total


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["create", "list", "cancel"],
                   "description": "create a reminder, list them, or cancel one by id."},
        "text": {"type": "string", "description": "create: what to remind the person of, as they should read it."},
        "at": {"type": "string", "description": "create: when, ISO 8601 with the UTC offset in effect on that date "
               "in the person's zone, e.g. 2026-12-03T15:00+01:00 (or UTC with Z)."},
        "in_minutes": {"type": "number", "description": "create: instead of `at`, this many minutes from now."},
        "in": {"type": "string", "description": "create: instead of `at`, a duration from now: \"in 2 hours\", "
               "\"90 minutes\", \"1h30m\"."},
        "repeat": {"type": "string", "enum": list(REPEATS),
                   "description": "create: none (default), daily or weekly, at the same local time."},
        "id": {"type": "string", "description": "cancel: the reminder's id, from create or list."},
        "include_done": {"type": "boolean", "description": "list: also the sent and cancelled ones."},
    },
    "required": ["action"],
    "additionalProperties": False,
}

_DESCRIPTION = (
    "The person's reminders. A reminder is sent to them as a direct message at its time (even in quiet hours), "
    "within a minute; a repeating one comes back daily or weekly at the same local time. Use it when they ask "
    "to be reminded of something; confirm the local time it was set for."
)


class ReminderTool:
    """The ``reminders`` tool (implements :class:`~framework.ports.ClientTool`)."""

    name = "reminders"

    def __init__(self, store: ReminderStorePort, zone: ZoneSource, clock: Clock) -> None:
        self._store = store
        self._zone = zone
        self._clock = clock

    def anthropic_param(self) -> dict[str, Any]:
        return {"name": self.name, "description": _DESCRIPTION, "input_schema": json.loads(json.dumps(_SCHEMA))}

    def function_schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": _DESCRIPTION, "parameters": json.loads(json.dumps(_SCHEMA))}

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        if not isinstance(args, dict):
            raise ToolError("reminders expects an object of arguments")
        args = {k: v for k, v in args.items() if v is not None}  # models send null for "not given"
        unknown = sorted(str(k) for k in args if k not in _SCHEMA["properties"])
        if unknown:
            raise ToolError(f"reminders takes only {', '.join(_SCHEMA['properties'])}; unknown: {', '.join(unknown)}")
        zone = await self._zone.current()
        now = self._clock.now()
        action = args.get("action")
        if action == "create":
            result = await self._create(args, zone, now)
        elif action == "list":
            result = await self._list(args, zone, now)
        elif action == "cancel":
            result = await self._cancel(args, zone, now)
        else:
            raise ToolError(f"action must be create, list or cancel, not {action!r}")
        return json.dumps(result, ensure_ascii=False, separators=(",", ":"))

    # -- the actions ----------------------------------------------------------------

    async def _create(self, args: dict[str, Any], zone: ZoneInfo, now: datetime) -> dict[str, Any]:
        text = args.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ToolError("create needs `text`: what to remind the person of")
        text = text.strip()
        if len(text) > MAX_TEXT:
            raise ToolError(f"`text` is {len(text)} characters; keep a reminder under {MAX_TEXT}")
        repeat = args.get("repeat", "none")
        if repeat not in REPEATS:
            raise ToolError(f"repeat must be one of {', '.join(REPEATS)}, not {repeat!r}")
        due = self._due(args, zone, now)
        reminder = await self._store.add(
            text=text, due_at=due, repeat=repeat, timezone=zone.key, local_time=local_time_of(due, zone.key), now=now,
        )
        return {"created": _shown(reminder, zone), "now": show(now, zone)}

    def _due(self, args: dict[str, Any], zone: ZoneInfo, now: datetime) -> datetime:
        given = [k for k in ("at", "in_minutes", "in") if k in args]
        if len(given) != 1:
            raise ToolError(
                "create needs exactly one of `at` (ISO 8601 with offset), `in_minutes` or `in`"
                + (f"; got {', '.join(given)}" if given else "")
            )
        if given[0] == "at":
            due = parse_when(args["at"], zone, "at", allow_date=False).moment
            if due < now - LATE_AFTER:
                raise ToolError(
                    f"at {show(due, zone)} is in the past (it is now {show(now, zone)} in {zone.key}); "
                    "ask the person when they meant"
                )
            due = max(due, now)
        else:
            if given[0] == "in_minutes":
                minutes = args["in_minutes"]
                if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes):
                    raise ToolError("in_minutes must be a number of minutes, e.g. 2 or 90")
                seconds = float(minutes) * 60
            else:
                seconds = parse_relative(args["in"])
            if seconds <= 0:
                raise ToolError("a relative reminder must be later than now (a positive duration)")
            if seconds > MAX_AHEAD.total_seconds():
                raise ToolError("that is more than ten years away; check the duration")
            due = now + timedelta(seconds=seconds)
        if due - now > MAX_AHEAD:
            raise ToolError(f"{show(due, zone)} is more than ten years away; check the date")
        return due

    async def _list(self, args: dict[str, Any], zone: ZoneInfo, now: datetime) -> dict[str, Any]:
        include_done = args.get("include_done", False)
        if not isinstance(include_done, bool):
            raise ToolError("include_done must be true or false")
        statuses = ("pending", "sending", "sent", "cancelled") if include_done else ("pending", "sending")
        reminders = await self._store.find(statuses)
        return {"now": show(now, zone), "time_zone": zone.key, "reminders": [_shown(r, zone) for r in reminders]}

    async def _cancel(self, args: dict[str, Any], zone: ZoneInfo, now: datetime) -> dict[str, Any]:
        reminder_id = args.get("id")
        if not isinstance(reminder_id, str) or not reminder_id.strip():
            raise ToolError("cancel needs `id`: list the reminders to see their ids")
        reminder_id = reminder_id.strip()
        if await self._store.cancel(reminder_id, now):
            reminder = await self._store.get(reminder_id)
            return {"cancelled": _shown(reminder, zone) if reminder else {"id": reminder_id}}
        reminder = await self._store.get(reminder_id)
        if reminder is None:
            raise ToolError(f"there is no reminder {reminder_id!r}; list the reminders to see their ids")
        if reminder.status == "sending":
            raise ToolError(f"reminder {reminder_id} is being delivered right now; it cannot be cancelled")
        if reminder.status == "sent":
            sent = show(reminder.sent_at, zone) if reminder.sent_at else "earlier"
            raise ToolError(f"reminder {reminder_id} was already sent ({sent}); nothing to cancel")
        raise ToolError(f"reminder {reminder_id} is already cancelled")


def _shown(reminder: Reminder, zone: ZoneInfo) -> dict[str, Any]:
    """A reminder as the model reads it: times in the person's zone."""
    out: dict[str, Any] = {"id": reminder.id, "text": reminder.text, "due": show(reminder.due_at, zone),
                           "repeat": reminder.repeat, "status": reminder.status}
    if reminder.sent_at is not None:
        out["last_sent"] = show(reminder.sent_at, zone)
    return out
