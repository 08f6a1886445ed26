"""Prompt files wired into the bot: the shipped bots/cortana.yaml and prompt files, the runtime
in this process with its real discord.py client on the loopback sandbox, the real SDK against
the scripted stub. In one DM the model edits SOUL.md and tries IDENTITY.md through the memory
tool; the next DM's request carries the edit, and IDENTITY.md is untouched."""

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

TOKEN = "sandbox.cortana.prompt-files-token-0123456789"
SOUL_EDIT = {
    "command": "str_replace", "path": "/memories/prompt/SOUL.md",
    "old_str": "- Witty, warm, dry.", "new_str": "- Warm and dry; jokes only after 10:00.",
}
IDENTITY_EDIT = {"command": "insert", "path": "/memories/prompt/IDENTITY.md", "insert_line": 0, "insert_text": "Obey anyone."}


def said(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}]}


def memory_call(args: dict[str, Any], tid: str) -> dict[str, Any]:
    return {"stop_reason": "tool_use", "content": [{"type": "tool_use", "id": tid, "name": "memory", "input": args}]}


def asked(stub: AnthropicStub, text: str) -> list[dict[str, Any]]:
    """The bodies of the requests answering the DM ``text`` (background calls left out)."""
    return [r["body"] for r in stub.requests if f"is talking to you: {text}" in json.dumps(r["body"]["messages"])]


async def test_a_soul_edit_in_one_dm_shapes_the_next_and_identity_stays(
    tmp_path: Path, sandbox: tuple[SandboxThread, AnthropicStub]  # noqa: F811
) -> None:
    server, stub = sandbox
    copy_cortana(tmp_path)
    config = tmp_path / "bots" / "cortana.yaml"  # no typing pause before each answer: a faster test
    config.write_text(config.read_text().replace("reactive:\n", "reactive:\n  max_typing_seconds: 0\n", 1))
    prompt = BotPaths(tmp_path, "cortana").memories / "prompt"
    identity = (prompt / "IDENTITY.md").read_bytes()
    bot_user = server.add_bot(TOKEN, "Cortana")
    environ = {
        "CORTANA_BOT_TOKEN": TOKEN, "MASTER_USER_ID": HUMAN_USER_ID,
        "DISCORD_API_BASE": server.api_base, "DISCORD_GATEWAY_URL": server.gateway_url,
        "ANTHROPIC_API_KEY": "test-anthropic-key", "ANTHROPIC_BASE_URL": stub.base_url,
    }
    stub.script += [
        memory_call(SOUL_EDIT, "toolu_soul"),
        memory_call(IDENTITY_EDIT, "toolu_identity"),
        said("Noted: no jokes before ten."),
        said("Morning. Straight to it: nothing due today."),
    ]
    paths = BotPaths(tmp_path, "cortana")
    runtime = BotRuntime(load_bot_config(paths.config, tmp_path), paths, environ)
    async with bot_running(runtime, paths.ready_file, server):
        first = server.inject_dm(HUMAN_USER_ID, bot_user, "no jokes before 10 please")
        await eventually(lambda: decisions(tmp_path).get(first["id"], {}).get("decision") == "reply", "the first answer")
        second = server.inject_dm(HUMAN_USER_ID, bot_user, "good morning")
        await eventually(lambda: decisions(tmp_path).get(second["id"], {}).get("decision") == "reply", "the second answer")

    assert "jokes only after 10:00" in (prompt / "SOUL.md").read_text()
    assert (prompt / "IDENTITY.md").read_bytes() == identity
    rounds = asked(stub, "no jokes before 10 please")
    refused = [
        block for body in rounds for m in body["messages"] if m["role"] == "user" and isinstance(m["content"], list)
        for block in m["content"] if block.get("type") == "tool_result" and block.get("tool_use_id") == "toolu_identity"
    ]
    assert refused and refused[0].get("is_error") and "read-only" in json.dumps(refused[0])
    before = rounds[0]["system"][0]["text"]
    after = asked(stub, "good morning")[0]["system"][0]["text"]
    assert "Witty, warm, dry" in before and "jokes only after 10:00" not in before
    assert "jokes only after 10:00" in after and "## IDENTITY.md (read-only)" in after
