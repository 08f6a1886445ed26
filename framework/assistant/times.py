"""Times as the assistant tools take and show them: ISO 8601 in, UTC stored, local out.

The model writes times with a UTC offset (``2026-12-03T15:00+01:00``, or ``...Z`` for
UTC), or a bare date where a whole day is meant. Everything that would make us guess is
refused with a message saying what to write instead:

- no offset: ``15:00`` is a different moment in every zone;
- a wall time that does not exist in the person's zone (the hour skipped when clocks go
  forward), written with one of that zone's offsets: the model computed a local time
  that never happens;
- one of the person's own offsets that is not in effect on that date (``+01:00`` for a
  July day in Berlin): the model took today's offset for a date on the other side of a
  DST change. A time in some other zone stays possible: in UTC, with ``Z``.

Times go back to the model in the person's zone, with the offset, so it can read them
and hand them back unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..domain import ToolError

__all__ = ["When", "day_end", "day_start", "load_zone", "offset_text", "parse_when", "show", "show_date"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EXAMPLE = "2026-12-03T15:00+01:00"


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ToolError when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"{name!r} is not an IANA time zone name; use one like Europe/Berlin, America/New_York or UTC"
        ) from None


def offset_text(offset: timedelta | None) -> str:
    """``+01:00`` / ``-07:00`` / ``+00:00``."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def show(moment: datetime, zone: ZoneInfo) -> str:
    """A stored UTC moment as local ISO 8601 with its offset: ``2026-03-29T03:00+02:00``."""
    local = moment.astimezone(zone)
    text = local.strftime("%Y-%m-%dT%H:%M")
    if local.second or local.microsecond:
        text += local.strftime(":%S")
    return text + offset_text(local.utcoffset())


def show_date(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d")


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC moment the local ``day`` begins (the first existing minute, in a zone whose
    clocks jump at midnight)."""
    local = datetime.combine(day, time(0), tzinfo=zone)
    moment = local.astimezone(timezone.utc)
    if moment.astimezone(zone).date() != day:  # midnight skipped: the day starts at the jump
        moment = datetime.combine(day, time(0), tzinfo=zone).replace(fold=1).astimezone(timezone.utc)
    return moment


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """The UTC moment the local ``day`` ends (the next day's start)."""
    return day_start(day + timedelta(days=1), zone)


@dataclass(frozen=True)
class When:
    """A parsed time: a UTC moment, or a local date (``moment`` is then that day's start)."""

    moment: datetime
    day: date | None = None

    @property
    def is_date(self) -> bool:
        return self.day is not None


def parse_when(value: object, zone: ZoneInfo, field: str, *, allow_date: bool = True) -> When:
    """Parse the model's ``field``; ToolError with what to write instead when it is unusable."""
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"{field} must be an ISO 8601 time with a UTC offset, e.g. {_EXAMPLE}")
    text = value.strip()
    if _DATE.match(text):
        if not allow_date:
            raise ToolError(f"{field} {text!r} is a date; give a time with its offset, e.g. {text}T09:00{_offset_on(text, zone)}")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ToolError(f"{field} {text!r} is not a real date") from None
        return When(day_start(day, zone), day)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        hint = " (or a date, 2026-12-03, for a whole day)" if allow_date else ""
        raise ToolError(f"{field} {text!r} is not an ISO 8601 time; write e.g. {_EXAMPLE}{hint}") from None
    if parsed.tzinfo is None:
        correct = _localise(parsed, zone)
        if correct is None:
            raise _skipped(parsed, zone, field, text)
        first, second = parsed.replace(tzinfo=zone, fold=0), parsed.replace(tzinfo=zone, fold=1)
        if first.utcoffset() != second.utcoffset():  # the hour the clocks go back: it happens twice
            raise ToolError(
                f"{field} {text!r} has no UTC offset and {parsed:%H:%M} happens twice on {parsed:%Y-%m-%d} in "
                f"{zone.key} (the clocks go back); write {show(first, zone)} (the first) or {show(second, zone)} "
                "(the second)"
            )
        raise ToolError(
            f"{field} {text!r} has no UTC offset, so it could be any of 24 moments; write it with the person's "
            f"offset, e.g. {show(correct, zone)} ({zone.key} local time), or in UTC with Z"
        )
    explicit_utc = text.endswith(("Z", "z"))
    if not explicit_utc:
        _check_offset(parsed, zone, field, text)
    return When(parsed.astimezone(timezone.utc))


def _offset_on(day_text: str, zone: ZoneInfo) -> str:
    try:
        day = date.fromisoformat(day_text[:10])
    except ValueError:
        return "+00:00"
    return offset_text(datetime.combine(day, time(12), tzinfo=zone).utcoffset())


def _localise(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The moment a naive local wall time names in ``zone``; None when the clocks skip it."""
    local = wall.replace(tzinfo=zone)
    moment = local.astimezone(timezone.utc)
    if moment.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return moment


def _zone_offsets(moment: datetime, zone: ZoneInfo) -> set[timedelta]:
    """The offsets ``zone`` uses in the year around ``moment``."""
    return {
        offset
        for k in range(-6, 7)
        if (offset := (moment + timedelta(days=30.5 * k)).astimezone(zone).utcoffset()) is not None
    }


def _check_offset(parsed: datetime, zone: ZoneInfo, field: str, text: str) -> None:
    offset = parsed.utcoffset()
    wall = parsed.replace(tzinfo=None)
    real_offset = parsed.astimezone(zone).utcoffset()
    if offset == real_offset:
        return
    own = _zone_offsets(parsed, zone)
    if offset not in own:
        return  # another zone's offset: a real moment, shown back in the person's zone
    correct = _localise(wall, zone)
    if correct is None:
        raise _skipped(wall, zone, field, text)
    raise ToolError(
        f"{field} {text!r} uses UTC{offset_text(offset)}, but {zone.key} is on UTC{offset_text(real_offset)} on "
        f"{wall:%Y-%m-%d} (daylight saving time differs from today's): for {wall:%H:%M} local time write "
        f"{show(correct, zone)}; for a time in another zone, give it in UTC with Z"
    )


def _skipped(wall: datetime, zone: ZoneInfo, field: str, text: str) -> ToolError:
    """The refusal of a local wall time the clocks skip (moving forward for DST)."""
    before = wall.replace(tzinfo=zone, fold=0).utcoffset() or timedelta()
    after = wall.replace(tzinfo=zone, fold=1).utcoffset() or timedelta()
    jump = abs(after - before)
    earlier, later = _localise(wall - jump, zone), _localise(wall + jump, zone)
    options = " or ".join(show(m, zone) for m in (earlier, later) if m is not None)
    return ToolError(
        f"{field} {text!r}: {wall:%H:%M} on {wall:%Y-%m-%d} does not exist in {zone.key} (the clocks move "
        f"forward {int(jump.total_seconds() // 60)} minutes then); ask which was meant, e.g. {options}"
    )
