"""Persistence: the SQLite message store, the proactive log and the usage ledger.

``MessageStore`` and ``ProactiveLog`` are loaded on first use: ``bot_manager status``
reads the ledger through ``framework.storage.ledger`` and must not pay for aiosqlite and
asyncio on the way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import ChannelInfo, MessageStore
    from .proactive import ProactiveLog, ProactivePost

__all__ = ["ChannelInfo", "MessageStore", "ProactiveLog", "ProactivePost"]


def __getattr__(name: str) -> Any:
    if name in ("MessageStore", "ChannelInfo"):
        from . import messages

        return getattr(messages, name)
    if name in ("ProactiveLog", "ProactivePost"):
        from . import proactive

        return getattr(proactive, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
