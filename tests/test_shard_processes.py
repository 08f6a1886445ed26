"""One bot split into two shard processes under `bot_manager`, end to end with real
processes: `spawn` starts a keeper and a bot process per share against the loopback
sandbox (two guilds, one per shard), each process answers only in its own guild, `status`
shows both with their shards, pids and health URLs, `logs` interleaves both logs, a
whole copy of the bot beside them is refused, and `stop` ends both."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from framework.sandbox import (
    DANA_USER_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    LOBBY_CHANNEL_ID,
    OTHER_GUILD_ID,
    SandboxThread,
)
from tests.sandbox_helpers import wait_for
from tests.stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub

REPO = Path(__file__).resolve().parent.parent
TOKEN = "sandbox.alpha.shard-processes-0123456789"

pytestmark = pytest.mark.slow


def free_port_pair() -> int:
    """A port p with p + 1 free too (the two processes' health endpoints)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two free ports in a row")


def shard_of(guild_id: str) -> int:
    return (int(guild_id) >> 22) % 2


def write_sharded_bot(home: Path, health_port: int) -> None:
    config = home / "bots" / "alpha.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "bot_id: alpha\n"
        "name: Test alpha\n"
        "discord:\n"
        "  token_env_var: ALPHA_BOT_TOKEN\n"
        "  shards: {count: 2, processes: 2}\n"
        "personality:\n"
        "  base_prompt: You are a terse test bot.\n"
        f"health: {{port: {health_port}}}\n"
        "supervisor: {startsecs: 60, startretries: 1, backoff_initial_seconds: 0.1, backoff_max_seconds: 0.2,"
        " stopwaitsecs: 5, ready_timeout_seconds: 30}\n"
    )


@dataclass
class World:
    home: Path
    sandbox: SandboxThread
    stub: AnthropicStub
    bot_user_id: str
    env: dict[str, str]
    health_port: int

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(REPO / "bot_manager.py"), "--home", str(self.home), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.home,
        )

    def status(self) -> list[dict[str, object]]:
        result = self.cli("status", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def decisions(self, process: str) -> list[dict[str, object]]:
        path = self.home / "logs" / f"{process}.conversation.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    port = free_port_pair()
    write_sharded_bot(tmp_path, port)
    sandbox = SandboxThread().start()
    stub = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES))
    sandbox.run(stub.start())
    bot_user_id = sandbox.add_bot(TOKEN, "alpha")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_", "BOT_"))}
    env.update(
        ALPHA_BOT_TOKEN=TOKEN,
        DISCORD_API_BASE=sandbox.api_base,
        DISCORD_GATEWAY_URL=sandbox.gateway_url,
        ANTHROPIC_API_KEY="test-anthropic-key",
        ANTHROPIC_BASE_URL=stub.base_url,
        DISCORD_SHARD_IDS="0,1",  # a stray value in the shell must not reach the shard processes
    )
    world = World(tmp_path, sandbox, stub, bot_user_id, env, port)
    try:
        yield world
    finally:
        world.cli("stop", "--all")
        sandbox.run(stub.stop())
        sandbox.stop()


def test_two_shard_processes_each_answer_only_in_their_own_guild(world: World) -> None:
    assert shard_of(GUILD_ID) != shard_of(OTHER_GUILD_ID)  # the seed's two guilds fall on different shards
    spawned = world.cli("spawn", "alpha")
    assert spawned.returncode == 0, spawned.stdout + spawned.stderr
    assert "alpha@0 running" in spawned.stdout and "alpha@1 running" in spawned.stdout

    rows = {row["name"]: row for row in world.status()}
    assert set(rows) == {"alpha@0", "alpha@1"}
    for k in (0, 1):
        row = rows[f"alpha@{k}"]
        assert row["state"] == "running" and row["bot"] == "alpha"
        assert row["shard_process"] == k and row["shard_ids"] == [k]
        assert row["health_url"] == f"http://127.0.0.1:{world.health_port + k}/"
        proc = psutil.Process(int(row["pid"]))  # type: ignore[arg-type]
        if "framework.supervisor.zygote" not in proc.parent().cmdline():
            # /proc/<pid>/environ is the environment a process was exec'd with: a bot forked
            # from the zygote shows the zygote's there (its share arrives in its os.environ,
            # which the health port below, health.port + k, proves).
            env = proc.environ()
            assert (env["BOT_SHARD_PROCESS"], env["DISCORD_SHARD_COUNT"], env["DISCORD_SHARD_IDS"]) == (str(k), "2", str(k))
        with urllib.request.urlopen(f"{row['health_url']}readyz", timeout=5) as ready:
            assert ready.status == 200
    assert rows["alpha@0"]["pid"] != rows["alpha@1"]["pid"]
    table = world.cli("status")
    assert "alpha@0" in table.stdout and "alpha@1" in table.stdout

    # A whole copy of the bot, or a second copy of one share, would answer twice: refused.
    whole = world.cli("run", "alpha", timeout=30)
    assert whole.returncode == 78 and "BOT_SHARD_PROCESS" in whole.stderr + whole.stdout
    again = world.cli("run", "alpha@1", timeout=30)
    assert again.returncode == 1 and "alpha@1 is already running" in again.stderr + again.stdout

    world.stub.script.extend([{"content": [{"type": "text", "text": "pong"}]}] * 2)
    mark = len(world.sandbox.events())
    asked = {
        GUILD_ID: world.sandbox.inject_message(GENERAL_CHANNEL_ID, DANA_USER_ID, f"<@{world.bot_user_id}> here?"),
        OTHER_GUILD_ID: world.sandbox.inject_message(LOBBY_CHANNEL_ID, DANA_USER_ID, f"<@{world.bot_user_id}> there?"),
    }
    for guild, message in asked.items():
        reply = world.sandbox.wait_for_event(
            lambda e, m=message: e["type"] == "message" and e["author_id"] == world.bot_user_id
            and (e["message"].get("message_reference") or {}).get("message_id") == m["id"],
            timeout=30, since=mark,
        )
        assert reply["content"] == "pong"
    for guild, message in asked.items():
        owner, other = f"alpha@{shard_of(guild)}", f"alpha@{1 - shard_of(guild)}"
        # The decision line follows the reply out: wait for it in the owner's log, then the
        # other process, whose socket never carried the message, has no line about it.
        wait_for(
            lambda: any(d["message_id"] == message["id"] and d["decision"] == "reply" for d in world.decisions(owner)),
            f"{owner}'s decision on {message['id']}",
        )
        assert all(d["message_id"] != message["id"] for d in world.decisions(other))

    logs = world.cli("logs", "alpha", "-n", "400")
    assert logs.returncode == 0, logs.stderr
    assert "alpha@0 is ready" in logs.stdout and "alpha@1 is ready" in logs.stdout
    assert (world.home / "logs" / "alpha@0.log").exists() and (world.home / "logs" / "alpha@1.log").exists()

    pids = [int(row["pid"]) for row in rows.values()]  # type: ignore[arg-type]
    stopped = world.cli("stop", "alpha")
    assert stopped.returncode == 0, stopped.stderr
    assert "alpha@0 stopped" in stopped.stdout and "alpha@1 stopped" in stopped.stdout
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert {row["name"]: row["state"] for row in world.status()} == {"alpha@0": "stopped", "alpha@1": "stopped"}
