"""Todos, events and the assistant's settings travel with ``sync``: a union by id, the newer
``updated_at`` wins, a tombstone sticks. The merge on real SQLite files with the store's real
schema, then two machines and a bare remote with real git (as in test_sync_machines)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from framework.domain.assistant import CalendarEvent, Todo
from framework.storage.assistant import AssistantStore
from framework.storage.messages import SCHEMA
from framework.sync.dbmerge import merge_database
from framework.sync.snapshot import take_snapshot

from .test_sync_machines import Machine, assert_clean_repository, machines  # noqa: F401  (the fixture)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def todo(id_: str, title: str, at: datetime) -> Todo:
    return Todo(id=id_, title=title, notes="", due_at=None, due_all_day=False, priority="normal", status="open",
                created_at=T0, updated_at=at, completed_at=None)


def event(id_: str, title: str, at: datetime) -> CalendarEvent:
    return CalendarEvent(id=id_, title=title, start_at=T0 + timedelta(days=1), end_at=T0 + timedelta(days=1, hours=1),
                         all_day=False, location="", notes="", created_at=T0, updated_at=at)


def write(path: Path, *actions: object) -> None:
    """Run store calls (``(method name, args...)``) against the real AssistantStore at ``path``."""

    async def go() -> None:
        store = await AssistantStore.open(path)
        try:
            for name, *args in actions:  # type: ignore[misc]
                await getattr(store, name)(*args)
        finally:
            await store.close()

    asyncio.run(go())


def table(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        found = db.execute(sql).fetchall()
    db.close()
    return found


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_newer_row_wins_and_a_tombstone_is_never_undone(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    shared = [("add_todo", todo("t1", "milk", at(0))), ("add_todo", todo("t2", "bread", at(0))),
              ("add_event", event("e1", "dentist", at(0))), ("add_event", event("e2", "gym", at(0)))]
    write(a, *shared)
    write(b, *shared)
    write(a, ("save_todo", todo("t1", "oat milk", at(5))),  # A edits t1 first...
          ("delete_event", "e1", at(10)),                              # ...and deletes e1
          ("save_todo", todo("t2", "rye bread", at(30))),     # A's edit of t2 is the newer one
          ("add_todo", todo("t3", "only on A", at(1))),
          ("set_setting", "timezone", "Europe/Berlin", at(1)))
    write(b, ("save_todo", todo("t1", "soy milk", at(20))),  # ...B edits t1 later: B's wins
          ("save_event", event("e1", "dentist at 10", at(40))),  # an edit after A's delete: still deleted
          ("save_todo", todo("t2", "white bread", at(15))),
          ("delete_event", "e2", at(3)),                               # B deletes e2, A never touched it
          ("set_setting", "timezone", "Asia/Tokyo", at(2)))            # the newer setting

    # each side merges the other's copy: both end with the same rows
    merge_database(a, b)
    merge_database(b, a)
    todos = "SELECT id, title, updated_at FROM todos ORDER BY id"
    events = "SELECT id, title, deleted_at IS NOT NULL FROM events ORDER BY id"
    for side in (a, b):
        assert [r[:2] for r in table(side, todos)] == [("t1", "soy milk"), ("t2", "rye bread"), ("t3", "only on A")]
        assert table(side, events) == [("e1", "dentist at 10", 1), ("e2", "gym", 1)]
        assert table(side, "SELECT key, value FROM assistant_settings") == [("timezone", "Asia/Tokyo")]
    assert table(a, "SELECT * FROM todos ORDER BY id") == table(b, "SELECT * FROM todos ORDER BY id")
    assert table(a, "SELECT * FROM events ORDER BY id") == table(b, "SELECT * FROM events ORDER BY id")

    async def live_events(path: Path) -> list[str]:
        store = await AssistantStore.open(path)
        try:
            return [e.id for e in await store.events_between(T0, T0 + timedelta(days=7))]
        finally:
            await store.close()

    assert asyncio.run(live_events(a)) == []  # deleted on one side: gone on both
    again = merge_database(a, b)
    assert not again.changed, "a second merge changes nothing"


def test_equal_update_times_still_converge(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    write(a, ("add_todo", todo("t1", "from A", at(0))))
    write(b, ("add_todo", todo("t1", "from B", at(0))))
    merge_database(a, b)
    merge_database(b, a)
    assert table(a, "SELECT title FROM todos") == table(b, "SELECT title FROM todos") == [("from B",)]


def test_the_snapshot_carries_the_assistant_tables(tmp_path: Path) -> None:
    live, snapshot = tmp_path / "messages.db", tmp_path / "snapshot.db"
    with sqlite3.connect(live) as db:
        db.executescript(SCHEMA)
    db.close()
    write(live, ("add_todo", todo("t1", "milk", at(0))), ("set_setting", "timezone", "Europe/Berlin", at(0)))
    take_snapshot(live, snapshot)
    fresh = tmp_path / "other" / "messages.db"
    assert merge_database(fresh, snapshot).created
    assert table(fresh, "SELECT id, title FROM todos") == [("t1", "milk")]
    assert "todos" in {r[0] for r in table(snapshot, "SELECT name FROM sqlite_master")}


def test_two_machines_sync_todos_events_and_settings(machines: tuple[Machine, Machine]) -> None:  # noqa: F811
    a, b = machines
    for machine in (a, b):
        machine.add_messages(f"{machine.name}-m")  # the message history the bot keeps anyway
    write(a.live_db, ("add_todo", todo("t1", "milk", at(0))), ("add_event", event("e1", "dentist", at(0))),
          ("set_setting", "timezone", "Europe/Berlin", at(0)))
    a.synced()
    b.synced()
    assert table(b.live_db, "SELECT id, title FROM todos") == [("t1", "milk")]

    write(a.live_db, ("delete_event", "e1", at(10)), ("save_todo", todo("t1", "oat milk", at(5))))
    write(b.live_db, ("save_event", event("e1", "dentist moved", at(20))), ("save_todo", todo("t1", "soy milk", at(30))),
          ("add_todo", todo("t2", "from B", at(1))), ("set_setting", "timezone", "America/New_York", at(40)))
    a.synced()
    b.synced()
    a.synced()
    for machine in (a, b):
        assert table(machine.live_db, "SELECT id, title FROM todos ORDER BY id") == [("t1", "soy milk"), ("t2", "from B")]
        assert table(machine.live_db, "SELECT id, deleted_at IS NOT NULL FROM events") == [("e1", 1)], machine.name
        assert table(machine.live_db, "SELECT value FROM assistant_settings") == [("America/New_York",)]
        assert_clean_repository(machine)
