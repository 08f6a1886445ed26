"""Exactly once across a real SIGKILL between "due" and "sent".

A child process opens the bot's database, claims the due reminder and starts sending it;
"Discord" is a file of sent DMs the child appends to. The child is SIGKILLed either just
after its DM reached that file (the send done, not yet recorded) or just before (the
request never left). A new scheduler on the same database file, in this process, must
then leave exactly one DM: never lost, never doubled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from framework.assistant.reminder_delivery import SETTLE_SECONDS, ReminderDelivery
from framework.storage.reminders import ReminderStore, read_reminders

from .fakes import FakeClock

REPO = Path(__file__).resolve().parent.parent
MASTER = "123456789012345678"
DUE = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)

CHILD = r"""
import asyncio, json, sys
from datetime import datetime
from pathlib import Path
from framework.assistant.reminder_delivery import ReminderDelivery
from framework.storage.reminders import ReminderStore

db, discord_file, mode, now = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], datetime.fromisoformat(sys.argv[4])

class Clock:
    def now(self): return now
    def monotonic(self): return 0.0
    async def sleep(self, seconds): await asyncio.sleep(seconds)

class DMs:
    async def send_dm(self, user_id, content):
        if mode == "before":
            print("SENDING", flush=True)
            await asyncio.Event().wait()
        with discord_file.open("a") as f:
            f.write(json.dumps({"id": "9001", "user": user_id, "content": content, "at": now.isoformat()}) + "\n")
        print("SENT", flush=True)
        await asyncio.Event().wait()
    async def own_dms_since(self, user_id, after, limit=50):
        return []

async def main():
    store = await ReminderStore.open(db)
    await ReminderDelivery(store, DMs(), "123456789012345678", Clock()).run_once()

asyncio.run(main())
"""


class FileDiscord:
    """The same file of DMs, read and written by the scheduler that takes over."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        self.path = path
        self.clock = clock

    def sent(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    async def send_dm(self, user_id: str, content: str) -> str:
        message_id = str(9100 + len(self.sent()))
        with self.path.open("a") as f:
            f.write(json.dumps({"id": message_id, "user": user_id, "content": content,
                                "at": self.clock.now().isoformat()}) + "\n")
        return message_id

    async def own_dms_since(self, user_id: str, after: datetime, limit: int = 50) -> list[tuple[str, str]]:
        return [(m["id"], m["content"]) for m in self.sent()
                if m["user"] == user_id and datetime.fromisoformat(m["at"]) > after][:limit]


@pytest.mark.parametrize("killed", ["after", "before"], ids=["killed-after-the-dm-left", "killed-before-it-left"])
async def test_sigkill_between_claim_and_sent_leaves_exactly_one_dm(tmp_path: Path, killed: str) -> None:
    db, discord_file = tmp_path / "messages.db", tmp_path / "discord.jsonl"
    store = await ReminderStore.open(db)
    reminder = await store.add(text="take the cake out", due_at=DUE, repeat="none", timezone="UTC",
                               local_time="12:00:00", now=DUE - timedelta(minutes=5))
    await store.close()

    now = DUE + timedelta(seconds=10)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(discord_file), killed, now.isoformat()],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 30)
        assert line.strip() == ("SENT" if killed == "after" else "SENDING")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    (row,) = read_reminders(db)
    assert row.status == "sending" and row.claimed_at == now  # the claim survived the kill

    clock = FakeClock(now + timedelta(seconds=5))  # the keeper restarts the bot
    discord = FileDiscord(discord_file, clock)
    store = await ReminderStore.open(db)
    delivery = ReminderDelivery(store, discord, MASTER, clock)
    for _ in range(int(SETTLE_SECONDS // 30) + 2):
        await delivery.run_once()
        clock.advance(30)
    await store.close()

    sent = discord.sent()
    assert len(sent) == 1, sent
    (row,) = read_reminders(db, include_done=True)
    assert (row.id, row.status, row.message_id) == (reminder.id, "sent", sent[0]["id"])
    if killed == "before":
        assert sent[0]["content"] == "⏰ Reminder: take the cake out (late: was due 12:00)"
    else:
        assert sent[0]["content"] == "⏰ Reminder: take the cake out"
