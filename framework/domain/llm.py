"""The vocabulary of a model call: requests, replies, usage, provider errors.

Plain dataclasses: engines build :class:`LLMRequest` and read :class:`LLMReply`;
providers (Anthropic, Groq, OpenAI-compatible) implement ``framework.ports.Provider``;
the router chains them; client tools (memory, Discord queries) implement
``framework.ports.ClientTool`` and are served by whichever provider runs the tool loop.

Error tree (``framework.errors.LLMError`` is the root)::

    LLMError
     +-- ProviderError      one provider call failed; ``kind`` says how (ErrorKind)
     +-- BudgetExceeded     the bot's daily token budget is spent
    ToolError               a client tool refused or failed; goes back to the model as is_error
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..errors import FrameworkError, LLMError

__all__ = [
    "ConversationScope",
    "ChatTurn",
    "LLMRequest",
    "LLMReply",
    "Usage",
    "UsageRecord",
    "ModelSettings",
    "ProviderError",
    "ErrorKind",
    "RETRYABLE",
    "BudgetExceeded",
    "ToolError",
]


@dataclass(frozen=True)
class ConversationScope:
    """Where a model call happens: it bounds what memory files and Discord data tools may touch."""

    bot_id: str
    guild_id: str | None  # None in a DM
    channel_id: str
    user_id: str  # the person the bot is answering (the asking user)

    @property
    def is_dm(self) -> bool:
        return self.guild_id is None


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" | "assistant"
    content: str


@dataclass(frozen=True)
class LLMRequest:
    """One model call as the engines describe it.

    ``system`` is the stable persona prompt and ``memory_context`` the slower-changing
    memory digest: both form the cached prefix, so callers must build them byte-identical
    from call to call when nothing changed.
    """

    system: str
    turns: tuple[ChatTurn, ...]
    scope: ConversationScope | None = None
    memory_context: str = ""
    max_tokens: int = 1024
    owed: bool = False  # a reply is owed (mention, DM): a static line is better than silence
    want_plan: bool = False  # ask for a ResponsePlan (framework.domain.plan) instead of free text
    use_tools: bool = True  # memory, Discord queries, web search where configured
    purpose: str = "reply"  # "reply" | "check" | "agentic": shows in the ledger
    images: tuple[dict[str, Any], ...] = ()  # Anthropic image blocks for the last user turn (image pipeline)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0  # uncached input
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    web_searches: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.web_searches + other.web_searches,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(frozen=True)
class LLMReply:
    text: str
    model: str
    provider: str = "anthropic"
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    plan: Any = None  # a framework.domain.plan.ResponsePlan when the request wanted one
    key_alias: str | None = None  # e.g. "ANTHROPIC_API_KEY_2": the variable name, never the key
    latency_s: float = 0.0
    static: bool = False  # the router's static line, no model involved
    # The input of the last model round (uncached + cache reads + cache writes): the size of
    # the context the model saw. A tool loop bills several rounds; this is the last. 0: unknown.
    context_tokens: int = 0

    # Kept for the foundation's callers.
    @property
    def input_tokens(self) -> int:
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.usage.output_tokens


@dataclass(frozen=True)
class UsageRecord:
    """One provider call for the ledger (successful or not)."""

    bot_id: str
    provider: str
    model: str
    key_alias: str | None
    purpose: str
    usage: Usage
    latency_s: float
    ok: bool
    error_kind: str | None = None
    images: int = 0  # image blocks the request carried


@dataclass(frozen=True)
class ModelSettings:
    """A model and its per-model sampling settings (Ana's waterfall keeps these per model)."""

    model: str
    max_tokens: int | None = None  # caps the request's max_tokens when set
    temperature: float | None = None
    top_p: float | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)


class ErrorKind(str, Enum):
    RATE_LIMIT = "rate_limit"
    AUTH = "auth"
    OVERLOADED = "overloaded"
    SERVER = "server"
    TIMEOUT = "timeout"
    BAD_REQUEST = "bad_request"
    CONTEXT_TOO_LONG = "context_too_long"


# Worth another key or another provider; the rest would fail the same way anywhere.
RETRYABLE = frozenset({ErrorKind.RATE_LIMIT, ErrorKind.OVERLOADED, ErrorKind.SERVER, ErrorKind.TIMEOUT})


class ProviderError(LLMError):
    """A provider call failed; ``kind`` classifies it for the router."""

    def __init__(
        self,
        provider: str,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {kind.value}: {message}")
        self.provider = provider
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


class BudgetExceeded(LLMError):
    """The bot's daily token budget is spent and the request is not owed a reply."""


class ToolError(FrameworkError):
    """A client tool refused or failed; the message goes back to the model as an error result."""
