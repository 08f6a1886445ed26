"""End to end against the sandbox with a scripted model: a follow-up's whole life.

Dana tells the bot about her interview; the (scripted) model files a follow-up through
the real memory tool; time passes the follow-up date; the bot's agentic loop (its
interval shortened through the config) asks her how it went, in that channel, once, and
moves the item to ``completed``. ``bot_manager followups`` shows it.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from framework.sandbox import GENERAL_CHANNEL_ID, GUILD_ID, HUMAN_USER_ID

from .conftest import write_bot
from .test_e2e import FAST_SUPERVISOR, World, world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

FOLLOW_UP_TEXT = "hey, how did the techcorp interview go?"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_interview_followup_is_asked_once_in_its_channel_and_completed(world: World) -> None:  # noqa: F811
    write_bot(world.home, extra=FAST_SUPERVISOR + """\
agentic:
  check_interval_hours: 0.0004   # about 1.4 s: the sandbox's shortened hour
  proactive:
    enabled: false
    quiet_hours: [0, 0]          # none: the test may run at any hour
""")
    now = datetime.now(timezone.utc)
    followups = {
        "pending": [{
            "id": "followup_001", "user_id": HUMAN_USER_ID, "user_name": "dana",
            "event": "Job interview at TechCorp", "mentioned_date": _iso(now),
            "expected_completion": _iso(now)[:10], "follow_up_after": _iso(now + timedelta(seconds=4)),
            "priority": "high", "context": "nervous about it", "channel_id": GENERAL_CHANNEL_ID,
        }],
        "completed": [],
    }
    path = f"/memories/servers/{GUILD_ID}/followups.json"
    world.stub.script.extend([
        {"stop_reason": "tool_use", "content": [{
            "type": "tool_use", "id": "toolu_1", "name": "memory",
            "input": {"command": "create", "path": path, "file_text": json.dumps(followups, indent=2)},
        }]},
        {"content": [{"type": "text", "text": "good luck, you'll be fine"}]},
        {"content": [{"type": "text", "text": json.dumps({
            "should_respond": True, "response_strategy": "single",
            "responses": [{"message": FOLLOW_UP_TEXT, "delay": 0}], "reasoning": "follow-up", "conversation_momentum": "cold",
        })}]},
    ])
    spawned = world.cli("spawn", "alpha")
    assert spawned.returncode == 0, spawned.stdout + spawned.stderr

    mark = len(world.sandbox.events())
    world.sandbox.inject_message(
        GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{world.bot_user_id}> I have my TechCorp interview on Tuesday, nervous"
    )
    first = world.sandbox.wait_for_event(
        lambda e: e["type"] == "message" and e["author_id"] == world.bot_user_id, timeout=20, since=mark
    )
    assert first["content"] == "good luck, you'll be fine"
    stored = world.home / "memories" / "alpha" / "servers" / GUILD_ID / "followups.json"
    assert json.loads(stored.read_text())["pending"][0]["id"] == "followup_001"  # the model filed it

    followed = world.sandbox.wait_for_event(
        lambda e: e["type"] == "message" and e["author_id"] == world.bot_user_id and e["index"] > first["index"],
        timeout=30, since=mark,
    )
    assert followed["content"] == FOLLOW_UP_TEXT
    assert followed["channel_id"] == GENERAL_CHANNEL_ID
    conversation = [r for r in world.stub.requests if r["body"]["model"] != "claude-haiku-4-5"]  # not profiles
    follow_request = conversation[2]["body"]
    assert "Job interview at TechCorp" in json.dumps(follow_request["messages"])

    # Several more agentic passes go by: it is asked once.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = json.loads(stored.read_text())
        if data["completed"]:
            break
        time.sleep(0.1)
    assert data["pending"] == []
    assert data["completed"][0]["id"] == "followup_001"
    assert FOLLOW_UP_TEXT in data["completed"][0]["outcome"]
    # Two more passes of the shortened loop (their time stamps in agentic.json): nothing more is sent.
    state = world.home / "persistence" / "alpha" / "agentic.json"
    seen: set[str] = set()
    deadline = time.monotonic() + 15
    while len(seen) < 3 and time.monotonic() < deadline:
        tick = json.loads(state.read_text())["last_tick"] if state.exists() else ""
        seen.add(tick)
        time.sleep(0.05)
    assert len(seen) >= 3, "the agentic loop stopped ticking"
    bot_messages = [
        e for e in world.sandbox.events()[mark:] if e["type"] == "message" and e["author_id"] == world.bot_user_id
    ]
    assert [m["content"] for m in bot_messages] == ["good luck, you'll be fine", FOLLOW_UP_TEXT]

    listed = world.cli("followups", "alpha", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    assert shown[f"servers/{GUILD_ID}"]["completed"][0]["id"] == "followup_001"
