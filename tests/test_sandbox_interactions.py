"""The sandbox's application commands, with a real discord.py ``app_commands`` client:
``tree.sync()`` registers, an injected slash command reaches the callback in Discord's DM
and guild shapes, and every kind of answer (message, ephemeral, deferred then edited,
follow-up) is recorded for the test to read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands

from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxServer

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
