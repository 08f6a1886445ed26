"""Snapshots and ``merge_database`` against real SQLite files with the bot's real schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from framework.storage.ledger import LEDGER_SCHEMA
from framework.storage.messages import SCHEMA
from framework.sync.dbmerge import merge_database
from framework.sync.snapshot import take_snapshot

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAx.GaBcDe.abcdefghijklmnopqrstuvwxyz012345"
COLUMNS = (
    "message_id, channel_id, guild_id, author_id, author_name, content, timestamp, is_bot, has_attachments, mentions, "
    "edited_at, deleted_at"
)
ARCHIVE = """
CREATE TABLE IF NOT EXISTS messages_archive (
    id INTEGER PRIMARY KEY, message_id TEXT UNIQUE NOT NULL, channel_id TEXT NOT NULL, guild_id TEXT NOT NULL,
    author_id TEXT NOT NULL, author_name TEXT NOT NULL, content TEXT, timestamp DATETIME NOT NULL,
    is_bot BOOLEAN NOT NULL, has_attachments BOOLEAN NOT NULL, mentions TEXT, created_at DATETIME,
    reference_id TEXT, edited_at DATETIME, deleted_at DATETIME
);
"""
PROACTIVE = """
CREATE TABLE IF NOT EXISTS proactive_posts (
    message_id TEXT PRIMARY KEY, guild_id TEXT, channel_id TEXT, kind TEXT, posted_at TEXT, outcome TEXT, evaluated_at TEXT
);
"""


def make_db(path: Path, *extra_schema: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA + "".join(extra_schema))
    return db


def add(db: sqlite3.Connection, message_id: str, content: str = "hi", *, table: str = "messages",
        edited_at: str | None = None, deleted_at: str | None = None) -> None:
    db.execute(
        f"INSERT INTO {table} ({COLUMNS}) VALUES (?, '10', '1', '2', 'dana', ?, ?, 0, 0, '[]', ?, ?)",
        (message_id, content, f"2025-01-01T00:00:{int(message_id[1:]) % 60:02d}.000000Z", edited_at, deleted_at),
    )


def rows(path: Path, table: str = "messages", cols: str = "message_id, content, edited_at, deleted_at") -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT {cols} FROM {table} ORDER BY 1").fetchall()


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def test_merge_is_a_union_by_message_id_that_keeps_local_ids_and_is_idempotent(tmp_path: Path) -> None:
    live, source = make_db(tmp_path / "live.db"), make_db(tmp_path / "src.db")
    for mid in ("m1", "m2"):
        add(live, mid)
    for mid in ("m0", "m2", "m3"):  # m2 on both sides, under a different rowid there
        add(source, mid)
    db_ids_before = live.execute("SELECT message_id, id FROM messages ORDER BY message_id").fetchall()
    source.execute("INSERT INTO reactions VALUES ('m1', '7', '👍', '2025-01-01')")

    stats = merge_database(tmp_path / "live.db", tmp_path / "src.db")
    assert stats.new_messages == 2 and stats.inserted["messages"] == 2 and stats.inserted["reactions"] == 1
    assert [r[0] for r in rows(tmp_path / "live.db")] == ["m0", "m1", "m2", "m3"]
    ids_after = dict(live.execute("SELECT message_id, id FROM messages").fetchall())
    assert all(ids_after[mid] == rowid for mid, rowid in db_ids_before)  # never copied from the other machine

    again = merge_database(tmp_path / "live.db", tmp_path / "src.db")
    assert again.new_messages == 0 and not again.changed
    assert integrity(tmp_path / "live.db") == "ok"


def test_newer_edit_wins_and_a_delete_sticks(tmp_path: Path) -> None:
    live, source = make_db(tmp_path / "live.db"), make_db(tmp_path / "src.db")
    add(live, "m1", "edited here later", edited_at="2025-02-02T00:00:00.000000Z")
    add(source, "m1", "edited there first", edited_at="2025-02-01T00:00:00.000000Z")
    add(live, "m2", "original")
    add(source, "m2", "edited there", edited_at="2025-02-01T00:00:00.000000Z")
    add(live, "m3", "gone", deleted_at="2025-02-03T00:00:00.000000Z")
    add(source, "m3", "gone")
    add(live, "m4", "still here")
    add(source, "m4", "still here", deleted_at="2025-02-04T00:00:00.000000Z")
    stats = merge_database(tmp_path / "live.db", tmp_path / "src.db")
    assert stats.updated["messages"] == 2
    assert rows(tmp_path / "live.db") == [
        ("m1", "edited here later", "2025-02-02T00:00:00.000000Z", None),
        ("m2", "edited there", "2025-02-01T00:00:00.000000Z", None),
        ("m3", "gone", None, "2025-02-03T00:00:00.000000Z"),
        ("m4", "still here", None, "2025-02-04T00:00:00.000000Z"),
    ]


def test_an_archived_message_is_never_in_both_tables(tmp_path: Path) -> None:
    live, source = make_db(tmp_path / "live.db", ARCHIVE), make_db(tmp_path / "src.db", ARCHIVE)
    add(live, "m1", table="messages_archive")  # archived here, still hot there
    add(source, "m1", "edited there", edited_at="2025-03-01T00:00:00.000000Z")
    add(live, "m2", "hot here")  # hot here, archived there
    add(source, "m2", "hot here", table="messages_archive")
    add(source, "m3", table="messages_archive")  # only there, archived
    stats = merge_database(tmp_path / "live.db", tmp_path / "src.db")
    assert rows(tmp_path / "live.db") == []
    assert rows(tmp_path / "live.db", "messages_archive") == [
        ("m1", "edited there", "2025-03-01T00:00:00.000000Z", None),  # the edit reached the archived row
        ("m2", "hot here", None, None),
        ("m3", "hi", None, None),
    ]
    assert stats.new_messages == 1  # m3; m2 only moved


def test_a_table_missing_here_is_created_and_an_evaluated_outcome_wins(tmp_path: Path) -> None:
    live, source = make_db(tmp_path / "live.db"), make_db(tmp_path / "src.db", PROACTIVE)
    source.executemany(
        "INSERT INTO proactive_posts VALUES (?, '1', '10', 'provocation', '2025-01-01', ?, ?)",
        [("p1", None, None), ("p2", "replied", "2025-01-02")],
    )
    merge_database(tmp_path / "live.db", tmp_path / "src.db")
    assert rows(tmp_path / "live.db", "proactive_posts", "message_id, outcome") == [("p1", None), ("p2", "replied")]
    # the other machine evaluated p1 later; this one's NULL never overwrites an outcome
    source.execute("UPDATE proactive_posts SET outcome = 'ignored', evaluated_at = '2025-01-03' WHERE message_id = 'p1'")
    live.execute("UPDATE proactive_posts SET outcome = NULL, evaluated_at = NULL WHERE message_id = 'p2'")
    source.execute("UPDATE proactive_posts SET outcome = NULL, evaluated_at = NULL WHERE message_id = 'p2'")
    live.execute("UPDATE proactive_posts SET outcome = 'replied', evaluated_at = '2025-01-02' WHERE message_id = 'p2'")
    merge_database(tmp_path / "live.db", tmp_path / "src.db")
    assert rows(tmp_path / "live.db", "proactive_posts", "message_id, outcome") == [("p1", "ignored"), ("p2", "replied")]


def test_ledger_and_keyless_tables_are_not_merged(tmp_path: Path) -> None:
    live, source = make_db(tmp_path / "live.db", LEDGER_SCHEMA), make_db(tmp_path / "src.db", LEDGER_SCHEMA)
    source.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    source.execute("INSERT INTO notes (text) VALUES ('x')")
    source.execute(
        "INSERT INTO llm_calls (time, bot_id, provider, model, purpose, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, web_searches, latency_ms, ok) VALUES ('2025-01-01T00:00:00Z', 'alpha', 'anthropic', 'm', "
        "'reply', 1, 1, 0, 0, 0, 5, 1)"
    )
    stats = merge_database(tmp_path / "live.db", tmp_path / "src.db")
    assert "llm_calls" not in stats.inserted and rows(tmp_path / "live.db", "llm_calls", "id") == []
    assert stats.skipped == {"notes": "no key to match rows on (only a machine-local rowid)"}


def test_a_missing_live_database_is_created_from_the_source(tmp_path: Path) -> None:
    source = make_db(tmp_path / "src.db", LEDGER_SCHEMA)
    add(source, "m1")
    source.close()
    live = tmp_path / "persistence" / "alpha" / "messages.db"
    stats = merge_database(live, tmp_path / "src.db")
    assert stats.created and stats.new_messages == 1
    with sqlite3.connect(live) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert "llm_calls" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert rows(live) == [("m1", "hi", None, None)]
    assert merge_database(live, tmp_path / "nowhere.db").changed is False


def test_a_corrupt_source_is_a_store_error_naming_both_files(tmp_path: Path) -> None:
    from framework.errors import StoreError

    make_db(tmp_path / "live.db")
    (tmp_path / "src.db").write_bytes(b"<<<<<<< not a database\n" * 100)
    with pytest.raises(StoreError, match="src.db into .*live.db"):
        merge_database(tmp_path / "live.db", tmp_path / "src.db")


def test_snapshot_is_consistent_compact_redacted_and_only_rewritten_on_change(tmp_path: Path) -> None:
    live_path, snap = tmp_path / "messages.db", tmp_path / "snapshot.db"
    live = make_db(live_path, LEDGER_SCHEMA)
    add(live, "m1", f"my token is {TOKEN}, oops")
    add(live, "m2", "fine")
    writer = sqlite3.connect(live_path, isolation_level=None)  # a bot mid-transaction
    writer.execute("BEGIN IMMEDIATE")
    add(writer, "m3", "not committed yet")

    result = take_snapshot(live_path, snap)
    assert result.changed and result.messages == 2 and result.new_messages == 2
    assert rows(snap, cols="message_id, content") == [("m1", "my token is [REDACTED], oops"), ("m2", "fine")]
    assert TOKEN.encode() not in snap.read_bytes()  # no freed page keeps it either
    assert TOKEN in rows(live_path)[0][1]  # the live database is untouched
    assert not Path(f"{snap}-wal").exists() and integrity(snap) == "ok"
    with sqlite3.connect(snap) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert "llm_calls" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}

    writer.execute("ROLLBACK")
    mtime = snap.stat().st_mtime_ns
    again = take_snapshot(live_path, snap)
    assert not again.changed and snap.stat().st_mtime_ns == mtime  # no new blob for git
    writer.execute("BEGIN IMMEDIATE")
    add(writer, "m3", "now committed")
    writer.execute("COMMIT")
    third = take_snapshot(live_path, snap)
    assert third.changed and third.new_messages == 1


def test_snapshot_redacts_known_secret_values(tmp_path: Path) -> None:
    live = make_db(tmp_path / "messages.db")
    add(live, "m1", "the sandbox token is plain-looking-token-value")
    take_snapshot(tmp_path / "messages.db", tmp_path / "snapshot.db", {"plain-looking-token-value": "ALPHA_BOT_TOKEN"})
    assert rows(tmp_path / "snapshot.db", cols="content") == [("the sandbox token is [REDACTED:ALPHA_BOT_TOKEN]",)]


@pytest.mark.parametrize(
    "secret",
    [TOKEN, "sk-ant-api03-abcdefghijklmnop", "gsk_ABCDEFGHIJKLMNOPQRSTUV", "Authorization: Bot abc.def.ghi"],
)
def test_every_secret_shape_is_redacted_in_the_snapshot(tmp_path: Path, secret: str) -> None:
    live = make_db(tmp_path / "messages.db")
    add(live, "m1", f"look: {secret} (pasted)")
    live.execute("UPDATE messages SET author_name = ? WHERE message_id = 'm1'", (f"name {secret}",))
    take_snapshot(tmp_path / "messages.db", tmp_path / "snapshot.db")
    data = (tmp_path / "snapshot.db").read_bytes()
    assert secret.split(" ")[-1].encode() not in data
    assert rows(tmp_path / "snapshot.db", cols="content")[0][0].startswith("look: ")
