"""The conversation cache wired into the bot: the shipped bots/cortana.yaml, the runtime in
this process with its real discord.py client on the loopback sandbox, the real SDK against
the scripted stub. A DM exchange is written to persistence/cortana/conversations/, and a
new runtime on the same folder (a restart) answers the next DM with it as real turns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.config import load_bot_config
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.sandbox import HUMAN_USER_ID, SandboxThread
from tests.stubs.anthropic import AnthropicStub

from .test_access import copy_cortana
from .sandbox_helpers import bot_running, decisions, eventually, sandbox  # noqa: F401 - the fixture

TOKEN = "sandbox.cortana.conversation-token-0123456789"


def said(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}]}


async def one_dm(home: Path, server: SandboxThread, bot_user: str, environ: dict[str, str], text: str) -> dict[str, Any]:
    """Start the bot, send the master's DM, wait for the answer to be recorded, stop the bot."""
    paths = BotPaths(home, "cortana")
    runtime = BotRuntime(load_bot_config(paths.config, home), paths, environ)
    async with bot_running(runtime, paths.ready_file, server):
        dm = server.inject_dm(HUMAN_USER_ID, bot_user, text)
        await eventually(lambda: decisions(home).get(dm["id"], {}).get("decision") == "reply", "the answer")
        cached = paths.conversations / f"{dm['channel_id']}.json"
        await eventually(lambda: cached.exists() and text in cached.read_text(), "the exchange recorded")
    return dm


async def test_a_restarted_cortana_resumes_the_dm_conversation(
    tmp_path: Path, sandbox: tuple[SandboxThread, AnthropicStub]  # noqa: F811
) -> None:
    server, stub = sandbox
    copy_cortana(tmp_path)
    config = tmp_path / "bots" / "cortana.yaml"  # no typing pause before each answer: a faster test
    config.write_text(config.read_text().replace("reactive:\n", "reactive:\n  max_typing_seconds: 0\n", 1))
    bot_user = server.add_bot(TOKEN, "Cortana")
    environ = {
        "CORTANA_BOT_TOKEN": TOKEN, "MASTER_USER_ID": HUMAN_USER_ID,
        "DISCORD_API_BASE": server.api_base, "DISCORD_GATEWAY_URL": server.gateway_url,
        "ANTHROPIC_API_KEY": "test-anthropic-key", "ANTHROPIC_BASE_URL": stub.base_url,
    }
    stub.script += [said("Noted: the locker code is 4711."), said("It's 4711.")]
    first = await one_dm(tmp_path, server, bot_user, environ, "remember the locker code 4711")
    stored = json.loads((BotPaths(tmp_path, "cortana").conversations / f"{first['channel_id']}.json").read_text())
    assert [t["role"] for t in stored["turns"]] == ["user", "assistant"]
    assert stored["turns"][1]["content"] == "Noted: the locker code is 4711."

    await one_dm(tmp_path, server, bot_user, environ, "what was the locker code?")  # a new process's bot
    asked = [  # the answer's request (profile extraction reads the same message on the side)
        r["body"] for r in stub.requests if "is talking to you: what was the locker code?" in json.dumps(r["body"]["messages"][-1])
    ]
    assert len(asked) == 1
    messages = asked[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert "remember the locker code 4711" in messages[0]["content"][0]["text"]
    assert messages[1]["content"][0]["text"] == "Noted: the locker code is 4711."
