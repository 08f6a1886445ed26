"""``bot_manager todos``, ``calendar`` and ``reminders`` through Typer's CliRunner, on a real database in a tmp BOT_HOME."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from framework.cli import app, assistant_cmds
from framework.cli.common import CliContext
from framework.domain.assistant import CalendarEvent, Todo
from framework.storage.assistant import AssistantStore

from .conftest import write_bot

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=timezone.utc)  # Friday; Berlin changes to summer time on Sunday


def invoke(home: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), obj=CliContext(home=home, environ={}))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_bot(tmp_path, extra="assistant:\n  enabled: true\n  timezone: Europe/Berlin\n")
    monkeypatch.setattr(assistant_cmds, "_now", lambda: NOW)
    monkeypatch.setattr(assistant_cmds, "out", Console(width=160, color_system=None, highlight=False, soft_wrap=True))
    return tmp_path


def fill(home: Path) -> None:
    def todo(id_: str, title: str, **kw: object) -> Todo:
        fields: dict = dict(notes="", due_at=None, due_all_day=False, priority="normal", status="open",
                            created_at=NOW, updated_at=NOW, completed_at=None)
        fields.update(kw)
        return Todo(id=id_, title=title, **fields)

    def event(id_: str, title: str, start: datetime, end: datetime, **kw: object) -> CalendarEvent:
        fields: dict = dict(all_day=False, location="", notes="", created_at=NOW, updated_at=NOW)
        fields.update(kw)
        return CalendarEvent(id=id_, title=title, start_at=start, end_at=end, **fields)

    async def go() -> None:
        store = await AssistantStore.open(home / "persistence" / "alpha" / "messages.db")
        try:
            await store.add_todo(todo("t-late", "file taxes", due_at=NOW - timedelta(days=1), priority="high"))
            await store.add_todo(todo("t-soon", "buy milk", due_at=NOW + timedelta(hours=3), notes="oat"))
            await store.add_todo(todo("t-done", "call mum", status="done", completed_at=NOW))
            await store.add_todo(todo("t-gone", "deleted one"))
            await store.delete_todo("t-gone", NOW)
            utc = timezone.utc
            await store.add_event(event("e-fri", "standup", datetime(2026, 3, 27, 8, 0, tzinfo=utc),
                                        datetime(2026, 3, 27, 8, 30, tzinfo=utc), location="office"))
            await store.add_event(event("e-sun", "brunch", datetime(2026, 3, 29, 9, 0, tzinfo=utc),
                                        datetime(2026, 3, 29, 10, 0, tzinfo=utc)))
            await store.add_event(event("e-far", "holiday", datetime(2026, 4, 20, 22, 0, tzinfo=utc),
                                        datetime(2026, 4, 21, 22, 0, tzinfo=utc), all_day=True))
        finally:
            await store.close()

    asyncio.run(go())


def test_todos_table_and_json(home: Path) -> None:
    fill(home)
    result = invoke(home, "todos", "alpha")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines.index(next(l for l in lines if "file taxes" in l)) < lines.index(next(l for l in lines if "buy milk" in l))
    assert "Thu 2026-03-26 13:00 overdue" in result.output and "oat" in result.output
    assert "call mum" not in result.output and "deleted one" not in result.output
    assert "2 open, 0 done; times in Europe/Berlin" in result.output

    everything = invoke(home, "todos", "alpha", "--all")
    assert "call mum" in everything.output and "done" in everything.output

    document = json.loads(invoke(home, "todos", "alpha", "--all", "--json").output)
    assert document["time_zone"] == "Europe/Berlin"
    assert [t["id"] for t in document["todos"]] == ["t-late", "t-soon", "t-done"]
    assert document["todos"][1] == {"id": "t-soon", "title": "buy milk", "priority": "normal", "status": "open",
                                    "notes": "oat", "due": "2026-03-27T16:00+01:00"}


def test_calendar_range_table_and_json_in_the_persons_zone(home: Path) -> None:
    fill(home)
    week = invoke(home, "calendar", "alpha")
    assert week.exit_code == 0, week.output
    assert "Fri 2026-03-27" in week.output and "09:00–09:30" in week.output and "office" in week.output
    assert "Sun 2026-03-29" in week.output and "11:00–12:00" in week.output  # summer time by then
    assert "holiday" not in week.output
    assert "2 events from Fri 2026-03-27 00:00 to Fri 2026-04-03 00:00 (Europe/Berlin)" in week.output

    later = json.loads(invoke(home, "calendar", "alpha", "--from", "2026-04-01", "--to", "2026-04-30", "--json").output)
    assert later["from"] == "2026-04-01T00:00+02:00" and later["to"] == "2026-05-01T00:00+02:00"
    assert later["events"] == [{"id": "e-far", "title": "holiday", "all_day": True, "start": "2026-04-21",
                                "end": "2026-04-21", "day": "Tuesday"}]
    one_day = invoke(home, "calendar", "alpha", "--from", "2026-03-29", "--to", "2026-03-29")
    assert "brunch" in one_day.output and "standup" not in one_day.output


def test_bad_ranges_unknown_bots_and_empty_databases(home: Path) -> None:
    bad = invoke(home, "calendar", "alpha", "--from", "2026-03-29T10:00")
    assert bad.exit_code == 2 and "no UTC offset" in bad.output
    backwards = invoke(home, "calendar", "alpha", "--from", "2026-03-29", "--to", "2026-03-28")
    assert backwards.exit_code == 2 and "must be after --from" in backwards.output
    assert invoke(home, "todos", "nobody").exit_code == 1
    assert "alpha has no open todos" in invoke(home, "todos", "alpha").output  # no database yet
    assert "alpha has no events" in invoke(home, "calendar", "alpha").output
    assert json.loads(invoke(home, "todos", "alpha", "--json").output)["todos"] == []


def test_the_stored_zone_wins_and_nothing_is_written(home: Path) -> None:
    fill(home)
    db = home / "persistence" / "alpha" / "messages.db"

    async def set_zone() -> None:
        store = await AssistantStore.open(db)
        await store.set_setting("timezone", "America/New_York", NOW)
        await store.close()

    asyncio.run(set_zone())
    before = db.stat().st_mtime_ns, sqlite3.connect(db).execute("SELECT COUNT(*) FROM todos").fetchone()
    document = json.loads(invoke(home, "calendar", "alpha", "--json").output)
    assert document["time_zone"] == "America/New_York" and document["events"][0]["start"] == "2026-03-27T04:00-04:00"
    assert db.stat().st_mtime_ns == before[0]


def test_reminders_table_and_json(home: Path) -> None:
    from framework.storage.reminders import ReminderStore

    async def go() -> None:
        store = await ReminderStore.open(home / "persistence" / "alpha" / "messages.db")
        try:
            stretch = await store.add(text="stretch", due_at=NOW + timedelta(minutes=2), repeat="none",
                                      timezone="Europe/Berlin", local_time="", now=NOW)
            await store.add(text="water the plants", due_at=NOW + timedelta(days=1), repeat="daily",
                            timezone="Europe/Berlin", local_time="13:00:00", now=NOW)
            gone = await store.add(text="never mind", due_at=NOW + timedelta(hours=1), repeat="none",
                                   timezone="Europe/Berlin", local_time="", now=NOW)
            await store.cancel(gone.id, NOW)
            assert stretch.id
        finally:
            await store.close()

    assert "alpha has no pending reminders" in invoke(home, "reminders", "alpha").output
    asyncio.run(go())
    table = invoke(home, "reminders", "alpha")
    assert table.exit_code == 0, table.output
    assert "Fri 2026-03-27 13:02" in table.output and "stretch" in table.output and "daily" in table.output
    assert "never mind" not in table.output and "2 reminders; times in Europe/Berlin" in table.output
    assert "never mind" in invoke(home, "reminders", "alpha", "--all").output
    document = json.loads(invoke(home, "reminders", "alpha", "--json").output)
    assert [r["text"] for r in document["reminders"]] == ["stretch", "water the plants"]
    assert document["reminders"][0]["status"] == "pending" and document["time_zone"] == "Europe/Berlin"
