"""Helpers for driving the real discord.py client against the sandbox in tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import discord
import psutil
import pytest
import yarl

from framework.sandbox import SandboxThread
from tests.stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub

DEFAULT_TIMEOUT = 5.0


@contextlib.contextmanager
def redirect_discord(api_base: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the sandbox; restore after."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


def full_intents() -> discord.Intents:
    """Default intents plus message_content, members and reactions."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    intents.reactions = True
    return intents


class RecordingClient(discord.Client):
    """A discord.Client that records every dispatched event and every handler error."""

    def __init__(self, harness: BotHarness, **options: Any) -> None:
        super().__init__(**options)
        self.harness = harness

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        self.harness.record(event, args)
        super().dispatch(event, *args, **kwargs)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        # Client.on_error only logs: record so a crashing handler fails the test.
        self.harness.errors.append((event_method, sys.exc_info()[1]))

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # The default sleeps 5 s before every re-IDENTIFY.
        return None


class BotHarness:
    """One real discord.py client: start it, wait on its events, close it."""

    def __init__(self, token: str, *, intents: discord.Intents | None = None) -> None:
        self.token = token
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.errors: list[tuple[str, BaseException | None]] = []
        self._waiters: list[tuple[str, Callable[..., bool], asyncio.Future[tuple[Any, ...]]]] = []
        self.client = RecordingClient(self, intents=intents or full_intents(), guild_ready_timeout=0.05)
        self._task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        assert self.client.user is not None
        return str(self.client.user.id)

    def record(self, event: str, args: tuple[Any, ...]) -> None:
        self.events.append((event, args))
        for name, check, future in list(self._waiters):
            if name == event and not future.done():
                try:
                    if check(*args):
                        future.set_result(args)
                except Exception as exc:
                    future.set_exception(exc)

    def count(self, event: str) -> int:
        return sum(1 for name, _ in self.events if name == event)

    def seen(self, event: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.events if name == event]

    async def wait(
        self, event: str, check: Callable[..., bool] = lambda *a: True, timeout: float = DEFAULT_TIMEOUT
    ) -> tuple[Any, ...]:
        """Args of the first *event* (already seen or upcoming) for which *check(*args)* holds."""
        for name, args in self.events:
            if name == event and check(*args):
                return args
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        entry = (event, check, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.remove(entry)

    async def start(self, timeout: float = DEFAULT_TIMEOUT) -> BotHarness:
        """Log in and connect; returns once on_ready fired (raises the start error if any)."""
        self._task = asyncio.create_task(self.client.start(self.token))
        ready = asyncio.ensure_future(self.wait("ready", timeout=timeout))
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()
            raise RuntimeError("client stopped before on_ready")
        ready.result()
        return self

    async def close(self) -> None:
        await self.client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, DEFAULT_TIMEOUT)


# -- a bot runtime in-process against the sandbox and the scripted model -----------------


@pytest.fixture
def sandbox() -> Iterator[tuple[SandboxThread, AnthropicStub]]:
    """The sandbox on its own thread, with the scripted Anthropic stub on the same loop."""
    server = SandboxThread().start()
    stub = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES))
    server.run(stub.start())
    try:
        yield server, stub
    finally:
        server.run(stub.stop())
        server.stop()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll what another process writes (state files, pids, logs) until it holds, within a bound.

    A timeout fails the test; the value the condition returned is handed back.
    """
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)
    return value


async def eventually(condition: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll what the bot wrote (the sandbox, the conversation log) until it holds, within a bound."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value


@contextlib.asynccontextmanager
async def bot_running(runtime: Any, ready_file: Path, server: SandboxThread) -> AsyncIterator[None]:
    """Run a ``BotRuntime`` in this loop against the sandbox until the block ends.

    Enters once the bot has written ``ready_file`` (a bot that exits first fails with its
    result); on the way out asks it to stop and asserts a clean exit (0). discord.py's
    globals are pointed at the sandbox for the duration and restored afterwards.
    """
    with redirect_discord(server.api_base, server.gateway_url):
        running = asyncio.create_task(runtime.run())
        try:
            await eventually(lambda: ready_file.exists() or running.done(), "the bot to connect")
            assert not running.done(), running.result()
            yield
        finally:
            runtime.request_stop()
            assert await asyncio.wait_for(running, 15) == 0


def zygotes_of(home: Path) -> list[int]:
    """Pids of the live zygotes of the project folder ``home`` (normally none or one)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        try:
            if (proc.info["cwd"] == str(home) and proc.info["status"] != psutil.STATUS_ZOMBIE
                    and "framework.supervisor.zygote" in (proc.info["cmdline"] or [])):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def kill_zygotes_of(home: Path) -> None:
    """Kill the zygotes a test (or a failed one) left in ``home``."""
    for pid in zygotes_of(home):
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


def decisions(home: Path, bot_id: str = "cortana") -> dict[str, dict[str, Any]]:
    """The bot's conversation log, by message id (decisions only: tool-call lines have no message)."""
    path = home / "logs" / f"{bot_id}.conversation.jsonl"
    if not path.exists():
        return {}
    return {d["message_id"]: d for d in map(json.loads, path.read_text().splitlines()) if "message_id" in d}
