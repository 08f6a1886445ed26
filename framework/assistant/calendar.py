"""The ``calendar`` tool: create, list, update and delete events, never double-booking silently.

Creating or moving an event onto time another event already holds saves nothing and
returns the clashing events: the model asks the person, or calls again with
``allow_conflict: true``. Intervals are half-open, so one event ending at 10:00 and the
next starting at 10:00 do not clash. Overlap is decided on UTC moments, so a night
crossing a DST change is as long as it really is.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..clock import Clock
from ..domain import ToolError
from ..domain.assistant import CalendarEvent, new_id
from .store import AssistantStorePort
from .times import When, day_end, day_start, parse_when, show, show_date
from .tool import AssistantTool, optional_text, required_text
from .zone import PersonZone

__all__ = ["DEFAULT_DURATION", "calendar_tool", "event_json"]

DEFAULT_DURATION = timedelta(hours=1)
_LIST_DAYS = 7

_DESCRIPTION = (
    "The person's calendar. action: create (title, start; optional end, location, notes), list (optional from, to; "
    f"default today and the next {_LIST_DAYS - 1} days), update (id and the fields to change; a new start without "
    "end keeps the duration), delete (id). Times are ISO 8601 with the person's UTC offset "
    "(2026-12-03T15:00+01:00); a date (2026-12-03) makes an all-day event (end: the last day, inclusive). A timed "
    "event without end lasts one hour. If the new time overlaps other events nothing is saved and the conflicts "
    "come back: ask the person, or repeat with allow_conflict true. Times come back in the person's time zone."
)

_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "description": "The event's id (from create or list)."},
    "title": {"type": "string"},
    "start": {"type": "string", "description": "ISO 8601 with offset, or a date for an all-day event."},
    "end": {"type": "string", "description": "ISO 8601 with offset (exclusive), or the last date of an all-day event."},
    "location": {"type": "string"},
    "notes": {"type": "string"},
    "allow_conflict": {"type": "boolean", "description": "Save even if it overlaps other events (the person agreed)."},
    "from": {"type": "string", "description": "list only: ISO 8601 time or date (default: today)."},
    "to": {"type": "string", "description": "list only: ISO 8601 time, or a date (inclusive)."},
}


def event_json(event: CalendarEvent, zone: ZoneInfo) -> dict[str, Any]:
    """An event as the model (and ``bot_manager calendar --json``) sees it: local times."""
    if event.all_day:
        last_day = event.end_at.astimezone(zone) - timedelta(seconds=1)
        item: dict[str, Any] = {"id": event.id, "title": event.title, "all_day": True,
                                "start": show_date(event.start_at, zone), "end": last_day.strftime("%Y-%m-%d")}
    else:
        item = {"id": event.id, "title": event.title, "start": show(event.start_at, zone),
                "end": show(event.end_at, zone)}
    item["day"] = event.start_at.astimezone(zone).strftime("%A")
    if event.location:
        item["location"] = event.location
    if event.notes:
        item["notes"] = event.notes
    return item


def _span(start: When, end_arg: object, zone: ZoneInfo, *, keep: timedelta | None = None) -> tuple[datetime, datetime, bool]:
    """``(start, end, all_day)`` from a parsed start and the model's end (None: a default)."""
    if start.day is not None:
        if end_arg is None:
            days = max(1, round(keep.total_seconds() / 86400)) if keep else 1  # a DST day is 23 or 25 hours
            last = start.day + timedelta(days=days - 1)
            return start.moment, day_end(last, zone), True
        end = parse_when(end_arg, zone, "end")
        if end.day is None:
            raise ToolError("start is a date (an all-day event), so end must be a date too (its last day)")
        if end.day < start.day:
            raise ToolError(f"end {end.day} is before start {start.day}: an event must end after it starts")
        return start.moment, day_end(end.day, zone), True
    if end_arg is None:
        return start.moment, start.moment + (keep or DEFAULT_DURATION), False
    end = parse_when(end_arg, zone, "end", allow_date=False)
    if end.moment <= start.moment:
        raise ToolError(
            f"end {show(end.moment, zone)} is not after start {show(start.moment, zone)}: an event must end after "
            "it starts"
        )
    return start.moment, end.moment, False


def calendar_tool(store: AssistantStorePort, zone: PersonZone, clock: Clock) -> AssistantTool:
    async def existing(args: dict[str, Any], action: str) -> CalendarEvent:
        event_id = required_text(args, "id", action)
        event = await store.get_event(event_id)
        if event is None:
            raise ToolError(f"there is no event with id {event_id!r}; list the calendar to see the ids")
        return event

    async def conflicts(event: CalendarEvent, args: dict[str, Any], tz: ZoneInfo) -> dict[str, Any] | None:
        if args.get("allow_conflict") in (True, "true", "True"):  # weaker models send the word
            return None
        clashing = await store.events_between(event.start_at, event.end_at, exclude=event.id)
        if not clashing:
            return None
        return {
            "saved": False,
            "reason": "overlaps other events",
            "requested": event_json(event, tz),
            "conflicts": [event_json(e, tz) for e in clashing],
            "next": "Nothing was saved. Tell the person about the clash and ask; if they want it anyway, repeat "
            "the call with allow_conflict true.",
        }

    async def create(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        title = required_text(args, "title", "create")
        if "start" not in args:
            raise ToolError("create needs a start (ISO 8601 with offset, or a date for an all-day event)")
        start, end, all_day = _span(parse_when(args["start"], tz, "start"), args.get("end"), tz)
        now = clock.now()
        event = CalendarEvent(
            id=new_id(now), title=title, start_at=start, end_at=end, all_day=all_day,
            location=optional_text(args, "location", limit=300) or "", notes=optional_text(args, "notes") or "",
            created_at=now, updated_at=now,
        )
        refused = await conflicts(event, args, tz)
        if refused is not None:
            return refused
        await store.add_event(event)
        return {"saved": True, "created": event_json(event, tz)}

    async def list_(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        now = clock.now()
        start = parse_when(args["from"], tz, "from").moment if "from" in args else day_start(now.astimezone(tz).date(), tz)
        if "to" in args:
            to = parse_when(args["to"], tz, "to")
            end = day_end(to.day, tz) if to.day is not None else to.moment
        else:
            end = day_start(start.astimezone(tz).date() + timedelta(days=_LIST_DAYS), tz)
        if end <= start:
            raise ToolError(f"to ({show(end, tz)}) must be after from ({show(start, tz)})")
        events = await store.events_between(start, end)
        return {"time_zone": tz.key, "from": show(start, tz), "to": show(end, tz), "count": len(events),
                "events": [event_json(e, tz) for e in events]}

    async def update(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        event = await existing(args, "update")
        changes: dict[str, Any] = {}
        if "title" in args:
            changes["title"] = required_text(args, "title", "update")
        if "location" in args:
            changes["location"] = optional_text(args, "location", limit=300) or ""
        if "notes" in args:
            changes["notes"] = optional_text(args, "notes") or ""
        moved = "start" in args or "end" in args
        if moved:
            if "start" in args:
                start = parse_when(args["start"], tz, "start")
            elif event.all_day:
                start = When(event.start_at, event.start_at.astimezone(tz).date())
            else:
                start = When(event.start_at)
            keep = None if "end" in args else event.end_at - event.start_at
            if keep is not None and start.is_date != event.all_day:
                raise ToolError("changing between a timed and an all-day event needs both start and end")
            changes["start_at"], changes["end_at"], changes["all_day"] = _span(start, args.get("end"), tz, keep=keep)
        if not changes:
            raise ToolError("update needs at least one of title, start, end, location, notes")
        updated = replace(event, updated_at=clock.now(), **changes)
        if moved:
            refused = await conflicts(updated, args, tz)
            if refused is not None:
                return refused
        await store.save_event(updated)
        return {"saved": True, "updated": event_json(updated, tz)}

    async def delete(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        event = await existing(args, "delete")
        await store.delete_event(event.id, clock.now())
        return {"deleted": event_json(event, tz)}

    return AssistantTool(
        "calendar", _DESCRIPTION, _PROPERTIES, {"create": create, "list": list_, "update": update, "delete": delete}
    )
