"""End to end with real processes: what is posted while the bot is stopped is in SQLite after
it restarts; only the recent mention and DM still owed are answered, each once; the old
mention is stored and left; the parent of a reply, never seen by the bot, is fetched and
shown to the model."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.sandbox_helpers import wait_for
from tests.stubs.anthropic import BACKGROUND_REPLIES
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, RANDOM_CHANNEL_ID

from .test_e2e import World, world  # noqa: F401  (the fixture: sandbox, Anthropic stub, project folder)

pytestmark = pytest.mark.slow


def ago(minutes: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(minutes=minutes)


def stored(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "persistence" / "alpha" / "messages.db") as db:
        return dict(db.execute("SELECT message_id, content FROM messages").fetchall())


def bot_replies(world: World, channel_id: str) -> list[dict[str, object]]:
    return [m for m in world.sandbox.messages(channel_id) if m["author"]["id"] == world.bot_user_id]


def test_messages_posted_while_stopped_are_stored_and_only_recent_owed_ones_answered(world: World) -> None:  # noqa: F811
    sandbox, bot = world.sandbox, world.bot_user_id
    log_file = world.home / "logs" / "alpha.log"

    # Run 1: the bot sees one message in #general and has a DM conversation.
    assert world.cli("spawn", "alpha").returncode == 0
    seen = sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "seen while running", at=ago(60))
    dm = sandbox.inject_dm(HUMAN_USER_ID, bot, "hello in private")
    sandbox.wait_for_event(lambda e: e["type"] == "message" and e["author_id"] == bot, timeout=30)
    wait_for(lambda: seen["id"] in stored(world.home), "the live message in SQLite", timeout=20)
    assert world.cli("stop", "alpha").returncode == 0

    # While it is stopped.
    riddle = sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "the lighthouse keeper's riddle", at=ago(90))
    away = sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, "while you were away", at=ago(50))
    old = sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot}> old question", at=ago(30))
    elsewhere = sandbox.inject_message(RANDOM_CHANNEL_ID, HUMAN_USER_ID, "meanwhile in random")
    recent = sandbox.inject_message(
        GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot}> new question: what did that mean?", reply_to=riddle["id"]
    )
    dm_gap = sandbox.inject_dm(HUMAN_USER_ID, bot, "are you back?")
    gap = [away, old, elsewhere, recent, dm_gap]

    # Run 2.
    mark = len(sandbox.events())
    assert world.cli("spawn", "alpha").returncode == 0
    for trigger in (recent, dm_gap):
        sandbox.wait_for_event(
            lambda e, t=trigger: e["type"] == "message" and e["author_id"] == bot
            and (e["message"].get("message_reference") or {}).get("message_id") == t["id"],
            timeout=30, since=mark,
        )
    wait_for(lambda: log_file.exists() and log_file.read_text().count("channels looked at") == 2, "run 2's backfill", timeout=20)
    rows = stored(world.home)
    assert {m["id"] for m in gap} <= set(rows)  # every missed message is stored
    assert rows[riddle["id"]] == "the lighthouse keeper's riddle"  # older than the last seen: fetched as a parent
    answered = [r["message_reference"]["message_id"] for r in bot_replies(world, GENERAL_CHANNEL_ID)]
    assert answered == [recent["id"]]  # the old mention was not answered, nor anything else
    assert bot_replies(world, RANDOM_CHANNEL_ID) == []
    asked = [
        r["body"]["messages"][-1]["content"][0]["text"] for r in world.stub.requests
        if r["body"]["model"] not in BACKGROUND_REPLIES
    ]
    about_recent = [text for text in asked if "new question" in text.split("is talking to you:")[-1]]
    assert len(about_recent) == 1 and "lighthouse keeper's riddle" in about_recent[0]

    assert world.cli("stop", "alpha").returncode == 0

    # Run 3: nothing new; what was answered is not answered again, nothing is stored twice.
    requests_before = len(world.stub.requests)
    assert world.cli("spawn", "alpha").returncode == 0
    wait_for(lambda: log_file.read_text().count("channels looked at") == 3, "run 3's backfill", timeout=20)
    assert world.cli("stop", "alpha").returncode == 0
    assert [r["message_reference"]["message_id"] for r in bot_replies(world, GENERAL_CHANNEL_ID)] == [recent["id"]]
    assert len(bot_replies(world, dm["channel_id"])) == 2  # hello, and are you back
    assert len(world.stub.requests) == requests_before
    with sqlite3.connect(world.home / "persistence" / "alpha" / "messages.db") as db:
        total, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT message_id) FROM messages").fetchone()
    sandbox_total = sum(len(sandbox.messages(c)) for c in (GENERAL_CHANNEL_ID, RANDOM_CHANNEL_ID, dm["channel_id"]))
    assert total == distinct == sandbox_total

    decisions = [
        json.loads(line) for line in (world.home / "logs" / "alpha.conversation.jsonl").read_text().splitlines()
    ]
    decided = {d["message_id"] for d in decisions}
    assert recent["id"] in decided and dm_gap["id"] in decided
    assert not decided & {away["id"], old["id"], elsewhere["id"], riddle["id"]}
