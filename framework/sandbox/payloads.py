"""Turn sandbox state into Discord API v10 payloads.

discord.py reads many fields without a default (see the reference doc, section 7), so
these build complete objects shaped like the real API's, with every id a string.
"""

from __future__ import annotations

from typing import Any

from .state import DM_CHANNEL, Attachment, Channel, Guild, Message, SandboxState, User

# @everyone may read, write, react, attach and embed everywhere: enough for any bot the
# framework runs, and permission checks in discord.py (e.g. Member.guild_permissions) pass.
EVERYONE_PERMISSIONS = (
    (1 << 0)  # CREATE_INSTANT_INVITE
    | (1 << 6)  # ADD_REACTIONS
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 14)  # EMBED_LINKS
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
    | (1 << 18)  # USE_EXTERNAL_EMOJIS
    | (1 << 26)  # CHANGE_NICKNAME
    | (1 << 35)  # CREATE_PUBLIC_THREADS
    | (1 << 38)  # SEND_MESSAGES_IN_THREADS
)


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
        "roles": [],
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
        "permission_overwrites": [],
        "flags": 0,
    }


def everyone_role(guild: Guild) -> dict[str, Any]:
    """The @everyone role, whose id is the guild id."""
    return {
        "id": guild.id,
        "name": "@everyone",
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": 0,
        "permissions": str(EVERYONE_PERMISSIONS),
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
        "roles": [everyone_role(guild)],
        "emojis": [],
        "stickers": [],
        "joined_at": guild.members.get(viewer_id),
        "large": False,
        "unavailable": False,
        "member_count": len(guild.members),
        "members": [member_payload(state, guild, uid) for uid in member_ids],
        "channels": [channel_payload(state, state.channels[cid]) for cid in guild.channel_ids],
        "threads": [],
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
        "mention_roles": [],
        "attachments": [] if redact else [
            attachment_payload(base_url, message.channel_id, a) for a in message.attachments
        ],
        "embeds": [] if redact else list(message.embeds),
        "components": [],
        "pinned": False,
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
