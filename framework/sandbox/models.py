"""Data classes of the sandbox's world: users, guilds, roles, channels, threads, messages.

Pure data, no behaviour beyond small conveniences; :mod:`framework.sandbox.state` keeps
them and :mod:`framework.sandbox.payloads` turns them into Discord payloads. Ids are
always strings here, the way Discord emits them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

TEXT_CHANNEL = 0
DM_CHANNEL = 1
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = frozenset({PUBLIC_THREAD, PRIVATE_THREAD})

MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19

#: Permission overwrite target types, as Discord numbers them.
OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1


def utcnow_iso() -> str:
    """Current time in the ISO 8601 form Discord uses in payloads."""
    return dt.datetime.now(dt.timezone.utc).isoformat()


@dataclass
class User:
    """A Discord user; ``bot`` marks bot accounts."""

    id: str
    username: str
    global_name: str | None = None
    bot: bool = False


@dataclass
class BotAccount:
    """A bot token and the user it logs in as; ``intents`` is the last IDENTIFY's."""

    token: str
    user: User
    intents: int | None = None


@dataclass
class Role:
    """A guild role; ``permissions`` is the permission bit field."""

    id: str
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False


@dataclass
class Overwrite:
    """A channel permission overwrite for a role (type 0) or a member (type 1)."""

    id: str
    type: int
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    """A guild text channel or thread (``guild_id`` set) or a DM channel (``recipients`` set).

    Threads (type 11/12) have a ``parent_id`` and an ``owner_id``, and count their
    messages; their permissions are their parent's.
    """

    id: str
    type: int
    name: str | None = None
    guild_id: str | None = None
    position: int = 0
    topic: str | None = None
    recipients: list[str] = field(default_factory=list)
    last_message_id: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    parent_id: str | None = None
    owner_id: str | None = None
    message_count: int = 0
    created_at: str | None = None
    archived: bool = False
    thread_members: list[str] = field(default_factory=list)
    #: Message ids pinned here, oldest pin first, with their pin timestamps.
    pins: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


@dataclass
class Guild:
    """A guild; ``members`` maps user id to joined-at timestamp, in join order.

    ``roles`` holds the guild's roles other than @everyone (whose id is the guild id
    and whose permissions are :data:`framework.sandbox.perms.EVERYONE_PERMISSIONS`);
    ``member_roles`` maps a member to their role ids. ``thread_ids`` are kept apart from
    ``channel_ids`` because Discord lists threads separately from channels.
    """

    id: str
    name: str
    owner_id: str
    channel_ids: list[str] = field(default_factory=list)
    members: dict[str, str] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    member_roles: dict[str, list[str]] = field(default_factory=dict)
    thread_ids: list[str] = field(default_factory=list)


@dataclass
class Attachment:
    """A stored upload; ``data`` is served back at ``/attachments/{channel}/{id}/{filename}``."""

    id: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Reaction:
    """One emoji on a message and the users who added it, in order."""

    emoji: dict[str, Any]
    users: list[str] = field(default_factory=list)


@dataclass
class Message:
    """A stored message."""

    id: str
    channel_id: str
    guild_id: str | None
    author_id: str
    content: str
    timestamp: str
    type: int = MESSAGE_DEFAULT
    edited_timestamp: str | None = None
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    mention_ids: list[str] = field(default_factory=list)
    reference_id: str | None = None
    reply_ping_id: str | None = None
    reactions: dict[str, Reaction] = field(default_factory=dict)
    nonce: str | int | None = None
    tts: bool = False
    pinned: bool = False
