"""Reminders end to end in one process: the real bot (``build_bot``) with its real
discord.py client on the sandbox, Claude being the scripted Anthropic stub.

The master DMs "remind me in 2 minutes to stretch"; the model calls the ``reminders``
tool; two minutes later (the bot's clock moved on) a delivery pass puts the reminder in
the master's DM. A claim left by a kill after its DM reached Discord is settled against
the real DM history (discord.py's ``history`` against the sandbox): marked sent, never
sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from framework.assistant.reminder_delivery import SETTLE_SECONDS
from framework.clock import SystemClock
from framework.config import load_bot_config, load_settings
from framework.domain.reminders import local_time_of
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.runtime.wiring import Bot, build_bot
from framework.sandbox import HUMAN_USER_ID, SandboxServer
from framework.storage.reminders import read_reminders

from .conftest import write_bot
from .sandbox_helpers import redirect_discord
from .stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub

TOKEN = "token-cortana-reminders"

EXTRA = """
access:
  mode: master_dm
reactive:
  enabled: false
agentic:
  enabled: false
memory:
  enabled: false
assistant:
  enabled: true
  timezone: Europe/Berlin
api:
  model: claude-sonnet-4-6
  fallback:
    groq:
      enabled: false
"""


class ShiftedClock(SystemClock):
    """Real time (sleeps are real), moved forward on demand: "two minutes later" at once."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return super().now() + self.offset


@asynccontextmanager
async def running_bot(home: Path, server: SandboxServer, stub: AnthropicStub, clock: ShiftedClock) -> AsyncIterator[Bot]:
    config = load_bot_config(write_bot(home, "cortana", "CORTANA_BOT_TOKEN", EXTRA), home)
    environ = {"CORTANA_BOT_TOKEN": TOKEN, "ANTHROPIC_API_KEY": "sk-ant-e2e-0001", "MASTER_USER_ID": HUMAN_USER_ID,
               "ANTHROPIC_BASE_URL": stub.base_url}
    async with AsyncExitStack() as resources:
        bot = await build_bot(config, BotPaths(home, "cortana"), environ, load_settings(home, environ), clock=clock,
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


def _dm_texts(server: SandboxServer, bot_id: str) -> list[str]:
    channel = server.dm_channel_id(HUMAN_USER_ID, bot_id)
    return [e["content"] for e in server.events
            if e["type"] == "message" and e.get("author_id") == bot_id and e.get("channel_id") == channel]


async def test_remind_me_in_two_minutes_arrives_in_the_dm_once(tmp_path: Path) -> None:
    server = SandboxServer()
    bot_id = server.add_bot(TOKEN, "cortana")
    await server.start()
    stub = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES))
    await stub.start()
    clock = ShiftedClock()
    try:
        with redirect_discord(server.api_base, server.gateway_url):
            async with running_bot(tmp_path, server, stub, clock) as bot:
                assert bot.assistant is not None and bot.assistant.reminders is not None
                loops = BotRuntime(bot.config, bot.paths, {}, clock=clock)._loops_of(bot)
                assert set(loops) == {"check", "reminders"}  # its own loop, not the hourly pass
                for coro in loops.values():
                    coro.close()
                stub.script += [
                    {"stop_reason": "tool_use", "content": [{
                        "type": "tool_use", "id": "toolu_r1", "name": "reminders",
                        "input": {"action": "create", "text": "stretch", "in_minutes": 2}}]},
                    {"content": [{"type": "text", "text": "Done: in two minutes."}]},
                ]
                since = len(server.events)
                await server.inject_dm(HUMAN_USER_ID, bot_id, "remind me in 2 minutes to stretch")
                await server.wait_for(lambda e: e["type"] == "message" and e.get("author_id") == bot_id,
                                      since=since, timeout=10)
                tools = {t["name"] for t in stub.requests[-1]["body"].get("tools", [])}
                assert "reminders" in tools
                database = BotPaths(tmp_path, "cortana").database
                (reminder,) = read_reminders(database)
                assert reminder.text == "stretch" and reminder.timezone == "Europe/Berlin"
                assert reminder.local_time == local_time_of(reminder.due_at, "Europe/Berlin")

                delivery = bot.assistant.reminders
                assert await delivery.run_once() == 0  # not yet
                clock.offset = timedelta(minutes=2, seconds=1)
                assert await delivery.run_once() == 1
                assert await delivery.run_once() == 0
                assert _dm_texts(server, bot_id)[-1] == "⏰ Reminder: stretch"
                (done,) = read_reminders(database, include_done=True)
                assert done.status == "sent"

                # A kill after the DM reached Discord, before it was recorded: the next
                # pass after the settling time finds it in the real DM history.
                reminders = bot.assistant.reminders._store  # the same store the bot uses
                clock.offset = timedelta()  # the claim on the sandbox's own time, as a real claim is on Discord's
                now = clock.now()
                second = await reminders.add(text="drink water", due_at=now, repeat="none",
                                             timezone="Europe/Berlin", local_time=local_time_of(now, "Europe/Berlin"),
                                             now=now)
                assert await reminders.claim(second, "⏰ Reminder: drink water", now)
                sent_id = await bot.assistant.reminders._dms.send_dm(HUMAN_USER_ID, "⏰ Reminder: drink water")
                before = len(_dm_texts(server, bot_id))
                clock.offset = timedelta(seconds=SETTLE_SECONDS + 1)
                assert await delivery.run_once() == 0
                assert len(_dm_texts(server, bot_id)) == before  # nothing sent again
                row = await reminders.get(second.id)
                assert row is not None and (row.status, row.message_id) == ("sent", sent_id)
    finally:
        await stub.stop()
        await server.stop()
