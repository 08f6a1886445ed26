"""The health endpoint of a bot in this process, every part real and offline: the runtime
with its real discord.py client on the loopback sandbox, the real Anthropic SDK against the
scripted stub, and an aiohttp client asking ``/``, ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from framework.config import load_bot_config
from framework.errors import ConfigError
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread
from tests.stubs.anthropic import AnthropicStub

from .conftest import write_bot
from .sandbox_helpers import bot_running, sandbox  # noqa: F401 - sandbox is a fixture

TOKEN = "sandbox.alpha.health-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def runtime_for(home: Path, port: int, environ: dict[str, str]) -> tuple[BotRuntime, BotPaths]:
    write_bot(home, extra=f"health: {{port: {port}}}\nreactive: {{max_typing_seconds: 0}}\n")
    paths = BotPaths(home, "alpha")
    return BotRuntime(load_bot_config(paths.config, home), paths, environ), paths


def metric(text: str, name: str) -> float:
    """The sum of a series' samples in the Prometheus text (0 when absent)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


async def test_health_endpoints_follow_the_session_and_metrics_move_after_a_mention(
    tmp_path: Path, sandbox: tuple[SandboxThread, AnthropicStub]
) -> None:
    server, stub = sandbox
    bot_user = server.add_bot(TOKEN, "Alpha")
    port = free_port()
    environ = {
        "ALPHA_BOT_TOKEN": TOKEN, "DISCORD_API_BASE": server.api_base, "DISCORD_GATEWAY_URL": server.gateway_url,
        "ANTHROPIC_API_KEY": "test-anthropic-key", "ANTHROPIC_BASE_URL": stub.base_url,
    }
    runtime, paths = runtime_for(tmp_path, port, environ)
    base = f"http://127.0.0.1:{port}"
    stub.script.append({"content": [{"type": "text", "text": "pong"}]})

    async with aiohttp.ClientSession() as http:

        async def get(path: str) -> tuple[int, str]:
            async with http.get(base + path) as response:
                return response.status, await response.text()

        async def until_counted(series: str) -> str:
            deadline = time.monotonic() + 15
            while metric(text := (await get("/metrics"))[1], series) < 1:
                assert time.monotonic() < deadline, f"timed out waiting for {series} to move"
                await asyncio.sleep(0.05)
            return text

        # The endpoint is up before Discord connects: asked just before the session starts.
        before: list[tuple[int, str]] = []
        serve = runtime._serve

        async def probing(bot: Any, token: str) -> int:
            before.append(await get("/readyz"))
            before.append(await get("/healthz"))
            return await serve(bot, token)

        runtime._serve = probing  # type: ignore[method-assign]
        async with bot_running(runtime, paths.ready_file, server):
            assert before[0][0] == 503 and "gateway session not ready" in before[0][1]
            assert before[1] == (200, '{"status": "ok"}')

            assert await get("/") == (200, "Bot is alive!")
            status, body = await get("/readyz")
            assert status == 200 and '"ready"' in body, body
            _, text = await get("/metrics")
            assert metric(text, "bot_messages_seen_total") == 0 and 'bot="alpha"' in text

            mention = server.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot_user}> ping?")
            text = await until_counted("bot_replies_sent_total")

            # op 7 RECONNECT: discord.py closes the socket and resumes the session.
            assert metric(text, "bot_gateway_reconnects_total") == 0
            assert server.send_reconnect(bot_user) == 1
            await until_counted("bot_gateway_reconnects_total")

    assert any(m["author"]["id"] == bot_user for m in server.messages(GENERAL_CHANNEL_ID)), mention
    assert metric(text, "bot_messages_seen_total") == 1  # the mention; the bot's own reply is not counted
    assert metric(text, "bot_replies_sent_total") == 1
    assert 'bot_model_calls_total{bot="alpha",outcome="ok",provider="anthropic"} 1.0' in text
    assert metric(text, "bot_tokens_total") > 0
    assert metric(text, "bot_reply_latency_seconds_count") == 1


async def test_a_taken_port_is_a_config_error_naming_it(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = int(holder.getsockname()[1])
    try:
        runtime, _ = runtime_for(tmp_path, port, {"ALPHA_BOT_TOKEN": TOKEN, "ANTHROPIC_API_KEY": "k"})
        with pytest.raises(ConfigError) as caught:
            await runtime.run()  # the bot process's main turns this into exit 78
    finally:
        holder.close()
    message = str(caught.value)
    assert "\n" not in message and f"port {port}" in message and "health.port" in message


def test_status_shows_the_health_url_from_the_config_without_asking_it(tmp_path: Path) -> None:
    from framework.supervisor.status_table import render_status_text
    from framework.supervisor.statusview import collect_status

    write_bot(tmp_path, extra="health: {port: 9464, host: 0.0.0.0}\n")
    write_bot(tmp_path, bot_id="beta", token_var="BETA_BOT_TOKEN")
    rows = {row.name: row for row in collect_status(tmp_path, ["alpha", "beta"])}  # nothing listens on 9464
    assert rows["alpha"].to_json()["health_url"] == "http://127.0.0.1:9464/"
    assert rows["beta"].health_url is None
    assert "health http://127.0.0.1:9464/" in render_status_text(rows.values(), 200)


async def test_a_database_another_writer_holds_is_not_ready_and_nothing_is_written(tmp_path: Path) -> None:
    import sqlite3

    from framework.storage import MessageStore

    store = await MessageStore.open(tmp_path / "messages.db")
    try:
        assert await store.write_problem() is None
        holder = sqlite3.connect(tmp_path / "messages.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            problem = await store.write_problem(timeout=0.05)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert problem is not None and "messages.db not writable" in problem and "locked" in problem
    finally:
        await store.close()
