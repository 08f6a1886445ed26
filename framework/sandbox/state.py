"""In-memory world of the sandbox: users, bot accounts, guilds, channels, messages.

Pure data and bookkeeping, no I/O: the REST and gateway layers call these methods and
turn the results into Discord payloads (see :mod:`framework.sandbox.payloads`).
Ids are always strings here, the way Discord emits them.
"""

from __future__ import annotations

import bisect
import re
from datetime import datetime
from typing import Any

from . import seed
from .models import (
    DM_CHANNEL,
    MESSAGE_DEFAULT,
    MESSAGE_REPLY,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT_CHANNEL,
    Attachment,
    BotAccount,
    Channel,
    Guild,
    Message,
    Overwrite,
    Reaction,
    Role,
    User,
    utcnow_iso,
)
from .structure import GuildStructure

# The data classes moved to .models; they stay importable from here.
__all__ = [
    "DM_CHANNEL", "MESSAGE_DEFAULT", "MESSAGE_REPLY", "PRIVATE_THREAD", "PUBLIC_THREAD", "TEXT_CHANNEL",
    "Attachment", "BotAccount", "Channel", "Guild", "Message", "Overwrite", "Reaction", "Role", "User",
    "MENTION_RE", "SandboxState", "utcnow_iso",
]

#: Mentions discord.py and the Discord client write into content: <@id> and legacy <@!id>.
MENTION_RE = re.compile(r"<@!?(\d+)>")


class SandboxState(GuildStructure):
    """Everything the sandbox knows; one instance per :class:`SandboxServer`."""

    def __init__(self) -> None:
        self.ids = seed.SnowflakeGenerator()
        self.users: dict[str, User] = {}
        self.bots_by_token: dict[str, BotAccount] = {}
        self.guilds: dict[str, Guild] = {}
        self.channels: dict[str, Channel] = {}
        # Per channel, oldest first; ids rise, so list order is id order.
        self.messages: dict[str, list[Message]] = {}
        self._seed()

    # -- accounts ---------------------------------------------------------------------

    def add_bot(self, token: str, username: str) -> tuple[BotAccount, bool]:
        """Register a bot joined to every guild; returns (account, created)."""
        existing = self.bots_by_token.get(token)
        if existing is not None:
            if existing.user.username != username:
                raise ValueError(f"token already registered for bot {existing.user.username!r}")
            return existing, False
        uid = seed.bot_user_id(username, set(self.users))
        user = User(id=uid, username=username, global_name=username, bot=True)
        self.users[uid] = user
        account = BotAccount(token=token, user=user)
        self.bots_by_token[token] = account
        for guild in self.guilds.values():
            guild.members[uid] = utcnow_iso()
        return account, True

    def add_human(self, username: str, global_name: str | None = None) -> User:
        """Add a human member to the main guild (ids are stable per username)."""
        for user in self.users.values():
            if user.username == username and not user.bot:
                return user
        uid = seed.human_user_id(username, set(self.users))
        user = User(id=uid, username=username, global_name=global_name or username)
        self.users[uid] = user
        self.guilds[seed.GUILD_ID].members[uid] = utcnow_iso()
        return user

    def user_by_name(self, name: str) -> User | None:
        """Case-insensitive lookup by username or display name."""
        lowered = name.lower()
        for user in self.users.values():
            if user.username.lower() == lowered or (user.global_name or "").lower() == lowered:
                return user
        return None

    # -- channels ---------------------------------------------------------------------

    def dm_channel(self, a: str, b: str) -> Channel:
        """The DM channel between users *a* and *b*, created on first use."""
        pair = sorted((a, b))
        for channel in self.channels.values():
            if channel.type == DM_CHANNEL and sorted(channel.recipients) == pair:
                return channel
        channel = Channel(id=self.ids.next(), type=DM_CHANNEL, recipients=pair)
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        return channel

    # -- messages ---------------------------------------------------------------------

    def find_message(self, channel_id: str, message_id: str) -> Message | None:
        """The message *message_id* in *channel_id*, or None."""
        for message in self.messages.get(channel_id, ()):
            if message.id == message_id:
                return message
        return None

    def create_message(
        self,
        channel: Channel,
        author_id: str,
        content: str,
        *,
        reference: Message | None = None,
        mention_reply_author: bool = True,
        embeds: list[dict[str, Any]] | None = None,
        files: list[tuple[str, str, bytes]] | None = None,
        nonce: str | int | None = None,
        tts: bool = False,
        at: datetime | None = None,
    ) -> Message:
        """Store a new message; *files* are (filename, content_type, data).

        *at* (timezone-aware) backdates it: its id and timestamp carry that time, and it
        takes its place in the channel's history by id, as if posted back then.
        """
        # A reply pings the replied-to author unless allowed_mentions.replied_user is false.
        reply_ping = reference.author_id if reference is not None and mention_reply_author else None
        message = Message(
            id=self.ids.next() if at is None else self.ids.at(int(at.timestamp() * 1000)),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=author_id,
            content=content,
            timestamp=utcnow_iso() if at is None else at.isoformat(),
            type=MESSAGE_REPLY if reference is not None else MESSAGE_DEFAULT,
            embeds=list(embeds or []),
            attachments=[Attachment(self.ids.next(), name, ctype, data) for name, ctype, data in files or []],
            mention_ids=self._mentions(content, reply_ping),
            reference_id=reference.id if reference is not None else None,
            reply_ping_id=reply_ping,
            nonce=nonce,
            tts=tts,
        )
        history = self.messages[channel.id]
        if at is None:
            history.append(message)
        else:
            bisect.insort(history, message, key=lambda m: int(m.id))
        channel.last_message_id = history[-1].id
        if channel.is_thread:
            channel.message_count += 1
        return message

    def _mentions(self, content: str, reply_ping: str | None) -> list[str]:
        """Known user ids mentioned in *content*, plus the pinged reply author."""
        ids = [uid for uid in dict.fromkeys(MENTION_RE.findall(content)) if uid in self.users]
        if reply_ping is not None and reply_ping not in ids:
            ids.append(reply_ping)
        return ids

    def edit_message(self, message: Message, content: str | None, embeds: list[dict[str, Any]] | None) -> None:
        """Apply an edit and stamp ``edited_timestamp``."""
        if content is not None:
            message.content = content
            message.mention_ids = self._mentions(content, message.reply_ping_id)
        if embeds is not None:
            message.embeds = list(embeds)
        message.edited_timestamp = utcnow_iso()

    def delete_message(self, message: Message) -> None:
        """Remove a message from its channel (and its pins)."""
        self.messages[message.channel_id].remove(message)
        self.unpin(message)

    def history(
        self,
        channel_id: str,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
        around: str | None = None,
    ) -> list[Message]:
        """Messages for ``GET /channels/{id}/messages``, newest first for every cursor.

        discord.py takes the next ``before`` cursor from the last element and the next
        ``after`` cursor from the first, so ``after`` returns the *limit* messages just
        after the cursor, still newest first.
        """
        limit = max(1, min(100, limit))
        items = self.messages.get(channel_id, [])
        if around is not None:
            # Centre the window on the cursor, shifting it when it hits either end.
            index = next((i for i, m in enumerate(items) if int(m.id) >= int(around)), len(items))
            start = max(0, min(index - limit // 2, len(items) - limit))
            return list(reversed(items[start : start + limit]))
        if after is not None:
            selected = [m for m in items if int(m.id) > int(after)][:limit]
        else:
            if before is not None:
                items = [m for m in items if int(m.id) < int(before)]
            selected = items[-limit:]
        return list(reversed(selected))
