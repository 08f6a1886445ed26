"""Test-facing controls for guild structure: channels, overwrites, roles, threads, pins.

A mixin of :class:`~framework.sandbox.server.SandboxServer`. The methods are synchronous
(they only store and enqueue dispatches), so tests may shape the world before the
server starts or a bot connects, and connected bots receive the matching events.
"""

from __future__ import annotations

from .guild_actions import GuildActions
from .seed import GUILD_ID
from .state import Channel, Message, SandboxState


class StructureControls:
    """Shape the guilds the way an administrator or a human moderator would."""

    state: SandboxState
    guild_actions: GuildActions

    # -- id checks (shared with SandboxServer's inject_* methods) ------------------------

    def _channel(self, channel_id: str | int) -> Channel:
        channel = self.state.channels.get(str(channel_id))
        if channel is None:
            raise LookupError(f"unknown channel {channel_id}")
        return channel

    def _message(self, channel_id: str | int, message_id: str | int) -> Message:
        message = self.state.find_message(str(channel_id), str(message_id))
        if message is None:
            raise LookupError(f"unknown message {message_id} in channel {channel_id}")
        return message

    def _user(self, user_id: str | int) -> str:
        if str(user_id) not in self.state.users:
            raise LookupError(f"unknown user {user_id}")
        return str(user_id)

    # -- structure ----------------------------------------------------------------------

    def add_channel(
        self, name: str, *, guild_id: str | int = GUILD_ID, topic: str | None = None, channel_id: str | None = None
    ) -> str:
        """Create a text channel (CHANNEL_CREATE to the guild's bots); returns its id."""
        return self.guild_actions.add_channel(str(guild_id), name, topic, channel_id).id

    def set_channel_overwrite(
        self, channel_id: str | int, target_id: str | int, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Set the overwrite of a role, @everyone (the guild id) or a member on a channel.

        *allow* and *deny* are permission bits (see :mod:`framework.sandbox.perms`, e.g.
        ``deny=VIEW_CHANNEL`` hides the channel); both zero removes the overwrite.
        Dispatches CHANNEL_UPDATE.
        """
        self.guild_actions.set_overwrite(self._channel(channel_id), str(target_id), allow, deny)

    def add_role(self, name: str, *, guild_id: str | int = GUILD_ID, permissions: int = 0) -> str:
        """Create a role (GUILD_ROLE_CREATE); returns its id."""
        return self.guild_actions.add_role(str(guild_id), name, permissions).id

    def set_member_roles(
        self, user_id: str | int, role_ids: list[str], *, guild_id: str | int = GUILD_ID
    ) -> None:
        """Replace a member's roles (GUILD_MEMBER_UPDATE)."""
        self.guild_actions.set_member_roles(str(guild_id), self._user(user_id), [str(r) for r in role_ids])

    def create_thread(self, channel_id: str | int, name: str, owner_id: str | int, *, private: bool = False) -> str:
        """Open a thread in a text channel, started by *owner_id* (THREAD_CREATE); returns its id.

        Post in it with :meth:`inject_message` on the thread id.
        """
        parent = self._channel(channel_id)
        owner = self._user(owner_id)
        if not self.state.can_access(owner, parent):
            raise PermissionError(f"user {owner} cannot see channel {parent.id}")
        return self.guild_actions.create_thread(parent, name, owner, private=private).id

    def pin_message(self, channel_id: str | int, message_id: str | int, *, by_user: str | int | None = None) -> bool:
        """Pin a message (CHANNEL_PINS_UPDATE); False if it was pinned already.

        *by_user* is only reported in the observer event (default: the guild owner).
        """
        return self._set_pinned(channel_id, message_id, True, by_user)

    def unpin_message(self, channel_id: str | int, message_id: str | int, *, by_user: str | int | None = None) -> bool:
        """Unpin a message (CHANNEL_PINS_UPDATE); False if it was not pinned."""
        return self._set_pinned(channel_id, message_id, False, by_user)

    def _set_pinned(self, channel_id: str | int, message_id: str | int, pinned: bool, by_user: str | int | None) -> bool:
        message = self._message(channel_id, message_id)
        if by_user is None:
            guild = self.state.guilds.get(message.guild_id or "")
            by = guild.owner_id if guild is not None else message.author_id
        else:
            by = self._user(by_user)
        return self.guild_actions.set_pinned(message, pinned, by)

    def pinned_ids(self, channel_id: str | int) -> list[str]:
        """Ids of the messages pinned in a channel, newest pin first."""
        return [mid for mid, _at in reversed(self._channel(channel_id).pins)]
