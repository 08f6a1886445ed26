"""ContextBuilder: what the model sees for one decision.

The persona prompt (with the bot's prompt files, when it has them) and the memory digest
form the stable, cached prefix; the volatile part is one user turn holding the transcript:
the last N messages of the channel with mentions shown as names, replies shown with who
they answer, reactions and edits marked,
the reply chain of the message being answered walked up to a depth cap (a deleted parent
is shown as such), and the messages that are new since the last look marked with ``*``.

With a :class:`~framework.engines.conversation.ConversationCache`, a direct message is
built differently: the conversation so far as real user/assistant turns (a summary of
what was compacted opening the first), then one user turn with the situation and the
new message; no digest, which would repeat the turns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..domain import IncomingMessage, StoredMessage
from ..domain import ChatTurn, ConversationScope, ImageBlock, LLMRequest
from ..ports import MessageStorePort, ParentFetchPort
from .conversation import ConversationCache

__all__ = ["ContextBuilder", "ContextRequest", "MemoryDigest", "PromptSource", "REPLY_CHAIN_DEPTH", "format_transcript"]

REPLY_CHAIN_DEPTH = 5
_MENTION = re.compile(r"<@!?(\d+)>")
# Discord's markup for a mentioned user, channel or role: <@id> (or <@!id>), <#id>, <@&id>.
_ANY_MENTION = re.compile(r"<(@!?|#|@&)(\d+)>")
_QUOTE_LIMIT = 120


def _kilobytes(size: int) -> str:
    return f"{size / 1024:.0f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"


def format_transcript(messages: Sequence[StoredMessage], names: dict[str, str]) -> str:
    """A plain transcript, mentions as names (for callers without a store, e.g. benchmarks)."""
    return "\n".join(
        f"[{m.timestamp:%H:%M}] {m.author_name}: "
        + _MENTION.sub(lambda x: "@" + names.get(x.group(1), "someone"), m.content)
        for m in messages
    )


class MemoryDigest(Protocol):
    """What the builder needs from the memory manager (framework.memory.MemoryManager)."""

    def build_memory_context(
        self,
        server_id: str | None,
        channel_id: str,
        user_ids: Sequence[str],
        *,
        dm_user_id: str | None = None,
        names: dict[str, str] | None = None,
    ) -> str: ...


class ImageSource(Protocol):
    """The images of messages, as model blocks (framework.images.ImagePipeline)."""

    async def blocks(self, messages: Sequence[IncomingMessage], also: Sequence[str] = ()) -> list[ImageBlock]: ...


class PromptSource(Protocol):
    """Files that are part of the system prompt (framework.memory.prompt_files.PromptFiles)."""

    def render(self) -> str: ...


@dataclass
class ContextRequest:
    """What to build a request for: a channel, the messages to decide on, and who asks."""

    channel_id: str
    channel_label: str  # "#general" or "a direct message"
    new_messages: Sequence[IncomingMessage]
    asker: IncomingMessage  # the message answered (urgent) or the last new one (check)
    urgent: bool
    extra_instructions: str = ""
    images: tuple[dict[str, Any], ...] = ()  # image blocks of the message answered (image pipeline)


@dataclass
class ContextBuilder:
    bot_id: str
    bot_name: str
    persona_prompt: str
    store: MessageStorePort
    context_window: int = 20
    max_tokens: int = 1024
    names: dict[str, str] = field(default_factory=dict)
    channel_names: dict[str, str] = field(default_factory=dict)
    role_names: dict[str, str] = field(default_factory=dict)
    memory: MemoryDigest | None = None  # the memory digest of the people present, on every call
    memory_guide: str = ""  # static instructions for the memory tool and follow-ups (system prompt)
    prompt_files: PromptSource | None = None  # personality.prompt_files, after the persona prompt
    hints: Callable[[str], str] | None = None  # channel id -> volatile instructions (woven follow-ups)
    self_user_id: str | None = None  # the bot's own Discord id, once connected
    clock: Any = None  # framework.clock.Clock; the "now" line (None: the newest message's time)
    parents: ParentFetchPort | None = None  # reply parents missing from the store, fetched on demand
    parent_fetches: int = 3  # at most this many fetches per request, so a long chain cannot stall a reply
    conversation: ConversationCache | None = None  # DMs as real turns (conversation.enabled)
    local_time: Callable[[datetime], str] | None = None  # the person's local date and time (assistant.enabled)
    image_source: ImageSource | None = None  # images of the messages answered and their reply chain (images.enabled)
    coding: PromptSource | None = None  # the coding tools' guide and the skills list (tools.coding), same text until a skill changes

    def remember(self, message: IncomingMessage) -> None:
        self.names[message.author_id] = message.author_name
        for user_id, name in message.mention_names:
            self.names[user_id] = name
        if message.channel_name:
            self.channel_names[message.channel_id] = message.channel_name
        self.channel_names.update(message.channel_mention_names)
        self.role_names.update(message.role_mention_names)

    def channel_label(self, channel_id: str, guild_id: str | None) -> str:
        if guild_id is None:
            return "a direct message"
        return f"#{self.channel_names.get(channel_id, channel_id)}"

    def system_prompt(self) -> str:
        # Stable across calls: nothing time- or message-dependent goes here (prompt cache).
        # The prompt files render to the same string while no file changed, so the prefix
        # changes only when one does.
        files = self.prompt_files.render() if self.prompt_files is not None else ""
        head = [part for part in (self.persona_prompt.strip(), files) if part]
        prompt = "\n\n".join(
            head
            + [
                f"You are {self.bot_name}, a member of a Discord chat. Messages marked * are new. "
                "Write only what you would send: no name prefix, no quotes, no stage directions."
            ]
        )
        if self.memory_guide:
            prompt += "\n\n" + self.memory_guide.strip()
        if self.coding is not None:
            prompt += "\n\n" + self.coding.render()
        return prompt

    def memory_context(self, guild_id: str | None, channel_id: str, people: Sequence[str]) -> str:
        """The memory digest for the humans in this conversation (``people``, see :meth:`people`)."""
        if self.memory is None:
            return ""
        dm_user = people[0] if guild_id is None and people else None
        return self.memory.build_memory_context(guild_id, channel_id, people, dm_user_id=dm_user, names=self.names)

    def situation(
        self, channel_id: str, guild_id: str | None, recent: Sequence[StoredMessage], people: Sequence[str]
    ) -> str:
        """Where and when, with ids: what the model needs to file a follow-up or a profile
        (user ids, the channel id, today's date). In the user turn, not the cached prefix."""
        if self.clock is not None:
            now = self.clock.now()
        elif recent:
            now = recent[-1].timestamp
        else:
            now = None
        where = f"{self.channel_label(channel_id, guild_id)} (channel id {channel_id}"
        where += f", server id {guild_id})" if guild_id else ")"
        line = f"Now: {now:%A %Y-%m-%d %H:%M} UTC. " if now is not None else ""
        if now is not None and self.local_time is not None:  # the assistant: the person's own clock
            line += self.local_time(now) + " "
        line += f"Here: {where}."
        if people:
            line += " People: " + ", ".join(f"{self.names.get(u, 'someone')} (user id {u})" for u in people[-8:]) + "."
        return line

    def people(self, recent: Sequence[StoredMessage], extra: Sequence[str] = ()) -> list[str]:
        """The humans of the conversation, first speaker first, without the bot itself."""
        people: list[str] = []
        for user_id in [m.author_id for m in recent if not m.is_bot] + list(extra):
            if user_id not in people and user_id != self.self_user_id:
                people.append(user_id)
        return people

    def _hint(self, channel_id: str) -> str:
        return self.hints(channel_id) if self.hints is not None else ""

    def _resolve(self, text: str) -> str:
        """Mentions as a person reads them: ``@Dana``, ``#general``, ``@moderators``."""

        def name(match: re.Match[str]) -> str:
            kind, ident = match.group(1), match.group(2)
            if kind == "#":
                return "#" + self.channel_names.get(ident, "a-channel")
            if kind == "@&":
                return "@" + self.role_names.get(ident, "a-role")
            return "@" + self.names.get(ident, "someone")

        return _ANY_MENTION.sub(name, text)

    def _line(self, m: StoredMessage, new_ids: set[str], reactions: dict[str, int], by_id: dict[str, StoredMessage]) -> str:
        mark = "*" if m.message_id in new_ids else " "
        text = self._resolve(m.content) or ("[attachment]" if m.has_attachments else "[no text]")
        parts = [f"{mark}[{m.timestamp:%H:%M}] {m.author_name}"]
        if m.reference_id:
            parent = by_id.get(m.reference_id)
            parts.append(f" (replying to {parent.author_name})" if parent else " (replying to an earlier message)")
        line = "".join(parts) + f": {text}"
        if m.edited_at is not None:
            line += " (edited)"
        if reactions:
            line += "  [" + " ".join(f"{emoji}x{n}" if n > 1 else emoji for emoji, n in reactions.items()) + "]"
        return line

    async def reply_chain(
        self,
        message_id: str | None,
        depth: int = REPLY_CHAIN_DEPTH,
        channel_id: str | None = None,
        ids: list[str] | None = None,
    ) -> list[str]:
        """The parents of a reply, oldest first; a deleted or unknown parent ends the walk.

        With ``channel_id`` and a parent fetcher, a parent that is not stored is fetched.
        """
        chain: list[str] = []
        seen: set[str] = set()
        fetches = 0
        while message_id and len(chain) < depth and message_id not in seen:
            seen.add(message_id)
            parent = await self.store.get(message_id)
            if parent is None and self.parents is not None and channel_id and fetches < self.parent_fetches:
                fetches += 1
                parent = await self.parents.fetch_missing(channel_id, message_id)
            if parent is None or parent.deleted:
                chain.append("[a deleted or older message]")
                break
            chain.append(f"{parent.author_name}: {self._resolve(parent.content)[:_QUOTE_LIMIT]}")
            if ids is not None:
                ids.append(parent.message_id)
            message_id = parent.reference_id
        return list(reversed(chain))

    async def build(self, ask: ContextRequest) -> LLMRequest:
        for message in ask.new_messages:
            self.remember(message)
        if self.conversation is not None and ask.urgent and ask.asker.guild_id is None:
            return await self._build_conversation(ask, self.conversation)
        recent = await self.store.get_recent(ask.channel_id, self.context_window)
        for m in recent:
            self.names.setdefault(m.author_id, m.author_name)
        reactions = await self.store.reactions_for(m.message_id for m in recent)
        by_id = {m.message_id: m for m in recent}
        new_ids = {m.message_id for m in ask.new_messages}
        transcript = "\n".join(self._line(m, new_ids, reactions.get(m.message_id, {}), by_id) for m in recent)
        people = self.people(recent, () if ask.asker.is_bot else (ask.asker.author_id,))
        sections = [
            self.situation(ask.channel_id, ask.asker.guild_id, recent, people),
            f"Recent conversation in {ask.channel_label}:\n{transcript}",
        ]
        parent_ids: list[str] = []
        chain = await self.reply_chain(ask.asker.reference_id, channel_id=ask.channel_id, ids=parent_ids)
        if chain:
            sections.append("The message being answered replies to this thread:\n" + "\n".join(chain))
        images, note = await self._images(ask, parent_ids)
        if note:
            sections.append(note)
        if ask.urgent:
            sections.append(
                f"{ask.asker.author_name} is talking to you: {self._resolve(ask.asker.content)}\nReply to them."
            )
        else:
            sections.append(
                "Decide like a person in this chat whether to say something about the new messages. "
                "Silence is often right; don't answer what is not for you."
            )
        if ask.extra_instructions:
            sections.append(ask.extra_instructions)
        hint = self._hint(ask.channel_id)
        if hint:
            sections.append(hint)
        scope = ConversationScope(self.bot_id, ask.asker.guild_id, ask.channel_id, ask.asker.author_id)
        return LLMRequest(
            system=self.system_prompt(),
            memory_context=self.memory_context(ask.asker.guild_id, ask.channel_id, people),
            turns=(ChatTurn("user", "\n\n".join(sections)),),
            scope=scope,
            max_tokens=self.max_tokens,
            owed=ask.urgent,
            want_plan=not ask.urgent,
            purpose="reply" if ask.urgent else "check",
            images=images,
        )

    async def _build_conversation(self, ask: ContextRequest, cache: ConversationCache) -> LLMRequest:
        """A DM as a conversation: the cached turns, then the new message as the last user turn.

        The new turn is stored as sent once the answer went out (the engine records the
        exchange), so the next request repeats this one's prefix byte for byte.
        """
        asker = ask.asker
        people = self.people([], () if asker.is_bot else (asker.author_id,))
        sections = [self.situation(ask.channel_id, None, [], people)]
        parent_ids: list[str] = []
        chain = await self.reply_chain(asker.reference_id, channel_id=ask.channel_id, ids=parent_ids)
        if chain:
            sections.append("The message being answered replies to this thread:\n" + "\n".join(chain))
        images, note = await self._images(ask, parent_ids)
        if note:
            sections.append(note)
        text = self._resolve(asker.content) or ("[attachment]" if asker.has_attachments else "[no text]")
        sections.append(f"{asker.author_name} is talking to you: {text}\nReply to them.")
        if ask.extra_instructions:
            sections.append(ask.extra_instructions)
        hint = self._hint(ask.channel_id)
        if hint:
            sections.append(hint)
        turns = (*cache.history(ask.channel_id), ChatTurn("user", "\n\n".join(sections)))
        return LLMRequest(
            system=self.system_prompt(),
            memory_context=self.memory_context(None, ask.channel_id, people),
            turns=turns,
            scope=ConversationScope(self.bot_id, None, ask.channel_id, asker.author_id),
            max_tokens=self.max_tokens,
            owed=True,
            want_plan=False,
            purpose="reply",
            images=images,
        )

    async def _images(self, ask: ContextRequest, parent_ids: Sequence[str]) -> tuple[tuple[dict[str, Any], ...], str]:
        """The image blocks for this request and the line saying whose message each is from.

        A mention shows its own images and those of the messages it replies to; a check the
        images of the new messages. Images given in the request are used as they are."""
        if ask.images or self.image_source is None:
            return ask.images, ""
        messages = [ask.asker] if ask.urgent else list(ask.new_messages)
        found = await self.image_source.blocks(messages, parent_ids if ask.urgent else ())
        if not found:
            return (), ""
        lines = [
            f"Image {n}: {block.filename} ({_kilobytes(block.size)}), posted by {block.author_name or 'someone'} "
            f"(message id {block.message_id})"
            for n, block in enumerate(found, 1)
        ]
        note = "Images attached, in order:\n" + "\n".join(lines)
        return tuple(block.block for block in found), note

    async def build_unprompted(
        self,
        *,
        channel_id: str,
        guild_id: str | None,
        instruction: str,
        about_user_id: str | None = None,
        purpose: str = "agentic",
    ) -> LLMRequest:
        """A request for something nobody asked for (a follow-up, a conversation starter):
        the channel's recent talk, the memory digest, and what to consider; the model may
        decline with a silent plan."""
        recent = await self.store.get_recent(channel_id, self.context_window)
        for m in recent:
            self.names.setdefault(m.author_id, m.author_name)
        reactions = await self.store.reactions_for(m.message_id for m in recent)
        by_id = {m.message_id: m for m in recent}
        transcript = "\n".join(self._line(m, set(), reactions.get(m.message_id, {}), by_id) for m in recent)
        label = self.channel_label(channel_id, guild_id)
        people = self.people(recent, (about_user_id,) if about_user_id else ())
        sections = [
            self.situation(channel_id, guild_id, recent, people),
            f"Recent conversation in {label}:\n{transcript or '(nothing yet)'}",
            instruction,
        ]
        user = about_user_id or (recent[-1].author_id if recent else None)
        return LLMRequest(
            system=self.system_prompt(),
            memory_context=self.memory_context(guild_id, channel_id, people),
            turns=(ChatTurn("user", "\n\n".join(sections)),),
            scope=ConversationScope(self.bot_id, guild_id, channel_id, user),
            max_tokens=self.max_tokens,
            owed=False,
            want_plan=True,
            purpose=purpose,
        )
