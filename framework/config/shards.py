"""Typed schema of ``discord.shards``: Discord's sharding, and which shards this process runs.

Unset (the default) is one unsharded session. ``count`` is how many shards the bot's
guilds are split into (``auto`` asks Discord for its recommendation); ``ids`` the shards
this process owns (default all of them). ``DISCORD_SHARD_COUNT`` and ``DISCORD_SHARD_IDS``
(comma-separated) override both, so each replica of one deployment can take its share.
A guild belongs to shard ``(guild_id >> 22) % count``; direct messages go to shard 0.

``processes`` splits the shards into that many shard processes of one bot: process ``k``
runs a contiguous block of shard ids (:func:`process_shard_ids`), the same split whoever
starts it (``bot_manager spawn``, one systemd unit or one StatefulSet pod per process).
Which process this is comes from ``BOT_SHARD_PROCESS`` (``bot_manager run BOT@k`` sets it);
a bot with several processes refuses to start without it, since a process that ran every
shard beside the others would answer every message twice.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..shard_split import process_shard_ids
from ..errors import ConfigError

__all__ = [
    "COUNT_ENV", "IDS_ENV", "PROCESS_ENV", "ShardPlan", "ShardsConfig", "process_shard_ids", "shard_plan",
    "shard_process_index",
]

COUNT_ENV = "DISCORD_SHARD_COUNT"
IDS_ENV = "DISCORD_SHARD_IDS"
PROCESS_ENV = "BOT_SHARD_PROCESS"


class ShardsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: Annotated[int, Field(ge=1)] | Literal["auto"] | None = None
    """How many shards the bot's guilds are split into; ``auto`` takes Discord's recommendation."""
    ids: list[Annotated[int, Field(ge=0)]] | None = None
    """The shards this process runs; default all of them (needs a numeric ``count``)."""
    processes: Annotated[int, Field(ge=1, le=64)] = 1
    """How many shard processes run the bot, each a block of the shards (needs a numeric ``count``)."""

    @model_validator(mode="after")
    def _ids_in_range(self) -> ShardsConfig:
        problem = _problem(self.count, self.ids, "discord.shards.count", "discord.shards.ids")
        problem = problem or _processes_problem(self.count, self.ids, self.processes)
        if problem is not None:
            raise ValueError(problem)
        return self


@dataclass(frozen=True)
class ShardPlan:
    """What discord.py is given: ``count`` None asks Discord; ``ids`` None runs every shard."""

    count: int | None
    ids: tuple[int, ...] | None


def _problem(count: int | str | None, ids: list[int] | None, count_name: str, ids_name: str) -> str | None:
    if ids is None:
        return None
    if not isinstance(count, int):
        return f"{ids_name} needs a numeric {count_name} (the shards' total), got {count!r}"
    if not ids:
        return f"{ids_name} is empty; list the shards this process runs (0 to {count - 1}) or leave it out"
    wrong = [i for i in ids if not 0 <= i < count]
    if wrong:
        return f"{ids_name}: shard {wrong[0]} is out of range for {count} shard(s); use 0 to {count - 1}"
    if len(set(ids)) != len(ids):
        return f"{ids_name} lists a shard twice ({ids}); list each shard once"
    return None


def _processes_problem(count: int | str | None, ids: list[int] | None, processes: int) -> str | None:
    if processes == 1:
        return None
    if not isinstance(count, int):
        # Every process must split the same total the same way, so it cannot wait for Discord's figure.
        return f"discord.shards.processes ({processes}) needs a numeric discord.shards.count, got {count!r}"
    if processes > count:
        return f"discord.shards.processes ({processes}) is more than discord.shards.count ({count}); a process runs at least one shard"
    if ids is not None:
        return "discord.shards.ids and discord.shards.processes both say which shards run where; keep one of them"
    return None


def shard_process_index(shards: ShardsConfig, environ: Mapping[str, str]) -> int | None:
    """Which of the bot's shard processes this is (``BOT_SHARD_PROCESS``); None for a bot run as
    one process. A :class:`ConfigError` when it is missing, malformed or out of range."""
    value = (environ.get(PROCESS_ENV) or "").strip()
    if shards.processes == 1:
        if value not in ("", "0"):
            raise ConfigError(f"{PROCESS_ENV}={value!r} but discord.shards.processes is 1; unset {PROCESS_ENV}")
        return None
    last = shards.processes - 1
    if not value:
        raise ConfigError(
            f"discord.shards.processes is {shards.processes}: say which one this is with {PROCESS_ENV} (0 to {last}), "
            f"e.g. `bot_manager run BOT@0`"
        )
    if not value.isdigit() or int(value) > last:
        raise ConfigError(f"{PROCESS_ENV}={value!r} is not a shard process of this bot; use 0 to {last}")
    return int(value)


def _env_count(value: str) -> int | Literal["auto"]:
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{COUNT_ENV}={value!r} is not a shard count; set a whole number from 1, or auto")
    return int(text)


def _env_ids(value: str) -> list[int]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise ConfigError(f"{IDS_ENV}={value!r} is not a list of shard ids; set e.g. {IDS_ENV}=0,1")
    return [int(p) for p in parts]


def shard_plan(shards: ShardsConfig, environ: Mapping[str, str]) -> ShardPlan | None:
    """The shards this process runs (None: unsharded), the environment overriding the
    config; a :class:`ConfigError` naming the setting when they do not fit together."""
    index = shard_process_index(shards, environ)
    if index is not None:
        return _process_plan(shards, environ, index)
    count: int | str | None = shards.count
    ids = shards.ids
    count_name, ids_name = "discord.shards.count", "discord.shards.ids"
    if (environ.get(COUNT_ENV) or "").strip():
        count, count_name = _env_count(environ[COUNT_ENV]), COUNT_ENV
    if (environ.get(IDS_ENV) or "").strip():
        ids, ids_name = _env_ids(environ[IDS_ENV]), IDS_ENV
    if count is None:
        if ids is not None:
            raise ConfigError(f"{ids_name} is set but no shard count is; set {COUNT_ENV} or discord.shards.count")
        return None
    problem = _problem(count, ids, count_name, ids_name)
    if problem is not None:
        raise ConfigError(problem)
    return ShardPlan(count if isinstance(count, int) else None, tuple(ids) if ids is not None else None)


def _process_plan(shards: ShardsConfig, environ: Mapping[str, str], index: int) -> ShardPlan:
    """Shard process ``index``: its block of the configured count. The count comes from the
    config alone; environment values that say otherwise are refused rather than half-obeyed."""
    if not isinstance(shards.count, int):  # the config's validator refuses this already
        raise ConfigError(_processes_problem(shards.count, None, shards.processes) or "discord.shards.count is not a number")
    ids = process_shard_ids(shards.count, shards.processes, index)
    env_count = (environ.get(COUNT_ENV) or "").strip()
    if env_count and env_count != str(shards.count):
        raise ConfigError(
            f"{COUNT_ENV}={env_count!r} differs from discord.shards.count ({shards.count}) of a bot split into "
            f"shard processes; unset {COUNT_ENV} or change the config"
        )
    env_ids = (environ.get(IDS_ENV) or "").strip()
    if env_ids and tuple(_env_ids(env_ids)) != ids:
        raise ConfigError(
            f"{IDS_ENV}={env_ids!r} is not the share of shard process {index} ({','.join(map(str, ids))}); "
            f"unset {IDS_ENV} and let {PROCESS_ENV} choose"
        )
    return ShardPlan(shards.count, ids)
