"""A fresh clone's bot starts with the committed history: the runtime merges
``persistence/<bot>/snapshot.db`` (written by ``bot_manager sync``) into its live database."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from framework.config import load_bot_config
from framework.domain import IncomingMessage
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.storage import MessageStore

from .conftest import write_bot


def _message(n: int) -> IncomingMessage:
    return IncomingMessage(
        message_id=str(9000 + n), channel_id="c1", guild_id="g1", author_id="u1", author_name="dana",
        content=f"message {n}", timestamp=datetime(2026, 11, 1, 12, n, tzinfo=timezone.utc),
    )


async def _write(db: Path, numbers: range) -> None:
    store = await MessageStore.open(db)
    await store.add_many([_message(n) for n in numbers])
    await store.close()


def _ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT message_id FROM messages")}


def test_committed_snapshot_is_merged_into_the_live_database_once(tmp_path: Path) -> None:
    config = load_bot_config(write_bot(tmp_path), tmp_path)
    paths = BotPaths(tmp_path, "alpha")
    paths.persistence.mkdir(parents=True)
    other = tmp_path / "other-machine.db"
    asyncio.run(_write(other, range(0, 5)))
    shutil.copy(other, paths.persistence / "snapshot.db")  # what a pull brings
    asyncio.run(_write(paths.database, range(3, 8)))  # this machine's own history overlaps it

    runtime = BotRuntime(config, paths, environ={})
    runtime._adopt_synced_history()
    assert _ids(paths.database) == {str(9000 + n) for n in range(0, 8)}  # the union, no duplicates

    # Unchanged snapshot: not merged again (a row deleted locally stays deleted).
    with sqlite3.connect(paths.database) as conn:
        conn.execute("DELETE FROM messages WHERE message_id = '9000'")
    runtime._adopt_synced_history()
    assert "9000" not in _ids(paths.database)


def test_fresh_clone_without_a_live_database_starts_from_the_snapshot(tmp_path: Path) -> None:
    config = load_bot_config(write_bot(tmp_path), tmp_path)
    paths = BotPaths(tmp_path, "alpha")
    paths.persistence.mkdir(parents=True)
    asyncio.run(_write(paths.persistence / "snapshot.db", range(0, 3)))
    BotRuntime(config, paths, environ={})._adopt_synced_history()
    assert _ids(paths.database) == {"9000", "9001", "9002"}
    with sqlite3.connect(paths.database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_snapshot_that_is_not_a_database_does_not_stop_the_bot(tmp_path: Path) -> None:
    config = load_bot_config(write_bot(tmp_path), tmp_path)
    paths = BotPaths(tmp_path, "alpha")
    paths.persistence.mkdir(parents=True)
    (paths.persistence / "snapshot.db").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\n")
    asyncio.run(_write(paths.database, range(0, 2)))
    BotRuntime(config, paths, environ={})._adopt_synced_history()  # logs a warning, no exception
    assert _ids(paths.database) == {"9000", "9001"}
