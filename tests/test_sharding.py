"""Sharding: ``discord.shards`` and its environment overrides, and two shard processes'
worth of the real client against one sandbox, each answering only in its own guild."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from framework.config.shards import ShardPlan, ShardsConfig, shard_plan
from framework.discord.adapter import BotClient, ShardedBotClient, make_client
from framework.domain import IncomingMessage
from framework.errors import ConfigError
from framework.sandbox import (
    DANA_USER_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    LOBBY_CHANNEL_ID,
    OTHER_GUILD_ID,
    SandboxServer,
)

try:  # tests/ as a package (rootdir on sys.path) or as plain directory (prepend import mode)
    from tests.sandbox_helpers import redirect_discord
except ImportError:  # pragma: no cover
    from sandbox_helpers import redirect_discord  # type: ignore[no-redef]


def _shard_of(guild_id: str, count: int) -> int:
    return (int(guild_id) >> 22) % count


# -- config -------------------------------------------------------------------------


def test_unsharded_by_default() -> None:
    assert shard_plan(ShardsConfig(), {}) is None


def test_config_count_and_ids() -> None:
    assert shard_plan(ShardsConfig(count=4, ids=[1, 3]), {}) == ShardPlan(4, (1, 3))
    assert shard_plan(ShardsConfig(count=2), {}) == ShardPlan(2, None)
    assert shard_plan(ShardsConfig(count="auto"), {}) == ShardPlan(None, None)


def test_environment_overrides_config() -> None:
    env = {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "2, 3"}
    assert shard_plan(ShardsConfig(count=2, ids=[0]), env) == ShardPlan(4, (2, 3))
    assert shard_plan(ShardsConfig(), {"DISCORD_SHARD_COUNT": "auto"}) == ShardPlan(None, None)


@pytest.mark.parametrize(
    ("config", "env", "names"),
    [
        (ShardsConfig(count=2), {"DISCORD_SHARD_IDS": "2"}, ["DISCORD_SHARD_IDS", "shard 2", "0 to 1"]),
        (ShardsConfig(), {"DISCORD_SHARD_COUNT": "zero"}, ["DISCORD_SHARD_COUNT", "'zero'"]),
        (ShardsConfig(), {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "0;1"}, ["DISCORD_SHARD_IDS", "'0;1'"]),
        (ShardsConfig(), {"DISCORD_SHARD_IDS": "0"}, ["DISCORD_SHARD_IDS", "no shard count"]),
        (ShardsConfig(count=2, ids=[1]), {"DISCORD_SHARD_COUNT": "1"}, ["discord.shards.ids", "shard 1"]),
        (ShardsConfig(), {"DISCORD_SHARD_COUNT": "auto", "DISCORD_SHARD_IDS": "0"}, ["numeric DISCORD_SHARD_COUNT"]),
    ],
)
def test_bad_settings_are_one_line_config_errors(config: ShardsConfig, env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        shard_plan(config, env)
    message = str(caught.value)
    assert "\n" not in message
    for name in names:
        assert name in message


def test_config_file_ids_out_of_range_are_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="shard 2 is out of range"):
        ShardsConfig(count=2, ids=[0, 2])
    with pytest.raises(ValidationError, match="needs a numeric"):
        ShardsConfig(ids=[0])


def test_unsharded_client_is_the_plain_one() -> None:
    async def nothing(*args: object) -> None:
        return None

    handlers = dict(on_incoming=nothing, on_edit=nothing, on_delete=nothing, on_connected=lambda _: None)
    assert type(make_client(**handlers)) is BotClient  # type: ignore[arg-type]


# -- two shard processes' worth of the bot against one sandbox ----------------------


async def test_each_shard_answers_only_in_its_own_guild() -> None:
    assert _shard_of(GUILD_ID, 2) != _shard_of(OTHER_GUILD_ID, 2)  # the seed's guilds fall apart
    server = SandboxServer()
    server.add_bot("token-alpha", "alpha")
    await server.start()
    seen: dict[int, list[IncomingMessage]] = {0: [], 1: []}
    arrived = {0: asyncio.Event(), 1: asyncio.Event()}
    ready = {0: asyncio.Event(), 1: asyncio.Event()}
    wanted: dict[int, str] = {}

    def recorder(shard: int):  # type: ignore[no-untyped-def]
        async def on_incoming(message: IncomingMessage) -> None:
            seen[shard].append(message)
            if message.message_id == wanted.get(shard):
                arrived[shard].set()
        return on_incoming

    async def nothing(*args: object) -> None:
        return None

    with redirect_discord(server.api_base, server.gateway_url):
        clients = {
            shard: make_client(
                sharded=True, shard_count=2, shard_ids=[shard],
                on_incoming=recorder(shard), on_edit=nothing, on_delete=nothing,
                on_connected=lambda _id, shard=shard: ready[shard].set(), guild_ready_timeout=0.05,
            )
            for shard in (0, 1)
        }
        tasks = [asyncio.create_task(c.start("token-alpha")) for c in clients.values()]
        try:
            await asyncio.wait_for(asyncio.gather(ready[0].wait(), ready[1].wait()), 10)
            assert all(isinstance(c, ShardedBotClient) for c in clients.values())
            owner = {GUILD_ID: _shard_of(GUILD_ID, 2), OTHER_GUILD_ID: _shard_of(OTHER_GUILD_ID, 2)}
            assert {str(g.id) for g in clients[owner[GUILD_ID]].guilds} == {GUILD_ID}
            assert {str(g.id) for g in clients[owner[OTHER_GUILD_ID]].guilds} == {OTHER_GUILD_ID}
            # Each socket delivers in order: once the last message of each guild has
            # arrived at its shard, anything misrouted before it would have arrived too.
            posted = []
            for channel in (GENERAL_CHANNEL_ID, LOBBY_CHANNEL_ID, GENERAL_CHANNEL_ID, LOBBY_CHANNEL_ID):
                posted.append(await server.inject_message(channel, DANA_USER_ID, f"hello in {channel}"))
            wanted[owner[GUILD_ID]] = posted[2]["id"]
            wanted[owner[OTHER_GUILD_ID]] = posted[3]["id"]
            for shard in (0, 1):  # it may have arrived before it was wanted
                if any(m.message_id == wanted[shard] for m in seen[shard]):
                    arrived[shard].set()
            await asyncio.wait_for(asyncio.gather(arrived[0].wait(), arrived[1].wait()), 10)
        finally:
            for client in clients.values():
                await client.close()
            await asyncio.gather(*tasks, return_exceptions=True)
    await server.stop()
    general, lobby = owner[GUILD_ID], owner[OTHER_GUILD_ID]
    assert [m.message_id for m in seen[general]] == [posted[0]["id"], posted[2]["id"]]
    assert [m.message_id for m in seen[lobby]] == [posted[1]["id"], posted[3]["id"]]
    assert {m.guild_id for m in seen[general]} == {GUILD_ID}
    assert {m.guild_id for m in seen[lobby]} == {OTHER_GUILD_ID}


async def test_start_up_refuses_a_shard_outside_the_count(tmp_path: Path) -> None:
    from framework.config import load_bot_config
    from framework.paths import BotPaths
    from framework.runtime.app import BotRuntime
    from tests.test_access import copy_cortana

    copy_cortana(tmp_path)
    paths = BotPaths(tmp_path, "cortana")
    environ = {
        "CORTANA_BOT_TOKEN": "sandbox.cortana.shard-token-0123456789", "ANTHROPIC_API_KEY": "k",
        "MASTER_USER_ID": "123456789012345678", "DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,2",
    }
    runtime = BotRuntime(load_bot_config(paths.config, tmp_path), paths, environ)
    with pytest.raises(ConfigError, match="DISCORD_SHARD_IDS: shard 2 is out of range for 2 shard"):
        await runtime.run()  # the bot process's main turns this into exit 78


async def test_the_sandbox_recommends_a_shard_count() -> None:
    import aiohttp

    server = SandboxServer()
    server.add_bot("token-alpha", "alpha")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.api_base}/gateway/bot", headers={"Authorization": "Bot token-alpha"}) as got:
                body = await got.json()
    finally:
        await server.stop()
    assert body["shards"] == 1  # two guilds: far below Discord's 1000 guilds per shard
    assert body["url"] == server.gateway_url
