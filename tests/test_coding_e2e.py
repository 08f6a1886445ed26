"""Cortana's coding agent through the whole bot: the shipped cortana.yaml with tools.coding
turned on, the runtime in this process with its real discord.py client on the loopback
sandbox, the real Anthropic SDK against the scripted stub, the real bubblewrap jail. The
master asks for a script; the model writes it, runs it, and the output comes back in the
DM. The same turn starts a fork bomb and tries to read the project's .env from the jail;
both are contained, and the bot keeps answering afterwards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from framework.config import load_bot_config
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.sandbox import HUMAN_USER_ID
from tests.stubs.anthropic import AnthropicStub

from .sandbox_helpers import bot_running, decisions, eventually, sandbox  # noqa: F401  (the fixture)
from .test_access_sandbox import TOKEN
from .test_assistant_e2e import tool_results, tool_use
from .test_coding_config import with_coding

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (.ci/run installs it)")

SECRET = "sk-ant-api03-" + "e" * 40
SCRIPT = "print('fib:', [0, 1, 1, 2, 3, 5, 8, 13])\n"


def echo_last_result(body: dict[str, Any]) -> dict[str, Any]:
    """The model's answer: what the last tool call returned, word for word."""
    (result,) = tool_results(body).values()
    return {"content": [{"type": "text", "text": f"Ran it:\n{result}"}]}


async def test_master_has_a_script_written_and_run(
    tmp_path: Path, sandbox: tuple[Any, AnthropicStub]  # noqa: F811
) -> None:
    server, stub = sandbox
    config = with_coding(tmp_path, "cortana", "bash: true\nfiles: true\nskills: true\nbash_timeout_seconds: 5")
    # No pause between the tool loop's rounds: the test waits for four of them.
    config.write_text(config.read_text().replace("\napi:\n", "\napi:\n  throttling: {min_delay_seconds: 0}\n", 1))
    (tmp_path / ".env").write_text(f"ANTHROPIC_API_KEY={SECRET}\n")
    paths = BotPaths(tmp_path, "cortana")
    bot_user = server.add_bot(TOKEN, "Cortana")
    environ = {
        "CORTANA_BOT_TOKEN": TOKEN, "MASTER_USER_ID": HUMAN_USER_ID,
        "DISCORD_API_BASE": server.api_base, "DISCORD_GATEWAY_URL": server.gateway_url,
        "ANTHROPIC_API_KEY": SECRET, "ANTHROPIC_BASE_URL": stub.base_url,
    }
    stub.script += [
        tool_use("execute_bash", {"command": ":(){ :|:& };:; sleep 1"}, "toolu_f"),  # a fork bomb first
        tool_use("write_file", {"path": "fib.py", "content": SCRIPT}, "toolu_w"),
        tool_use("execute_bash", {"command": f"python3 fib.py; env; cat {tmp_path}/.env"}, "toolu_b"),
        echo_last_result,
        {"content": [{"type": "text", "text": "Any time."}]},
    ]
    runtime = BotRuntime(load_bot_config(paths.config, tmp_path), paths, environ)

    async with bot_running(runtime, paths.ready_file, server):
        ask = server.inject_dm(HUMAN_USER_ID, bot_user, "write a script printing fibonacci numbers and run it")
        await eventually(lambda: ask["id"] in decisions(tmp_path), "the answer")
        thanks = server.inject_dm(HUMAN_USER_ID, bot_user, "thanks!")
        await eventually(lambda: thanks["id"] in decisions(tmp_path), "the second answer")

    replies = [m["content"] for m in server.messages(ask["channel_id"]) if m["author"]["id"] == bot_user]
    assert len(replies) == 2 and replies[1] == "Any time."
    answer = replies[0]
    assert answer.startswith("Ran it:\nExit code: 1\nfib: [0, 1, 1, 2, 3, 5, 8, 13]\n"), answer
    assert "No such file or directory" in answer and SECRET not in answer and TOKEN not in answer
    assert (tmp_path / "workspaces" / "cortana" / "fib.py").read_text() == SCRIPT

    first = next(r["body"] for r in stub.requests if any(t.get("name") == "execute_bash" for t in r["body"].get("tools", [])))
    assert {"execute_bash", "read_file", "write_file", "edit_file"} <= {t["name"] for t in first["tools"]}
    assert "# Your workspace and tools" in json.dumps(first["system"])

    bomb = next(tool_results(r["body"])["toolu_f"] for r in stub.requests if "toolu_f" in tool_results(r["body"]))
    assert "Resource temporarily unavailable" in bomb  # the process limit held it

    log = [json.loads(line) for line in paths.conversation_log.read_text().splitlines()]
    calls = [(e["tool"], e["ok"], e["exit_code"]) for e in log if e.get("event") == "tool"]
    assert calls == [("execute_bash", True, 0), ("write_file", True, None), ("execute_bash", False, 1)]
    assert SECRET not in paths.conversation_log.read_text()
