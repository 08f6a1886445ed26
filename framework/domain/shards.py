"""Which guilds and direct messages one bot process answers for when the bot is sharded.

Discord sends a guild's events to shard ``(guild_id >> 22) % count`` and direct messages to
shard 0. A process that runs some of the shards shares the bot's database with the others,
so work that starts from stored data (follow-ups, conversation starters, the backfill of
direct messages, reminders) must be done by the process that owns the place it goes to,
or two processes would do it twice and one of them in a guild it cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EVERY_SHARD", "ShardScope"]


@dataclass(frozen=True)
class ShardScope:
    """The shards a process runs: ``count`` None or ``ids`` None means every shard."""

    count: int | None = None
    ids: tuple[int, ...] | None = None

    @property
    def everything(self) -> bool:
        return self.count is None or self.ids is None

    @property
    def owns_direct_messages(self) -> bool:
        """Direct messages arrive on shard 0; only its process answers or starts them."""
        return self.everything or 0 in (self.ids or ())

    def owns_guild(self, guild_id: str | int | None) -> bool:
        """Whether this process runs the shard of ``guild_id`` (None: a direct message)."""
        if self.count is None or self.ids is None:
            return True
        if guild_id is None or guild_id == "":
            return 0 in self.ids
        try:
            snowflake = int(guild_id)
        except ValueError:
            return False
        return (snowflake >> 22) % self.count in self.ids


EVERY_SHARD = ShardScope()
