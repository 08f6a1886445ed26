"""The sandbox's seeded world: two guilds, their channels and roles, two humans.

``Sandbox`` (:data:`GUILD_ID`) has #general and #random, the humans ``you`` and
``dana`` and the roles Regulars (you) and Moderators (dana, who also owns it).
``Elsewhere`` (:data:`OTHER_GUILD_ID`) has #lobby and only ``dana``: ``you`` is not in
it, so "another server" can be tried. Every bot account joins both.

Ids are fixed snowflake-looking strings so tests, logs and a bot's memory refer to the
same people and channels across sandbox restarts. Bot accounts get ids derived from
their username (see :func:`bot_user_id`), so they are stable too.
"""

from __future__ import annotations

import time
import zlib

from .perms import MANAGE_MESSAGES, MANAGE_THREADS, PIN_MESSAGES

#: Discord's epoch (2015-01-01T00:00:00Z) in milliseconds; snowflake = (ms - epoch) << 22 | ...
DISCORD_EPOCH_MS = 1_420_070_400_000

GUILD_ID = "1310000000000000000"
GUILD_NAME = "Sandbox"
GENERAL_CHANNEL_ID = "1310000000000000001"
RANDOM_CHANNEL_ID = "1310000000000000002"
HUMAN_USER_ID = "1310000000000000010"
HUMAN_USERNAME = "you"
DANA_USER_ID = "1310000000000000011"
DANA_USERNAME = "dana"
MODERATORS_ROLE_ID = "1310000000000000020"
REGULARS_ROLE_ID = "1310000000000000021"

OTHER_GUILD_ID = "1320000000000000000"
OTHER_GUILD_NAME = "Elsewhere"
LOBBY_CHANNEL_ID = "1320000000000000001"

#: dana owns both guilds; ``you`` is an ordinary member, so channel overwrites bind it.
GUILD_OWNER_ID = DANA_USER_ID

#: Joined-at stamp used for every seeded member.
SEED_TIMESTAMP = "2024-12-01T00:00:00.000000+00:00"

#: Text channels of the seeded guild: (id, name, topic), in position order.
SEED_CHANNELS: tuple[tuple[str, str, str], ...] = (
    (GENERAL_CHANNEL_ID, "general", "Talk to the bots here"),
    (RANDOM_CHANNEL_ID, "random", "Anything goes"),
)

#: Human members of the seeded guild: (id, username, display name).
SEED_HUMANS: tuple[tuple[str, str, str], ...] = (
    (HUMAN_USER_ID, HUMAN_USERNAME, "You"),
    (DANA_USER_ID, DANA_USERNAME, "Dana"),
)

#: Roles of the seeded guild besides @everyone: (id, name, permissions), lowest first.
SEED_ROLES: tuple[tuple[str, str, int], ...] = (
    (REGULARS_ROLE_ID, "Regulars", 0),
    (MODERATORS_ROLE_ID, "Moderators", MANAGE_MESSAGES | PIN_MESSAGES | MANAGE_THREADS),
)

#: Role ids of the seeded guild's humans.
SEED_MEMBER_ROLES: dict[str, tuple[str, ...]] = {
    HUMAN_USER_ID: (REGULARS_ROLE_ID,),
    DANA_USER_ID: (MODERATORS_ROLE_ID,),
}

#: The second guild's text channels: (id, name, topic).
OTHER_CHANNELS: tuple[tuple[str, str, str], ...] = ((LOBBY_CHANNEL_ID, "lobby", "Another server entirely"),)

#: Seeded humans in the second guild (``you`` is deliberately not one of them).
OTHER_HUMANS: tuple[str, ...] = (DANA_USER_ID,)

_BOT_ID_BASE = 1_310_000_000_001_000_000
_USER_ID_BASE = 1_310_000_000_002_000_000


def bot_user_id(username: str, taken: set[str]) -> str:
    """A stable id for a bot named *username*, probing past ids already in *taken*.

    Derived from a CRC of the name so the same bot keeps its id across sandbox runs.
    """
    n = zlib.crc32(username.encode("utf-8")) % 1_000_000
    while str(_BOT_ID_BASE + n) in taken:
        n = (n + 1) % 1_000_000
    return str(_BOT_ID_BASE + n)


def human_user_id(username: str, taken: set[str]) -> str:
    """A stable id for an extra human named *username* (same scheme as bots, other range)."""
    n = zlib.crc32(username.encode("utf-8")) % 1_000_000
    while str(_USER_ID_BASE + n) in taken:
        n = (n + 1) % 1_000_000
    return str(_USER_ID_BASE + n)


class SnowflakeGenerator:
    """Time-based, strictly increasing snowflakes for messages, DM channels and attachments.

    Real snowflakes carry their creation time, which discord.py reads as
    ``Message.created_at``; strictly increasing ids keep history cursors correct even
    when several messages are created within one millisecond.
    """

    def __init__(self) -> None:
        self._last = 0
        self._backdated = 0

    def next(self) -> str:
        """Return the next snowflake as a string."""
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(now, self._last + 1)
        return str(self._last)

    def at(self, unix_ms: int) -> str:
        """A snowflake for something created at ``unix_ms`` (a backdated message), unique.

        Its low bits count from the upper half of the per-millisecond range, which
        :meth:`next` would only reach after two million ids in one millisecond.
        """
        self._backdated += 1
        return str(((unix_ms - DISCORD_EPOCH_MS) << 22) | (0x200000 + self._backdated % 0x200000))
