"""Cortana's access-control behaviour table, row by row, with every part real and offline:
the shipped bots/cortana.yaml, the bot runtime in this process with its real discord.py
client on the loopback sandbox, and the real Anthropic SDK against the scripted stub.

| Scenario                         | Behaviour                                        |
| the master DMs the bot           | answered                                         |
| someone else DMs the bot         | stored, never answered, never sent to a model    |
| any message in a channel         | ignored, the master's own mention included       |

(The slash-command rows are the commands' own tests; the policy's answers for them are
unit-tested in test_access.py.)
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from framework.config import load_bot_config
from framework.errors import ConfigError
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.sandbox import DANA_USER_ID, GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread
from framework.sandbox.chat import run_terminal_chat
from tests.stubs.anthropic import AnthropicStub

from .sandbox_helpers import bot_running, decisions, eventually, sandbox  # noqa: F401 - sandbox is a fixture
from .test_access import copy_cortana

REPO = Path(__file__).resolve().parent.parent
TOKEN = "sandbox.cortana.access-token-0123456789"
MASTER = HUMAN_USER_ID  # the sandbox's person plays the master
STRANGER = DANA_USER_ID


async def test_cortana_answers_only_the_masters_dms(tmp_path: Path, sandbox: tuple[SandboxThread, AnthropicStub]) -> None:
    server, stub = sandbox
    copy_cortana(tmp_path)
    bot_user = server.add_bot(TOKEN, "Cortana")
    environ = {
        "CORTANA_BOT_TOKEN": TOKEN, "MASTER_USER_ID": MASTER,
        "DISCORD_API_BASE": server.api_base, "DISCORD_GATEWAY_URL": server.gateway_url,
        "ANTHROPIC_API_KEY": "test-anthropic-key", "ANTHROPIC_BASE_URL": stub.base_url,
    }
    paths = BotPaths(tmp_path, "cortana")
    runtime = BotRuntime(load_bot_config(paths.config, tmp_path), paths, environ)
    stub.script.append({"content": [{"type": "text", "text": "At your service. Your day is clear."}]})

    async with bot_running(runtime, paths.ready_file, server):

        # Rows 2 and 3 first, so that by the time the master is answered they were seen too.
        stranger = server.inject_dm(STRANGER, bot_user, "hey, what's your master's address?")
        in_channel = server.inject_message(GENERAL_CHANNEL_ID, MASTER, f"<@{bot_user}> what's on today?")
        overheard = server.inject_message(GENERAL_CHANNEL_ID, STRANGER, "cortana is so quiet here")
        mine = server.inject_dm(MASTER, bot_user, "what's on my plate today?")

        log = await eventually(
            lambda: (d := decisions(tmp_path)) and all(m["id"] in d for m in (stranger, in_channel, overheard, mine)) and d,
            "a decision about each message",
        )

    # Row 1: the master's DM is answered, in the DM.
    assert log[mine["id"]]["decision"] == "reply"
    replies = [m for m in server.messages(mine["channel_id"]) if m["author"]["id"] == bot_user]
    assert [m["content"] for m in replies] == ["At your service. Your day is clear."]

    # Row 2: another person's DM is stored, never answered, never sent to a model.
    assert log[stranger["id"]]["decision"] == "ignore" and "not the master" in log[stranger["id"]]["reason"]
    assert [m["author"]["id"] for m in server.messages(stranger["channel_id"])] == [STRANGER]

    # Row 3: nothing is said in a channel, not even to the master's mention.
    for message in (in_channel, overheard):
        assert log[message["id"]]["decision"] == "ignore" and "channel" in log[message["id"]]["reason"]
    assert all(m["author"]["id"] != bot_user for m in server.messages(GENERAL_CHANNEL_ID))

    sent_to_models = json.dumps([r["body"] for r in stub.requests])
    assert "what's on my plate today?" in sent_to_models
    for unseen in ("master's address", "what's on today?", "so quiet here"):
        assert unseen not in sent_to_models  # neither the reply nor profile extraction saw them

    with sqlite3.connect(paths.database) as db:
        stored = {row[0] for row in db.execute("SELECT message_id FROM messages")}
    assert {stranger["id"], in_channel["id"], overheard["id"], mine["id"]} <= stored


async def test_start_up_refuses_a_missing_master_id(tmp_path: Path) -> None:
    copy_cortana(tmp_path)
    paths = BotPaths(tmp_path, "cortana")
    environ = {"CORTANA_BOT_TOKEN": TOKEN, "ANTHROPIC_API_KEY": "k", "MASTER_USER_ID": "12345"}
    runtime = BotRuntime(load_bot_config(paths.config, tmp_path), paths, environ)
    with pytest.raises(ConfigError, match="MASTER_USER_ID is not a Discord user id"):
        await runtime.run()  # the bot process's main turns this into exit 78


@pytest.mark.slow
def test_the_bot_process_exits_78_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    """The real start-up path: ``python -m framework.runtime cortana`` without a master id."""
    copy_cortana(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_", "MASTER_"))}
    env.update(BOT_HOME=str(tmp_path), CORTANA_BOT_TOKEN=TOKEN, ANTHROPIC_API_KEY="k")
    done = subprocess.run(
        [sys.executable, "-m", "framework.runtime", "cortana"], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 78, done.stderr
    reported = json.loads((tmp_path / "run" / "cortana.exit.json").read_text())
    assert reported["exit_code"] == 78 and "\n" not in reported["error"]
    assert "MASTER_USER_ID is not set" in reported["error"]


@pytest.mark.slow
def test_sandbox_makes_you_cortanas_master(tmp_path: Path) -> None:
    """``bot_manager sandbox cortana`` offline: the person at the terminal is the master; a
    mention in #general is ignored, so is a DM from the sandbox's other person; the master's DM
    is answered."""
    copy_cortana(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "CORTANA_", "MASTER_"))}
    result = subprocess.run(
        [sys.executable, str(REPO / "bot_manager.py"), "--home", str(tmp_path), "sandbox", "cortana",
         "--say", "@cortana hello in public", "--say", "/as dana /dm cortana hi, I'm not your master",
         "--say", "/dm cortana psst, it's me"],
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answers only you, and only in DMs" in result.stdout
    assert result.stdout.count("cortana (replying to you):") == 1
    assert "[DM] cortana (replying to you): [stand-in model" in result.stdout
    log = tmp_path / "run" / "sandbox" / "logs" / "cortana.conversation.jsonl"
    decided = [json.loads(line) for line in log.read_text().splitlines()]
    by_content = {d["content"]: d for d in decided}
    assert by_content["psst, it's me"]["decision"] == "reply"
    public = next(d for c, d in by_content.items() if c.endswith("hello in public"))
    assert public["decision"] == "ignore" and "channel" in public["reason"]
    stranger = by_content["hi, I'm not your master"]
    assert stranger["decision"] == "ignore" and "not the master" in stranger["reason"]
    assert "(as @dana) /dm cortana hi" in result.stdout


def test_terminal_chat_posts_as_another_person(sandbox: tuple[SandboxThread, AnthropicStub]) -> None:
    """``/as dana ...`` in the sandbox chat: a channel line or a DM from the sandbox's other person."""
    server, _ = sandbox
    bot_user = server.add_bot(TOKEN, "Cortana")
    lines = iter(["/as dana hello room", "/as dana /dm cortana psst", "/as nobody hi", "/as cortana hi", "/quit"])
    out = io.StringIO()
    run_terminal_chat(server, GENERAL_CHANNEL_ID, MASTER, Console(file=out, width=200), lambda: next(lines))
    assert [(m["author"]["id"], m["content"]) for m in server.messages(GENERAL_CHANNEL_ID)] == [(STRANGER, "hello room")]
    dm = server.messages(server.dm_channel_id(STRANGER, bot_user))
    assert [(m["author"]["id"], m["content"]) for m in dm] == [(STRANGER, "psst")]
    assert out.getvalue().count("Usage: /as name line") == 2  # nobody, and a bot, cannot be played
