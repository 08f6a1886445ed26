"""Slash commands (discord.py ``app_commands``): ``/settings model|status|models``.

Only the Discord side lives here: the command tree, the access check and showing the
answer. What a command does is the handler's (``framework.engines.settings_commands``),
and who may run it is the access policy's, both given in. Every answer is ephemeral: a
model choice and key states are for the person who asked, not the channel.

The commands are synced when the client logs in (``setup_hook``), before the gateway
opens; a sync Discord refuses is logged and the bot runs on without its commands.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import discord
from discord import app_commands

__all__ = ["SettingsHandler", "install_settings_commands"]

_log = logging.getLogger(__name__)

_MAX = 2000  # Discord's message length


class SettingsHandler(Protocol):
    async def model(self, name: str) -> str: ...
    async def status(self) -> str: ...
    async def models(self, provider: str | None = None) -> str: ...


#: (user id, in a DM?) -> None when allowed, else the refusal to show.
CommandCheck = Callable[[str, bool], str | None]


def _clip(text: str) -> str:
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"


async def _answer(interaction: discord.Interaction, produce: Callable[[], Awaitable[str]]) -> None:
    # Deferred first: a model list may take seconds, and Discord wants an answer within three.
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        text = await produce()
    except Exception:
        _log.exception("/settings failed")
        text = "Something went wrong; the bot's log has the details."
    await interaction.edit_original_response(content=_clip(text))


def install_settings_commands(
    client: discord.Client, handler: SettingsHandler, allows: CommandCheck
) -> app_commands.CommandTree:
    """Add ``/settings`` to *client*'s command tree and sync it when the client logs in."""
    tree = app_commands.CommandTree(client)
    settings = app_commands.Group(name="settings", description="The bot's settings: model, keys, models")

    @settings.command(name="model", description="Pick the model that answers")
    @app_commands.describe(name="e.g. claude-sonnet-4-6, groq/llama-3.1-8b-instant, openai/gpt-4o; default to reset")
    async def model(interaction: discord.Interaction, name: str) -> None:
        await _answer(interaction, lambda: handler.model(name))

    @settings.command(name="status", description="The current model and every provider's keys")
    async def status(interaction: discord.Interaction) -> None:
        await _answer(interaction, handler.status)

    @settings.command(name="models", description="The models each provider offers")
    @app_commands.describe(provider="anthropic, groq or an OpenAI-compatible provider's name")
    async def models(interaction: discord.Interaction, provider: str | None = None) -> None:
        await _answer(interaction, lambda: handler.models(provider))

    tree.add_command(settings)

    async def interaction_check(interaction: discord.Interaction) -> bool:
        refusal = allows(str(interaction.user.id), interaction.guild is None)
        if refusal is None:
            return True
        _log.info("/%s refused for %s: %s", interaction.command.qualified_name if interaction.command else "?",
                  interaction.user.id, refusal)
        await interaction.response.send_message(refusal, ephemeral=True)
        return False

    tree.interaction_check = interaction_check  # type: ignore[method-assign]

    @tree.error
    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        _log.error("slash command failed: %s", error, exc_info=error)
        if not interaction.response.is_done():
            await interaction.response.send_message("That command failed; the bot's log has the details.",
                                                    ephemeral=True)

    previous = client.setup_hook

    async def setup_hook() -> None:
        await previous()
        try:
            synced = await tree.sync()
            _log.info("slash commands synced: %s", ", ".join(f"/{c.name}" for c in synced) or "none")
        except discord.HTTPException as exc:
            _log.error("slash commands not synced (Discord answered %s): they will not appear", exc.status)

    client.setup_hook = setup_hook  # type: ignore[method-assign]
    return tree
