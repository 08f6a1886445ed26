"""The ports engines depend on; adapters (Discord, SQLite, Anthropic) implement them."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .domain import Decision, IncomingMessage, StoredMessage
from .llm.types import LLMReply, LLMRequest

__all__ = ["ChatPort", "LLMPort", "MessageStorePort", "DecisionLog"]


class ChatPort(Protocol):
    """What an engine may do on the chat service."""

    def typing(self, channel_id: str) -> AbstractAsyncContextManager[None]:
        """Show 'typing…' in the channel while the block runs."""

    async def send(self, channel_id: str, content: str, reply_to: str | None = None) -> str:
        """Send a message; return its id."""


class LLMPort(Protocol):
    async def complete(self, request: LLMRequest) -> LLMReply: ...


class MessageStorePort(Protocol):
    async def get_recent(self, channel_id: str, limit: int = 20) -> list[StoredMessage]: ...


class DecisionLog(Protocol):
    def record(self, message: IncomingMessage, decision: Decision) -> None: ...
