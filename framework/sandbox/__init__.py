"""Loopback Discord-compatible sandbox: a REST + gateway server the real discord.py client
connects to, a thread wrapper for synchronous callers, and a terminal chat.

See :class:`SandboxServer` (async), :class:`SandboxThread` (sync) and
:func:`framework.sandbox.chat.run_terminal_chat`.
"""

from __future__ import annotations

from .seed import (
    DANA_USER_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    HUMAN_USER_ID,
    RANDOM_CHANNEL_ID,
)
from .server import SandboxServer
from .thread import SandboxThread

__all__ = [
    "DANA_USER_ID",
    "GENERAL_CHANNEL_ID",
    "GUILD_ID",
    "HUMAN_USER_ID",
    "RANDOM_CHANNEL_ID",
    "SandboxServer",
    "SandboxThread",
]
