"""What users do in the sandbox: post, edit, delete, react, type.

Bots reach these through REST, humans through :class:`SandboxServer`'s ``inject_*``
methods; either way a change is stored, dispatched to the gateway sessions entitled to
it (with intents emulated), and reported to observers as one event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import payloads
from . import session as gw
from .gateway import GatewayHub
from .state import Channel, Message, Reaction, SandboxState

Emit = Callable[[dict[str, Any]], None]


def emoji_from_key(key: str) -> tuple[str, dict[str, Any]]:
    """Parse a reaction path segment: unicode ``name`` or custom ``name:id``."""
    name, sep, emoji_id = key.partition(":")
    if sep and emoji_id.isdigit():
        return f"{name}:{emoji_id}", {"id": emoji_id, "name": name, "animated": False}
    return key, {"id": None, "name": key}


class Actions:
    """Mutations shared by the REST API and the human-side test API."""

    def __init__(self, state: SandboxState, hub: GatewayHub, emit: Emit, base_url: Callable[[], str]) -> None:
        self.state = state
        self.hub = hub
        self.emit = emit
        self.base_url = base_url

    # -- payload helpers ------------------------------------------------------------

    def payload(self, message: Message, viewer_id: str | None = None) -> dict[str, Any]:
        """The REST form of *message* as *viewer_id* sees it (never redacted)."""
        return payloads.message_payload(self.state, message, self.base_url(), viewer_id=viewer_id)

    def _message_builder(self, message: Message, channel: Channel) -> gw.Builder:
        def build(session: gw.Session) -> dict[str, Any]:
            # No MESSAGE_CONTENT: blank unless a DM, the bot's own message, or it is mentioned.
            redact = (
                channel.guild_id is not None
                and not session.has(gw.MESSAGE_CONTENT)
                and session.user_id != message.author_id
                and session.user_id not in message.mention_ids
            )
            return payloads.message_payload(
                self.state, message, self.base_url(), viewer_id=session.user_id, redact=redact, gateway=True
            )

        return build

    def _event(self, kind: str, message: Message, **extra: Any) -> dict[str, Any]:
        author = self.state.users[message.author_id]
        channel = self.state.channels[message.channel_id]
        return {
            "type": kind,
            "channel_id": message.channel_id,
            "guild_id": message.guild_id,
            "is_dm": message.guild_id is None,
            "recipient_ids": list(channel.recipients),  # DM participants; empty in a guild
            "message_id": message.id,
            "author_id": author.id,
            "author_name": author.username,
            "author_is_bot": author.bot,
            "content": message.content,
            "message": self.payload(message),
            **extra,
        }

    # -- mutations ------------------------------------------------------------------

    def post(
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
        """Store a message, dispatch MESSAGE_CREATE (the author's sessions included); *at* backdates it."""
        message = self.state.create_message(
            channel, author_id, content, reference=reference, mention_reply_author=mention_reply_author,
            embeds=embeds, files=files, nonce=nonce, tts=tts, at=at,
        )
        self.hub.dispatch_channel(
            channel, "MESSAGE_CREATE", self._message_builder(message, channel), gw.GUILD_MESSAGES, gw.DIRECT_MESSAGES
        )
        self.emit(self._event("message", message))
        return message

    def edit(self, message: Message, content: str | None, embeds: list[dict[str, Any]] | None = None) -> Message:
        """Edit a message and dispatch MESSAGE_UPDATE."""
        channel = self.state.channels[message.channel_id]
        self.state.edit_message(message, content, embeds)
        self.hub.dispatch_channel(
            channel, "MESSAGE_UPDATE", self._message_builder(message, channel), gw.GUILD_MESSAGES, gw.DIRECT_MESSAGES
        )
        self.emit(self._event("edit", message))
        return message

    def delete(self, message: Message, deleted_by: str) -> None:
        """Delete a message and dispatch MESSAGE_DELETE."""
        channel = self.state.channels[message.channel_id]
        event = self._event("delete", message, deleted_by=deleted_by)
        self.state.delete_message(message)
        data: dict[str, Any] = {"id": message.id, "channel_id": message.channel_id}
        if message.guild_id is not None:
            data["guild_id"] = message.guild_id
        self.hub.dispatch_channel(channel, "MESSAGE_DELETE", lambda _s: data, gw.GUILD_MESSAGES, gw.DIRECT_MESSAGES)
        self.emit(event)

    def react(self, message: Message, user_id: str, emoji_key: str, *, add: bool = True) -> bool:
        """Add (or remove) *user_id*'s reaction; returns False when nothing changed."""
        key, emoji = emoji_from_key(emoji_key)
        reaction = message.reactions.setdefault(key, Reaction(emoji=emoji))
        if add == (user_id in reaction.users):
            return False
        if add:
            reaction.users.append(user_id)
        else:
            reaction.users.remove(user_id)
            if not reaction.users:
                del message.reactions[key]
        channel = self.state.channels[message.channel_id]
        data: dict[str, Any] = {
            "user_id": user_id,
            "channel_id": message.channel_id,
            "message_id": message.id,
            "emoji": emoji,
            "burst": False,
            "type": 0,
        }
        if add:
            data["burst_colors"] = []
            data["message_author_id"] = message.author_id
        if message.guild_id is not None:
            data["guild_id"] = message.guild_id
            if add:
                guild = self.state.guilds[message.guild_id]
                data["member"] = payloads.member_payload(self.state, guild, user_id)
        self.hub.dispatch_channel(
            channel,
            "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE",
            lambda _s: data,
            gw.GUILD_MESSAGE_REACTIONS,
            gw.DIRECT_MESSAGE_REACTIONS,
        )
        user = self.state.users[user_id]
        self.emit(
            self._event(
                "reaction" if add else "reaction_remove",
                message,
                user_id=user_id,
                user_name=user.username,
                user_is_bot=user.bot,
                emoji=key,
            )
        )
        return True

    def typing(self, channel: Channel, user_id: str) -> dict[str, Any]:
        """Record a typing indicator and dispatch TYPING_START to everyone else."""
        now = time.time()
        user = self.state.users[user_id]
        event = {
            "type": "typing",
            "channel_id": channel.id,
            "guild_id": channel.guild_id,
            "is_dm": channel.guild_id is None,
            "recipient_ids": list(channel.recipients),
            "user_id": user_id,
            "user_name": user.username,
            "user_is_bot": user.bot,
            "timestamp": now,
        }
        data: dict[str, Any] = {"channel_id": channel.id, "user_id": user_id, "timestamp": int(now)}
        if channel.guild_id is not None:
            data["guild_id"] = channel.guild_id
            data["member"] = payloads.member_payload(self.state, self.state.guilds[channel.guild_id], user_id)

        def build(session: gw.Session) -> dict[str, Any] | None:
            # Discord does not echo your own typing back to you.
            return None if session.user_id == user_id else data

        self.hub.dispatch_channel(channel, "TYPING_START", build, gw.GUILD_MESSAGE_TYPING, gw.DIRECT_MESSAGE_TYPING)
        self.emit(event)
        return event

    def member_joined(self, guild_id: str, user_id: str) -> None:
        """Dispatch GUILD_MEMBER_ADD for a newly registered account."""
        guild = self.state.guilds[guild_id]
        data = {"guild_id": guild_id, **payloads.member_payload(self.state, guild, user_id)}

        def build(session: gw.Session) -> dict[str, Any] | None:
            return None if session.user_id == user_id else data

        self.hub.dispatch_guild(guild_id, "GUILD_MEMBER_ADD", build, gw.GUILD_MEMBERS)
