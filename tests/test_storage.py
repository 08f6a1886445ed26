"""The SQLite message store: schema, WAL, ordering, edits, deletes, replays."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from framework.domain import IncomingMessage
from framework.storage import MessageStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def msg(i: int, channel: str = "c1", **kw: object) -> IncomingMessage:
    base = dict(
        message_id=str(1000 + i),
        channel_id=channel,
        guild_id="g1",
        author_id="u1",
        author_name="dana",
        content=f"message {i}",
        timestamp=T0 + timedelta(seconds=i),
    )
    base.update(kw)
    return IncomingMessage(**base)  # type: ignore[arg-type]


async def test_recent_is_oldest_first_and_limited(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "messages.db")
    # inserted out of order: the store orders by time, not by arrival
    await store.add_many([msg(i) for i in (3, 1, 2, 5, 4)] + [msg(9, channel="other")])
    recent = await store.get_recent("c1", limit=3)
    assert [m.content for m in recent] == ["message 3", "message 4", "message 5"]
    assert all(m.timestamp.tzinfo is not None for m in recent)
    await store.close()


async def test_messages_sharing_a_timestamp_come_back_in_the_order_sent(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "messages.db")
    # Snowflake ids grow with time; 999 < 1000 numerically though not as text.
    burst = [msg(0, message_id=mid, content=text, timestamp=T0) for mid, text in (("999", "one"), ("1000", "two"), ("1001", "three"))]
    await store.add_many(list(reversed(burst)))
    assert [m.content for m in await store.get_recent("c1")] == ["one", "two", "three"]
    assert [m.content for m in await store.get_recent("c1", limit=2)] == ["two", "three"]
    await store.close()


async def test_replayed_message_is_stored_once(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "messages.db")
    await store.add(msg(1))
    await store.add(msg(1))
    assert await store.count() == 1
    await store.close()


async def test_edit_and_delete_are_tracked(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "messages.db")
    await store.add_many([msg(1), msg(2, reference_id="1001", mentions=("u9",))])
    assert await store.mark_edited("1001", "edited text", T0 + timedelta(minutes=1))
    assert await store.mark_deleted("1002", T0 + timedelta(minutes=2))
    assert not await store.mark_deleted("1002", T0 + timedelta(minutes=3))  # once
    edited = await store.get("1001")
    assert edited is not None and edited.content == "edited text" and edited.edited_at is not None
    deleted = await store.get("1002")
    assert deleted is not None and deleted.deleted and deleted.reference_id == "1001" and deleted.mentions == ("u9",)
    assert [m.message_id for m in await store.get_recent("c1")] == ["1001"]
    assert len(await store.get_recent("c1", include_deleted=True)) == 2
    await store.close()


async def test_wal_mode_and_spec_schema(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    store = await MessageStore.open(path)
    await store.add(msg(1, guild_id=None))  # a DM
    with sqlite3.connect(path) as db:  # a second connection reads while the store is open (WAL)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
        assert db.execute("SELECT guild_id FROM messages").fetchone()[0] == ""
    assert {
        "message_id", "channel_id", "guild_id", "author_id", "author_name", "content", "timestamp",
        "is_bot", "has_attachments", "mentions", "created_at",
    } <= columns
    await store.close()
    # close() checkpoints: the committed .db alone holds everything
    assert not (tmp_path / "messages.db-wal").exists() or (tmp_path / "messages.db-wal").stat().st_size == 0
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1


def test_statements_run_through_the_helpers_that_close_cursors_in_the_connection_thread() -> None:
    """A cursor aiosqlite hands back and the caller drops is finalised on the event-loop
    thread, racing the connection's worker thread on a cached statement ("bad parameter or
    other API misuse", then a write lock never released: seen under a message flood). Every
    statement therefore goes through framework.storage.sqlite.run / run_many."""
    import re

    import framework.storage as package

    direct = re.compile(r"\b(?:self\._)?db\.execute(?:many)?\(")
    root = Path(package.__file__).parent
    offenders = [
        f"{path.name}:{n}"
        for path in sorted(root.glob("*.py"))
        if path.name != "sqlite.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert offenders == []


def test_stored_timestamps_read_back_as_the_same_utc_instant() -> None:
    from framework.storage.timestamps import from_db, to_db

    moment = datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=timezone.utc)
    assert from_db(to_db(moment)) == moment and from_db(to_db(moment)).tzinfo is timezone.utc
    assert from_db("2026-03-29T01:30:05.000000Z") == moment.replace(microsecond=0)
    # Not written by to_db, but read as the same instant in UTC all the same.
    assert from_db("2026-03-29T03:30:05.123456+02:00") == moment
    assert from_db("2026-03-29T01:30:05.123456") == moment
    assert from_db(None) is None
