"""Reminders travel with ``sync``: the snapshot carries the table, and the merge is a union
by id where the row with the newer ``updated_at`` wins (so a reminder sent or cancelled
on one machine is not pending again on the other). Real SQLite files, the real store."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from framework.storage.messages import SCHEMA
from framework.storage.reminders import ReminderStore, read_reminders
from framework.sync.dbmerge import merge_database
from framework.sync.snapshot import take_snapshot

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _add(db: Path, text: str, at: datetime) -> str:
    store = await ReminderStore.open(db)
    try:
        reminder = await store.add(text=text, due_at=at + timedelta(hours=1), repeat="none", timezone="UTC",
                                   local_time="13:00:00", now=at)
        return reminder.id
    finally:
        await store.close()


async def _send(db: Path, reminder_id: str, at: datetime) -> None:
    store = await ReminderStore.open(db)
    try:
        reminder = await store.get(reminder_id)
        assert reminder is not None and await store.claim(reminder, "⏰ Reminder", at)
        assert await store.mark_sent(reminder_id, claimed_at=at, message_id="555", now=at)
    finally:
        await store.close()


async def _cancel(db: Path, reminder_id: str, at: datetime) -> None:
    store = await ReminderStore.open(db)
    try:
        assert await store.cancel(reminder_id, at)
    finally:
        await store.close()


def _statuses(db: Path) -> dict[str, str]:
    return {r.text: r.status for r in read_reminders(db, include_done=True)}


def test_the_snapshot_carries_reminders_and_the_newer_update_wins_both_ways(tmp_path: Path) -> None:
    laptop, desktop = tmp_path / "laptop" / "messages.db", tmp_path / "desktop" / "messages.db"
    shared = run(_add(laptop, "stretch", T0))
    cancelled = run(_add(laptop, "dentist", T0))
    snapshot = tmp_path / "snapshot.db"
    take_snapshot(laptop, snapshot)
    merge_database(desktop, snapshot)  # a fresh machine starts with the laptop's reminders
    first = tmp_path / "first.db"
    shutil.copy(snapshot, first)
    assert _statuses(desktop) == {"stretch": "pending", "dentist": "pending"}

    run(_send(desktop, shared, T0 + timedelta(hours=1)))  # delivered by the desktop
    run(_cancel(laptop, cancelled, T0 + timedelta(minutes=30)))  # cancelled on the laptop
    run(_add(desktop, "only here", T0 + timedelta(hours=2)))

    take_snapshot(desktop, snapshot)
    merge_database(laptop, snapshot)
    take_snapshot(laptop, snapshot)
    merge_database(desktop, snapshot)
    expected = {"stretch": "sent", "dentist": "cancelled", "only here": "pending"}
    assert _statuses(laptop) == expected and _statuses(desktop) == expected
    (sent,) = [r for r in read_reminders(laptop, include_done=True) if r.id == shared]
    assert sent.message_id == "555" and sent.sent_at == T0 + timedelta(hours=1)

    # an older row never overwrites a newer one: the first snapshot, merged again, changes nothing
    merge_database(desktop, first)
    merge_database(laptop, first)
    assert _statuses(laptop) == expected and _statuses(desktop) == expected


def test_reminders_share_the_message_database_with_the_message_store(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    run(_add(db, "stretch", T0))
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert {"messages", "reminders"} <= tables and mode == "wal"
