"""End to end, all real and offline: `bot_manager spawn` starts the keeper and the bot
process, the bot's real discord.py client connects to the loopback sandbox, a mention
makes it type and answer with text from the loopback Anthropic stub (real SDK, real
HTTP), every message lands in SQLite, and `stop` leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from framework.fsutil import read_json
from tests.stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread

from .conftest import write_bot

REPO = Path(__file__).resolve().parent.parent
TOKEN = "sandbox.alpha.e2e-token-0123456789"
FAST_SUPERVISOR = """\
supervisor:
  startsecs: 60  # a crash before this counts as fast, however slow a loaded CI machine is
  startretries: 2
  backoff_initial_seconds: 0.1
  backoff_max_seconds: 0.2
  stopwaitsecs: 5
  ready_timeout_seconds: 30
"""

pytestmark = pytest.mark.slow


def wait_for_state(home: Path, state: str, timeout: float) -> dict[str, object]:
    """Wait for the keeper (another process) to write ``state``; its state file is the only signal."""
    deadline = time.monotonic() + timeout
    state_file = home / "run" / "alpha.state.json"
    while time.monotonic() < deadline:
        data = read_json(state_file)
        if isinstance(data, dict) and data.get("state") == state:
            return data
        time.sleep(0.05)
    raise AssertionError(f"alpha never reached {state!r}; last state file: {read_json(state_file)}")


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for whichever init adopted it."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@dataclass
class World:
    home: Path
    sandbox: SandboxThread
    stub: AnthropicStub
    bot_user_id: str
    env: dict[str, str]

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(REPO / "bot_manager.py"), "--home", str(self.home), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.home,
        )

    def status(self) -> dict[str, object]:
        result = self.cli("status", "alpha", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)[0]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    write_bot(tmp_path, extra=FAST_SUPERVISOR)
    sandbox = SandboxThread().start()
    stub = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES))
    sandbox.run(stub.start())
    bot_user_id = sandbox.add_bot(TOKEN, "alpha")
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_"))
    }
    env.update(
        ALPHA_BOT_TOKEN=TOKEN,
        DISCORD_API_BASE=sandbox.api_base,
        DISCORD_GATEWAY_URL=sandbox.gateway_url,
        ANTHROPIC_API_KEY="test-anthropic-key",
        ANTHROPIC_BASE_URL=stub.base_url,
    )
    world = World(tmp_path, sandbox, stub, bot_user_id, env)
    try:
        yield world
    finally:
        world.cli("stop", "--all")
        sandbox.run(stub.stop())
        sandbox.stop()


def test_spawn_mention_reply_store_stop(world: World) -> None:
    world.stub.script.append({"content": [{"type": "text", "text": "pong, from the stub"}]})
    spawned = world.cli("spawn", "alpha")
    assert spawned.returncode == 0, spawned.stdout + spawned.stderr
    status = world.status()
    assert status["state"] == "running"
    bot_pid = int(status["pid"])  # type: ignore[arg-type]
    # Not the bot's parent: with preload on that is the project's zygote, which outlives a stop.
    keeper_pid = int(json.loads((world.home / "run" / "alpha.pid").read_text())["pid"])

    mark = len(world.sandbox.events())
    asked = world.sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{world.bot_user_id}> ping?")
    typing = world.sandbox.wait_for_event(
        lambda e: e["type"] == "typing" and e["user_id"] == world.bot_user_id, timeout=20, since=mark
    )
    reply = world.sandbox.wait_for_event(
        lambda e: e["type"] == "message" and e["author_id"] == world.bot_user_id, timeout=20, since=mark
    )
    assert typing["index"] < reply["index"]
    assert reply["content"] == "pong, from the stub"
    assert reply["message"]["message_reference"]["message_id"] == asked["id"]

    request = [r for r in world.stub.requests if r["body"]["model"] not in BACKGROUND_REPLIES][0]
    assert request["authorization"] == "Bearer test-anthropic-key"
    assert request["body"]["system"][0]["text"].startswith("You are a terse test bot.")
    assert "ping?" in request["body"]["messages"][-1]["content"][0]["text"]
    assert [t["name"] for t in request["body"]["tools"]][:2] == ["get_active_threads", "get_channel_info"]
    assert "memory" in [t["name"] for t in request["body"]["tools"]]

    stopped = world.cli("stop", "alpha")
    assert stopped.returncode == 0, stopped.stderr
    assert gone(bot_pid) and gone(keeper_pid)
    assert world.status()["state"] == "stopped"

    with sqlite3.connect(world.home / "persistence" / "alpha" / "messages.db") as db:
        rows = db.execute("SELECT message_id, author_id, is_bot, content FROM messages ORDER BY timestamp").fetchall()
    assert (asked["id"], HUMAN_USER_ID, 0, f"<@{world.bot_user_id}> ping?") in rows
    assert (reply["message_id"], world.bot_user_id, 1, "pong, from the stub") in rows  # its own message too
    with sqlite3.connect(world.home / "persistence" / "alpha" / "messages.db") as db:
        calls = db.execute("SELECT provider, model, key_alias, ok, input_tokens FROM llm_calls").fetchall()
    assert calls == [("anthropic", "claude-sonnet-4-6", "ANTHROPIC_API_KEY", 1, calls[0][4])] and calls[0][4] > 0

    decisions = [json.loads(line) for line in (world.home / "logs" / "alpha.conversation.jsonl").read_text().splitlines()]
    assert {"message_id": asked["id"], "decision": "reply", "reason": "mentioned"}.items() <= decisions[-1].items()
    log = (world.home / "logs" / "alpha.log").read_text()
    assert "alpha is ready" in log
    assert TOKEN not in log and "test-anthropic-key" not in log


def test_rejected_token_is_a_config_error_and_never_retried(world: World) -> None:
    world.env["ALPHA_BOT_TOKEN"] = "not.the.right-token-at-all"
    spawned = world.cli("spawn", "alpha")
    assert spawned.returncode == 1
    assert "ALPHA_BOT_TOKEN" in spawned.stdout + spawned.stderr
    status = world.status()
    assert status["state"] == "fatal"
    assert status["last_exit_code"] == 78
    assert status["restarts"] == 0
    assert "Discord rejected the token" in str(status["last_error"])
    assert "not.the.right-token-at-all" not in spawned.stdout + spawned.stderr


def test_run_in_foreground_stops_gracefully_on_sigterm(world: World) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bot_manager.py"), "--home", str(world.home), "run", "alpha"],
        env=world.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        world.sandbox.wait_for_event(lambda e: e["type"] == "identify", timeout=20)
        # answering a mention proves it is connected and working before we stop it
        world.sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{world.bot_user_id}> there?")
        world.sandbox.wait_for_event(
            lambda e: e["type"] == "message" and e["author_id"] == world.bot_user_id, timeout=30
        )
        ready = world.home / "run" / "alpha.ready"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "shutting down" in output
    assert not ready.exists()
    assert (world.home / "logs" / "alpha.log").exists()  # foreground mode writes the file itself


def test_sandbox_command_answers_offline_through_the_standin(tmp_path: Path) -> None:
    """The quickstart path: no Discord, no Anthropic key; the bot answers and says it is a stand-in."""
    write_bot(tmp_path, extra=FAST_SUPERVISOR)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "ALPHA_"))}
    result = subprocess.run(
        [sys.executable, str(REPO / "bot_manager.py"), "--home", str(tmp_path), "sandbox", "alpha",
         "--say", "hello room", "--say", "@alpha are you real?"],
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alpha (replying to you): [stand-in model, not Claude" in result.stdout
    assert "are you real?" in result.stdout.split("alpha (replying to you):")[1]
    assert "Sandbox closed; alpha stopped." in result.stdout
    # the sandbox keeps its own project folder: the real bot's history is untouched
    assert not (tmp_path / "persistence" / "alpha").exists()
    assert (tmp_path / "run" / "sandbox" / "persistence" / "alpha" / "messages.db").exists()
    assert not list((tmp_path / "run" / "sandbox" / "run").glob("*.pid"))


def test_discord_unreachable_for_a_while_then_back_connects_without_a_restart(world: World) -> None:
    """Discord refuses connections: the real runtime exits 75 each time, the keeper keeps
    retrying past startretries (never fatal), `spawn` prints one line per attempt and no
    traceback; once a Discord listens on that port, the bot connects on its own."""
    with socket.socket() as probe:  # a port nobody listens on, until the second sandbox does
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    world.env["DISCORD_API_BASE"] = f"http://127.0.0.1:{port}/api/v10"
    world.env["DISCORD_GATEWAY_URL"] = f"ws://127.0.0.1:{port}/gateway"
    spawn = subprocess.Popen(
        [sys.executable, str(REPO / "bot_manager.py"), "--home", str(world.home), "spawn", "alpha"],
        env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=world.home,
    )
    later = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # startretries is 2: a third fast crash would have been fatal
            data = read_json(world.home / "run" / "alpha.state.json")
            if isinstance(data, dict) and data.get("state") == "backoff" and int(data["restarts"]) >= 2:
                break
            time.sleep(0.05)
        status = world.status()
        assert status["state"] in ("backoff", "starting")
        assert status["last_exit_code"] == 75
        assert status["last_error"] == "cannot reach 127.0.0.1 (connection refused)"
        later = SandboxThread(port=port).start()  # Discord is back
        later.add_bot(TOKEN, "alpha")
        stdout, stderr = spawn.communicate(timeout=60)
    finally:
        if spawn.poll() is None:
            spawn.kill()
        world.cli("stop", "alpha")
        if later is not None:
            later.stop()
    assert spawn.returncode == 0, stdout + stderr
    assert "alpha running" in stdout
    attempts = [line for line in stderr.splitlines() if line.startswith("alpha: attempt ")]
    assert len(attempts) >= 3 and len(attempts) == len(stderr.splitlines())  # nothing else, no traceback
    assert attempts[0].startswith("alpha: attempt 1: cannot reach 127.0.0.1 (connection refused); retrying in")
    log = (world.home / "logs" / "alpha.log").read_text()
    assert "Traceback" in log and "ConnectionRefusedError" in log  # the details are in the log
    assert "fatal" not in log
