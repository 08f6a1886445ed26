"""Permission bits and Discord's permission arithmetic for the sandbox.

The server computes a member's channel permissions the way Discord documents it
(base from @everyone and the member's roles, owner and ADMINISTRATOR see everything,
then @everyone, role and member overwrites in that order), so what the sandbox hides
from a user or a bot matches what discord.py's ``permissions_for`` computes from the
same payloads.
"""

from __future__ import annotations

from .models import OVERWRITE_MEMBER, OVERWRITE_ROLE, Channel, Guild

CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
PIN_MESSAGES = 1 << 51

#: Every permission bit Discord defines today (bits 0..52).
ALL_PERMISSIONS = (1 << 53) - 1

# @everyone may read, write, react, attach and embed everywhere: enough for any bot the
# framework runs, and permission checks in discord.py (e.g. Member.guild_permissions) pass.
EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)


def guild_permissions(guild: Guild, user_id: str) -> int:
    """Server-wide permissions of *user_id* (0 for a non-member)."""
    if user_id not in guild.members:
        return 0
    if user_id == guild.owner_id:
        return ALL_PERMISSIONS
    perms = EVERYONE_PERMISSIONS
    for role_id in guild.member_roles.get(user_id, ()):
        role = guild.roles.get(role_id)
        if role is not None:
            perms |= role.permissions
    return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms


def channel_permissions(guild: Guild, channel: Channel, user_id: str) -> int:
    """Permissions of *user_id* in *channel* (pass a thread's parent for a thread)."""
    perms = guild_permissions(guild, user_id)
    if perms == ALL_PERMISSIONS:
        return perms  # owner and administrators ignore overwrites
    member_roles = set(guild.member_roles.get(user_id, ()))
    everyone = [o for o in channel.overwrites if o.type == OVERWRITE_ROLE and o.id == guild.id]
    roles = [o for o in channel.overwrites if o.type == OVERWRITE_ROLE and o.id in member_roles]
    member = [o for o in channel.overwrites if o.type == OVERWRITE_MEMBER and o.id == user_id]
    for layer in (everyone, roles, member):
        # Within a layer, denies and allows of all matching overwrites combine first.
        deny = allow = 0
        for overwrite in layer:
            deny |= overwrite.deny
            allow |= overwrite.allow
        perms = (perms & ~deny) | allow
    # Without VIEW_CHANNEL a channel does not exist for the user, whatever else is allowed.
    return perms if perms & VIEW_CHANNEL else 0
