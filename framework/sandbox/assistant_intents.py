"""The offline stand-in's few words of assistant, so ``bot_manager sandbox cortana`` can be tried.

The stand-in model understands no language; to let a person try the assistant tools
offline, a handful of phrases become the same tool calls Claude would make, through the
bot's real tool loop (the tools run in the bot, against its real database):

- "put dentist on my calendar tomorrow at 10", "book lunch tomorrow at 1pm" (also add,
  schedule; today, tomorrow or
  a YYYY-MM-DD date; ``at 10``, ``10:30``, ``3pm``; ``for 30 minutes``);
- "what's on my calendar tomorrow" (today, tomorrow, this week);
- "add buy milk to my todos", "what are my todos";
- "remind me in 2 minutes to stretch" / "remind me to stretch in 2 minutes".

Dates and offsets are computed from the request's own "Local time: ... (Zone, UTC+hh:mm)"
line, as a model would. The tool's result comes back as a short plain reply; anything
else falls through to the stand-in's echo.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["assistant_turn"]

_LOCAL = re.compile(r"Local time: \w+ (\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}) \(([^,]+), UTC")
_ASKED = re.compile(r"is talking to you: (.*?)\nReply to them\.", re.S)
_DAY = re.compile(r"\b(today|tomorrow|\d{4}-\d{2}-\d{2})\b", re.I)
_AT = re.compile(r"\b(?:at|from)\s+(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b", re.I)
_FOR = re.compile(r"\bfor\s+(\d+)\s*(minutes?|mins?|hours?|h)\b", re.I)
_CALENDAR_ADD = re.compile(r"^\s*(?:please\s+)?(?:add|put|schedule|book)\s+(.+?)\s*$", re.I)
_ON_CALENDAR = re.compile(r"\s*\b(?:to|on|in|into)\s+my\s+calendar\b", re.I)
_TODO_ADD = re.compile(r"^\s*(?:please\s+)?(?:add|put)\s+(.+?)\s+(?:to|on)\s+my\s+(?:todos?|to-dos?|todo list)\b", re.I)
_REMIND = re.compile(
    r"remind me\s+(?:(?:in\s+(?P<n1>\d+)\s*(?P<u1>minutes?|mins?|hours?)\s+)?to\s+(?P<what>.+?))"
    r"(?:\s+in\s+(?P<n2>\d+)\s*(?P<u2>minutes?|mins?|hours?))?\s*[.!]?\s*$",
    re.I,
)


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return str(content)


def _tool_results(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def assistant_turn(body: dict[str, Any], prefix: str) -> tuple[list[dict[str, Any]], str] | None:
    """The stand-in's content blocks and stop reason for an assistant request, or None."""
    try:
        return _turn(body, prefix)
    except (ValueError, KeyError, TypeError, IndexError):
        return None  # never let the toy grammar break the sandbox: fall back to the echo


def _turn(body: dict[str, Any], prefix: str) -> tuple[list[dict[str, Any]], str] | None:
    tools = {t.get("name") for t in body.get("tools", []) if isinstance(t, dict)}
    messages = body.get("messages") or []
    if not messages or not tools & {"calendar", "todos", "reminders"}:
        return None
    results = _tool_results(messages[-1])
    if results:
        return [{"type": "text", "text": f"{prefix} " + " ".join(_render(r) for r in results)}], "end_turn"
    prompt = _text_of(messages[-1])
    asked, local = _ASKED.search(prompt), _LOCAL.search(prompt)
    if asked is None or local is None:
        return None
    zone = ZoneInfo(local.group(4))
    now = datetime.fromisoformat(f"{local.group(1)}T{local.group(2)}:{local.group(3)}").replace(tzinfo=zone)
    call = _intent(asked.group(1).strip(), now, zone, tools)
    if call is None:
        return None
    name, args = call
    block = {"type": "tool_use", "id": f"toolu_standin_{abs(hash((name, json.dumps(args)))) % 10**8}",
             "name": name, "input": args}
    return [block], "tool_use"


def _day(text: str, today: date) -> date | None:
    match = _DAY.search(text)
    if match is None:
        return None
    word = match.group(1).lower()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    return date.fromisoformat(word)


def _iso(day: date, hour: int, minute: int, zone: ZoneInfo) -> str:
    """Local wall time with the offset in effect then, as the tools want it."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    offset = local.utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds() // 60))
    return f"{local:%Y-%m-%dT%H:%M}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _intent(text: str, now: datetime, zone: ZoneInfo, tools: set[Any]) -> tuple[str, dict[str, Any]] | None:
    lower = text.lower()
    today = now.date()
    if "reminders" in tools and (match := _REMIND.search(text)):
        number, unit = (match.group("n1"), match.group("u1")) if match.group("n1") else (match.group("n2"), match.group("u2"))
        if number:
            unit = "hours" if unit.lower().startswith("h") else "minutes"
            return "reminders", {"action": "create", "text": match.group("what").strip(), "in": f"{number} {unit}"}
    booking = re.match(r"\s*(?:please\s+)?(?:schedule|book)\b", lower) is not None
    if "calendar" in tools and ("calendar" in lower or booking):
        if not booking and re.search(r"\b(what|show|list|anything)\b", lower):
            if "week" in lower:
                return "calendar", {"action": "list", "from": today.isoformat(),
                                    "to": (today + timedelta(days=6)).isoformat()}
            day = _day(text, today) or today
            return "calendar", {"action": "list", "from": day.isoformat(), "to": day.isoformat()}
        if (match := _CALENDAR_ADD.match(text)) and (at := _AT.search(text)):
            hour = int(at.group(1)) % 12 if at.group(3) else int(at.group(1))
            if (at.group(3) or "").lower() == "pm":
                hour += 12
            day = _day(text, today) or today
            args: dict[str, Any] = {"action": "create", "start": _iso(day, hour, int(at.group(2) or 0), zone)}
            if duration := _FOR.search(text):
                minutes = int(duration.group(1)) * (60 if duration.group(2).lower().startswith("h") else 1)
                end = datetime.fromisoformat(args["start"]) + timedelta(minutes=minutes)
                args["end"] = _iso(end.date(), end.hour, end.minute, zone)
            title = match.group(1)
            for pattern in (_ON_CALENDAR, _FOR, _AT, _DAY):
                title = pattern.sub("", title)
            args["title"] = re.sub(r"\s+", " ", title).strip(" ,.") or "event"
            return "calendar", args
    if "todos" in tools and re.search(r"\bto-?dos?\b|todo list", lower):
        if match := _TODO_ADD.match(text):
            return "todos", {"action": "add", "title": match.group(1).strip(" ,.")}
        if re.search(r"\b(what|show|list)\b", lower):
            return "todos", {"action": "list"}
    return None


def _clock(value: str) -> str:
    """``2026-12-03T10:00+01:00`` -> ``Thu 3 Dec 10:00``; a date -> ``Thu 3 Dec``."""
    if "T" not in value:
        return date.fromisoformat(value).strftime("%a %-d %b")
    return datetime.fromisoformat(value).strftime("%a %-d %b %H:%M")


def _event_line(event: dict[str, Any]) -> str:
    when = "all day" if event.get("all_day") else f"{_clock(event['start'])}–{event['end'][11:16]}"
    where = f" ({event['location']})" if event.get("location") else ""
    return f"{event['title']}, {when}{where}"


def _render(result: dict[str, Any]) -> str:
    content = result.get("content")
    text = content if isinstance(content, str) else " ".join(
        b.get("text", "") for b in content or [] if isinstance(b, dict)
    )
    if result.get("is_error"):
        return f"I couldn't do that: {text.removeprefix('Error: ')}"
    data = json.loads(text)
    if data.get("saved") is False:
        clashes = "; ".join(_event_line(e) for e in data.get("conflicts", []))
        return f"That clashes with {clashes}. Book it anyway?"
    if "created" in data and "title" in data["created"]:
        return f"Booked: {_event_line(data['created'])}."
    if "created" in data:  # a reminder
        return f"I'll remind you to {data['created']['text']} at {_clock(data['created']['due'])}."
    if "events" in data:
        if not data["events"]:
            return "Nothing on your calendar then."
        return "On your calendar: " + "; ".join(_event_line(e) for e in data["events"]) + "."
    if "added" in data:
        return f"Added to your todos: {data['added']['title']}."
    if "todos" in data:
        if not data["todos"]:
            return "No open todos."
        return "Your todos: " + "; ".join(t["title"] for t in data["todos"]) + "."
    return "Done: " + text
