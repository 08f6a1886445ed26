"""Where things live in one bot's memory tree, for servers and for DMs.

On disk the tree is ``memories/<bot_id>/``; the model sees it as ``/memories``::

    servers/<guild_id>/culture.md            server-wide norms
    servers/<guild_id>/channels/<channel>.md per-channel notes
    servers/<guild_id>/users/<user_id>.md    one person's profile in that server
    servers/<guild_id>/followups.json        follow-ups (framework.memory.followup_schema)
    dms/<user_id>/profile.md                 the person's profile in a DM
    dms/<user_id>/followups.json             follow-ups made in the DM

A *folder* (``"servers/<guild_id>"`` or ``"dms/<user_id>"``) is the unit a conversation owns
(:func:`framework.memory.paths.scope_prefix`). Ids become path names, so they are checked here
(digits, letters, ``_`` and ``-``) before any path is built from them.
"""

from __future__ import annotations

import re

from .paths import Parts, virtual_path

__all__ = [
    "SERVERS",
    "DMS",
    "CULTURE_FILE",
    "FOLLOWUPS_FILE",
    "FOLLOWUPS_ARCHIVE_FILE",
    "DM_PROFILE_FILE",
    "check_id",
    "folder_parts",
    "folder_name",
    "parse_folder",
    "profile_parts",
    "culture_parts",
    "channel_parts",
    "followups_parts",
    "virtual_path",
]

SERVERS = "servers"
DMS = "dms"
CULTURE_FILE = "culture.md"
FOLLOWUPS_FILE = "followups.json"
FOLLOWUPS_ARCHIVE_FILE = "followups.archive.json"
DM_PROFILE_FILE = "profile.md"

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_id(value: object, what: str) -> str:
    """``value`` if it is usable as a path name (a Discord id), else ValueError naming ``what``."""
    if not isinstance(value, str) or not _SAFE_ID.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a usable id (letters, digits, '_' or '-', at most 64)")
    return value


def folder_parts(guild_id: str | None, user_id: str | None) -> Parts:
    """``("servers", guild_id)`` in a server, ``("dms", user_id)`` in a DM (``guild_id`` None)."""
    if guild_id is not None:
        return (SERVERS, check_id(guild_id, "guild id"))
    return (DMS, check_id(user_id, "user id"))


def folder_name(parts: Parts) -> str:
    """``("servers", "1")`` -> ``"servers/1"``."""
    return "/".join(parts)


def parse_folder(folder: str) -> Parts:
    """``"servers/<id>"`` or ``"dms/<id>"`` (a leading ``/memories/`` is accepted) as parts."""
    text = folder.strip()
    for prefix in ("/memories/", "/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    pieces = tuple(p for p in text.split("/") if p)
    if len(pieces) != 2 or pieces[0] not in (SERVERS, DMS):
        raise ValueError(f"memory folder {folder!r} is not 'servers/<guild id>' or 'dms/<user id>'")
    check_id(pieces[1], "folder id")
    return pieces


def profile_parts(guild_id: str | None, user_id: str) -> Parts:
    """The profile file of ``user_id``: ``servers/<g>/users/<u>.md`` or ``dms/<u>/profile.md``."""
    check_id(user_id, "user id")
    if guild_id is None:
        return (DMS, user_id, DM_PROFILE_FILE)
    return (SERVERS, check_id(guild_id, "guild id"), "users", f"{user_id}.md")


def culture_parts(guild_id: str) -> Parts:
    return (SERVERS, check_id(guild_id, "guild id"), CULTURE_FILE)


def channel_parts(guild_id: str, channel_id: str) -> Parts:
    return (SERVERS, check_id(guild_id, "guild id"), "channels", f"{check_id(channel_id, 'channel id')}.md")


def followups_parts(folder: Parts) -> Parts:
    return (*folder, FOLLOWUPS_FILE)
