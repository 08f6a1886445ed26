"""The ports engines depend on; adapters (Discord, SQLite, Anthropic) implement them."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from .domain import Decision, IncomingMessage, StoredMessage
from .llm.types import LLMReply, LLMRequest

__all__ = ["ChatPort", "LLMPort", "MessageStorePort", "DecisionLog"]


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
