"""The follow-ups file: its models, priority scoring and a lenient parser.

The model writes ``followups.json`` freely through the memory tool, so reading it is
forgiving: :func:`parse_followups` repairs what it can (times, ids, priorities, stray
shapes) and says what it changed; only text that is not JSON at all raises
:class:`FollowupsCorrupt`. Everything here is pure: no file IO, time passed in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer, field_validator

from ..errors import FrameworkError

__all__ = [
    "Priority",
    "PRIORITIES",
    "score_priority",
    "priority_at_least",
    "Followup",
    "CompletedFollowup",
    "FollowupFile",
    "FollowupsCorrupt",
    "ParseResult",
    "parse_followups",
    "parse_followups_detailed",
    "parse_time",
    "format_time",
]

Priority = Literal["low", "medium", "high"]
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high")
_RANK = {p: i for i, p in enumerate(PRIORITIES)}

# Keywords that raise a follow-up's priority (life events high; plans, moves, travel medium),
# matched as whole words (plural -s/-es allowed), any case.
_HIGH = (
    "interview", "job interview", "surgery", "operation", "wedding", "funeral", "hospital",
    "hospitalized", "hospitalised", "diagnosis", "biopsy", "chemo", "chemotherapy", "doctor",
    "medical", "mri", "exam results", "test results", "results", "job offer", "court", "divorce",
    "passed away", "giving birth", "due date", "pregnant", "pregnancy", "baby", "thesis defense",
    "thesis defence", "visa", "laid off", "layoff", "emergency", "accident",
)  # fmt: skip
_MEDIUM = (
    "project", "moving", "move house", "relocating", "relocation", "trip", "travel", "travelling",
    "traveling", "flight", "vacation", "holiday", "exam", "test", "deadline", "launch", "release",
    "presentation", "demo", "competition", "tournament", "game jam", "hackathon", "concert",
    "recital", "audition", "driving test", "application", "graduation", "graduating", "thesis",
    "dissertation", "new job", "first day", "promotion", "performance review", "conference",
    "marathon", "race", "renovation", "apartment", "lease", "dentist", "appointment", "pitch",
    "submission", "build", "building",
)  # fmt: skip


def _keyword_re(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted((r"\s+".join(map(re.escape, w.split())) for w in words), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")(?:s|es)?\b", re.IGNORECASE)


_HIGH_RE = _keyword_re(_HIGH)
_MEDIUM_RE = _keyword_re(_MEDIUM)


def score_priority(event: str, context: str = "") -> Priority:
    """High: interviews, medical, life events; medium: projects, moves, travel, exams; else low."""
    text = f"{event}\n{context}"
    if _HIGH_RE.search(text):
        return "high"
    if _MEDIUM_RE.search(text):
        return "medium"
    return "low"


def priority_at_least(priority: str, threshold: str) -> bool:
    """True when ``priority`` ranks at or above ``threshold`` (an unknown priority counts as low)."""
    return _RANK.get(priority, 0) >= _RANK.get(threshold, 0)


class FollowupsCorrupt(FrameworkError):
    """A followups.json is not JSON (or not an object or list) and cannot be repaired."""


def format_time(value: datetime) -> str:
    """``2025-09-22T14:30:00Z``: UTC, whole seconds, the form the file uses."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # naive means UTC here, never local time
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_time(value: object) -> tuple[datetime | None, bool]:
    """``(UTC datetime, needed repair)`` from ISO-8601 with Z/offset, naive (taken as UTC) or a date.

    Naive times, dates (midnight UTC) and numbers (Unix seconds) parse but count as repaired;
    anything else is ``(None, False)``.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc, microsecond=0), True
        return value.astimezone(timezone.utc).replace(microsecond=0), False
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc), True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, timezone.utc).replace(microsecond=0), True
        except (OverflowError, OSError, ValueError):
            return None, False
    if not isinstance(value, str):
        return None, False
    text = value.strip()
    try:
        if _DATE_ONLY.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc), True
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
    except ValueError:
        return None, False
    return parse_time(parsed)


def _utc(value: Any) -> Any:
    parsed, _ = parse_time(value)
    return value if parsed is None else parsed


class _Item(BaseModel):
    # The model writes this file freely: fields we do not know are kept and written back.
    # Assignments are checked too, so the engine's bookkeeping gets the same UTC times.
    model_config = ConfigDict(extra="allow", validate_assignment=True)


class Followup(_Item):
    """A pending follow-up. ``delivery``/``deferred_count``/``last_considered`` are the engine's."""

    id: str
    user_id: str
    user_name: str = ""
    event: str
    mentioned_date: datetime
    expected_completion: str | None = None
    follow_up_after: datetime
    priority: Priority
    context: str = ""
    channel_id: str
    delivery: Literal["woven"] | None = None
    deferred_count: int = 0
    last_considered: datetime | None = None

    _norm = field_validator("mentioned_date", "follow_up_after", "last_considered", mode="before")(_utc)

    @field_serializer("mentioned_date", "follow_up_after", "last_considered")
    def _ser_time(self, value: datetime | None) -> str | None:
        return None if value is None else format_time(value)


class CompletedFollowup(_Item):
    """A follow-up that is done: followed up, expired or dropped, with its outcome."""

    id: str
    user_id: str
    user_name: str = ""
    event: str
    followed_up: datetime | None = None
    outcome: str
    completed_date: datetime
    channel_id: str | None = None

    _norm = field_validator("followed_up", "completed_date", mode="before")(_utc)

    @field_serializer("followed_up", "completed_date")
    def _ser_time(self, value: datetime | None) -> str | None:
        return None if value is None else format_time(value)


# Written only when set, so the model's own items stay as it wrote them.
_BOOKKEEPING_DEFAULTS: dict[str, Any] = {"delivery": None, "deferred_count": 0, "last_considered": None}


class FollowupFile(BaseModel):
    """The whole ``followups.json``: ``{"pending": [...], "completed": [...]}``."""

    model_config = ConfigDict(extra="allow")

    pending: list[Followup] = []
    completed: list[CompletedFollowup] = []

    def get(self, followup_id: str) -> Followup | None:
        return next((item for item in self.pending if item.id == followup_id), None)

    def ids(self) -> set[str]:
        return {item.id for item in self.pending} | {item.id for item in self.completed}

    def to_data(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for item in data["pending"]:
            for key, default in _BOOKKEEPING_DEFAULTS.items():
                if key in item and item[key] == default:
                    del item[key]
        return data

    def to_json(self) -> str:
        """Stable, indented JSON with ``...Z`` times (what the store writes)."""
        return json.dumps(self.to_data(), indent=2, ensure_ascii=False) + "\n"


@dataclass
class ParseResult:
    """What :func:`parse_followups_detailed` made of a text."""

    file: FollowupFile
    notes: list[str] = field(default_factory=list)  # one line per repair, no user content
    dropped: list[Any] = field(default_factory=list)  # raw items that could not be repaired


_FENCE = re.compile(r"^\s*```[A-Za-z]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _load_json(text: str, notes: list[str]) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    fixed = text
    fence = _FENCE.match(fixed)
    if fence:
        fixed = fence.group(1)
    fixed = _TRAILING_COMMA.sub(r"\1", fixed)
    try:
        data = json.loads(fixed)
    except ValueError as err:
        raise FollowupsCorrupt(f"followups.json is not valid JSON ({err.msg} at line {err.lineno})") from None
    notes.append("fixed the JSON syntax (code fence or trailing commas)")
    return data


def _same_key(item: dict[str, Any]) -> tuple[str, str]:
    """What makes two entries the same follow-up: the person and the event (case and spacing ignored)."""

    def norm(value: Any) -> str:
        return " ".join(str(value or "").split()).casefold()

    return (norm(item.get("user_id")), norm(item.get("event")))


class _Repairer:
    def __init__(self, now: datetime, delay: timedelta) -> None:
        self.now = now
        self.delay = delay
        self.result = ParseResult(FollowupFile())
        self.used: set[str] = set()
        self.reserved: set[str] = set()  # ids written in the file: generated ids avoid them
        self.seen: list[dict[str, Any]] = []

    def note(self, text: str) -> None:
        self.result.notes.append(text)

    def drop(self, where: str, raw: Any, why: str) -> None:
        self.note(f"{where}: dropped ({why})")
        self.result.dropped.append(raw)

    def fresh_id(self) -> str:
        n = 1
        while f"followup_{n:03d}" in self.used or f"followup_{n:03d}" in self.reserved:
            n += 1
        return f"followup_{n:03d}"

    def ident(self, item: dict[str, Any], where: str) -> str:
        raw = item.get("id")
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str) or not raw.strip():
            new = self.fresh_id()
            self.note(f"{where}: had no id; now {new}")
        elif raw in self.used:
            n = 2
            while f"{raw}-{n}" in self.used or f"{raw}-{n}" in self.reserved:
                n += 1
            new = f"{raw}-{n}"
            self.note(f"{where}: id {raw} was used already; now {new}")
        else:
            new = raw
        self.used.add(new)
        return new

    def text_field(self, item: dict[str, Any], key: str, where: str, *, required: bool) -> bool:
        value = item.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            item[key] = str(value)
            self.note(f"{where}: {key} was a number; now a string")
            return True
        if isinstance(value, str) and (value.strip() or not required):
            return True
        if value is None and not required:
            item.pop(key, None)
            return True
        if not required:
            item[key] = str(value)
            self.note(f"{where}: {key} was not a string")
            return True
        return False

    def time_field(self, item: dict[str, Any], key: str, where: str, fallback: datetime | None) -> datetime | None:
        value, repaired = parse_time(item.get(key))
        if value is None:
            if fallback is not None:
                self.note(f"{where}: {key} was missing or not a time; set to {format_time(fallback)}")
            elif item.get(key) is not None:
                self.note(f"{where}: {key} was not a time; cleared")
            value = fallback
        elif repaired:
            self.note(f"{where}: {key} was not a full UTC time; normalised")
        if value is not None:
            item[key] = value
        return value

    def duplicate(self, item: dict[str, Any]) -> bool:
        # The very same item twice, id and all (usually a retried edit): keep one.
        if item in self.seen:
            return True
        self.seen.append(dict(item))
        return False

    def pending(self, raw: Any, index: int, completed_ids: dict[str, tuple[str, str]]) -> None:
        where = f"pending[{index}]"
        if not isinstance(raw, dict):
            self.drop(where, raw, "not an object")
            return
        item = dict(raw)
        for key in ("user_id", "event", "channel_id"):
            if not self.text_field(item, key, where, required=True):
                self.drop(where, raw, f"no {key}")
                return
        for key in ("user_name", "context", "expected_completion"):
            self.text_field(item, key, where, required=False)
        fid = item.get("id")
        fid = str(fid) if isinstance(fid, int) and not isinstance(fid, bool) else fid
        done = completed_ids.get(fid) if isinstance(fid, str) else None
        if done is not None:
            if done == _same_key(item):
                self.note(f"{where}: {fid} is also in completed; the completed entry wins")
                return
            # Another follow-up that happens to share the id: keep it; ident() gives it a new one.
            self.note(f"{where}: id {fid} belongs to a different completed follow-up; this one is kept")
        if self.duplicate(item):
            self.note(f"{where}: an exact copy of an earlier item; removed")
            return
        item["id"] = self.ident(item, where)
        mentioned = self.time_field(item, "mentioned_date", where, self.now) or self.now
        self.time_field(item, "follow_up_after", where, mentioned + self.delay)
        if item.get("last_considered") is not None and parse_time(item["last_considered"])[0] is None:
            item["last_considered"] = None
        priority = item.get("priority")
        if isinstance(priority, str) and priority.strip().lower() in _RANK and priority not in _RANK:
            item["priority"] = priority.strip().lower()
            self.note(f"{where}: priority written as {priority!r}; now {item['priority']}")
        elif priority not in _RANK:
            item["priority"] = score_priority(item["event"], item.get("context") or "")
            self.note(f"{where}: priority missing or unknown; scored {item['priority']}")
        if item.get("delivery") not in (None, "woven"):
            item["delivery"] = None
        if not isinstance(item.get("deferred_count", 0), int) or isinstance(item.get("deferred_count"), bool):
            item["deferred_count"] = 0
        self.validate(Followup, item, raw, where, self.result.file.pending)

    def completed(self, raw: Any, index: int) -> None:
        where = f"completed[{index}]"
        if not isinstance(raw, dict):
            self.drop(where, raw, "not an object")
            return
        item = dict(raw)
        for key in ("user_id", "event"):
            if not self.text_field(item, key, where, required=True):
                self.drop(where, raw, f"no {key}")
                return
        for key in ("user_name", "channel_id"):
            self.text_field(item, key, where, required=False)
        if not isinstance(item.get("outcome"), str):
            item["outcome"] = "" if item.get("outcome") is None else str(item["outcome"])
        if self.duplicate(item):
            self.note(f"{where}: an exact copy of an earlier item; removed")
            return
        item["id"] = self.ident(item, where)
        followed = self.time_field(item, "followed_up", where, None)
        if followed is None:
            item["followed_up"] = None
        self.time_field(item, "completed_date", where, followed or self.now)
        self.validate(CompletedFollowup, item, raw, where, self.result.file.completed)

    def validate(self, model: type[_Item], item: dict[str, Any], raw: Any, where: str, into: list[Any]) -> None:
        try:
            into.append(model.model_validate(item))
        except ValidationError as err:
            fields = sorted({".".join(map(str, e["loc"])) for e in err.errors()})
            self.drop(where, raw, f"invalid {', '.join(fields)}")


def _as_list(data: dict[str, Any], key: str, notes: list[str]) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, dict):
        notes.append(f"{key} was a single object; now a list")
        return [value]
    if not isinstance(value, list):
        raise FollowupsCorrupt(f"followups.json: {key!r} is a {type(value).__name__}, not a list")
    return value


def parse_followups_detailed(
    text: str | None, *, now: datetime, default_delay_days: float = 1.0
) -> ParseResult:
    """Like :func:`parse_followups`, also returning the raw items that had to be dropped."""
    repairer = _Repairer(parse_time(now)[0] or now, timedelta(days=default_delay_days))
    notes = repairer.result.notes
    if text is None or not text.strip():
        if text is not None:
            notes.append("the file was empty")
        return repairer.result
    data = _load_json(text, notes)
    if isinstance(data, list):
        notes.append("the file was a list; taken as the pending follow-ups")
        data = {"pending": data}
    if not isinstance(data, dict):
        raise FollowupsCorrupt(f"followups.json holds a {type(data).__name__}, not an object")
    pending = _as_list(data, "pending", notes)
    completed = _as_list(data, "completed", notes)
    extras = {k: v for k, v in data.items() if k not in ("pending", "completed")}
    repairer.result.file = FollowupFile.model_validate(extras)
    repairer.reserved = {
        str(raw["id"])
        for raw in (*pending, *completed)
        if isinstance(raw, dict) and isinstance(raw.get("id"), (str, int))
    }
    for index, raw in enumerate(completed):
        repairer.completed(raw, index)
    completed_ids = {
        item.id: _same_key({"user_id": item.user_id, "event": item.event}) for item in repairer.result.file.completed
    }
    repairer.seen.clear()
    for index, raw in enumerate(pending):
        repairer.pending(raw, index, completed_ids)
    return repairer.result


def parse_followups(
    text: str | None, *, now: datetime, default_delay_days: float = 1.0
) -> tuple[FollowupFile, list[str]]:
    """Parse a followups.json leniently: ``(file, repair notes)``; pure, no IO.

    Accepts times with ``Z``/offsets, naive (UTC) or date-only (midnight UTC). A missing
    ``follow_up_after`` is ``mentioned_date`` (or ``now``) plus ``default_delay_days``; a missing
    or unknown priority is :func:`score_priority`; missing ids become ``followup_<n>``, repeated
    ones ``<id>-2``; items without ``user_id``, ``event`` or (pending) ``channel_id`` are dropped;
    an id both pending and completed stays completed; a top-level list is the pending list.

    Raises:
        FollowupsCorrupt: the text is not JSON, or not an object or list.
    """
    result = parse_followups_detailed(text, now=now, default_delay_days=default_delay_days)
    return result.file, result.notes
