"""What may be shown about API keys: aliases, states and counts, never a key's value.

The key pools (``framework.llm.keypool``) and the router produce these; a status command
(``/settings status``, ``bot_manager status``) renders them. Every field is safe to print:
an alias is the environment variable's *name* (``GROQ_API_KEY_2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["KeyState", "KeySnapshot", "KeyUsage", "PoolSnapshot"]

KeyState = Literal["healthy", "cooling", "locked"]


@dataclass(frozen=True)
class KeyUsage:
    """Calls made with one key: on the current UTC day (``day``, YYYY-MM-DD) and ever."""

    today: int
    total: int
    day: str


@dataclass(frozen=True)
class KeySnapshot:
    """One key of a pool at one moment.

    ``state``: ``locked`` (refused by the provider: no model may use it until
    ``remaining_seconds``), ``cooling`` (resting for the models in ``cooling_models`` after
    failures or a rate limit; it still serves the others), else ``healthy``.
    ``remaining_seconds`` is the lockout left, or the longest cooldown left, or 0.
    """

    alias: str
    state: KeyState
    usage_today: int
    usage_total: int
    remaining_seconds: float
    cooling_models: tuple[str, ...] = ()


@dataclass(frozen=True)
class PoolSnapshot:
    """One provider's key pool: the provider's name, the models it serves, its keys."""

    provider: str
    models: tuple[str, ...]
    keys: tuple[KeySnapshot, ...]
