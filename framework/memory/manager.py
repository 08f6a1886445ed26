"""MemoryManager: the memory digest for every prompt.

The manager only reads: the model writes its memories through the memory tool. The digest
(:meth:`MemoryManager.build_memory_context`) runs on every model call, so it is synchronous,
cached by file signature (a file changed by the model or pulled by git is seen on the next
call) and deterministic (same files, same bytes: it sits in the cached prompt prefix).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..domain import ToolError
from .fileops import Jail
from .followup_schema import FollowupsCorrupt, parse_followups
from .layout import channel_parts, culture_parts, folder_parts, followups_parts, profile_parts
from .paths import Parts, virtual_path
from .profiles import strip_fact_markers

__all__ = ["MemoryManager"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_PEOPLE = 8
MAX_FOLLOWUP_LINES = 10
_CACHE_ENTRIES = 512
_MIN_PERSON_CHARS = 160
# Shares of the digest; what a section leaves unused goes to the people.
_CULTURE_SHARE = 0.25
_CHANNEL_SHARE = 0.20
_FOLLOWUPS_SHARE = 0.15
_BLANK_RUNS = re.compile(r"\n{3,}")

_Signature = tuple[int, int, int]  # (mtime_ns, size, inode)


def _clip(text: str, budget: int, shown: str) -> str:
    """``text`` within ``budget`` chars, cut at a line end, with a marker naming the file to view."""
    if len(text) <= budget:
        return text
    marker = f"[... cut here; view {shown} for the rest]"
    room = budget - len(marker) - 1
    if room <= 0:
        return ""  # not even the marker fits
    cut = text[:room]
    newline = cut.rfind("\n")
    if newline >= room // 2:
        cut = cut[:newline]
    return cut.rstrip() + "\n" + marker


def _tidy(text: str) -> str:
    return _BLANK_RUNS.sub("\n\n", "\n".join(line.rstrip() for line in text.strip().splitlines()))


def _profile_body(text: str) -> str:
    body = strip_fact_markers(text).strip()
    first, _, rest = body.partition("\n")
    if first.startswith("# "):  # "# User: Dana": the digest names the person itself
        body = rest
    return _tidy(body)


class MemoryManager:
    """The read side of one bot's memory tree (``memories/<bot_id>``, the model's /memories): the digest.

    ``MemoryManager(bot_id, root, max_context_chars=MemoryConfig.context_max_chars)``.
    """

    def __init__(self, bot_id: str, root: Path, *, max_context_chars: int = 6000) -> None:
        if max_context_chars < 200:
            raise ValueError("max_context_chars must be at least 200")
        self.bot_id = bot_id
        self.root = Path(root)
        self.max_context_chars = max_context_chars
        self._jail = Jail(self.root)
        self._cache: OrderedDict[tuple[str, Parts], tuple[_Signature, Any]] = OrderedDict()

    # -- reads --------------------------------------------------------------------------------

    def _read_parts(self, parts: Parts) -> str | None:
        if not self.root.is_dir():
            return None  # nothing remembered yet; do not create the tree just to read it
        try:
            return self._jail.read_text(parts)
        except ToolError as err:
            if os.path.lexists(self.root.joinpath(*parts)):
                _log.debug("memory read %s: %s", virtual_path(parts), err)
            return None

    def _cached(self, kind: str, parts: Parts, make: Callable[[str, _Signature], _T]) -> _T | None:
        """``make(text, signature)`` for the file at ``parts``, recomputed only when the file changed."""
        key = (kind, parts)
        # Fast path (every model call reads these): one stat of the plain path. It can only
        # match the cached signature, which was taken on the jail-checked path, if it reaches
        # that same unchanged file; anything else (a change, a swapped symlink, a new file)
        # takes the full check below.
        try:
            quick = os.stat(os.path.join(str(self.root), *parts))
        except OSError:
            self._cache.pop(key, None)
            return None  # missing: nothing to show
        hit = self._cache.get(key)
        if hit is not None and hit[0] == (quick.st_mtime_ns, quick.st_size, quick.st_ino):
            self._cache.move_to_end(key)
            return hit[1]  # type: ignore[no-any-return]
        if not self.root.is_dir():
            return None
        try:
            info = self._jail.lstat(parts)
        except ToolError:
            info = None
        if info is None:
            self._cache.pop((kind, parts), None)
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        signature = (info.st_mtime_ns, info.st_size, info.st_ino)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == signature:
            self._cache.move_to_end(key)
            return hit[1]  # type: ignore[no-any-return]
        text = self._read_parts(parts)
        if text is None:
            return None
        value = make(text, signature)
        self._cache[key] = (signature, value)
        if len(self._cache) > _CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return value

    def _note(self, parts: Parts, budget: int, body: Callable[[str], str] = _tidy) -> str:
        # Cached cut to twice the digest size: still longer than any budget, so a cut is still seen.
        keep = 2 * self.max_context_chars
        text = self._cached(f"note:{body.__name__}", parts, lambda raw, _sig: body(raw)[:keep])
        if not text:
            return ""
        return _clip(text, budget, virtual_path(parts))

    def _followup_lines(self, parts: Parts, user_ids: Sequence[str], names: Mapping[str, str]) -> list[str]:
        def make(text: str, signature: _Signature) -> list[tuple[str, str]]:
            # The file's own mtime stands in for "now", so the digest depends on the file only.
            stamp = datetime.fromtimestamp(signature[0] / 1e9, timezone.utc)
            try:
                file, _ = parse_followups(text, now=stamp)
            except FollowupsCorrupt:
                return []
            items = sorted(file.pending, key=lambda item: (item.follow_up_after, item.id))
            return [
                (
                    item.user_id,
                    f"{item.event[:120]} (after {item.follow_up_after:%Y-%m-%d %H:%M}Z, "
                    f"{item.priority}, id {item.id})",
                )
                for item in items
            ]

        wanted = set(user_ids)
        rows = [(uid, line) for uid, line in self._cached("followups", parts, make) or [] if uid in wanted]
        lines = [f"- {names.get(uid) or uid} ({uid}): {line}" for uid, line in rows[:MAX_FOLLOWUP_LINES]]
        if len(rows) > MAX_FOLLOWUP_LINES:
            lines.append(f"- ... {len(rows) - MAX_FOLLOWUP_LINES} more in {virtual_path(parts)}")
        return lines

    # -- the digest -----------------------------------------------------------------------------

    def build_memory_context(
        self,
        server_id: str | None,
        channel_id: str,
        user_ids: Sequence[str],
        *,
        dm_user_id: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> str:
        """The memory digest for a prompt: culture, this channel, the people present, their follow-ups.

        Only ``user_ids`` (deduplicated, the first 8 with a profile, shown in id order) are
        included. At most ``max_context_chars``; a cut section names the file to ``view``.
        Empty when nothing is remembered. In a DM (``server_id`` None) the folder is
        ``dms/<dm_user_id>`` (default: the first of ``user_ids``).
        """
        names = names or {}
        people = list(dict.fromkeys(uid for uid in user_ids if isinstance(uid, str)))
        try:
            if server_id is None:
                dm_user = dm_user_id or (people[0] if people else None)
                if dm_user is None:
                    return ""
                folder = folder_parts(None, dm_user)
                people = [dm_user] + [uid for uid in people if uid != dm_user]
            else:
                folder = folder_parts(server_id, None)
        except ValueError:
            return ""
        limit = self.max_context_chars
        sections: list[str] = []
        if server_id is not None:
            culture = self._note(culture_parts(server_id), int(limit * _CULTURE_SHARE))
            if culture:
                sections.append(f"## Server culture ({virtual_path(culture_parts(server_id))})\n{culture}")
            try:
                channel = channel_parts(server_id, channel_id)
            except ValueError:
                channel = None
            notes = self._note(channel, int(limit * _CHANNEL_SHARE)) if channel else ""
            if notes and channel:
                sections.append(f"## This channel ({virtual_path(channel)})\n{notes}")
        followup_parts = followups_parts(folder)
        lines = self._followup_lines(followup_parts, people if server_id else people[:1], names)
        followups = ""
        if lines:
            followups = _clip(
                f"## Pending follow-ups ({virtual_path(followup_parts)})\n" + "\n".join(lines),
                int(limit * _FOLLOWUPS_SHARE),
                virtual_path(followup_parts),
            )
        header = f"# Your memory\nYour folder: {virtual_path(folder)} (read and update it with the memory tool).\n"
        others = [*sections, followups] if followups else sections
        # The text is header + "\n" + sections joined by blank lines; people get what is left.
        used = len(header) + 1 + sum(len(s) + 2 for s in others)
        people_text = self._people(server_id, people, names, limit - used)
        if people_text:
            sections.append(people_text)
        if followups:
            sections.append(followups)
        if not sections:
            return ""
        # A safety net only: the budgets above already keep the digest within the limit.
        return _clip(header + "\n" + "\n\n".join(sections), limit, virtual_path(folder))

    def _people(self, server_id: str | None, people: list[str], names: Mapping[str, str], budget: int) -> str:
        candidates: list[tuple[str, Parts]] = []
        for uid in people[:1] if server_id is None else people:
            try:
                parts = profile_parts(server_id, uid)
            except ValueError:
                continue
            if self._exists(parts):
                candidates.append((uid, parts))
            if len(candidates) == MAX_PEOPLE:
                break
        if not candidates:
            return ""
        title = "## The person you are talking with" if server_id is None else "## People in this conversation"
        users_folder = virtual_path(candidates[0][1][:-1])
        more = f"(+{len(candidates)} more profiles in {users_folder})"  # the longest it can be
        fit = min(len(candidates), (budget - len(title)) // _MIN_PERSON_CHARS)
        if fit < len(candidates):
            fit = min(fit, (budget - len(title) - len(more) - 1) // _MIN_PERSON_CHARS)
        if fit < 1:
            return ""
        shown = sorted(candidates[:fit])
        spare = budget - len(title) - (len(more) + 1 if fit < len(candidates) else 0)
        per_person = spare // len(shown)  # each: "\n" + heading + "\n" + body
        blocks = [title]
        for uid, parts in shown:
            heading = f"### {names.get(uid) or uid} ({virtual_path(parts)})"
            body = self._note(parts, per_person - len(heading) - 2, _profile_body)
            if body:
                blocks.append(f"{heading}\n{body}")
        if fit < len(candidates):
            blocks.append(f"(+{len(candidates) - fit} more profiles in {users_folder})")
        return "\n".join(blocks) if len(blocks) > 1 else ""

    def _exists(self, parts: Parts) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.root.joinpath(*parts)).st_mode)
        except OSError:
            return False
