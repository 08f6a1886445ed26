"""Loopback Discord-compatible sandbox: a REST + gateway server the real discord.py client
connects to, a thread wrapper for synchronous callers, and a terminal chat.

See :class:`SandboxServer` (async), :class:`SandboxThread` (sync) and
:func:`framework.sandbox.chat.run_terminal_chat`.
"""

from __future__ import annotations

from .perms import MANAGE_MESSAGES, PIN_MESSAGES, READ_MESSAGE_HISTORY, VIEW_CHANNEL
from .seed import (
    DANA_USER_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    HUMAN_USER_ID,
    LOBBY_CHANNEL_ID,
    MODERATORS_ROLE_ID,
    OTHER_GUILD_ID,
    RANDOM_CHANNEL_ID,
    REGULARS_ROLE_ID,
)
from .server import SandboxServer
from .thread import SandboxThread

__all__ = [
    "DANA_USER_ID",
    "GENERAL_CHANNEL_ID",
    "GUILD_ID",
    "HUMAN_USER_ID",
    "LOBBY_CHANNEL_ID",
    "MANAGE_MESSAGES",
    "MODERATORS_ROLE_ID",
    "OTHER_GUILD_ID",
    "PIN_MESSAGES",
    "RANDOM_CHANNEL_ID",
    "READ_MESSAGE_HISTORY",
    "REGULARS_ROLE_ID",
    "VIEW_CHANNEL",
    "SandboxServer",
    "SandboxThread",
]
