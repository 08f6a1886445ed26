"""Typed schema of ``discord.shards``: Discord's sharding, and which shards this process runs.

Unset (the default) is one unsharded session. ``count`` is how many shards the bot's
guilds are split into (``auto`` asks Discord for its recommendation); ``ids`` the shards
this process owns (default all of them). ``DISCORD_SHARD_COUNT`` and ``DISCORD_SHARD_IDS``
(comma-separated) override both, so each replica of one deployment can take its share.
A guild belongs to shard ``(guild_id >> 22) % count``; direct messages go to shard 0.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import ConfigError

__all__ = ["COUNT_ENV", "IDS_ENV", "ShardPlan", "ShardsConfig", "shard_plan"]

COUNT_ENV = "DISCORD_SHARD_COUNT"
IDS_ENV = "DISCORD_SHARD_IDS"


class ShardsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: Annotated[int, Field(ge=1)] | Literal["auto"] | None = None
    """How many shards the bot's guilds are split into; ``auto`` takes Discord's recommendation."""
    ids: list[Annotated[int, Field(ge=0)]] | None = None
    """The shards this process runs; default all of them (needs a numeric ``count``)."""

    @model_validator(mode="after")
    def _ids_in_range(self) -> ShardsConfig:
        problem = _problem(self.count, self.ids, "discord.shards.count", "discord.shards.ids")
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
