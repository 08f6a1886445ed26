"""Answers what is addressed to the bot: @mentions and DMs (the foundation's reactive path).

The full reactive engine (periodic check, rate limits, momentum) grows from here; this
part already keeps the engine rules: plain data in, ports out, time injected.
"""

from __future__ import annotations

import asyncio
import logging
import re

from ..domain import Decision, IncomingMessage, StoredMessage
from ..llm.types import ChatTurn, ConversationScope, LLMRequest
from ..errors import LLMError
from ..ports import ChatPort, DecisionLog, LLMPort, MessageStorePort
from .text import split_message

__all__ = ["MentionResponder", "format_transcript"]

_log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@!?(\d+)>")

# Said when the model cannot be reached and a reply is owed; never raw errors.
FALLBACK_LINE = "sorry, my brain just timed out. try me again in a minute?"


def format_transcript(messages: list[StoredMessage], names: dict[str, str]) -> str:
    """Recent messages as a compact transcript, mentions resolved to @names."""

    def resolve(match: re.Match[str]) -> str:
        return "@" + names.get(match.group(1), "unknown")

    lines = []
    for m in messages:
        when = m.timestamp.strftime("%H:%M")
        text = _MENTION.sub(resolve, m.content) or ("[attachment]" if m.has_attachments else "")
        lines.append(f"[{when}] {m.author_name}: {text}")
    return "\n".join(lines)


class MentionResponder:
    """Replies to mentions and DMs with one model call, under a typing indicator."""

    def __init__(
        self,
        *,
        bot_id: str,
        bot_name: str,
        persona_prompt: str,
        store: MessageStorePort,
        llm: LLMPort,
        chat: ChatPort,
        decisions: DecisionLog,
        context_window: int = 20,
        max_tokens: int = 1024,
    ) -> None:
        self._bot_id = bot_id
        self._bot_name = bot_name
        self._persona = persona_prompt.strip()
        self._store = store
        self._llm = llm
        self._chat = chat
        self._decisions = decisions
        self._context_window = context_window
        self._max_tokens = max_tokens
        self._names: dict[str, str] = {}

    def remember_name(self, user_id: str, name: str) -> None:
        self._names[user_id] = name

    def system_prompt(self) -> str:
        return (
            f"{self._persona}\n\n"
            f"You are {self._bot_name}, a member of a Discord chat. Write only the message you "
            "would send: no name prefix, no quotes, no stage directions."
        )

    def build_request(self, message: IncomingMessage, recent: list[StoredMessage]) -> LLMRequest:
        where = "a direct message" if message.is_dm else f"#{message.channel_name or message.channel_id}"
        transcript = format_transcript(recent, self._names)
        asked = _MENTION.sub(lambda m: "@" + self._names.get(m.group(1), "unknown"), message.content)
        prompt = (
            f"Recent conversation in {where}:\n{transcript}\n\n"
            f"{message.author_name} is talking to you: {asked}\n"
            "Reply to them."
        )
        return LLMRequest(
            system=self.system_prompt(),
            turns=(ChatTurn("user", prompt),),
            scope=ConversationScope(self._bot_id, message.guild_id, message.channel_id, message.author_id),
            max_tokens=self._max_tokens,
            owed=True,  # a mention or a DM is owed an answer: a static line beats silence
        )

    async def handle(self, message: IncomingMessage) -> Decision:
        """Decide about one stored message; reply when it is addressed to the bot."""
        self.remember_name(message.author_id, message.author_name)
        for user_id, name in message.mention_names:
            self.remember_name(user_id, name)
        if message.is_self:
            return self._log(message, Decision("ignore", "own message"))
        if message.is_bot:
            return self._log(message, Decision("ignore", "author is a bot"))
        if not (message.mentions_self or message.is_dm):
            return self._log(message, Decision("ignore", "not addressed to the bot"))
        reason = "direct message" if message.is_dm else "mentioned"
        try:
            async with self._chat.typing(message.channel_id):
                recent = await self._store.get_recent(message.channel_id, self._context_window)
                reply = await self._llm.complete(self.build_request(message, recent))
                text = reply.text.strip()
        except asyncio.CancelledError:
            raise
        except LLMError as exc:
            _log.error("model call failed for message %s: %s", message.message_id, exc)
            text, reason = FALLBACK_LINE, f"{reason}; model failed ({exc})"
        if not text:
            return self._log(message, Decision("ignore", f"{reason}; model returned no text"))
        ids = []
        for i, chunk in enumerate(split_message(text)):
            ids.append(await self._chat.send(message.channel_id, chunk, reply_to=message.message_id if i == 0 else None))
        return self._log(message, Decision("reply", reason, tuple(ids)))

    def _log(self, message: IncomingMessage, decision: Decision) -> Decision:
        self._decisions.record(message, decision)
        return decision
