"""Persistence: the SQLite message store and the usage ledger.

``MessageStore`` is loaded on first use: ``bot_manager status`` reads the ledger through
``framework.storage.ledger`` and must not pay for aiosqlite and asyncio on the way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import MessageStore

__all__ = ["MessageStore"]


def __getattr__(name: str) -> Any:
    if name == "MessageStore":
        from .messages import MessageStore

        return MessageStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
