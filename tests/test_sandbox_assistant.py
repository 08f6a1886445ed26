"""The sandbox stand-in's assistant phrases: real tool calls through the real tools, plain replies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from framework.assistant import PersonZone, assistant_tools
from framework.domain import ConversationScope, ToolError
from framework.sandbox.anthropic_standin import STANDIN_PREFIX
from framework.sandbox.assistant_intents import assistant_turn
from framework.storage.assistant import AssistantStore

from .fakes import FakeClock

SCOPE = ConversationScope("cortana", None, "900", "100000000000000001")


class Chat:
    """One exchange as the bot's tool loop runs it: stand-in turn, tool run, stand-in reply."""

    def __init__(self, store: AssistantStore, clock: FakeClock) -> None:
        self.clock = clock
        self.tools = {t.name: t for t in assistant_tools(store, PersonZone(store, "Europe/Berlin"), clock)}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def body(self, said: str, extra: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
        local = self.clock.now().astimezone(ZoneInfo("Europe/Berlin"))
        prompt = (f"Now: x UTC. Local time: {local:%A %Y-%m-%d %H:%M} (Europe/Berlin, UTC+01:00). Here: a DM.\n\n"
                  f"Ana is talking to you: {said}\nReply to them.")
        return {"tools": [t.anthropic_param() for t in self.tools.values()],
                "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}, *extra]}

    async def say(self, said: str) -> str:
        planned = assistant_turn(self.body(said), STANDIN_PREFIX)
        assert planned is not None, said
        content, stop = planned
        if stop == "end_turn":
            return content[0]["text"]
        use = content[0]
        self.calls.append((use["name"], use["input"]))
        try:
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": use["id"],
                                      "content": await self.tools[use["name"]].run(use["input"], SCOPE)}
        except ToolError as exc:
            result = {"type": "tool_result", "tool_use_id": use["id"], "content": f"Error: {exc}", "is_error": True}
        follow = self.body(said, [{"role": "assistant", "content": content}, {"role": "user", "content": [result]}])
        reply = assistant_turn(follow, STANDIN_PREFIX)
        assert reply is not None and reply[1] == "end_turn"
        text = reply[0][0]["text"]
        assert text.startswith(STANDIN_PREFIX)
        return text.removeprefix(STANDIN_PREFIX).strip()


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    store = await AssistantStore.open(tmp_path / "messages.db")
    try:
        yield Chat(store, FakeClock(datetime(2026, 12, 2, 13, 5, tzinfo=timezone.utc)))  # Wed 14:05 in Berlin
    finally:
        await store.close()


async def test_booking_listing_and_a_clash_offline(chat: Chat) -> None:
    assert await chat.say("put dentist on my calendar tomorrow at 10") == "Booked: dentist, Thu 3 Dec 10:00–11:00."
    assert chat.calls[-1] == ("calendar", {"action": "create", "start": "2026-12-03T10:00+01:00", "title": "dentist"})
    assert await chat.say("schedule lunch with Sam tomorrow at 12:30pm for 45 minutes") == (
        "Booked: lunch with Sam, Thu 3 Dec 12:30–13:15."
    )
    assert await chat.say("book a call tomorrow at 10:30") == "That clashes with dentist, Thu 3 Dec 10:00–11:00. Book it anyway?"
    assert await chat.say("what's on my calendar tomorrow?") == (
        "On your calendar: dentist, Thu 3 Dec 10:00–11:00; lunch with Sam, Thu 3 Dec 12:30–13:15."
    )
    assert await chat.say("what's on my calendar today") == "Nothing on your calendar then."


async def test_todos_offline_and_other_talk_falls_through(chat: Chat) -> None:
    assert await chat.say("add buy milk to my todos") == "Added to your todos: buy milk."
    assert await chat.say("what are my todos?") == "Your todos: buy milk."
    assert assistant_turn(chat.body("how are you?"), STANDIN_PREFIX) is None  # the echo answers
    no_tools = chat.body("what's on my calendar tomorrow?")
    no_tools["tools"] = []
    assert assistant_turn(no_tools, STANDIN_PREFIX) is None  # a bot without the assistant
    assert json.dumps(chat.calls).count('"todos"') == 2


@pytest.mark.slow
def test_bot_manager_sandbox_cortana_books_and_lists_offline(tmp_path: Path) -> None:
    """``bot_manager sandbox cortana`` without a key: the master books, clashes and lists in a DM;
    ``bot_manager calendar cortana`` then shows what was added."""
    import os
    import subprocess
    import sys

    from .test_access import REPO, copy_cortana

    copy_cortana(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "CORTANA_", "MASTER_"))}
    said = ["put dentist on my calendar tomorrow at 10", "book a call with Sam tomorrow at 10:30",
            "what's on my calendar tomorrow?"]
    result = subprocess.run(
        [sys.executable, str(REPO / "bot_manager.py"), "--home", str(tmp_path), "sandbox", "cortana",
         *[arg for line in said for arg in ("--say", f"/dm cortana {line}")]],
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    replies = [line.split(f"{STANDIN_PREFIX} ", 1)[1] for line in result.stdout.splitlines()
               if "cortana (replying to you):" in line]
    assert len(replies) == 3, result.stdout
    assert replies[0].startswith("Booked: dentist, ") and replies[0].endswith(" 10:00–11:00.")
    assert replies[1].startswith("That clashes with dentist")
    assert replies[2].startswith("On your calendar: dentist, ") and "Sam" not in replies[2]
    listed = subprocess.run(
        [sys.executable, str(REPO / "bot_manager.py"), "--home", str(tmp_path / "run" / "sandbox"), "calendar",
         "cortana", "--json"], env=env, capture_output=True, text=True, timeout=60,
    )
    assert [e["title"] for e in json.loads(listed.stdout)["events"]] == ["dentist"], listed.stdout + listed.stderr
