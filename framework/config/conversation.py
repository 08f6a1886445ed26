"""Typed schema of ``conversation``: the per-DM conversation cache.

With the cache on, a direct message is answered with the conversation so far as real
user/assistant turns (not only the channel digest): the turns live for ``ttl_seconds``
after the last exchange (each exchange resets the timer; after that, a fresh start), and
when the last request's input (as the API reported it) passes ``token_threshold`` of the
model's context limit, the older turns are summarised by the model and only the last
``keep_recent`` exchanges are kept verbatim.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ConversationConfig"]


class ConversationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    enabled: bool = False
    """Send a DM conversation's recent turns as real turns (off: the channel digest only)."""
    ttl_seconds: Annotated[float, Field(gt=0)] = 1800
    """Idle time after which a conversation starts afresh; every exchange resets it."""
    token_threshold: Annotated[float, Field(gt=0, le=1)] = 0.8
    """Compact when the last request's input tokens pass this share of the model's context limit."""
    keep_recent: Annotated[int, Field(ge=1, le=50)] = 3
    """Exchanges (a user turn and the answer) kept verbatim by a compaction."""
    context_limit_fallback: Annotated[int, Field(ge=1000)] = 200_000
    """The context limit in tokens when the Models API cannot say (fallback providers, offline)."""
