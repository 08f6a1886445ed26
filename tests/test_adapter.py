"""The Discord adapter's translation: channel (<#id>) and role (<@&id>) mentions reach the model as names, like user mentions:
from a real discord.py message served by the loopback Discord server, through the adapter,
into the transcript the context builder writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from framework.discord.adapter import to_incoming
from framework.engines.context import ContextBuilder, ContextRequest
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, MODERATORS_ROLE_ID, RANDOM_CHANNEL_ID, SandboxServer
from framework.storage import MessageStore

try:  # tests/ as a package (rootdir on sys.path) or as plain directory (prepend import mode)
    from tests.sandbox_helpers import BotHarness, redirect_discord
except ImportError:
    from sandbox_helpers import BotHarness, redirect_discord  # type: ignore[no-redef]


@pytest.fixture
async def connected() -> AsyncIterator[tuple[SandboxServer, BotHarness]]:
    server = SandboxServer()
    server.add_bot("token-alpha", "alpha")
    await server.start()
    with redirect_discord(server.api_base, server.gateway_url):
        bot = await BotHarness("token-alpha").start()
        try:
            yield server, bot
        finally:
            await bot.close()
    await server.stop()


async def test_channel_and_role_mentions_become_names_in_the_transcript(
    connected: tuple[SandboxServer, BotHarness], tmp_path: Path
) -> None:
    server, bot = connected
    text = f"move this to <#{RANDOM_CHANNEL_ID}> and ask <@&{MODERATORS_ROLE_ID}> in <#424242>"
    posted = await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, text)
    (message,) = await bot.wait("message", lambda m: str(m.id) == posted["id"])
    incoming = to_incoming(message, int(bot.user_id))
    assert incoming.channel_mention_names == ((RANDOM_CHANNEL_ID, "random"),)
    assert incoming.role_mention_names == ((MODERATORS_ROLE_ID, "Moderators"),)

    store = await MessageStore.open(tmp_path / "messages.db")
    await store.add(incoming)
    builder = ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="P", store=store)
    builder.remember(incoming)
    request = await builder.build(ContextRequest(GENERAL_CHANNEL_ID, "#general", [incoming], incoming, urgent=False))
    transcript = request.turns[0].content
    assert "move this to #random and ask @Moderators in #a-channel" in transcript
    assert "<#" not in transcript and "<@&" not in transcript
    await store.close()


async def test_names_known_from_the_guild_resolve_history_after_a_restart(tmp_path: Path) -> None:
    # After a restart the builder knows no message yet; the runtime seeds it from the guild.
    from framework.domain import IncomingMessage
    from datetime import datetime, timezone

    store = await MessageStore.open(tmp_path / "messages.db")
    old = IncomingMessage(
        message_id="1", channel_id="c", guild_id="g", author_id="u", author_name="dana",
        content="see <#77> and ping <@&88> or <@!99>", timestamp=datetime(2026, 11, 1, tzinfo=timezone.utc),
    )
    await store.add(old)
    builder = ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="P", store=store)
    builder.channel_names.update({"77": "announcements"})
    builder.role_names.update({"88": "helpers"})
    builder.names.update({"99": "sam"})
    request = await builder.build(ContextRequest("c", "#general", [old], old, urgent=False))
    assert "see #announcements and ping @helpers or @sam" in request.turns[0].content
    await store.close()


async def test_deletes_are_stamped_with_the_injected_clock() -> None:
    # Discord's delete event carries no time; the adapter used to read the wall clock.
    import asyncio
    from datetime import datetime, timezone

    from framework.discord.adapter import BotClient

    fixed = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    deleted: list[tuple[str, datetime]] = []
    connected = asyncio.Event()

    async def nothing(*args: object) -> None:
        return None

    async def on_delete(message_id: str, at: datetime) -> None:
        deleted.append((message_id, at))

    server = SandboxServer()
    server.add_bot("token-alpha", "alpha")
    await server.start()
    with redirect_discord(server.api_base, server.gateway_url):
        client = BotClient(
            on_incoming=nothing, on_edit=nothing, on_delete=on_delete,
            on_connected=lambda user_id: connected.set(), guild_ready_timeout=0.05, now=lambda: fixed,
        )
        task = asyncio.create_task(client.start("token-alpha"))
        try:
            await asyncio.wait_for(connected.wait(), 10)
            posted = await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "oops, wrong channel")
            await server.delete_message(GENERAL_CHANNEL_ID, posted["id"])
            for _ in range(200):
                if deleted:
                    break
                await asyncio.sleep(0.01)
        finally:
            await client.close()
            await asyncio.gather(task, return_exceptions=True)
    await server.stop()
    assert deleted == [(posted["id"], fixed)]
