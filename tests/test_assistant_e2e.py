"""Cortana's calendar through the whole bot: the shipped cortana.yaml, the runtime in this
process with its real discord.py client on the loopback sandbox, the real Anthropic SDK
against the scripted stub, and the real database. The model books one event, then tries
to double-book and gets the conflict back instead; every request carries the person's
local time."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from framework.config import load_bot_config
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.sandbox import HUMAN_USER_ID
from framework.storage.assistant import AssistantStore, read_events
from tests.stubs.anthropic import AnthropicStub

from .test_access import copy_cortana
from .sandbox_helpers import bot_running, decisions, eventually, sandbox  # noqa: F401  (the fixture)
from .test_access_sandbox import TOKEN


def tool_use(name: str, args: dict[str, Any], tid: str) -> dict[str, Any]:
    return {"stop_reason": "tool_use", "content": [{"type": "tool_use", "id": tid, "name": name, "input": args}]}


def tool_results(body: dict[str, Any]) -> dict[str, str]:
    """``{tool_use_id: content}`` of the tool results in a request's last user turn."""
    found: dict[str, str] = {}
    for block in body["messages"][-1]["content"]:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            content = block["content"]
            found[block["tool_use_id"]] = content if isinstance(content, str) else json.dumps(content)
    return found


async def test_cortana_books_an_event_and_is_told_of_a_clash(
    tmp_path: Path, sandbox: tuple[Any, AnthropicStub]  # noqa: F811
) -> None:
    server, stub = sandbox
    copy_cortana(tmp_path)
    paths = BotPaths(tmp_path, "cortana")
    store = await AssistantStore.open(paths.database)  # the person said where they live, earlier
    await store.set_setting("timezone", "Europe/Berlin", datetime(2026, 12, 1, tzinfo=timezone.utc))
    await store.close()
    bot_user = server.add_bot(TOKEN, "Cortana")
    environ = {
        "CORTANA_BOT_TOKEN": TOKEN, "MASTER_USER_ID": HUMAN_USER_ID,
        "DISCORD_API_BASE": server.api_base, "DISCORD_GATEWAY_URL": server.gateway_url,
        "ANTHROPIC_API_KEY": "test-anthropic-key", "ANTHROPIC_BASE_URL": stub.base_url,
    }
    stub.script += [
        tool_use("calendar", {"action": "create", "title": "dentist", "start": "2026-12-03T10:00+01:00",
                              "end": "2026-12-03T11:00+01:00", "location": "Dr. Weiss"}, "toolu_a"),
        tool_use("calendar", {"action": "create", "title": "call with Sam", "start": "2026-12-03T10:30+01:00"},
                 "toolu_b"),
        {"content": [{"type": "text", "text": "Dentist booked at 10. Sam at 10:30 clashes with it: move Sam?"}]},
    ]
    runtime = BotRuntime(load_bot_config(paths.config, tmp_path), paths, environ)

    async with bot_running(runtime, paths.ready_file, server):
        dm = server.inject_dm(HUMAN_USER_ID, bot_user, "dentist tomorrow 10-11 at Dr. Weiss, and Sam at 10:30")
        await eventually(lambda: dm["id"] in decisions(tmp_path), "the answer")

    replies = [m["content"] for m in server.messages(dm["channel_id"]) if m["author"]["id"] == bot_user]
    assert replies == ["Dentist booked at 10. Sam at 10:30 clashes with it: move Sam?"]
    conversation = [r["body"] for r in stub.requests  # the reply's rounds (profile extraction also reads the DM)
                    if any(t.get("name") == "calendar" for t in r["body"].get("tools", []))]
    assert len(conversation) == 3  # the question, then one request per tool result
    first = conversation[0]
    assert {"todos", "calendar", "time_zone"} <= {t["name"] for t in first["tools"]}
    assert "Local time: " in json.dumps(first["messages"]) and "(Europe/Berlin, UTC+01:00)" in json.dumps(first["messages"])

    booked = json.loads(tool_results(conversation[1])["toolu_a"])
    assert booked["saved"] is True and booked["created"]["start"] == "2026-12-03T10:00+01:00"
    clash = json.loads(tool_results(conversation[2])["toolu_b"])
    assert clash["saved"] is False and [c["title"] for c in clash["conflicts"]] == ["dentist"]

    events = read_events(paths.database, datetime(2026, 12, 3, tzinfo=timezone.utc), datetime(2026, 12, 4, tzinfo=timezone.utc))
    assert [(e.title, e.location) for e in events] == [("dentist", "Dr. Weiss")]
