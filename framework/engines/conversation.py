"""ConversationCache: a DM conversation sent to the model as real user/assistant turns.

One conversation per DM channel:

* **Turns.** Each exchange (the user turn exactly as it was sent, and the answer that went
  out) is appended; the next request carries them before its new user turn, so the
  request's prefix is byte-identical to the last one and the prompt cache reads it.
* **Sliding TTL.** A conversation idle for ``ttl_seconds`` is gone: the next message
  starts afresh. Every exchange resets the timer.
* **Compaction.** The API reports how many input tokens the last request took (uncached,
  cache reads and cache writes together: the whole context the model saw). When that
  passes ``token_threshold`` of the model's context limit, the older exchanges are
  summarised by the model (a request with purpose ``"compaction"`` through the same LLM
  port, so a fallback provider can do it too), the last ``keep_recent`` exchanges are kept,
  and the summary opens the first user turn of every later request. If the summary cannot
  be had and the last request was at ``_TRIM_AT`` of the limit (or the model refused the
  request as too long), the older exchanges are dropped without one: a conversation that
  no longer fits must not keep every later message from being answered.
* **Persistence.** Every change is written at once (one atomic JSON file per conversation),
  so a restart or a crash resumes the conversation; a file that cannot be read is renamed
  ``*.corrupt-<time>`` with a log line and the conversation starts afresh.

The context limit comes from a :class:`ContextLimits` port (the Models API's
``max_input_tokens`` behind it, in ``framework.llm``) with the configured fallback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ..clock import Clock
from ..domain import ChatTurn, LLMReply, LLMRequest
from ..errors import LLMError
from ..fsutil import atomic_write_json
from ..ports import LLMPort

__all__ = ["ContextLimits", "Conversation", "ConversationCache", "ConversationSettings", "SUMMARY_HEADING"]

_log = logging.getLogger(__name__)

_VERSION = 1
_TRIM_AT = 0.95  # of the context limit: past this, a failed compaction drops the older turns
SUMMARY_HEADING = "Summary of our conversation before the messages below:"
_COMPACTION_SYSTEM = (
    "You summarise a conversation between a person and their assistant so the assistant can "
    "carry on without the full text. Keep every fact, decision, open question, promise, name, "
    "date and number that may matter later; drop greetings and small talk. Write plain prose "
    "or short bullet points, in the conversation's language, at most about 400 words."
)


class ContextLimits(Protocol):
    """The context limit of a model, in input tokens (``framework.llm.context_limits``)."""

    async def max_input_tokens(self, model: str, provider: str) -> int | None:
        """The model's limit, or None when it cannot be had (the caller's fallback applies)."""


@dataclass(frozen=True)
class ConversationSettings:
    ttl_seconds: float = 1800
    token_threshold: float = 0.8
    keep_recent: int = 3  # exchanges (user + assistant) kept verbatim by a compaction
    context_limit_fallback: int = 200_000
    summary_max_tokens: int = 1024

    @classmethod
    def from_config(cls, config: Any) -> ConversationSettings:
        """From ``framework.config.conversation.ConversationConfig``."""
        return cls(
            ttl_seconds=config.ttl_seconds, token_threshold=config.token_threshold,
            keep_recent=config.keep_recent, context_limit_fallback=config.context_limit_fallback,
        )


@dataclass
class Conversation:
    """One DM conversation: the summary of what was compacted, then the exchanges since."""

    channel_id: str
    updated_at: datetime
    summary: str = ""
    turns: list[ChatTurn] = field(default_factory=list)  # user, assistant, user, assistant, ...
    last_input_tokens: int | None = None  # the whole input of the last request, as the API reported it
    model: str = ""  # the model that answered last (its context limit decides compaction)
    provider: str = ""
    compactions: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "channel_id": self.channel_id,
            "updated_at": self.updated_at.isoformat(),
            "summary": self.summary,
            "turns": [{"role": t.role, "content": t.content} for t in self.turns],
            "last_input_tokens": self.last_input_tokens,
            "model": self.model,
            "provider": self.provider,
            "compactions": self.compactions,
        }

    @classmethod
    def from_json(cls, data: Any) -> Conversation:
        """Parse a stored conversation; ValueError (or KeyError/TypeError) when it is not one."""
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise ValueError("not a conversation file of this version")
        turns = [ChatTurn(str(t["role"]), str(t["content"])) for t in data["turns"]]
        if any(t.role != ("user" if i % 2 == 0 else "assistant") for i, t in enumerate(turns)) or len(turns) % 2:
            raise ValueError("turns do not alternate user/assistant in whole exchanges")
        updated = datetime.fromisoformat(data["updated_at"])
        if updated.tzinfo is None:
            raise ValueError("updated_at has no time zone")
        tokens = data.get("last_input_tokens")
        return cls(
            channel_id=str(data["channel_id"]), updated_at=updated, summary=str(data.get("summary", "")),
            turns=turns, last_input_tokens=int(tokens) if tokens is not None else None,
            model=str(data.get("model", "")), provider=str(data.get("provider", "")),
            compactions=int(data.get("compactions", 0)),
        )


class ConversationCache:
    """The DM conversations of one bot, kept in memory and in ``folder`` (one file each)."""

    def __init__(
        self,
        folder: Path,
        *,
        clock: Clock,
        llm: LLMPort,
        settings: ConversationSettings = ConversationSettings(),
        limits: ContextLimits | None = None,
    ) -> None:
        self._folder = folder
        self._clock = clock
        self._llm = llm
        self._settings = settings
        self._limits = limits
        self._live: dict[str, Conversation] = {}
        self.compactions = 0  # run in this process (benchmarks, tests)

    @property
    def settings(self) -> ConversationSettings:
        return self._settings

    # -- reading -------------------------------------------------------------------------

    def history(self, channel_id: str) -> list[ChatTurn]:
        """The turns to send before a new user turn: the summary opens the first one.

        Empty for a new or expired conversation (an expired one is deleted here).
        """
        conversation = self._current(channel_id)
        if conversation is None:
            return []
        turns = list(conversation.turns)
        if conversation.summary:
            opening = f"{SUMMARY_HEADING}\n{conversation.summary}"
            if turns:
                turns[0] = ChatTurn("user", f"{opening}\n\n{turns[0].content}")
            else:
                # Everything was compacted: the summary and an acknowledgement keep the turns alternating.
                turns = [ChatTurn("user", opening), ChatTurn("assistant", "Understood.")]
        return turns

    def get(self, channel_id: str) -> Conversation | None:
        """The live conversation (None if there is none or it expired)."""
        return self._current(channel_id)

    def _current(self, channel_id: str) -> Conversation | None:
        conversation = self._live.get(channel_id)
        if conversation is None:
            conversation = self._load(channel_id)
            if conversation is None:
                return None
            self._live[channel_id] = conversation
        if self._clock.now() - conversation.updated_at > timedelta(seconds=self._settings.ttl_seconds):
            _log.info("conversation in %s idle past its TTL: starting afresh", channel_id)
            self.forget(channel_id)
            return None
        return conversation

    def forget(self, channel_id: str) -> None:
        self._live.pop(channel_id, None)
        try:
            self._path(channel_id).unlink()
        except FileNotFoundError:
            pass

    # -- writing -------------------------------------------------------------------------

    async def record(self, channel_id: str, user_turn: str, answer: str, reply: LLMReply) -> None:
        """One exchange that went out: append it, reset the TTL, save; compact if the
        request that produced it was near the model's context limit."""
        current = self._current(channel_id)
        if reply.static:
            # Every provider failed and the router's static line went out: not a turn of the
            # conversation. If the conversation was already past the threshold, its size may
            # be why (a request refused as too long): trim it so the next message fits.
            if current is not None and await self._needs_compaction(current):
                self.trim(channel_id)
            return
        conversation = current or Conversation(channel_id, self._clock.now())
        conversation.turns += [ChatTurn("user", user_turn), ChatTurn("assistant", answer)]
        conversation.updated_at = self._clock.now()
        conversation.last_input_tokens = _context_tokens(reply)
        conversation.model, conversation.provider = reply.model, reply.provider
        self._live[channel_id] = conversation
        self._save(conversation)
        if await self._needs_compaction(conversation):
            await self._compact(conversation)

    async def limit_for(self, model: str, provider: str) -> int:
        limit = None
        if self._limits is not None and model:
            limit = await self._limits.max_input_tokens(model, provider)
        return limit or self._settings.context_limit_fallback

    async def _needs_compaction(self, conversation: Conversation) -> bool:
        if conversation.last_input_tokens is None:
            return False
        if len(conversation.turns) <= 2 * self._settings.keep_recent:
            return False  # nothing older than the exchanges a compaction keeps
        limit = await self.limit_for(conversation.model, conversation.provider)
        return conversation.last_input_tokens > self._settings.token_threshold * limit

    async def _near_the_limit(self, conversation: Conversation) -> bool:
        limit = await self.limit_for(conversation.model, conversation.provider)
        return (conversation.last_input_tokens or 0) >= _TRIM_AT * limit

    def trim(self, channel_id: str) -> bool:
        """Drop all but the last ``keep_recent`` exchanges, without a summary of them (the
        request was refused as too long, or could not be summarised); True if any went."""
        conversation = self._current(channel_id)
        keep = 2 * self._settings.keep_recent
        if conversation is None or len(conversation.turns) <= keep:
            return False
        dropped = len(conversation.turns) - keep
        conversation.turns = conversation.turns[-keep:]
        conversation.last_input_tokens = None
        self._save(conversation)
        _log.warning("conversation in %s trimmed: %d older turns dropped without a summary", channel_id, dropped)
        return True

    async def _compact(self, conversation: Conversation) -> None:
        keep = 2 * self._settings.keep_recent
        older, recent = conversation.turns[:-keep], conversation.turns[-keep:]
        request = self.compaction_request(conversation.summary, older)
        try:
            reply = await self._llm.complete(request)
        except asyncio.CancelledError:
            raise
        except LLMError as exc:
            # The conversation stays whole and the next exchange tries again, unless it is
            # about to stop fitting at all.
            _log.warning("compacting the conversation in %s failed: %s", conversation.channel_id, exc)
            if await self._near_the_limit(conversation):
                self.trim(conversation.channel_id)
            return
        summary = reply.text.strip()
        if not summary or reply.static:
            _log.warning("compacting the conversation in %s gave no summary; kept whole", conversation.channel_id)
            if await self._near_the_limit(conversation):
                self.trim(conversation.channel_id)
            return
        conversation.summary = summary
        conversation.turns = recent
        conversation.last_input_tokens = None  # unknown until the next request reports it
        conversation.compactions += 1
        self.compactions += 1
        self._save(conversation)
        _log.info(
            "compacted the conversation in %s: %d turns summarised, %d kept",
            conversation.channel_id, len(older), len(recent),
        )

    def compaction_request(self, summary: str, older: list[ChatTurn]) -> LLMRequest:
        """The request that summarises ``older`` turns (and the summary they followed)."""
        parts = []
        if summary:
            parts.append(f"The summary so far:\n{summary}")
        transcript = "\n\n".join(f"{'Person' if t.role == 'user' else 'Assistant'}: {t.content}" for t in older)
        parts.append(f"The conversation to summarise:\n{transcript}")
        parts.append("Write the new summary, covering both.")
        return LLMRequest(
            system=_COMPACTION_SYSTEM,
            turns=(ChatTurn("user", "\n\n".join(parts)),),
            max_tokens=self._settings.summary_max_tokens,
            use_tools=False,
            purpose="compaction",
        )

    # -- files -----------------------------------------------------------------------------

    def _path(self, channel_id: str) -> Path:
        if not channel_id.isdigit():  # a snowflake; anything else must not become a path
            raise ValueError(f"not a channel id: {channel_id!r}")
        return self._folder / f"{channel_id}.json"

    def _save(self, conversation: Conversation) -> None:
        atomic_write_json(self._path(conversation.channel_id), conversation.to_json())

    def _load(self, channel_id: str) -> Conversation | None:
        path = self._path(channel_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            _log.warning("conversation file %s unreadable (%s): starting afresh", path, exc)
            return None
        try:
            conversation = Conversation.from_json(json.loads(text))
            if conversation.channel_id != channel_id:
                raise ValueError(f"holds channel {conversation.channel_id}")
            return conversation
        except (ValueError, KeyError, TypeError) as exc:
            self._set_aside(path, exc)
            return None

    def _set_aside(self, path: Path, why: Exception) -> None:
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%SZ")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        try:
            path.replace(target)
        except OSError as exc:
            _log.error("conversation file %s is corrupt (%s) and could not be set aside: %s", path, why, exc)
            return
        _log.warning("conversation file %s is corrupt (%s): set aside as %s, starting afresh", path, why, target.name)


def _context_tokens(reply: LLMReply) -> int:
    """The input of the request's last model round: what the next request builds on.

    A tool loop bills several rounds; only the last one's input is the context size.
    """
    if reply.context_tokens:
        return reply.context_tokens
    usage = reply.usage
    return usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
