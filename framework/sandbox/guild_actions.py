"""Changes to a guild's structure, dispatched as Discord does: channels, roles, threads, pins.

The counterpart of :mod:`framework.sandbox.actions` for everything that is not a
message: each change is made in the state (:mod:`framework.sandbox.structure`), sent
to the gateway sessions entitled to see it, and reported to observers as one event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import payloads
from . import session as gw
from .gateway import GatewayHub
from .models import Channel, Guild, Message, Role
from .state import SandboxState

Emit = Callable[[dict[str, Any]], None]


class GuildActions:
    """Structure mutations shared by the REST API and the test-facing server API."""

    def __init__(self, state: SandboxState, hub: GatewayHub, emit: Emit) -> None:
        self.state = state
        self.hub = hub
        self.emit = emit

    # -- channels and roles -------------------------------------------------------------

    def add_channel(self, guild_id: str, name: str, topic: str | None = None, channel_id: str | None = None) -> Channel:
        """Create a text channel and dispatch CHANNEL_CREATE to every bot in the guild.

        Bots get guild channels whatever their permissions, as on Discord; discord.py
        works out visibility from the overwrites.
        """
        channel = self.state.add_channel(guild_id, name, topic, channel_id)
        data = payloads.channel_payload(self.state, channel)
        self.hub.dispatch_guild(channel.guild_id or guild_id, "CHANNEL_CREATE", lambda _s: data, gw.GUILDS)
        self.emit({"type": "channel_create", "guild_id": guild_id, "channel_id": channel.id, "name": name})
        return channel

    def set_overwrite(self, channel: Channel, target_id: str, allow: int = 0, deny: int = 0) -> None:
        """Set a role's or member's overwrite on *channel* and dispatch CHANNEL_UPDATE."""
        self.state.set_overwrite(channel, target_id, allow, deny)
        data = payloads.channel_payload(self.state, channel)
        self.hub.dispatch_guild(channel.guild_id or "", "CHANNEL_UPDATE", lambda _s: data, gw.GUILDS)
        self.emit({"type": "channel_update", "guild_id": channel.guild_id, "channel_id": channel.id,
                   "target_id": target_id, "allow": allow, "deny": deny})

    def add_role(self, guild_id: str, name: str, permissions: int = 0) -> Role:
        """Create a role and dispatch GUILD_ROLE_CREATE."""
        role = self.state.add_role(guild_id, name, permissions)
        data = {"guild_id": guild_id, "role": payloads.role_payload(role)}
        self.hub.dispatch_guild(guild_id, "GUILD_ROLE_CREATE", lambda _s: data, gw.GUILDS)
        self.emit({"type": "role_create", "guild_id": guild_id, "role_id": role.id, "name": name})
        return role

    def set_member_roles(self, guild_id: str, user_id: str, role_ids: list[str]) -> None:
        """Replace a member's roles and dispatch GUILD_MEMBER_UPDATE.

        Sent to bots with the members intent, and to the member itself when it is a bot
        (Discord tells a bot about its own member updates without the intent).
        """
        self.state.set_member_roles(guild_id, user_id, role_ids)
        guild: Guild = self.state.guilds[guild_id]
        data = {"guild_id": guild_id, **payloads.member_payload(self.state, guild, user_id)}
        for session in self.hub.live_sessions():
            if (
                session.user_id in guild.members
                and session.handles_guild(guild_id)
                and (session.has(gw.GUILD_MEMBERS) or session.user_id == user_id)
            ):
                session.dispatch("GUILD_MEMBER_UPDATE", data)
        self.emit({"type": "member_update", "guild_id": guild_id, "user_id": user_id, "role_ids": list(role_ids)})

    # -- threads and pins ---------------------------------------------------------------

    def create_thread(self, parent: Channel, name: str, owner_id: str, *, private: bool = False) -> Channel:
        """Open a thread and dispatch THREAD_CREATE to the bots that can see it."""
        thread = self.state.create_thread(parent, name, owner_id, private=private)

        def build(session: gw.Session) -> dict[str, Any]:
            return {**payloads.thread_payload(thread, session.user_id), "newly_created": True}

        # dispatch_channel sends a guild channel's events only to bots that can view it.
        self.hub.dispatch_channel(thread, "THREAD_CREATE", build, gw.GUILDS, gw.GUILDS)
        self.emit({"type": "thread_create", "guild_id": thread.guild_id, "channel_id": thread.id,
                   "parent_id": parent.id, "name": name, "owner_id": owner_id, "private": private})
        return thread

    def set_pinned(self, message: Message, pinned: bool, by_user: str) -> bool:
        """Pin or unpin *message* and dispatch CHANNEL_PINS_UPDATE; False if nothing changed."""
        changed = self.state.pin(message) if pinned else self.state.unpin(message)
        if not changed:
            return False
        channel = self.state.channels[message.channel_id]
        data: dict[str, Any] = {
            "channel_id": channel.id,
            "last_pin_timestamp": channel.pins[-1][1] if channel.pins else None,
        }
        if channel.guild_id is not None:
            data["guild_id"] = channel.guild_id
        self.hub.dispatch_channel(channel, "CHANNEL_PINS_UPDATE", lambda _s: data, gw.GUILDS, gw.DIRECT_MESSAGES)
        self.emit({"type": "pin" if pinned else "unpin", "channel_id": channel.id, "guild_id": channel.guild_id,
                   "message_id": message.id, "user_id": by_user})
        return True
