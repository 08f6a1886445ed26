"""``/settings`` end to end in one process: the real bot (``build_bot``) with its real
discord.py client against the sandbox, Claude being the scripted Anthropic stub.

Access (``master_dm``): a command in a channel is refused, a non-master's command in a DM
is unauthorized, both ephemeral. The master's model change is answered, used by the next
request (the stub records the request's ``model``) and still in force after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from framework.clock import SystemClock
from framework.config import load_bot_config, load_settings
from framework.engines.settings_commands import MODEL_SETTING
from framework.paths import BotPaths
from framework.runtime.wiring import Bot, build_bot
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxServer
from framework.storage.assistant import read_setting

from .conftest import write_bot
from .stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub

try:
    from tests.sandbox_helpers import redirect_discord
except ImportError:
    from sandbox_helpers import redirect_discord  # type: ignore[no-redef]

TOKEN = "token-cortana-test"
CLAUDE_KEY = "sk-ant-e2e-SECRET-0001"

EXTRA = """
access:
  mode: master_dm
commands:
  slash: true
reactive:
  enabled: false
  max_typing_seconds: 0
agentic:
  enabled: false
memory:
  enabled: false
assistant:
  enabled: true
api:
  model: claude-sonnet-4-6
  throttling:
    min_delay_seconds: 0
  fallback:
    groq:
      enabled: false
"""


@asynccontextmanager
async def running_bot(home: Path, server: SandboxServer, stub: AnthropicStub) -> AsyncIterator[Bot]:
    config = load_bot_config(write_bot(home, "cortana", "CORTANA_BOT_TOKEN", EXTRA), home)
    environ = {"CORTANA_BOT_TOKEN": TOKEN, "ANTHROPIC_API_KEY": CLAUDE_KEY, "MASTER_USER_ID": HUMAN_USER_ID,
               "ANTHROPIC_BASE_URL": stub.base_url}
    settings = load_settings(home, environ)
    async with AsyncExitStack() as resources:
        bot = await build_bot(config, BotPaths(home, "cortana"), environ, settings, clock=SystemClock(),
                              resources=resources, guild_ready_timeout=0.05)
        since = len(server.events)
        task = asyncio.create_task(bot.client.start(TOKEN))
        await server.wait_for(lambda e: e["type"] == "identify", since=since)
        await bot.client.wait_until_ready()
        try:
            yield bot
        finally:
            await bot.client.close()
            await asyncio.gather(task, return_exceptions=True)


async def _run(server: SandboxServer, user: str, command: str, options: dict[str, Any] | None = None,
               channel: str | None = None) -> dict[str, Any]:
    """The final answer to a slash command: the refusal, or the deferred reply's edit."""
    iid = await server.inject_interaction(user, command, options or {}, channel)

    def done(event: dict[str, Any]) -> bool:
        return event["type"] == "interaction_response" and event["interaction_id"] == iid and (
            event["kind"] == "edit" or event.get("response_type") == 4)

    await server.wait_for(done)
    return server.interaction_responses(iid)[-1]


async def _dm_reply_model(server: SandboxServer, stub: AnthropicStub, bot_id: str, text: str) -> str:
    channel = server.dm_channel_id(HUMAN_USER_ID, bot_id)
    since = len(server.events)
    before = len(stub.requests)
    await server.inject_dm(HUMAN_USER_ID, bot_id, text)
    await server.wait_for(lambda e: e["type"] == "message" and e.get("author_id") == bot_id
                          and e.get("channel_id") == channel, since=since, timeout=10)
    models = [r["body"]["model"] for r in stub.requests[before:] if r["body"]["model"] != "claude-haiku-4-5"]
    assert models, "no conversation request reached the stub"
    return models[-1]


async def test_settings_access_and_a_model_change_that_survives_a_restart(tmp_path: Path) -> None:
    server = SandboxServer()
    bot_id = server.add_bot(TOKEN, "cortana")
    stranger = server.add_human("mallory")
    await server.start()
    stub = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES))
    await stub.start()
    try:
        with redirect_discord(server.api_base, server.gateway_url):
            async with running_bot(tmp_path, server, stub):
                assert [c["name"] for c in server.registered_commands(bot_id)] == ["settings"]

                refused = await _run(server, HUMAN_USER_ID, "settings status", channel=GENERAL_CHANNEL_ID)
                assert refused["ephemeral"] and refused["content"] == "this command only works in DMs"
                unauthorized = await _run(server, stranger, "settings model", {"name": "claude-opus-4-6"})
                assert unauthorized["ephemeral"] and unauthorized["content"] == "unauthorized"

                status = await _run(server, HUMAN_USER_ID, "settings status")
                assert status["ephemeral"] and "**Model:** `claude-sonnet-4-6`" in status["content"]
                assert "`ANTHROPIC_API_KEY`: healthy" in status["content"] and CLAUDE_KEY not in status["content"]

                # The stub serves no model list: the configured models stand in.
                models = await _run(server, HUMAN_USER_ID, "settings models", {"provider": "anthropic"})
                assert "configured (model list unavailable)" in models["content"]

                assert await _dm_reply_model(server, stub, bot_id, "hello") == "claude-sonnet-4-6"
                changed = await _run(server, HUMAN_USER_ID, "settings model", {"name": "claude-opus-4-6"})
                assert changed["ephemeral"] and "Model set to `claude-opus-4-6`" in changed["content"]
                assert await _dm_reply_model(server, stub, bot_id, "and now?") == "claude-opus-4-6"

            # Kept in the assistant's settings table (it syncs between machines), not a side file.
            database = BotPaths(tmp_path, "cortana").database
            assert read_setting(database, MODEL_SETTING) == "claude-opus-4-6"
            assert not (tmp_path / "persistence" / "cortana" / "settings.json").exists()
            async with running_bot(tmp_path, server, stub):  # a restart
                assert await _dm_reply_model(server, stub, bot_id, "still you?") == "claude-opus-4-6"
                status = await _run(server, HUMAN_USER_ID, "settings status")
                assert "**Model:** `claude-opus-4-6`" in status["content"]
    finally:
        await stub.stop()
        await server.stop()
