"""The processes a bot runs as, and what the keeper of each tells its runtime.

A bot is one process (``alpha``) unless ``discord.shards.processes`` splits it: then it
runs as ``alpha@0`` .. ``alpha@N-1``, each one keeper and one runtime, each a block of the
shards. The config models are duck-typed here so ``status`` can ask without pydantic;
how many processes a config asks for is among its cached facts
(:mod:`framework.config.facts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..shard_split import process_shard_ids
from ..errors import ConfigError
from ..paths import process_name, split_process_name

__all__ = ["SHARE_VARS", "process_names", "shard_process_env", "started_process_names"]

# Variables that say which share a process runs (BOT_SHARD_PROCESS, DISCORD_SHARD_COUNT,
# DISCORD_SHARD_IDS, BOT_HEALTH_PORT; spelled out here so ``status`` need not import the
# config package): the keeper sets them itself for a shard process and removes inherited
# ones otherwise, so a stray value in the shell that ran `bot_manager spawn` can never
# split or shift a bot.
SHARE_VARS = ("BOT_SHARD_PROCESS", "DISCORD_SHARD_COUNT", "DISCORD_SHARD_IDS", "BOT_HEALTH_PORT")


def process_names(bot_id: str, processes: int) -> list[str]:
    """``["alpha"]`` for one process, ``["alpha@0", "alpha@1"]`` for two shard processes."""
    if processes <= 1:
        return [bot_id]
    return [process_name(bot_id, k) for k in range(processes)]


def shard_process_env(config: Any, shard_process: int | None) -> dict[str, str]:
    """The environment a keeper gives its runtime: the share of shard process ``shard_process``
    (none for a bot run as one process). A :class:`ConfigError` when the config does not
    split the bot into that process, e.g. after ``processes`` was lowered."""
    shards = config.discord.shards
    if shard_process is None:
        if shards.processes > 1:
            raise ConfigError(
                f"discord.shards.processes is {shards.processes}: {config.bot_id} runs as "
                f"{', '.join(process_names(config.bot_id, shards.processes))}, not as one process"
            )
        return {}
    if not shard_process < shards.processes:
        raise ConfigError(
            f"{process_name(config.bot_id, shard_process)} is not a shard process of {config.bot_id}: "
            f"discord.shards.processes is {shards.processes}"
        )
    ids = process_shard_ids(shards.count, shards.processes, shard_process)
    process_var, count_var, ids_var, port_var = SHARE_VARS
    env = {process_var: str(shard_process), count_var: str(shards.count), ids_var: ",".join(map(str, ids))}
    if config.health.port is not None:
        env[port_var] = str(config.health.port + shard_process)
    return env


def started_process_names(run_dir: Path, bot_id: str) -> list[str]:
    """Every process of ``bot_id`` that has a pidfile, whatever the config says now: after
    ``processes`` changed, ``stop`` still reaches the processes started under the old value."""
    names = {p.name[: -len(".pid")] for p in run_dir.glob(f"{bot_id}@*.pid")}
    if (run_dir / f"{bot_id}.pid").exists():
        names.add(bot_id)
    return sorted(n for n in names if (split_process_name(n) or ("", None))[0] == bot_id)
