"""The sandbox's application commands, with a real discord.py ``app_commands`` client:
``tree.sync()`` registers, an injected slash command reaches the callback in Discord's DM
and guild shapes, and every kind of answer (message, ephemeral, deferred then edited,
follow-up) is recorded for the test to read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands

from framework.sandbox import GENERAL_CHANNEL_ID, GUILD_ID, HUMAN_USER_ID, SandboxServer

try:
    from tests.sandbox_helpers import redirect_discord
except ImportError:
    from sandbox_helpers import redirect_discord  # type: ignore[no-redef]


class _Bot:
    def __init__(self) -> None:
        self.client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self.client)
        self.seen: list[tuple[str, bool]] = []
        group = app_commands.Group(name="settings", description="Bot settings")

        @group.command(description="Pick the model")
        async def model(interaction: discord.Interaction, name: str) -> None:
            self.seen.append((name, interaction.guild is None))
            await interaction.response.send_message(f"Model set to {name}", ephemeral=True)
            await interaction.followup.send("Saved.", ephemeral=True)

        @group.command(description="Show status")
        async def status(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.edit_original_response(content="All good")

        @group.command(description="List models")
        async def models(interaction: discord.Interaction, provider: str | None = None) -> None:
            await interaction.response.send_message(f"models of {provider or 'every provider'}")

        self.tree.add_command(group)

        async def setup_hook() -> None:
            await self.tree.sync()

        self.client.setup_hook = setup_hook  # type: ignore[method-assign]


@pytest.fixture
async def world() -> AsyncIterator[tuple[SandboxServer, _Bot, str]]:
    server = SandboxServer()
    bot_id = server.add_bot("token-alpha", "alpha")
    await server.start()
    bot = _Bot()
    with redirect_discord(server.api_base, server.gateway_url):
        import asyncio

        task = asyncio.create_task(bot.client.start("token-alpha"))
        await server.wait_for(lambda e: e["type"] == "identify")
        await bot.client.wait_until_ready()
        try:
            yield server, bot, bot_id
        finally:
            await bot.client.close()
            await asyncio.gather(task, return_exceptions=True)
    await server.stop()


async def _answers(server: SandboxServer, iid: str, count: int) -> list[dict]:
    for _ in range(count):
        await server.wait_for(lambda e: e["type"] == "interaction_response" and e["interaction_id"] == iid
                              and len(server.interaction_responses(iid)) >= count)
    return server.interaction_responses(iid)


async def test_sync_registers_the_commands_with_ids(world: tuple[SandboxServer, _Bot, str]) -> None:
    server, _bot, bot_id = world
    [settings] = server.registered_commands(bot_id)
    assert settings["name"] == "settings" and settings["application_id"] == bot_id and settings["id"]
    assert [o["name"] for o in settings["options"]] == ["model", "status", "models"]
    assert ("PUT", f"/applications/{bot_id}/commands", {}) in server.requests


async def test_a_dm_command_is_answered_ephemerally_with_a_followup(world: tuple[SandboxServer, _Bot, str]) -> None:
    server, bot, _bot_id = world
    iid = await server.inject_interaction(HUMAN_USER_ID, "settings model", {"name": "claude-sonnet-4-6"})
    answers = await _answers(server, iid, 2)
    assert bot.seen == [("claude-sonnet-4-6", True)]
    assert [(a["kind"], a["response_type"], a["content"], a["ephemeral"]) for a in answers] == [
        ("callback", 4, "Model set to claude-sonnet-4-6", True), ("followup", None, "Saved.", True)]


async def test_a_guild_command_deferred_then_edited(world: tuple[SandboxServer, _Bot, str]) -> None:
    server, _bot, _bot_id = world
    iid = await server.inject_interaction(HUMAN_USER_ID, "settings status", {}, GENERAL_CHANNEL_ID)
    answers = await _answers(server, iid, 2)
    assert [(a["kind"], a["response_type"], a["content"], a["ephemeral"]) for a in answers] == [
        ("callback", 5, None, True), ("edit", None, "All good", True)]
    public = await server.inject_interaction(HUMAN_USER_ID, "settings models", {}, GENERAL_CHANNEL_ID)
    [answer] = await _answers(server, public, 1)
    assert answer["content"] == "models of every provider" and answer["ephemeral"] is False


async def test_unregistered_commands_and_options_are_refused(world: tuple[SandboxServer, _Bot, str]) -> None:
    server, _bot, _bot_id = world
    with pytest.raises(LookupError):
        await server.inject_interaction(HUMAN_USER_ID, "weather", {})
    with pytest.raises(LookupError):
        await server.inject_interaction(HUMAN_USER_ID, "settings colour", {})
    with pytest.raises(ValueError):
        await server.inject_interaction(HUMAN_USER_ID, "settings model", {})  # name is required
    assert server.unknown_routes == []


SETTINGS_COMMAND = {
    "name": "settings", "type": 1, "options": [
        {"name": "model", "type": 1, "options": [{"type": 3, "name": "name", "required": True}]},
        {"name": "status", "type": 1, "options": []},
        {"name": "models", "type": 1, "options": [{"type": 3, "name": "provider", "required": False}]},
    ],
}


def test_typed_slash_lines_are_parsed_against_the_registered_command() -> None:
    from framework.sandbox.slash import parse_slash, usage

    assert parse_slash("/settings model claude-sonnet-4-6", SETTINGS_COMMAND) == (
        "settings model", {"name": "claude-sonnet-4-6"})
    assert parse_slash("/settings model name:groq/llama-3.1-8b-instant", SETTINGS_COMMAND) == (
        "settings model", {"name": "groq/llama-3.1-8b-instant"})
    assert parse_slash("/settings models", SETTINGS_COMMAND) == ("settings models", {})
    assert parse_slash("/settings models groq", SETTINGS_COMMAND) == ("settings models", {"provider": "groq"})
    assert usage(SETTINGS_COMMAND) == "/settings model <name> | /settings status | /settings models [provider]"
    for bad in ("/settings", "/settings colour red", "/settings model", "/settings status now"):
        with pytest.raises(ValueError):
            parse_slash(bad, SETTINGS_COMMAND)


async def test_the_terminal_chat_runs_slash_commands() -> None:
    import asyncio
    import io

    from rich.console import Console

    from framework.sandbox import SandboxThread
    from framework.sandbox.chat import run_terminal_chat

    with SandboxThread(bots=[("token-alpha", "alpha")]) as sandbox, \
            redirect_discord(sandbox.api_base, sandbox.gateway_url):
        bot = _Bot()
        task = asyncio.create_task(bot.client.start("token-alpha"))
        await asyncio.to_thread(sandbox.wait_for_event, lambda e: e["type"] == "identify")
        await bot.client.wait_until_ready()
        script = iter(["/settings status", "/dm alpha /settings model claude-opus-4-6", "/settings colour red",
                       "/quit"])

        def answered(count: int) -> None:
            sandbox.wait_for_event(lambda e: e["type"] == "interaction_response"
                                   and sum(1 for x in sandbox.server.events
                                           if x["type"] == "interaction_response") >= count)

        def input_fn() -> str:
            line = next(script)
            if line.startswith("/dm"):
                answered(2)  # the status: deferred, then edited
            elif line == "/quit":
                answered(4)  # the model: the answer and its follow-up
            return line

        out = io.StringIO()
        await asyncio.to_thread(
            run_terminal_chat, sandbox, GENERAL_CHANNEL_ID, HUMAN_USER_ID, Console(file=out, width=200), input_fn
        )
        await bot.client.close()
        await asyncio.gather(task, return_exceptions=True)
    text = out.getvalue()
    assert "/settings status: alpha is thinking…" in text
    assert "/settings status alpha (only you): All good" in text
    assert "/settings model alpha (only you): Model set to claude-opus-4-6" in text
    assert "/settings model alpha (only you): Saved." in text
    assert "usage: /settings model <name> | /settings status | /settings models [provider]" in text
    assert bot.seen == [("claude-opus-4-6", True)]  # in the DM


async def test_the_routes_refuse_as_discord_does() -> None:
    import aiohttp

    server = SandboxServer()
    bot_id = server.add_bot("token-alpha", "alpha")
    other_id = server.add_bot("token-beta", "beta")
    await server.start()
    base = server.api_base
    auth = {"Authorization": "Bot token-alpha"}
    try:
        async with aiohttp.ClientSession() as http:
            async def call(method: str, path: str, body: object = None, headers: dict | None = None) -> tuple[int, object]:
                async with http.request(method, base + path, json=body, headers=headers) as r:
                    return r.status, (await r.json() if r.status != 204 else None)

            dm_only = {"name": "ping", "description": "p", "type": 1, "contexts": [1]}
            guild_only = {"name": "pong", "description": "p", "type": 1, "dm_permission": False}
            status, body = await call("PUT", f"/applications/{bot_id}/commands", [dm_only, guild_only], auth)
            assert status == 200 and [c["name"] for c in body] == ["ping", "pong"]  # type: ignore[union-attr]
            first_ids = [c["id"] for c in body]  # type: ignore[union-attr]
            _, again = await call("PUT", f"/applications/{bot_id}/commands", [dm_only, guild_only], auth)
            assert [c["id"] for c in again] == first_ids  # type: ignore[union-attr]  # a re-sync keeps the ids
            assert (await call("GET", f"/applications/{bot_id}/commands", None, auth))[1] == again
            assert (await call("PUT", f"/applications/{other_id}/commands", [], auth))[0] == 403  # not its app
            assert (await call("PUT", f"/applications/{bot_id}/commands", [dm_only], {}))[0] == 401
            assert (await call("PUT", f"/applications/{bot_id}/guilds/{GUILD_ID}/commands", [], auth))[0] == 200

            # Where the registration does not offer a command, it cannot be run.
            dm = server.dm_channel_id(HUMAN_USER_ID, bot_id)
            with pytest.raises(PermissionError):
                server.interactions.create(bot_id, HUMAN_USER_ID, "ping", {}, GENERAL_CHANNEL_ID)
            with pytest.raises(PermissionError):
                server.interactions.create(bot_id, HUMAN_USER_ID, "pong", {}, dm)
            with pytest.raises(LookupError, match="no gateway session"):  # nobody to deliver it to
                await server.inject_interaction(HUMAN_USER_ID, "ping", {}, bot_user_id=bot_id)
            assert server.interactions.by_id == {}
            iid = server.interactions.create(bot_id, HUMAN_USER_ID, "ping", {}, dm)[0].id
            token = server.interactions.by_id[iid].token

            # Responses need no bot token; the interaction token is what counts.
            assert (await call("POST", f"/webhooks/{bot_id}/{token}", {"content": "early"}))[0] == 404  # not acknowledged
            assert (await call("POST", f"/interactions/{iid}/wrong-token/callback", {"type": 4}))[1] == {
                "message": "Unknown interaction", "code": 10062}
            assert (await call("POST", f"/interactions/{iid}/{token}/callback", {"type": 7}))[0] == 400
            status, reply = await call("POST", f"/interactions/{iid}/{token}/callback",
                                       {"type": 4, "data": {"content": "pong", "flags": 64}})
            assert status == 200 and reply["interaction"]["response_message_ephemeral"] is True  # type: ignore[index]
            assert reply["resource"]["message"]["content"] == "pong"  # type: ignore[index]
            assert (await call("POST", f"/interactions/{iid}/{token}/callback", {"type": 4}))[1]["code"] == 40060  # type: ignore[index]
            assert (await call("PATCH", f"/webhooks/{bot_id}/{token}/messages/@original", {"content": "pong!"}))[0] == 200
            assert (await call("GET", f"/webhooks/{bot_id}/{token}/messages/@original"))[1]["content"] == "pong!"  # type: ignore[index]
            assert (await call("POST", f"/webhooks/{other_id}/{token}", {"content": "x"}))[0] == 404  # another app
            assert (await call("DELETE", f"/webhooks/{bot_id}/{token}/messages/@original"))[0] == 204
            assert [(r["kind"], r["content"]) for r in server.interaction_responses(iid)] == [
                ("callback", "pong"), ("edit", "pong!"), ("delete", None)]
    finally:
        await server.stop()
