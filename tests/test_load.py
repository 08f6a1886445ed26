"""The load test against the sandbox: 50 messages in 5 minutes, time compressed
30x through the bot's config (the 30 s check runs every second, cooldowns and rate
windows shrink alike). The bot must stay inside every limit, not crash, and keep its
memory flat. The load generator paces itself with real time; nothing waits on the bot
that way: its replies are awaited as sandbox events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from tests.stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub
from framework.sandbox import DANA_USER_ID, GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread

from .conftest import write_bot

REPO = Path(__file__).resolve().parent.parent
TOKEN = "sandbox.alpha.load-token-0123456789"
COMPRESS = 30  # 5 minutes -> 10 seconds
COMPRESSED = f"""\
personality:
  base_prompt: "You are a terse test bot."
  engagement: {{cold_conversation_rate: 1.0, warm_conversation_rate: 1.0, hot_conversation_rate: 1.0}}
reactive:
  check_interval_seconds: {30 / COMPRESS}
  max_typing_seconds: {15 / COMPRESS}
  cooldowns: {{per_user: {40 / COMPRESS}, single_message: {45 / COMPRESS}, multi_message: {75 / COMPRESS}, heavy_activity: {105 / COMPRESS}}}
rate_limiting:
  windows:
    short: {{duration_minutes: {5 / COMPRESS}, max_responses: 20}}
    long: {{duration_minutes: {60 / COMPRESS}, max_responses: 200}}
  engagement_tracking_delay: {30 / COMPRESS}
api:
  throttling: {{min_delay_seconds: 0}}
supervisor: {{ready_timeout_seconds: 60, startsecs: 60}}
"""

pytestmark = pytest.mark.slow


def test_fifty_messages_in_five_compressed_minutes(tmp_path: Path) -> None:
    bot = write_bot(tmp_path)
    text = bot.read_text().replace('personality:\n  base_prompt: "You are a terse test bot."\n', "")
    bot.write_text(text + COMPRESSED)
    with SandboxThread() as sandbox:
        stub = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES))
        sandbox.run(stub.start())
        bot_id = sandbox.add_bot(TOKEN, "alpha")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_"))}
        env.update(ALPHA_BOT_TOKEN=TOKEN, DISCORD_API_BASE=sandbox.api_base, DISCORD_GATEWAY_URL=sandbox.gateway_url,
                   ANTHROPIC_API_KEY="test-key-load", ANTHROPIC_BASE_URL=stub.base_url)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, str(REPO / "bot_manager.py"), "--home", str(tmp_path), *args],
                                  env=env, capture_output=True, text=True, timeout=90)

        assert cli("spawn", "alpha").returncode == 0
        try:
            pid = json.loads(cli("status", "alpha", "--json").stdout)[0]["pid"]
            process = psutil.Process(pid)
            mentions = []
            rss = []
            interval = 300 / COMPRESS / 50  # 50 messages spread over the compressed 5 minutes
            for i in range(50):
                author = HUMAN_USER_ID if i % 2 else DANA_USER_ID
                content = f"<@{bot_id}> question {i}?" if i % 10 == 9 else f"chatter {i} about the game tonight"
                sent = sandbox.inject_message(GENERAL_CHANNEL_ID, author, content)
                if i % 10 == 9:
                    mentions.append(sent["id"])
                if i in (10, 49):
                    rss.append(process.memory_info().rss)
                time.sleep(interval)  # the load generator's pace, not a wait for the bot
            # every mention gets its threaded answer
            for mention_id in mentions:
                sandbox.wait_for_event(
                    lambda e, m=mention_id: e["type"] == "message" and e["author_id"] == bot_id
                    and (e["message"].get("message_reference") or {}).get("message_id") == m,
                    timeout=30,
                )
            assert process.is_running() and json.loads(cli("status", "alpha", "--json").stdout)[0]["state"] == "running"
        finally:
            assert cli("stop", "alpha").returncode == 0
            sandbox.run(stub.stop())
        replies = [m for m in sandbox.messages(GENERAL_CHANNEL_ID) if m["author"]["id"] == bot_id]
    times = sorted(datetime.fromisoformat(m["timestamp"]).timestamp() for m in replies)
    window = 300 / COMPRESS
    busiest = max(sum(1 for t in times if start <= t < start + window) for start in times)
    assert 5 <= len(replies) and busiest <= 20  # inside the short window's 20 replies
    assert len(replies) < 50  # restraint: cooldowns and batching, not a reply per message
    assert rss[1] - rss[0] < 15 * 2**20  # memory flat (well under 15 MB of growth)
    decisions = [json.loads(line) for line in (tmp_path / "logs" / "alpha.conversation.jsonl").read_text().splitlines()]
    answered = [d["message_id"] for d in decisions if d["decision"] == "reply"]
    assert len(answered) == len(set(answered))  # nothing answered twice
