"""Plain data the engines work on: no discord.py, no SDK types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .attachments import Attachment

__all__ = ["IncomingMessage", "StoredMessage", "Decision"]


@dataclass(frozen=True)
class IncomingMessage:
    """A message as the Discord adapter hands it to the engines."""

    message_id: str
    channel_id: str
    guild_id: str | None  # None for a DM
    author_id: str
    author_name: str
    content: str
    timestamp: datetime
    is_bot: bool = False
    is_self: bool = False  # written by this bot
    mentions: tuple[str, ...] = ()
    mention_names: tuple[tuple[str, str], ...] = ()  # (user id, display name) of each mention
    # (id, name) of each channel (<#id>) and role (<@&id>) mentioned, so the model reads names
    channel_mention_names: tuple[tuple[str, str], ...] = ()
    role_mention_names: tuple[tuple[str, str], ...] = ()
    mentions_self: bool = False
    reference_id: str | None = None
    has_attachments: bool = False
    channel_name: str = ""
    attachments: tuple[Attachment, ...] = ()  # files and image embeds, for the image pipeline

    @property
    def is_dm(self) -> bool:
        return self.guild_id is None


@dataclass(frozen=True)
class StoredMessage:
    """A row of the message store."""

    message_id: str
    channel_id: str
    guild_id: str | None
    author_id: str
    author_name: str
    content: str
    timestamp: datetime
    is_bot: bool
    has_attachments: bool
    mentions: tuple[str, ...] = ()
    reference_id: str | None = None
    edited_at: datetime | None = None
    deleted: bool = False


@dataclass(frozen=True)
class Decision:
    """What the bot decided about one incoming message, and why (the conversation log)."""

    action: str  # "reply" | "ignore" | "error"
    reason: str
    reply_ids: tuple[str, ...] = field(default=())
