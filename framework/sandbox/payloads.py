"""Turn sandbox state into Discord API v10 payloads.

discord.py reads many fields without a default (a missing one raises ``KeyError``), so
these build complete objects shaped like the real API's, with every id a string.
"""

from __future__ import annotations

import re
from typing import Any

from .models import DM_CHANNEL, PRIVATE_THREAD, Attachment, Channel, Guild, Message, Role, User
from .perms import EVERYONE_PERMISSIONS
from .state import SandboxState

# EVERYONE_PERMISSIONS moved to .perms; imported here for everyone_role and for old importers.

#: A thread auto-archives after a day of inactivity (Discord's default), in minutes.
AUTO_ARCHIVE_MINUTES = 1440


def user_payload(user: User) -> dict[str, Any]:
    """A user object."""
    data: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
    }
    if user.bot:
        data["bot"] = True
    return data


def member_payload(state: SandboxState, guild: Guild, user_id: str, *, with_user: bool = True) -> dict[str, Any]:
    """A guild member object; ``with_user=False`` gives the partial form messages carry."""
    data: dict[str, Any] = {
        "roles": list(guild.member_roles.get(user_id, [])),
        "joined_at": guild.members[user_id],
        "nick": None,
        "avatar": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user_payload(state.users[user_id])
    return data


def channel_payload(state: SandboxState, channel: Channel, viewer_id: str | None = None) -> dict[str, Any]:
    """A channel object; a DM lists the recipients other than *viewer_id*."""
    if channel.type == DM_CHANNEL:
        others = [uid for uid in channel.recipients if uid != viewer_id] or channel.recipients[:1]
        return {
            "id": channel.id,
            "type": DM_CHANNEL,
            "last_message_id": channel.last_message_id,
            "flags": 0,
            "recipients": [user_payload(state.users[uid]) for uid in others],
        }
    if channel.is_thread:
        return thread_payload(channel, viewer_id)
    return {
        "id": channel.id,
        "type": channel.type,
        "guild_id": channel.guild_id,
        "name": channel.name,
        "position": channel.position,
        "topic": channel.topic,
        "nsfw": False,
        "last_message_id": channel.last_message_id,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "permission_overwrites": [
            {"id": o.id, "type": o.type, "allow": str(o.allow), "deny": str(o.deny)} for o in channel.overwrites
        ],
        "flags": 0,
    }


def thread_payload(thread: Channel, viewer_id: str | None = None) -> dict[str, Any]:
    """A thread channel (type 11 or 12) with its metadata; ``member`` when *viewer_id* joined it."""
    data: dict[str, Any] = {
        "id": thread.id,
        "type": thread.type,
        "guild_id": thread.guild_id,
        "parent_id": thread.parent_id,
        "owner_id": thread.owner_id,
        "name": thread.name,
        "last_message_id": thread.last_message_id,
        "rate_limit_per_user": 0,
        "message_count": thread.message_count,
        "total_message_sent": thread.message_count,
        "member_count": min(50, len(thread.thread_members)),  # Discord stops counting at 50
        "flags": 0,
        "thread_metadata": {
            "archived": thread.archived,
            "auto_archive_duration": AUTO_ARCHIVE_MINUTES,
            "archive_timestamp": thread.created_at,
            "locked": False,
            "create_timestamp": thread.created_at,
            **({"invitable": True} if thread.type == PRIVATE_THREAD else {}),
        },
    }
    if viewer_id is not None and viewer_id in thread.thread_members:
        data["member"] = thread_member_payload(thread, viewer_id)
    return data


def thread_member_payload(thread: Channel, user_id: str) -> dict[str, Any]:
    """A thread member object (join time approximated by the thread's creation)."""
    return {"id": thread.id, "user_id": user_id, "join_timestamp": thread.created_at, "flags": 0}


def everyone_role(guild: Guild) -> dict[str, Any]:
    """The @everyone role, whose id is the guild id."""
    return role_payload(Role(id=guild.id, name="@everyone", permissions=EVERYONE_PERMISSIONS, position=0))


def role_payload(role: Role) -> dict[str, Any]:
    """A role object."""
    return {
        "id": role.id,
        "name": role.name,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": role.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def guild_payload(state: SandboxState, guild: Guild, member_ids: list[str], viewer_id: str) -> dict[str, Any]:
    """A full GUILD_CREATE guild for *viewer_id*, listing the members in *member_ids*.

    ``member_count`` is always the true count: when *member_ids* is shorter, discord.py
    considers the guild unchunked and asks for the rest with op 8.
    """
    return {
        "id": guild.id,
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": guild.owner_id,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": guild.channel_ids[0] if guild.channel_ids else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "features": [],
        "roles": [everyone_role(guild), *(role_payload(r) for r in guild.roles.values())],
        "emojis": [],
        "stickers": [],
        "joined_at": guild.members.get(viewer_id),
        "large": False,
        "unavailable": False,
        "member_count": len(guild.members),
        "members": [member_payload(state, guild, uid) for uid in member_ids],
        "channels": [channel_payload(state, state.channels[cid]) for cid in guild.channel_ids],
        "threads": [thread_payload(t, viewer_id) for t in state.active_threads(guild, viewer_id)],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def attachment_payload(base_url: str, channel_id: str, attachment: Attachment) -> dict[str, Any]:
    """An attachment object whose url is served by the sandbox itself."""
    url = f"{base_url}/attachments/{channel_id}/{attachment.id}/{attachment.filename}"
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "size": len(attachment.data),
        "url": url,
        "proxy_url": url,
        "content_type": attachment.content_type,
    }


_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def _mentioned_roles(state: SandboxState, message: Message) -> list[str]:
    """Ids of the guild's roles written as ``<@&id>`` in the message, as Discord lists them."""
    channel = state.channels.get(message.channel_id)
    guild = state.guilds.get(channel.guild_id) if channel is not None and channel.guild_id else None
    if guild is None:
        return []
    return list(dict.fromkeys(rid for rid in _ROLE_MENTION.findall(message.content) if rid in guild.roles))


def message_payload(
    state: SandboxState,
    message: Message,
    base_url: str,
    *,
    viewer_id: str | None = None,
    redact: bool = False,
    gateway: bool = False,
    nested: bool = False,
) -> dict[str, Any]:
    """A message object as *viewer_id* sees it.

    ``redact`` blanks what the MESSAGE_CONTENT intent guards. ``gateway`` adds the
    ``guild_id`` and partial ``member`` that dispatches carry and REST responses do not.
    ``nested`` builds a ``referenced_message``, which never carries its own reference.
    """
    author = state.users[message.author_id]
    data: dict[str, Any] = {
        "id": message.id,
        "channel_id": message.channel_id,
        "type": message.type,
        "author": user_payload(author),
        "content": "" if redact else message.content,
        "timestamp": message.timestamp,
        "edited_timestamp": message.edited_timestamp,
        "tts": message.tts,
        "mention_everyone": "@everyone" in message.content or "@here" in message.content,
        "mentions": [user_payload(state.users[uid]) for uid in message.mention_ids],
        "mention_roles": _mentioned_roles(state, message),
        "attachments": [] if redact else [
            attachment_payload(base_url, message.channel_id, a) for a in message.attachments
        ],
        "embeds": [] if redact else list(message.embeds),
        "components": [],
        "pinned": message.pinned,
        "flags": 0,
    }
    if message.reactions:
        data["reactions"] = [
            {
                "emoji": reaction.emoji,
                "count": len(reaction.users),
                "count_details": {"burst": 0, "normal": len(reaction.users)},
                "me": viewer_id in reaction.users,
                "me_burst": False,
                "burst_colors": [],
            }
            for reaction in message.reactions.values()
            if reaction.users
        ]
    if message.nonce is not None:
        data["nonce"] = message.nonce
    if gateway and message.guild_id is not None:
        data["guild_id"] = message.guild_id
        guild = state.guilds[message.guild_id]
        if message.author_id in guild.members:
            data["member"] = member_payload(state, guild, message.author_id, with_user=False)
    if message.reference_id is not None:
        data["message_reference"] = {
            "type": 0,
            "message_id": message.reference_id,
            "channel_id": message.channel_id,
            **({"guild_id": message.guild_id} if message.guild_id else {}),
        }
        if not nested:
            referenced = state.find_message(message.channel_id, message.reference_id)
            # null means "deleted since"; discord.py turns it into a DeletedReferencedMessage.
            data["referenced_message"] = (
                None
                if referenced is None
                else message_payload(state, referenced, base_url, viewer_id=viewer_id, redact=redact, nested=True)
            )
    return data
