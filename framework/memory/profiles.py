"""User profiles (as Ana keeps them) folded into the memory files the model keeps.

After a user message (long enough, rate-limited), a cheap model call extracts the facts the
author states about themselves; they are filtered (:mod:`framework.memory.contact`), merged
with what is known, and written into that user's profile file
(``servers/<g>/users/<u>.md`` or ``dms/<u>/profile.md``) as a machine-managed block::

    <!-- profile-facts: {"age":27,"interests":["minecraft"]} -->
    ## Known facts
    - age: 27
    - into: minecraft
    <!-- /profile-facts -->

Everything outside the block is the model's and is kept byte for byte.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..clock import Clock
from ..config.models import ProfilesConfig
from ..domain import IncomingMessage
from ..errors import LLMError
from ..domain import ChatTurn, ConversationScope, LLMReply, LLMRequest, ToolError
from .contact import strip_contact_details
from .fileops import Jail
from .layout import profile_parts
from .locks import PathLocks
from .paths import Parts, virtual_path
from .tool import _in_thread

__all__ = [
    "EXTRACTION_PROMPT",
    "merge_facts",
    "render_profile",
    "read_profile_facts",
    "strip_fact_markers",
    "parse_extraction",
    "strip_contact_details",
    "ProfileUpdater",
]

_MENTION_MARKUP = re.compile(r"<(?:@[!&]?|#)\d+>")

_log = logging.getLogger(__name__)

MAX_STRING_CHARS = 120
MAX_LIST_ITEMS = 25
MAX_MESSAGE_CHARS = 800
_HOUR = 3600.0

EXTRACTION_PROMPT = (
    "You read one chat message and extract facts its author states about themselves, for a friendly "
    "bot's notes about them. Reply with minified JSON only: no prose, no code fence. Keys, all optional: "
    '"nickname" (what they like to be called), "age" (a number), "location" (city or country), '
    '"family" ({"relation": "name" or "mentioned"}), "favorites" ({"game", "color", "movie", "food", '
    '"music", "show", "sport", "subject", ...: value}), "interests" ([...]), "facts" ([...]: occupation, '
    "school, pet names, languages, ...). Only what the author says about themselves: nothing about other "
    "people, no guesses, jokes or hypotheticals. Every string under 80 characters. Never include contact "
    "details: no phone numbers, e-mail addresses, social media handles or usernames, links or addresses. "
    "If the message states no such fact, reply {}."
)

_OPEN = "<!-- profile-facts: "
_CLOSE = "<!-- /profile-facts -->"
_BLOCK = re.compile(r"<!-- profile-facts: (?P<json>.*?) -->.*?<!-- /profile-facts -->[ \t]*\n?", re.DOTALL)
_MARKER_LINE = re.compile(r"^[ \t]*<!-- (?:profile-facts: .*?|/profile-facts) -->[ \t]*\n?", re.MULTILINE)
_FENCE = re.compile(r"^```[A-Za-z]*\s*|\s*```$")


# -- merging ---------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _coerce(key: str, value: Any) -> Any:
    """Ana's coercions: ``age`` to an int, a string ``interests``/``facts`` into a list."""
    if key == "age":
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            age = int(value)
        elif isinstance(value, str) and (match := re.search(r"\d{1,3}", value)):
            age = int(match.group(0))
        else:
            return None
        return age if 1 <= age <= 120 else None
    if key in ("interests", "facts") and isinstance(value, str):
        return [value]
    return value


def _clean_scalar(value: Any) -> Any:
    return value.strip()[:MAX_STRING_CHARS] if isinstance(value, str) else value


def merge_facts(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` merged over ``old`` (neither is changed), per Ana's rules.

    Empty values (None, "", [], {}) are skipped; objects merge recursively; lists are a union
    in order (at most 25 items, the newest kept); strings overwrite, cut to 120 characters;
    ``age`` becomes an int, a string ``interests``/``facts`` a one-item list.
    """
    result: dict[str, Any] = copy.deepcopy(old) if isinstance(old, dict) else {}
    for key, raw in new.items():
        if not isinstance(key, str) or _empty(raw):
            continue
        value = _coerce(key, raw)
        if _empty(value):
            continue
        current = result.get(key)
        if isinstance(value, dict):
            merged = merge_facts(current if isinstance(current, dict) else {}, value)
            if merged:
                result[key] = merged
        elif isinstance(value, list):
            items = list(current) if isinstance(current, list) else ([] if _empty(current) else [current])
            for item in value:
                item = _clean_scalar(item)
                if not _empty(item) and item not in items:
                    items.append(item)
            result[key] = items[-MAX_LIST_ITEMS:]
        else:
            result[key] = _clean_scalar(value)
    return result


# -- the profile file ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value).replace("\n", " ").replace("-->", "->").strip()


def _bullets(facts: dict[str, Any]) -> list[str]:
    """Ana's note, one line per kind: goes by, age, from, faves, into, family, facts, the rest."""
    lines: list[str] = []
    labels = {"nickname": "goes by", "age": "age", "location": "from"}
    for key, label in labels.items():
        if not _empty(facts.get(key)):
            lines.append(f"- {label}: {_text(facts[key])}")
    favorites = facts.get("favorites")
    if isinstance(favorites, dict) and favorites:
        lines.append("- faves: " + "; ".join(f"{k}: {_text(v)}" for k, v in list(favorites.items())[:5]))
    interests = facts.get("interests")
    if isinstance(interests, list) and interests:
        lines.append("- into: " + ", ".join(_text(v) for v in interests[-6:]))
    family = facts.get("family")
    if isinstance(family, dict) and family:
        parts = [k if v == "mentioned" else f"{k} {_text(v)}" for k, v in list(family.items())[:4]]
        lines.append("- family: " + "; ".join(parts))
    known = facts.get("facts")
    if isinstance(known, list) and known:
        lines.append("- facts: " + "; ".join(_text(v) for v in known[-5:]))
    shown = {*labels, "favorites", "interests", "family", "facts"}
    rest = [(k, v) for k, v in facts.items() if k not in shown and not _empty(v)]
    lines.extend(f"- {k.replace('_', ' ')}: {_text(v)}" for k, v in rest[:4])
    return lines


def _facts_json(facts: dict[str, Any]) -> str:
    # Inside an HTML comment: no '>' or '<' may appear raw (JSON allows them escaped in strings).
    text = json.dumps(facts, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _block(facts: dict[str, Any]) -> str:
    return f"{_OPEN}{_facts_json(facts)} -->\n## Known facts\n" + "\n".join(_bullets(facts)) + f"\n{_CLOSE}\n"


def read_profile_facts(text: str | None) -> dict[str, Any]:
    """The facts stored in a profile file's block; ``{}`` when there is none or it is unreadable."""
    if not text:
        return {}
    start = text.find(_OPEN)
    if start == -1:
        return {}
    end = text.find(" -->", start + len(_OPEN))
    if end == -1:
        return {}
    try:
        facts = json.loads(text[start + len(_OPEN) : end])
    except ValueError:
        return {}
    return facts if isinstance(facts, dict) else {}


def strip_fact_markers(text: str) -> str:
    """``text`` without the block's comment lines (its bullet list stays), for the prompt digest."""
    return _MARKER_LINE.sub("", text)


def _one_line(name: str) -> str:
    return " ".join(name.split())[:100] or "unknown"


def render_profile(existing: str | None, facts: dict[str, Any], *, user_name: str) -> str:
    """The profile file with its facts block set to ``facts``; everything else kept as it is.

    A new file gets ``# User: <name>``; the block goes after the file's first heading (or at
    the top) the first time, and replaces the old block afterwards.
    """
    if not facts:
        return existing if existing is not None else ""
    block = _block(facts)
    if existing is None or not existing.strip():
        return f"# User: {_one_line(user_name)}\n\n{block}"
    if _BLOCK.search(existing):
        return _BLOCK.sub(lambda _m: block, existing, count=1)
    text = _MARKER_LINE.sub("", existing)  # a half-deleted block: drop its stray markers
    first, _, rest = text.partition("\n")
    if first.startswith("# "):
        # The rest of the file follows unchanged, after one blank line.
        return f"{first}\n\n{block}" + (rest if rest.startswith("\n") or not rest else "\n" + rest)
    return f"{block}\n{text}"


def parse_extraction(text: str) -> dict[str, Any]:
    """The facts object in a model reply (code fences stripped); ``{}`` for anything else."""
    body = _FENCE.sub("", text.strip()).strip()
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start == -1 or end < start:
            return {}
        body = body[start : end + 1]
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# -- the background updater --------------------------------------------------------------------------


class ExtractionLLM(Protocol):
    async def complete(self, request: LLMRequest) -> LLMReply: ...


def _accepts_cheap(func: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return "cheap" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class ProfileUpdater:
    """Extracts public facts from user messages in the background and merges them into profiles.

    ``ProfileUpdater(llm=router, root=paths.memories, locks=tool.locks, clock=clock,
    config=bot.memory.profiles, max_file_bytes=bot.memory.max_file_bytes)``. ``locks`` must be the
    memory tool's, so a profile write and a model edit of the same file never interleave.
    """

    def __init__(
        self,
        *,
        llm: ExtractionLLM,
        root: Path,
        locks: PathLocks,
        clock: Clock,
        config: ProfilesConfig,
        max_file_bytes: int | None = None,
        bot_id: str | None = None,
    ) -> None:
        self._llm = llm
        self._cheap = _accepts_cheap(llm.complete)
        self.root = Path(root)
        self._jail = Jail(self.root)
        self.locks = locks
        self._clock = clock
        self.config = config
        self._max_bytes = max_file_bytes
        self.bot_id = bot_id or self.root.name
        self._last: dict[str, float] = {}
        self._recent: deque[float] = deque()
        self._tasks: set[asyncio.Task[bool]] = set()

    def consider(self, message: IncomingMessage) -> bool:
        """Schedule an extraction for ``message`` if it qualifies; True when one was scheduled.

        Human authors only, at least ``min_chars`` characters, one per user per
        ``per_user_interval_seconds``, at most ``max_per_hour`` for the bot.
        """
        config = self.config
        if not config.enabled or message.is_bot or message.is_self:
            return False
        if len(_MENTION_MARKUP.sub("", message.content).strip()) < config.min_chars:
            return False  # "<@123456789012345678> hi" is two words, not 26 characters
        try:
            profile_parts(message.guild_id, message.author_id)
        except ValueError:
            return False
        now = self._clock.monotonic()
        last = self._last.get(message.author_id)
        if last is not None and now - last < config.per_user_interval_seconds:
            return False
        while self._recent and now - self._recent[0] >= _HOUR:
            self._recent.popleft()
        if len(self._recent) >= config.max_per_hour:
            return False
        self._recent.append(now)
        self._last[message.author_id] = now
        if len(self._last) > 4096:  # forget users whose interval is long over
            self._last = {u: t for u, t in self._last.items() if now - t < config.per_user_interval_seconds}
        task = asyncio.get_running_loop().create_task(
            self._guarded(message), name=f"{self.bot_id}:profile:{message.author_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def drain(self) -> None:
        """Wait for every scheduled extraction to finish (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel the extractions in flight and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guarded(self, message: IncomingMessage) -> bool:
        try:
            return await self.process(message)
        except asyncio.CancelledError:
            raise
        except LLMError as err:
            _log.info("profile extraction for user %s skipped: %s", message.author_id, err)
        except (ToolError, OSError) as err:
            _log.warning("profile of user %s not written: %s", message.author_id, err)
        except Exception:
            _log.exception("profile update for user %s failed", message.author_id)
        return False

    async def process(self, message: IncomingMessage) -> bool:
        """Extract, filter and merge now (no rate limits); True when the profile file changed.

        Raises:
            LLMError: the model call failed.
        """
        request = LLMRequest(
            system=EXTRACTION_PROMPT,
            turns=(ChatTurn(role="user", content=message.content.strip()[:MAX_MESSAGE_CHARS]),),
            scope=ConversationScope(self.bot_id, message.guild_id, message.channel_id, message.author_id),
            max_tokens=300,
            owed=False,
            want_plan=False,
            use_tools=False,
            purpose="profile",
        )
        complete: Any = self._llm.complete
        reply = await (complete(request, cheap=True) if self._cheap else complete(request))
        facts = strip_contact_details(parse_extraction(reply.text))
        if not merge_facts({}, facts):
            return False  # nothing worth keeping: never touch the file
        parts = profile_parts(message.guild_id, message.author_id)
        async with self.locks.hold(parts):
            return await _in_thread(self._merge_into, parts, facts, message.author_name)

    def _merge_into(self, parts: Parts, facts: dict[str, Any], user_name: str) -> bool:
        existing: str | None = None
        if self._jail.lstat(parts) is not None:
            existing = self._jail.read_text(parts)  # a link, a hard link or a folder there is refused
        old = read_profile_facts(existing)
        merged = merge_facts(old, facts)
        if merged == old and existing is not None:
            return False
        text = render_profile(existing, merged, user_name=user_name)
        size = len(text.encode("utf-8"))
        if self._max_bytes is not None and size > self._max_bytes:
            _log.info(
                "profile %s not updated: it would be %d bytes, over %d", virtual_path(parts), size, self._max_bytes
            )
            return False
        self._jail.write_text(parts, text)
        _log.debug("profile %s updated", virtual_path(parts))
        return True
