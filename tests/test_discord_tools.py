"""The Discord query tools, answered by a real discord.py client connected to the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import discord
import pytest

from framework.discord.tools import DiscordQueryTools
from framework.domain import ConversationScope, ToolError
from framework.sandbox import (
    DANA_USER_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    HUMAN_USER_ID,
    LOBBY_CHANNEL_ID,
    MODERATORS_ROLE_ID,
    OTHER_GUILD_ID,
    RANDOM_CHANNEL_ID,
    VIEW_CHANNEL,
    SandboxServer,
)

try:  # tests/ as a package (rootdir on sys.path) or as plain directory (prepend import mode)
    from tests.sandbox_helpers import BotHarness, redirect_discord
except ImportError:
    from sandbox_helpers import BotHarness, redirect_discord  # type: ignore[no-redef]

ALPHA, BETA = "token-alpha", "token-beta"
STRANGER_ID = "1310000000000009999"  # a snowflake no one in the sandbox has
LONG_TEXT = "long " * 200


@dataclass
class World:
    """The sandbox, a connected bot and the ids the tests ask about."""

    server: SandboxServer
    bot: BotHarness
    tools: DiscordQueryTools
    staff: str  # visible to dana (Moderators) and the bot, hidden from you
    no_bots: str  # visible to you, hidden from the bot
    thread: str  # public thread in #general with two messages
    private_thread: str  # dana's private thread in #general
    pins: list[str]  # pinned message ids in #general, oldest pin first

    async def call(self, name: str, args: Any = None, *, user: str = HUMAN_USER_ID,
                   guild: str | None = GUILD_ID, channel: str = GENERAL_CHANNEL_ID, **options: Any) -> Any:
        """Run tool *name* for *user* and return the parsed JSON."""
        tools = DiscordQueryTools(self.bot.client, **options) if options else self.tools
        (tool,) = [t for t in tools.tools() if t.name == name]
        scope = ConversationScope(bot_id="alpha", guild_id=guild, channel_id=channel, user_id=user)
        text = await tool.run({} if args is None else args, scope)
        data = json.loads(text)
        assert text == json.dumps(data, ensure_ascii=False, separators=(",", ":"))  # compact
        return data

    async def refused(self, name: str, args: Any = None, **kwargs: Any) -> str:
        """The ToolError message of a call that must be refused."""
        with pytest.raises(ToolError) as exc:
            await self.call(name, args, **kwargs)
        message = str(exc.value)
        assert "\n" not in message and message
        return message


@pytest.fixture
async def world() -> AsyncIterator[World]:
    server = SandboxServer()
    bot_id = server.add_bot(ALPHA, "alpha")
    server.add_bot(BETA, "beta")
    await server.start()
    # The world is shaped before the bot connects, so GUILD_CREATE carries all of it.
    server.set_member_roles(bot_id, [MODERATORS_ROLE_ID])  # manages threads: sees private ones
    staff = server.add_channel("staff", topic="Moderators only")
    server.set_channel_overwrite(staff, GUILD_ID, deny=VIEW_CHANNEL)
    server.set_channel_overwrite(staff, MODERATORS_ROLE_ID, allow=VIEW_CHANNEL)
    no_bots = server.add_channel("no-bots", topic="Humans only")
    server.set_channel_overwrite(no_bots, bot_id, deny=VIEW_CHANNEL)
    await server.inject_message(staff, DANA_USER_ID, "staff secret")
    server.pin_message(staff, server.messages(staff)[-1]["id"])

    first = await server.inject_message(GENERAL_CHANNEL_ID, DANA_USER_ID, "Welcome! Read the rules.")
    long = await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, LONG_TEXT)
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "not pinned")
    server.pin_message(GENERAL_CHANNEL_ID, first["id"])
    server.pin_message(GENERAL_CHANNEL_ID, long["id"])

    thread = server.create_thread(GENERAL_CHANNEL_ID, "plans", HUMAN_USER_ID)
    await server.inject_message(thread, HUMAN_USER_ID, "first in thread")
    await server.inject_message(thread, DANA_USER_ID, "second in thread")
    server.create_thread(RANDOM_CHANNEL_ID, "elsewhere", HUMAN_USER_ID)
    private = server.create_thread(GENERAL_CHANNEL_ID, "mod talk", DANA_USER_ID, private=True)

    with redirect_discord(server.api_base, server.gateway_url):
        bot = await BotHarness(ALPHA).start()
        try:
            yield World(server, bot, DiscordQueryTools(bot.client), staff, no_bots, thread, private,
                        [first["id"], long["id"]])
        finally:
            await bot.close()
    await server.stop()
    assert bot.errors == []
    assert server.unknown_routes == []


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# -- what the tools answer -----------------------------------------------------------


async def test_tool_definitions(world: World) -> None:
    tools = world.tools.tools()
    assert [t.name for t in tools] == ["get_server_members", "get_active_threads", "get_pinned_messages",
                                       "get_channel_info"]
    for tool in tools:
        anthropic, function = tool.anthropic_param(), tool.function_schema()
        assert set(anthropic) == {"name", "description", "input_schema"}
        assert set(function) == {"name", "description", "parameters"}
        assert anthropic["input_schema"] == function["parameters"]
        assert anthropic["input_schema"]["type"] == "object" and anthropic["input_schema"]["required"] == []
        assert "server_id" in anthropic["input_schema"]["properties"]


async def test_members_of_the_conversations_server(world: World) -> None:
    result = await world.call("get_server_members")
    assert result["server"] == {"id": GUILD_ID, "name": "Sandbox"}
    assert result["member_count"] == 4 and result["truncated"] is False
    by_name = {m["name"]: m for m in result["members"]}
    assert set(by_name) == {"you", "dana", "alpha", "beta"}
    assert by_name["you"] == {"id": HUMAN_USER_ID, "name": "you", "display_name": "You",
                              "roles": ["Regulars"], "bot": False}
    assert by_name["dana"]["roles"] == ["Moderators"]
    assert by_name["alpha"]["bot"] is True and by_name["alpha"]["roles"] == ["Moderators"]
    assert by_name["beta"]["roles"] == []
    # An explicit server_id naming this server is fine; query filters by name.
    same = await world.call("get_server_members", {"server_id": GUILD_ID, "query": "DAN"})
    assert [m["name"] for m in same["members"]] == ["dana"] and same["matched"] == 1


async def test_member_list_is_capped(world: World) -> None:
    result = await world.call("get_server_members", member_limit=2)
    assert len(result["members"]) == 2 and result["truncated"] is True and result["matched"] == 4


async def test_pinned_messages_newest_pin_first(world: World) -> None:
    result = await world.call("get_pinned_messages", content_limit=50)
    assert result["channel"] == {"id": GENERAL_CHANNEL_ID, "name": "general"}
    assert ids(result["pins"]) == list(reversed(world.pins))
    long, first = result["pins"]
    assert long["author"] == "you" and long["content"] == LONG_TEXT[:50] + "…"
    assert first == {"id": world.pins[0], "author": "dana", "content": "Welcome! Read the rules.",
                     "created_at": first["created_at"]}
    assert first["created_at"].startswith("20") and first["created_at"].endswith("+00:00")
    assert ("GET", f"/channels/{GENERAL_CHANNEL_ID}/messages/pins", {"limit": "50"}) in world.server.requests


async def test_active_threads_of_a_channel(world: World) -> None:
    result = await world.call("get_active_threads", {"channel_id": GENERAL_CHANNEL_ID})
    assert result["channel"] == {"id": GENERAL_CHANNEL_ID, "name": "general"}
    # Not #random's thread, and not dana's private thread, which you are not in.
    (thread,) = result["threads"]
    assert thread["id"] == world.thread and thread["name"] == "plans" and thread["message_count"] == 2
    assert thread["created_at"] is not None
    # dana started the private thread, so she sees it; asked from inside a thread, the siblings show.
    for_dana = await world.call("get_active_threads", user=DANA_USER_ID, channel=world.thread)
    assert sorted(t["name"] for t in for_dana["threads"]) == ["mod talk", "plans"]
    assert ("GET", f"/guilds/{GUILD_ID}/threads/active", {}) in world.server.requests


async def test_channel_info_for_channels_and_threads(world: World) -> None:
    general = await world.call("get_channel_info")  # defaults to the conversation's channel
    assert general == {"id": GENERAL_CHANNEL_ID, "name": "general", "type": "text",
                       "topic": "Talk to the bots here", "created_at": general["created_at"]}
    thread = await world.call("get_channel_info", {"channel_id": f"<#{world.thread}>"})
    assert thread["type"] == "public_thread" and thread["parent_id"] == GENERAL_CHANNEL_ID
    assert thread["message_count"] == 2 and thread["archived"] is False and thread["topic"] is None
    staff = await world.call("get_channel_info", {"channel_id": world.staff}, user=DANA_USER_ID)
    assert staff["name"] == "staff" and staff["topic"] == "Moderators only"


# -- what they refuse ----------------------------------------------------------------


async def test_another_server_is_refused_though_the_bot_is_in_it(world: World) -> None:
    assert world.bot.client.get_guild(int(OTHER_GUILD_ID)) is not None
    for name in ("get_server_members", "get_channel_info"):
        reason = await world.refused(name, {"server_id": OTHER_GUILD_ID})
        assert f"server {OTHER_GUILD_ID} is not this conversation's server" in reason
    reason = await world.refused("get_pinned_messages", {"channel_id": LOBBY_CHANNEL_ID})
    assert reason == f"there is no channel {LOBBY_CHANNEL_ID} in this server"
    # From a conversation in the other server, you are not a member there.
    reason = await world.refused("get_server_members", guild=OTHER_GUILD_ID, channel=LOBBY_CHANNEL_ID)
    assert reason == "the asking user is not a member of this server"


async def test_hidden_channel_is_refused_to_who_cannot_see_it(world: World) -> None:
    for name in ("get_pinned_messages", "get_channel_info", "get_active_threads"):
        reason = await world.refused(name, {"channel_id": world.staff})
        assert reason == f"the asking user cannot view channel {world.staff}"
    for_dana = await world.call("get_pinned_messages", {"channel_id": world.staff}, user=DANA_USER_ID)
    assert [p["content"] for p in for_dana["pins"]] == ["staff secret"]
    # The private thread: dana's, not yours.
    reason = await world.refused("get_channel_info", {"channel_id": world.private_thread})
    assert reason == f"the asking user is not in private thread {world.private_thread}"


async def test_channel_the_bot_cannot_see_is_refused(world: World) -> None:
    reason = await world.refused("get_pinned_messages", {"channel_id": world.no_bots})
    assert reason == f"the bot cannot view channel {world.no_bots}"
    assert await world.refused("get_channel_info", {"channel_id": world.no_bots}) == reason


async def test_direct_messages_get_no_server_data(world: World) -> None:
    dm = world.server.dm_channel_id(HUMAN_USER_ID, world.bot.user_id)
    for name in ("get_server_members", "get_active_threads", "get_pinned_messages", "get_channel_info"):
        # Even naming the server (and a channel of it) explicitly gets nothing from a DM.
        args = {"server_id": GUILD_ID} if name == "get_server_members" else {"channel_id": GENERAL_CHANNEL_ID}
        for given in ({}, args):
            reason = await world.refused(name, given, guild=None, channel=dm)
            assert reason == "this is a direct message: no Discord server data is available here"


async def test_unknown_ids_and_malformed_arguments(world: World) -> None:
    assert await world.refused("get_channel_info", {"channel_id": "123"}) == "there is no channel 123 in this server"
    reason = await world.refused("get_pinned_messages", {"channel_id": "general"})
    assert reason == "channel_id must be a Discord id (digits), not 'general'"
    assert "must be a Discord id" in await world.refused("get_channel_info", {"channel_id": 12.5})
    assert "must be a Discord id" in await world.refused("get_channel_info", {"channel_id": True})
    assert "must be a Discord id" in await world.refused("get_server_members", {"server_id": "-1"})
    assert "must be a Discord id" in await world.refused("get_channel_info", {"channel_id": "9" * 30})
    assert "unknown: guild" in await world.refused("get_server_members", {"guild": GUILD_ID})
    assert await world.refused("get_server_members", {"query": 5}) == "query must be text"
    assert "expects an object" in await world.refused("get_channel_info", ["not", "a", "dict"])
    reason = await world.refused("get_server_members", user=STRANGER_ID)
    assert reason == "the asking user is not a member of this server"


# -- live changes and an uncached asker ----------------------------------------------


async def test_access_follows_live_role_and_overwrite_changes(world: World) -> None:
    world.server.set_member_roles(HUMAN_USER_ID, [MODERATORS_ROLE_ID])
    await world.bot.wait("member_update", lambda _before, after: after.id == int(HUMAN_USER_ID))
    staff = await world.call("get_channel_info", {"channel_id": world.staff})
    assert staff["name"] == "staff"

    world.server.set_channel_overwrite(RANDOM_CHANNEL_ID, HUMAN_USER_ID, deny=VIEW_CHANNEL)
    await world.bot.wait("guild_channel_update", lambda _before, after: after.id == int(RANDOM_CHANNEL_ID))
    reason = await world.refused("get_channel_info", {"channel_id": RANDOM_CHANNEL_ID})
    assert reason == f"the asking user cannot view channel {RANDOM_CHANNEL_ID}"


async def test_uncached_asker_is_fetched(world: World) -> None:
    intents = discord.Intents.default()  # no members intent: only the bot itself is cached
    beta = await BotHarness(BETA, intents=intents).start()
    try:
        guild = beta.client.get_guild(int(GUILD_ID))
        assert guild is not None and guild.get_member(int(HUMAN_USER_ID)) is None
        tools = {t.name: t for t in DiscordQueryTools(beta.client).tools()}
        scope = ConversationScope(bot_id="beta", guild_id=GUILD_ID, channel_id=GENERAL_CHANNEL_ID,
                                  user_id=HUMAN_USER_ID)
        info = json.loads(await tools["get_channel_info"].run({}, scope))
        assert info["name"] == "general"
        assert ("GET", f"/guilds/{GUILD_ID}/members/{HUMAN_USER_ID}", {}) in world.server.requests
        members = json.loads(await tools["get_server_members"].run({}, scope))
        assert members["note"].startswith("the bot lacks the members intent")
        with pytest.raises(ToolError, match="cannot view channel"):
            await tools["get_channel_info"].run({"channel_id": world.staff}, scope)
    finally:
        await beta.close()
    assert beta.errors == []
