"""The ports engines depend on; adapters (Discord, SQLite, Anthropic) implement them."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .domain.reminders import Reminder
from .domain import ConversationScope, Decision, IncomingMessage, LLMReply, LLMRequest, ModelSettings, StoredMessage, UsageRecord

__all__ = [
    "ClientTool",
    "Provider",
    "UsageSink",
    "ActivityStorePort",
    "BackfillStorePort",
    "ChannelInfo",
    "ChatPort",
    "DecisionLog",
    "HistoryChannel",
    "HistoryPort",
    "LLMPort",
    "MessageStorePort",
    "ParentFetchPort",
    "ProactiveLogPort",
    "ProactivePost",
    "DirectMessagePort",
    "ReminderStorePort",
]


class ChatPort(Protocol):
    """What an engine may do on the chat service."""

    def typing(self, channel_id: str) -> AbstractAsyncContextManager[None]:
        """Show 'typing…' in the channel while the block runs."""

    async def send(self, channel_id: str, content: str, reply_to: str | None = None, ping: bool = False) -> str:
        """Send a message (a threaded reply when ``reply_to``; ``ping`` notifies its author); return its id."""

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        """Add a reaction to a message."""


class LLMPort(Protocol):
    async def complete(self, request: LLMRequest) -> LLMReply: ...


class MessageStorePort(Protocol):
    async def get_recent(self, channel_id: str, limit: int = 20) -> list[StoredMessage]: ...

    async def get(self, message_id: str) -> StoredMessage | None: ...

    async def reactions_for(self, message_ids: Iterable[str]) -> dict[str, dict[str, int]]: ...

    async def count_after(self, channel_id: str, after: datetime, *, humans_only: bool = True) -> int: ...


class DecisionLog(Protocol):
    def record(self, message: IncomingMessage, decision: Decision) -> None: ...


@dataclass(frozen=True)
class ChannelInfo:
    """What the message store knows about a channel, from its stored messages.

    ``guild_id`` is None for a DM channel. ``last_message_at`` is the latest message not
    deleted, by anyone (the bot included); ``last_human_message_at`` the latest by a
    human (``is_bot`` false). Either is None when no such message is stored.
    """

    channel_id: str
    guild_id: str | None
    last_message_at: datetime | None
    last_human_message_at: datetime | None = None


@dataclass(frozen=True)
class ProactivePost:
    """A message the bot sent unprompted, and how it landed.

    ``kind`` is ``"proactive"`` (a conversation starter) or ``"followup"``; ``outcome`` is
    None until evaluated, then ``"engaged"`` or ``"ignored"``. ``guild_id`` is None in a DM.
    """

    message_id: str
    guild_id: str | None
    channel_id: str
    kind: str
    posted_at: datetime
    outcome: str | None = None
    evaluated_at: datetime | None = None


class ActivityStorePort(MessageStorePort, Protocol):
    """The message store as the agentic engine reads it: who was active where, and when."""

    async def last_seen(self, user_id: str, *, guild_id: str | None) -> datetime | None: ...

    async def authors_since(
        self, channel_id: str, since: datetime, *, humans_only: bool = True, until: datetime | None = None
    ) -> set[str]: ...

    async def last_message_at(self, channel_id: str, *, humans_only: bool = False) -> datetime | None: ...

    async def channel_info(self, channel_id: str) -> ChannelInfo | None: ...

    async def reaction_users(self, message_id: str, *, until: datetime | None = None) -> set[str]: ...

    async def cleanup_old(self, days: float = 90, *, now: datetime, batch: int = 5000) -> int: ...


class ProactiveLogPort(Protocol):
    """The record of unprompted posts: caps, gaps and success rates read from it."""

    async def record(
        self, *, message_id: str, guild_id: str | None, channel_id: str, kind: str, posted_at: datetime
    ) -> None: ...

    async def posts_since(
        self, since: datetime, *, channel_id: str | None = None, kind: str | None = None
    ) -> list[ProactivePost]: ...

    async def last_post_at(
        self, *, channel_id: str | None = None, kind: str | None = "proactive"
    ) -> datetime | None: ...

    async def success_rates(self, since: datetime) -> dict[str, tuple[int, int]]: ...

    async def evaluate(
        self, store: ActivityStorePort, *, now: datetime, window_minutes: float = 30, self_id: str | None = None
    ) -> int: ...


@dataclass(frozen=True)
class HistoryChannel:
    """A channel whose history the bot can read; ``latest_message_id`` as the chat service
    last reported it (None when unknown), so a channel with nothing new costs no request."""

    channel_id: str
    latest_message_id: str | None = None


class HistoryPort(Protocol):
    """Reading back what the chat service holds: the history backfill and reply parents."""

    def readable_channels(self) -> list[HistoryChannel]:
        """Server channels (and active threads) whose history the bot may read, busiest first."""

    async def history_after(self, channel_id: str, after_id: int, limit: int) -> list[IncomingMessage]:
        """Up to ``limit`` messages with ids above ``after_id``, the newest ones, oldest first."""

    async def fetch_message(self, channel_id: str, message_id: str) -> IncomingMessage | None:
        """One message, or None if it is gone or not readable."""


class ParentFetchPort(Protocol):
    """Reply parents missing from the store, fetched from the chat service on demand."""

    async def fetch_missing(self, channel_id: str, message_id: str) -> StoredMessage | None:
        """The message, now stored; None if it cannot be had (gone, forbidden, too slow)."""


class BackfillStorePort(MessageStorePort, Protocol):
    """The message store as the history backfill uses it."""

    async def add_many(self, messages: Iterable[IncomingMessage]) -> None: ...

    async def last_message_id(self, channel_id: str, *, before: datetime) -> str | None: ...

    async def dm_channel_ids(self, limit: int) -> list[str]: ...

    async def known_ids(self, message_ids: Iterable[str]) -> set[str]: ...

    async def replied_to(self, message_ids: Iterable[str], author_id: str) -> set[str]: ...


# -- the model layer: client tools, providers, the usage ledger ----------------------


class ClientTool(Protocol):
    """A tool executed by us (not by the API), usable by any provider's tool loop."""

    name: str

    def anthropic_param(self) -> dict[str, Any]:
        """The tool as the Anthropic API takes it (e.g. ``{"type": "memory_20250818", "name": "memory"}``)."""

    def function_schema(self) -> dict[str, Any]:
        """The tool as an OpenAI-style function: ``{"name", "description", "parameters"}``."""

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        """Execute with the model's arguments inside ``scope``; raise ToolError to refuse."""


class Provider(Protocol):
    """One LLM API. The router gives it a model, a key and a timeout for each attempt."""

    name: str

    async def complete(
        self, request: LLMRequest, *, model: ModelSettings, api_key: str, timeout: float
    ) -> LLMReply:
        """Run the request (with its tool loop, if any); raise ProviderError on failure."""


class UsageSink(Protocol):
    async def record(self, record: UsageRecord) -> None: ...


# -- the assistant: reminders and the master's DM -------------------------------------


class DirectMessagePort(Protocol):
    """Direct messages to one person, and a look back at what the bot sent them."""

    async def send_dm(self, user_id: str, content: str) -> str:
        """Send ``content`` to the user's DM; return the message id."""

    async def own_dms_since(self, user_id: str, after: datetime, limit: int = 50) -> list[tuple[str, str]]:
        """``(message_id, content)`` of the bot's own messages in the user's DM after ``after``, oldest first."""


class ReminderStorePort(Protocol):
    """The reminders table, as the tool and the delivery scheduler use it."""

    async def add(
        self, *, text: str, due_at: datetime, repeat: str, timezone: str, local_time: str, now: datetime
    ) -> Reminder: ...

    async def get(self, reminder_id: str) -> Reminder | None: ...

    async def find(self, statuses: Iterable[str] = ("pending", "sending")) -> list[Reminder]: ...

    async def cancel(self, reminder_id: str, now: datetime) -> bool: ...

    async def due(self, now: datetime, limit: int = 50) -> list[Reminder]: ...

    async def unresolved_claims(self, claimed_before: datetime) -> list[Reminder]: ...

    async def claim(self, reminder: Reminder, delivery: str, now: datetime) -> bool: ...

    async def recorded_message_ids(self, message_ids: Iterable[str]) -> set[str]: ...

    async def mark_sent(
        self, reminder_id: str, *, claimed_at: datetime, message_id: str, now: datetime,
        next_due: datetime | None = None,
    ) -> bool: ...
