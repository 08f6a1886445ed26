"""Guild structure of the sandbox: seeding, roles, channels, overwrites, threads, pins.

:class:`GuildStructure` is a mixin of :class:`~framework.sandbox.state.SandboxState`:
pure bookkeeping on its ``guilds``, ``channels``, ``messages``, ``users`` and ``ids``,
no I/O. Dispatching the matching gateway events is :mod:`framework.sandbox.guild_actions`'s job.
"""

from __future__ import annotations

import datetime as dt

from . import perms, seed
from .models import (
    OVERWRITE_MEMBER,
    OVERWRITE_ROLE,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT_CHANNEL,
    Channel,
    Guild,
    Message,
    Overwrite,
    Role,
    User,
    utcnow_iso,
)
from .seed import SnowflakeGenerator


class GuildStructure:
    """Guild-side state and the permission questions asked of it."""

    ids: SnowflakeGenerator
    users: dict[str, User]
    guilds: dict[str, Guild]
    channels: dict[str, Channel]
    messages: dict[str, list[Message]]

    def _seed(self) -> None:
        main = self._seed_guild(seed.GUILD_ID, seed.GUILD_NAME, seed.SEED_CHANNELS)
        for uid, username, display in seed.SEED_HUMANS:
            self.users[uid] = User(id=uid, username=username, global_name=display)
            main.members[uid] = seed.SEED_TIMESTAMP
        for position, (rid, name, permissions) in enumerate(seed.SEED_ROLES, start=1):
            main.roles[rid] = Role(id=rid, name=name, permissions=permissions, position=position)
        for uid, role_ids in seed.SEED_MEMBER_ROLES.items():
            main.member_roles[uid] = list(role_ids)
        other = self._seed_guild(seed.OTHER_GUILD_ID, seed.OTHER_GUILD_NAME, seed.OTHER_CHANNELS)
        for uid in seed.OTHER_HUMANS:
            other.members[uid] = seed.SEED_TIMESTAMP

    def _seed_guild(self, guild_id: str, name: str, channels: tuple[tuple[str, str, str], ...]) -> Guild:
        guild = Guild(id=guild_id, name=name, owner_id=seed.GUILD_OWNER_ID)
        self.guilds[guild.id] = guild
        for position, (cid, channel_name, topic) in enumerate(channels):
            self._store_channel(guild, Channel(id=cid, type=TEXT_CHANNEL, name=channel_name, guild_id=guild.id,
                                               position=position, topic=topic, created_at=seed.SEED_TIMESTAMP))
        return guild

    def _store_channel(self, guild: Guild, channel: Channel) -> None:
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        (guild.thread_ids if channel.is_thread else guild.channel_ids).append(channel.id)

    def guild_of(self, guild_id: str) -> Guild:
        """The guild *guild_id*; LookupError if unknown."""
        guild = self.guilds.get(str(guild_id))
        if guild is None:
            raise LookupError(f"unknown guild {guild_id}")
        return guild

    # -- permissions --------------------------------------------------------------------

    def permissions(self, user_id: str, channel: Channel) -> int:
        """*user_id*'s permission bits in a guild channel or thread (0 if it cannot see it)."""
        if channel.guild_id is None:
            return perms.EVERYONE_PERMISSIONS if user_id in channel.recipients else 0
        guild = self.guilds[channel.guild_id]
        if not channel.is_thread:
            return perms.channel_permissions(guild, channel, user_id)
        parent = self.channels[channel.parent_id or ""]
        bits = perms.channel_permissions(guild, parent, user_id)
        # A private thread is for its members and those who may manage threads.
        if channel.type == PRIVATE_THREAD and user_id not in channel.thread_members and not bits & perms.MANAGE_THREADS:
            return 0
        return bits

    def can_access(self, user_id: str, channel: Channel) -> bool:
        """Whether *user_id* sees *channel* (VIEW_CHANNEL in a guild, recipient of a DM)."""
        return bool(self.permissions(user_id, channel) & perms.VIEW_CHANNEL)

    def has_permission(self, user_id: str, channel: Channel, bits: int) -> bool:
        """Whether *user_id* has any of *bits* in *channel*."""
        return bool(self.permissions(user_id, channel) & bits)

    # -- roles and channels -------------------------------------------------------------

    def add_role(self, guild_id: str, name: str, permissions: int = 0) -> Role:
        """Create a role above the existing ones."""
        guild = self.guild_of(guild_id)
        role = Role(id=self.ids.next(), name=name, permissions=permissions, position=len(guild.roles) + 1)
        guild.roles[role.id] = role
        return role

    def set_member_roles(self, guild_id: str, user_id: str, role_ids: list[str]) -> None:
        """Replace *user_id*'s roles in the guild."""
        guild = self.guild_of(guild_id)
        if user_id not in guild.members:
            raise LookupError(f"user {user_id} is not a member of guild {guild_id}")
        unknown = [r for r in role_ids if r not in guild.roles]
        if unknown:
            raise LookupError(f"unknown role(s) {unknown} in guild {guild_id}")
        guild.member_roles[user_id] = list(dict.fromkeys(role_ids))

    def add_channel(self, guild_id: str, name: str, topic: str | None = None, channel_id: str | None = None) -> Channel:
        """Create a text channel at the end of the guild's list."""
        guild = self.guild_of(guild_id)
        cid = channel_id or self.ids.next()
        if cid in self.channels:
            raise ValueError(f"channel id {cid} is taken")
        channel = Channel(id=cid, type=TEXT_CHANNEL, name=name, guild_id=guild.id, position=len(guild.channel_ids),
                          topic=topic, created_at=utcnow_iso())
        self._store_channel(guild, channel)
        return channel

    def set_overwrite(self, channel: Channel, target_id: str, allow: int = 0, deny: int = 0) -> None:
        """Set (or with both zero, remove) the overwrite for a role or member on *channel*.

        The target is a role when it is the guild id (@everyone) or one of its roles,
        a member otherwise.
        """
        if channel.guild_id is None or channel.is_thread:
            raise ValueError("overwrites apply to guild channels, not DMs or threads")
        guild = self.guilds[channel.guild_id]
        if target_id == guild.id or target_id in guild.roles:
            kind = OVERWRITE_ROLE
        elif target_id in guild.members:
            kind = OVERWRITE_MEMBER
        else:
            raise LookupError(f"{target_id} is neither a role nor a member of guild {guild.id}")
        channel.overwrites = [o for o in channel.overwrites if o.id != target_id]
        if allow or deny:
            channel.overwrites.append(Overwrite(id=target_id, type=kind, allow=allow, deny=deny))

    # -- threads ------------------------------------------------------------------------

    def create_thread(self, parent: Channel, name: str, owner_id: str, *, private: bool = False) -> Channel:
        """Open a thread in text channel *parent*, started by *owner_id* (who joins it)."""
        if parent.guild_id is None or parent.type != TEXT_CHANNEL:
            raise ValueError("threads open in guild text channels")
        thread = Channel(
            id=self.ids.next(), type=PRIVATE_THREAD if private else PUBLIC_THREAD, name=name,
            guild_id=parent.guild_id, parent_id=parent.id, owner_id=owner_id, created_at=utcnow_iso(),
            thread_members=[owner_id],
        )
        self._store_channel(self.guilds[parent.guild_id], thread)
        return thread

    def active_threads(self, guild: Guild, viewer_id: str) -> list[Channel]:
        """Unarchived threads of *guild* that *viewer_id* can see, oldest first."""
        threads = (self.channels[t] for t in guild.thread_ids)
        return [t for t in threads if not t.archived and self.can_access(viewer_id, t)]

    # -- pins ---------------------------------------------------------------------------

    def pin(self, message: Message) -> bool:
        """Pin *message* in its channel; False if it already was."""
        channel = self.channels[message.channel_id]
        if message.pinned:
            return False
        message.pinned = True
        now = dt.datetime.now(dt.timezone.utc)
        if channel.pins:
            # Strictly increasing pin times: discord.py pages with the last pin's timestamp.
            now = max(now, dt.datetime.fromisoformat(channel.pins[-1][1]) + dt.timedelta(microseconds=1))
        channel.pins.append((message.id, now.isoformat()))
        return True

    def unpin(self, message: Message) -> bool:
        """Unpin *message*; False if it was not pinned."""
        channel = self.channels[message.channel_id]
        if not message.pinned:
            return False
        message.pinned = False
        channel.pins = [(mid, at) for mid, at in channel.pins if mid != message.id]
        return True

    def pinned(self, channel: Channel, limit: int = 50, before: str | None = None) -> tuple[list[tuple[Message, str]], bool]:
        """Pins for ``GET /channels/{id}/messages/pins``: newest pin first, and whether more remain.

        *before* is an ISO timestamp: only pins made before it (discord.py pages with the
        last item's ``pinned_at``).
        """
        limit = max(1, min(50, limit))
        cutoff = _parse_time(before) if before else None
        found: list[tuple[Message, str]] = []
        for mid, pinned_at in reversed(channel.pins):
            if cutoff is not None and _parse_time(pinned_at) >= cutoff:
                continue
            message = next((m for m in self.messages[channel.id] if m.id == mid), None)
            if message is not None:
                found.append((message, pinned_at))
        return found[:limit], len(found) > limit



def _parse_time(value: str) -> dt.datetime:
    """An ISO timestamp; naive ones (discord.py sends a naive ``before`` as given) are UTC."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)
