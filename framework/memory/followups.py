"""Follow-ups: the model writes them, the agentic engine keeps them tidy.

The model creates items in ``<folder>/followups.json`` through the memory tool (told how by
:func:`followups_instructions`); :class:`FollowupStore` reads them back, repairs them, and
does the engine's bookkeeping (complete, expire, cap, archive) under the same per-path locks
as the memory tool, so a model edit and an engine update of the file never interleave.

Nothing is ever lost: a file that is not JSON is moved aside to
``followups.corrupt-<time>.json``; items too broken to repair, and old completed items, go to
``followups.archive.json`` next to it.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from ..clock import Clock
from ..domain import ToolError
from .fileops import Jail
from .followup_schema import (
    PRIORITIES,
    CompletedFollowup,
    Followup,
    FollowupFile,
    FollowupsCorrupt,
    ParseResult,
    Priority,
    format_time,
    parse_followups,
    parse_followups_detailed,
    priority_at_least,
    score_priority,
)
from .layout import (
    DMS,
    FOLLOWUPS_ARCHIVE_FILE,
    FOLLOWUPS_FILE,
    SERVERS,
    check_id,
    folder_name,
    followups_parts,
    parse_folder,
)
from .locks import PathLocks
from .paths import Parts, virtual_path
from .tool import _in_thread

__all__ = [
    "Priority",
    "score_priority",
    "priority_at_least",
    "Followup",
    "CompletedFollowup",
    "FollowupFile",
    "FollowupsCorrupt",
    "parse_followups",
    "parse_followups_detailed",
    "FollowupStore",
    "followups_instructions",
    "EXPIRED_OUTCOME",
    "DROPPED_OUTCOME",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

EXPIRED_OUTCOME = "expired: never followed up"
DROPPED_OUTCOME = "dropped: more than max_pending follow-ups"


def _completed_from(item: Followup, *, outcome: str, now: datetime, followed_up: datetime | None) -> CompletedFollowup:
    # The item's own extra fields, priority and context travel along: the history stays readable.
    carried = {k: v for k, v in (item.model_extra or {}).items()}
    carried.update(priority=item.priority, context=item.context, mentioned_date=format_time(item.mentioned_date))
    return CompletedFollowup(
        id=item.id,
        user_id=item.user_id,
        user_name=item.user_name,
        event=item.event,
        followed_up=followed_up,
        outcome=outcome,
        completed_date=now,
        channel_id=item.channel_id,
        **carried,
    )


class FollowupStore:
    """The ``followups.json`` of every folder under one bot's memory root.

    ``FollowupStore(root, locks=tool.locks, clock=clock)``: ``root`` is ``memories/<bot_id>``;
    a *folder* is ``"servers/<guild_id>"`` or ``"dms/<user_id>"``. Pass the memory tool's
    :class:`PathLocks` so engine updates queue behind the model's edits of the same file.
    ``default_delay_days`` (``FollowupConfig.follow_up_delay_days``) fills a missing
    ``follow_up_after``.
    """

    def __init__(
        self, root: Path, *, locks: PathLocks | None = None, clock: Clock, default_delay_days: float = 1.0
    ) -> None:
        self.root = Path(root)
        self.locks = locks if locks is not None else PathLocks()
        self._clock = clock
        self._jail = Jail(self.root)
        self._delay_days = default_delay_days

    # -- paths ---------------------------------------------------------------------------

    def _parts(self, folder: str) -> Parts:
        return followups_parts(parse_folder(folder))

    def path(self, folder: str) -> Path:
        """The host path of ``<folder>/followups.json`` (it may not exist)."""
        return self.root.joinpath(*self._parts(folder))

    def folders(self) -> list[str]:
        """Every ``servers/<g>`` and ``dms/<u>`` under the root that has a followups.json, sorted."""
        found: list[str] = []
        for kind in (DMS, SERVERS):
            base = self.root / kind
            try:
                names = sorted(os.listdir(base))
            except OSError:
                continue
            for name in names:
                try:
                    check_id(name, "folder")
                    if not stat.S_ISDIR(os.lstat(base / name).st_mode):
                        continue  # a link or a file: the memory tool never follows links, nor do we
                    info = os.lstat(base / name / FOLLOWUPS_FILE)
                except (ValueError, OSError):
                    continue
                if stat.S_ISREG(info.st_mode):
                    found.append(folder_name((kind, name)))
        return sorted(found)

    # -- blocking file work (worker thread) ------------------------------------------------

    def _read(self, parts: Parts) -> str | None:
        """The file's text, None when missing; FollowupsCorrupt when it is a file but not UTF-8 text."""
        info = self._jail.lstat(parts)
        if info is None:
            return None
        try:
            return self._jail.read_text(parts)
        except ToolError as err:
            if stat.S_ISREG(info.st_mode):  # binary or oversized: set aside like bad JSON
                raise FollowupsCorrupt(str(err)) from None
            raise

    def _write(self, parts: Parts, text: str) -> None:
        self._jail.write_text(parts, text)

    def _quarantine(self, parts: Parts) -> Parts:
        """Move a corrupt file aside (same folder, original bytes) and return its new parts."""
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%SZ")
        stem = parts[-1].removesuffix(".json")
        n = 1
        while True:
            name = f"{stem}.corrupt-{stamp}.json" if n == 1 else f"{stem}.corrupt-{stamp}-{n}.json"
            target = (*parts[:-1], name)
            if self._jail.lstat(target) is None:
                break
            n += 1
        self._jail.rename(parts, target)
        return target

    def _load(self, parts: Parts) -> tuple[ParseResult, bool]:
        """The parsed file and whether it must be written back (repaired, quarantined)."""
        try:
            text = self._read(parts)
            result = parse_followups_detailed(text, now=self._clock.now(), default_delay_days=self._delay_days)
        except FollowupsCorrupt as err:
            moved = self._quarantine(parts)
            _log.warning("%s: %s; kept as %s, starting empty", virtual_path(parts), err, virtual_path(moved))
            return ParseResult(FollowupFile()), True
        if result.notes:
            _log.info("%s repaired: %s", virtual_path(parts), "; ".join(result.notes))
        return result, bool(result.notes)

    # -- archive --------------------------------------------------------------------------

    def _append_archive(self, folder: Parts, completed: list[CompletedFollowup], dropped: list[Any]) -> None:
        parts = (*folder, FOLLOWUPS_ARCHIVE_FILE)
        try:
            text = self._read(parts)
        except FollowupsCorrupt:
            text = "not text"  # set aside below
        data: dict[str, Any] = {}
        if text is not None and text.strip():
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            if not isinstance(loaded, dict):
                moved = self._quarantine(parts)
                _log.warning("%s is not a JSON object; kept as %s", virtual_path(parts), virtual_path(moved))
            else:
                data = loaded
        archived = data.get("completed") if isinstance(data.get("completed"), list) else []
        rejected = data.get("dropped") if isinstance(data.get("dropped"), list) else []
        # Same item twice only after a crash between the two writes: skip exact copies. A reused
        # id with different content is a different follow-up and is kept.
        for item in completed:
            entry = item.model_dump(mode="json")
            if entry not in archived:
                archived.append(entry)
        for raw in dropped:
            if raw not in rejected:
                rejected.append(raw)
        data["completed"] = archived
        if rejected:
            data["dropped"] = rejected
        self._write(parts, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    # -- public API ------------------------------------------------------------------------

    async def update(self, folder: str, fn: Callable[[FollowupFile], _T]) -> _T:
        """Read, repair, apply ``fn`` (which mutates the file in place) and write back if changed.

        Runs under the file's lock, so it never interleaves with a memory-tool command on the
        same file. Repairs are written back even when ``fn`` changes nothing.
        """
        parts = self._parts(folder)
        async with self.locks.hold(parts, (*parts[:-1], FOLLOWUPS_ARCHIVE_FILE)):
            result, dirty = await _in_thread(self._load, parts)
            before = result.file.to_json()
            value = fn(result.file)
            after = result.file.to_json()
            if result.dropped:
                # Unrepairable items go to the archive first: a crash then leaves a copy, not a loss.
                await _in_thread(self._append_archive, parts[:-1], [], result.dropped)
            if dirty or after != before:
                await _in_thread(self._write, parts, after)
            return value

    async def load(self, folder: str) -> FollowupFile:
        """The folder's follow-ups (empty when there is no file), repaired and written back if needed."""
        return await self.update(folder, lambda file: file)

    async def complete(
        self, folder: str, followup_id: str, *, outcome: str, now: datetime, followed_up: datetime | None = None
    ) -> CompletedFollowup | None:
        """Move a pending item to ``completed`` with its outcome; None when it is not pending."""

        def move(file: FollowupFile) -> CompletedFollowup | None:
            item = file.get(followup_id)
            if item is None:
                return None
            file.pending.remove(item)
            done = _completed_from(item, outcome=outcome, now=now, followed_up=followed_up)
            file.completed.append(done)
            return done

        return await self.update(folder, move)

    async def expire(self, folder: str, *, now: datetime, max_age_days: float) -> list[CompletedFollowup]:
        """Complete, as expired, the items due for more than ``max_age_days``.

        The age counts from the later of ``mentioned_date`` and ``follow_up_after``, so an item
        about an event weeks away is kept until it has been due for ``max_age_days``.
        """
        cutoff = now - timedelta(days=max_age_days)

        def sweep(file: FollowupFile) -> list[CompletedFollowup]:
            stale = [item for item in file.pending if max(item.mentioned_date, item.follow_up_after) < cutoff]
            return self._retire(file, stale, EXPIRED_OUTCOME, now)

        return await self.update(folder, sweep)

    async def enforce_max_pending(self, folder: str, max_pending: int) -> list[CompletedFollowup]:
        """Keep the ``max_pending`` most important items (priority, then soonest due); drop the rest."""
        now = self._clock.now()

        def cap(file: FollowupFile) -> list[CompletedFollowup]:
            if len(file.pending) <= max_pending:
                return []
            ranked = sorted(
                file.pending,
                key=lambda item: (-PRIORITIES.index(item.priority), item.follow_up_after, item.mentioned_date),
            )
            return self._retire(file, ranked[max(max_pending, 0) :], DROPPED_OUTCOME, now)

        return await self.update(folder, cap)

    @staticmethod
    def _retire(file: FollowupFile, items: list[Followup], outcome: str, now: datetime) -> list[CompletedFollowup]:
        gone = {id(item) for item in items}
        file.pending = [item for item in file.pending if id(item) not in gone]
        done = [_completed_from(item, outcome=outcome, now=now, followed_up=None) for item in items]
        file.completed.extend(done)
        return done

    async def archive_completed(self, folder: str, *, older_than: datetime) -> int:
        """Move completed items finished before ``older_than`` to ``followups.archive.json``.

        The archive is written first, then the main file: a crash in between leaves an item in
        both (skipped on the next run), never in neither.
        """
        parts = self._parts(folder)
        archive = (*parts[:-1], FOLLOWUPS_ARCHIVE_FILE)
        async with self.locks.hold(parts, archive):
            result, dirty = await _in_thread(self._load, parts)
            file = result.file
            old = [item for item in file.completed if item.completed_date < older_than]
            if old or result.dropped:
                await _in_thread(self._append_archive, parts[:-1], old, result.dropped)
            if old:
                file.completed = [item for item in file.completed if item.completed_date >= older_than]
            if old or dirty:
                await _in_thread(self._write, parts, file.to_json())
            return len(old)


_EXAMPLE = {
    "id": "followup_001",
    "user_id": "111222333",
    "user_name": "Dana",
    "event": "Job interview at TechCorp",
    "mentioned_date": "2025-09-22T14:30:00Z",
    "expected_completion": "2025-09-23",
    "follow_up_after": "2025-09-24T00:00:00Z",
    "priority": "high",
    "context": "Nervous about the system design round",
    "channel_id": "987654321",
}


def followups_instructions(folder_virtual: str, *, delay_days: float, max_pending: int) -> str:
    """System-prompt text telling the model how to keep follow-ups in ``<folder>/followups.json``.

    Static for a given folder and settings (it sits in the cached prompt prefix).
    """
    folder = folder_virtual.rstrip("/")
    delay = f"{delay_days:g} day" + ("" if delay_days == 1 else "s")
    example = json.dumps({"pending": [_EXAMPLE], "completed": []}, indent=2)
    return (
        f"Follow-ups: when someone mentions a future event (an interview, an exam, a trip, a launch), "
        f"says they are waiting for something, or worries about something coming up, add an item to "
        f"`{folder}/followups.json` with the memory tool (create the file if it does not exist) so you "
        f"can ask them how it went later. Keep at most {max_pending} pending items; do not add one for "
        f"small talk or for something already in the list.\n"
        f"Schema (JSON, times ISO-8601 UTC ending in Z):\n{example}\n"
        f"- `id`: unique in the file (followup_002, followup_003, ...). `user_id`, `user_name`, "
        f"`channel_id`: the person and the channel where they said it.\n"
        f"- `mentioned_date`: now. `expected_completion`: the date of the event if known. "
        f"`follow_up_after`: after the event is over, about {delay} after it "
        f"(or {delay} from now if there is no date).\n"
        f"- `priority`: high (job interviews, medical, big life events), medium (projects, moves, "
        f"trips, exams), low (casual plans). `context`: a few words that will help you ask naturally.\n"
        f"When you have asked and heard back, move the item from `pending` to `completed` with "
        f"`outcome` (what happened), `followed_up` and `completed_date`, and note anything lasting "
        f"in the person's profile."
    )
