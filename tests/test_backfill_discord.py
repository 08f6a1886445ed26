"""The backfill's Discord side with the real discord.py client against the loopback sandbox:
history since a message, one message, readable channels, and a backfill after a gateway
session that could not be resumed (but none after one that was)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from framework.clock import SystemClock
from framework.discord.adapter import BotClient
from framework.discord.backfill import DiscordHistory
from framework.domain import IncomingMessage
from framework.engines.backfill import Backfill, BackfillSettings
from framework.sandbox import GENERAL_CHANNEL_ID, GUILD_ID, HUMAN_USER_ID, RANDOM_CHANNEL_ID, SandboxServer
from framework.storage import MessageStore

from .sandbox_helpers import redirect_discord

TOKEN = "token-alpha"


class FastClient(BotClient):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # discord.py waits 5 s before each re-IDENTIFY


class Bot:
    """The framework's BotClient wired as the runtime wires it: live messages and backfill to one store."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self.sessions_started = 0
        self.ready = asyncio.Event()
        self.delivered: list[IncomingMessage] = []
        self.client = FastClient(
            on_incoming=self._incoming, on_edit=self._ignore, on_delete=self._ignore, on_connected=lambda _id: None,
            on_session_start=self._session_start, on_session_ready=self._session_ready, guild_ready_timeout=0.05,
        )
        self.backfill = Backfill(
            history=DiscordHistory(self.client), store=store, clock=SystemClock(), settings=BackfillSettings(),
            deliver=self._deliver,
        )
        self._started = datetime.now(timezone.utc)
        self.task: asyncio.Task[None] | None = None

    async def _incoming(self, message: IncomingMessage) -> None:
        await self.store.add(message)

    async def _deliver(self, message: IncomingMessage) -> None:
        self.delivered.append(message)

    async def _ignore(self, *args: Any) -> None:
        return None

    def _session_start(self) -> None:
        self.sessions_started += 1
        self._started = datetime.now(timezone.utc)

    def _session_ready(self) -> None:
        assert self.client.user is not None
        self.backfill.start(session_started=self._started, self_user_id=str(self.client.user.id))
        self.ready.set()


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    srv = SandboxServer()
    srv.add_bot(TOKEN, "alpha")
    await srv.start()
    with redirect_discord(srv.api_base, srv.gateway_url):
        yield srv
    await srv.stop()
    assert srv.unknown_routes == []


@pytest.fixture
async def bot(server: SandboxServer, tmp_path: Path) -> AsyncIterator[Bot]:
    store = await MessageStore.open(tmp_path / "messages.db")
    bot = Bot(store)
    bot.task = asyncio.create_task(bot.client.start(TOKEN), name="test:discord")
    await asyncio.wait_for(bot.ready.wait(), 10)
    await asyncio.wait_for(bot.backfill.wait(), 10)
    yield bot
    await bot.backfill.stop()
    await bot.client.close()
    await asyncio.gather(bot.task, return_exceptions=True)
    await store.close()


def ago(minutes: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(minutes=minutes)


async def test_history_after_gives_the_newest_messages_after_a_cursor_oldest_first(
    server: SandboxServer, bot: Bot
) -> None:
    bot_id = str(bot.client.user.id)  # type: ignore[union-attr]
    posted = [
        await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"message {i}", at=ago(50 - i)) for i in range(5)
    ]
    reply = await server.inject_message(
        GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot_id}> about that", reply_to=posted[1]["id"], at=ago(40)
    )
    history = DiscordHistory(bot.client)

    found = await history.history_after(GENERAL_CHANNEL_ID, int(posted[0]["id"]), limit=3)
    assert [m.content for m in found] == ["message 3", "message 4", f"<@{bot_id}> about that"]
    last = found[-1]
    assert (last.message_id, last.reference_id, last.mentions_self, last.is_dm) == (
        reply["id"], posted[1]["id"], True, False
    )
    assert abs((last.timestamp - ago(40)).total_seconds()) < 5  # the backdated creation time
    assert [m.content for m in await history.history_after(GENERAL_CHANNEL_ID, int(reply["id"]), 10)] == []
    assert len(await history.history_after(GENERAL_CHANNEL_ID, 0, 500)) == 6

    fetched = await history.fetch_message(GENERAL_CHANNEL_ID, posted[2]["id"])
    assert fetched is not None and fetched.content == "message 2" and fetched.author_id == HUMAN_USER_ID
    assert await history.fetch_message(GENERAL_CHANNEL_ID, "1310000000000009999") is None

    dm = await server.inject_dm(HUMAN_USER_ID, bot_id, "a word in private")
    in_dm = await DiscordHistory(bot.client).history_after(dm["channel_id"], 0, 10)
    assert [(m.content, m.is_dm) for m in in_dm] == [("a word in private", True)]

    channels = [c.channel_id for c in history.readable_channels()]
    assert channels[0] == GENERAL_CHANNEL_ID  # the busiest first
    assert RANDOM_CHANNEL_ID in channels and len(channels) == 3  # and #lobby of the other server
    assert {c.channel_id for c in DiscordHistory(bot.client, servers=[GUILD_ID]).readable_channels()} == {
        GENERAL_CHANNEL_ID, RANDOM_CHANNEL_ID
    }


async def test_a_session_that_could_not_resume_backfills_what_it_missed(server: SandboxServer, bot: Bot) -> None:
    bot_id = str(bot.client.user.id)  # type: ignore[union-attr]
    await server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "seen live")
    await _until(lambda: bot.store.count(), 1)

    # Posted while the bot had no session: in Discord's history, never sent to the bot.
    channel = server.state.channels[GENERAL_CHANNEL_ID]
    missed = server.state.create_message(channel, HUMAN_USER_ID, f"<@{bot_id}> you there?")
    assert bot.sessions_started == 1

    # A resumed session replays what it missed itself: no backfill.
    assert await server.close_gateway(bot_id, 4000) == 1
    await server.wait_for(lambda e: e["type"] == "resumed")
    assert bot.sessions_started == 1 and await bot.store.get(missed.id) is None

    bot.ready.clear()
    assert server.send_invalid_session(bot_id, resumable=False) == 1
    await asyncio.wait_for(bot.ready.wait(), 10)
    assert bot.sessions_started == 2
    report = await asyncio.wait_for(bot.backfill.wait(), 10)
    assert report is not None and report.stored == 1 and report.owed == 1
    stored = await bot.store.get(missed.id)
    assert stored is not None and stored.content == f"<@{bot_id}> you there?"
    assert [m.message_id for m in bot.delivered] == [missed.id]
    assert await bot.store.count() == 2  # "seen live" was not stored twice


async def _until(read: Any, expected: int, timeout: float = 5.0) -> None:
    """Wait (bounded) for the store to reach a count written by the client's event tasks."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await read() != expected:
        assert asyncio.get_running_loop().time() < deadline, f"count never reached {expected}"
        await asyncio.sleep(0.01)
