"""How a bot's shards are split between its shard processes (``discord.shards.processes``).

One function, free of the config models, so ``bot_manager status``, the keeper and the bot
process all split the same way without paying for pydantic.
"""

from __future__ import annotations

__all__ = ["process_shard_ids"]


def process_shard_ids(count: int, processes: int, index: int) -> tuple[int, ...]:
    """The shards of process ``index`` when ``count`` shards are split into ``processes``
    processes: a contiguous block, the blocks as even as they can be (5 in 2: 0-1, 2-4)."""
    return tuple(range(index * count // processes, (index + 1) * count // processes))
