"""What the agentic engine reads from SQLite: activity queries, moving old messages to the
archive without loss (even when killed mid-batch), the proactive log and its evaluation,
and that every new query is served by an index."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from framework.domain import IncomingMessage
from framework.storage import ChannelInfo, MessageStore, ProactiveLog, ProactivePost

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(days=100)
MIN = timedelta(minutes=1)
REPO = Path(__file__).resolve().parent.parent


def msg(i: int, *, at: datetime | None = None, channel: str = "c1", guild: str | None = "g1",
        author: str = "u1", is_bot: bool = False, **kw: object) -> IncomingMessage:
    return IncomingMessage(
        message_id=str(1000 + i),
        channel_id=channel,
        guild_id=guild,
        author_id=author,
        author_name=f"name-{author}",
        content=f"message {i}",
        timestamp=at or T0 + timedelta(seconds=i),
        is_bot=is_bot,
        **kw,  # type: ignore[arg-type]
    )


class Opened:
    """Stores and logs a test opened, closed at teardown even when the test fails (an open
    aiosqlite connection keeps its thread, and with it the test process, alive)."""

    def __init__(self) -> None:
        self.handles: list[MessageStore | ProactiveLog] = []

    async def store(self, path: Path) -> MessageStore:
        self.handles.append(store := await MessageStore.open(path))
        return store

    async def log(self, path: Path) -> ProactiveLog:
        self.handles.append(log := await ProactiveLog.open(path))
        return log

    async def close(self, handle: MessageStore | ProactiveLog) -> None:
        self.handles.remove(handle)
        await handle.close()


@pytest.fixture
async def opened():  # type: ignore[no-untyped-def]
    handles = Opened()
    yield handles
    for handle in reversed(handles.handles):
        await handle.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "messages.db"


@pytest.fixture
async def store(opened: Opened, db_path: Path) -> MessageStore:
    return await opened.store(db_path)


@pytest.fixture
async def log(opened: Opened, db_path: Path) -> ProactiveLog:
    return await opened.log(db_path)


# -- activity ---------------------------------------------------------------------------------


async def test_last_seen_per_guild_and_in_dms(store: MessageStore) -> None:
    await store.add_many([
        msg(1, at=T0, author="dana"),
        msg(2, at=T0 + 5 * MIN, author="dana"),
        msg(3, at=T0 + 9 * MIN, author="dana", guild="g2", channel="c9"),
        msg(4, at=T0 + 7 * MIN, author="dana", guild=None, channel="dm1"),
        msg(5, at=T0 + 8 * MIN, author="eli"),
    ])
    assert await store.last_seen("dana", guild_id="g1") == T0 + 5 * MIN
    assert await store.last_seen("dana", guild_id="g2") == T0 + 9 * MIN
    assert await store.last_seen("dana", guild_id=None) == T0 + 7 * MIN
    assert await store.last_seen("nobody", guild_id="g1") is None
    # A deleted message does not count as being seen.
    await store.mark_deleted("1002", T0 + 20 * MIN)
    assert await store.last_seen("dana", guild_id="g1") == T0


async def test_authors_since_and_last_message_at(store: MessageStore) -> None:
    await store.add_many([
        msg(1, at=T0, author="dana"),
        msg(2, at=T0 + 1 * MIN, author="eli"),
        msg(3, at=T0 + 2 * MIN, author="bot", is_bot=True),
        msg(4, at=T0 + 3 * MIN, author="fay"),
        msg(5, at=T0 + 4 * MIN, author="bot", is_bot=True),
        msg(6, at=T0 + 1 * MIN, author="gus", channel="c2"),
    ])
    assert await store.authors_since("c1", T0 + 1 * MIN) == {"eli", "fay"}  # at `since` counts
    assert await store.authors_since("c1", T0 + 1 * MIN, humans_only=False) == {"eli", "fay", "bot"}
    assert await store.authors_since("c1", T0, until=T0 + 2 * MIN) == {"dana", "eli"}
    assert await store.authors_since("c1", T0 + 5 * MIN) == set()
    await store.mark_deleted("1004", T0 + 10 * MIN)
    assert await store.authors_since("c1", T0 + 2 * MIN) == set()
    assert await store.last_message_at("c1") == T0 + 4 * MIN
    assert await store.last_message_at("c1", humans_only=True) == T0 + 1 * MIN  # fay's was deleted
    assert await store.last_message_at("nowhere") is None


async def test_channel_info(store: MessageStore) -> None:
    await store.add_many([
        msg(1, at=T0, author="dana"),
        msg(2, at=T0 + MIN, author="bot", is_bot=True),
        msg(3, at=T0 + MIN, channel="dm1", guild=None),
    ])
    assert await store.channel_info("c1") == ChannelInfo("c1", "g1", T0 + MIN, T0)
    dm = await store.channel_info("dm1")
    assert dm is not None and dm.guild_id is None and dm.last_message_at == T0 + MIN
    assert await store.channel_info("unknown") is None


async def test_reaction_users(store: MessageStore) -> None:
    await store.add(msg(1))
    await store.add_reaction("1001", "u2", "👍", T0 + MIN)
    await store.add_reaction("1001", "u3", "🎉", T0 + 40 * MIN)
    await store.add_reaction("1001", "u2", "🎉", T0 + 2 * MIN)
    assert await store.reaction_users("1001") == {"u2", "u3"}
    assert await store.reaction_users("1001", until=T0 + 30 * MIN) == {"u2"}
    await store.remove_reaction("1001", "u3", "🎉")
    assert await store.reaction_users("1001") == {"u2"}


# -- cleanup_old ------------------------------------------------------------------------------


async def _old_and_new(store: MessageStore) -> list[IncomingMessage]:
    old = [msg(i, at=NOW - timedelta(days=95, minutes=i), channel=f"c{i % 3}",
               reference_id=str(1000 + i - 1) if i > 1 else None, mentions=("u9",) if i % 2 else ())
           for i in range(1, 11)]
    new = [msg(100 + i, at=NOW - timedelta(days=10, minutes=i), channel=f"c{i % 3}") for i in range(5)]
    await store.add_many(old + new)
    return old


async def test_cleanup_moves_old_messages_without_loss(store: MessageStore) -> None:
    old = await _old_and_new(store)
    await store.mark_edited("1003", "edited", NOW - timedelta(days=94))
    await store.mark_deleted("1004", NOW - timedelta(days=94))
    await store.add_reaction("1005", "u2", "👍", NOW - timedelta(days=94))
    ids = [m.message_id for m in old]
    before = {i: await store.get(i) for i in ids}
    assert await store.count() == 15

    assert await store.cleanup_old(90, now=NOW, batch=3) == 10  # 4 batches, the last partial
    assert await store.count() == 5
    assert await store.count_archived() == 10
    # Archived messages read back equal, edits and deletes included; reactions stay.
    assert {i: await store.get(i) for i in ids} == before
    assert await store.reactions_for(["1005"]) == {"1005": {"👍": 1}}
    # The hot-table readers no longer see them.
    for channel in ("c0", "c1", "c2"):
        assert all(m.timestamp > NOW - timedelta(days=90) for m in await store.get_recent(channel))
    # Idempotent.
    assert await store.cleanup_old(90, now=NOW, batch=3) == 0
    assert (await store.count(), await store.count_archived()) == (5, 10)
    # Batch exactly the number of rows: one full batch, then an empty one.
    assert await store.cleanup_old(5, now=NOW, batch=5) == 5
    assert (await store.count(), await store.count_archived()) == (0, 15)


async def test_archived_message_is_not_stored_again_and_stays_editable(opened: Opened, db_path: Path) -> None:
    store = await opened.store(db_path)
    old = await _old_and_new(store)
    await store.cleanup_old(90, now=NOW)
    # A late replay of an archived message (and a new message in the same call).
    await store.add_many([old[0], msg(500, at=NOW)])
    assert (await store.count(), await store.count_archived()) == (6, 10)
    assert await store.mark_edited(old[1].message_id, "late edit", NOW)
    assert await store.mark_deleted(old[2].message_id, NOW)
    await opened.close(store)
    # The horizon survives a restart.
    store = await opened.store(db_path)
    await store.add(old[3])
    assert (await store.count(), await store.count_archived()) == (6, 10)
    edited, deleted = await store.get(old[1].message_id), await store.get(old[2].message_id)
    assert edited is not None and edited.content == "late edit" and edited.edited_at == NOW
    assert deleted is not None and deleted.deleted
    # An old message never seen before (a backfill) is stored.
    await store.add(msg(600, at=NOW - timedelta(days=200)))
    assert await store.count() == 7


async def test_channel_known_only_from_the_archive(store: MessageStore) -> None:
    await store.add_many([msg(1, at=NOW - timedelta(days=120), channel="quiet", guild="g7")])
    await store.cleanup_old(90, now=NOW)
    info = await store.channel_info("quiet")
    assert info == ChannelInfo("quiet", "g7", NOW - timedelta(days=120), NOW - timedelta(days=120))


async def test_cleanup_interleaved_with_ingest(store: MessageStore) -> None:
    await store.add_many([msg(i, at=NOW - timedelta(days=95, seconds=i)) for i in range(300)])

    async def ingest() -> None:
        for i in range(300, 360):
            await store.add(msg(i, at=NOW + timedelta(seconds=i)))

    moved, _ = await asyncio.gather(store.cleanup_old(90, now=NOW, batch=7), ingest())
    assert moved == 300
    assert (await store.count(), await store.count_archived()) == (60, 300)


async def test_cleanup_rejects_bad_arguments(store: MessageStore) -> None:
    with pytest.raises(ValueError, match="days"):
        await store.cleanup_old(-1, now=NOW)
    with pytest.raises(ValueError, match="batch"):
        await store.cleanup_old(90, now=NOW, batch=0)


KILLED_MID_BATCH = textwrap.dedent("""
    import asyncio, os, signal, sys
    from datetime import datetime, timezone
    from pathlib import Path
    from framework.storage import MessageStore

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    async def main():
        store = await MessageStore.open(Path(sys.argv[1]))
        await store._db.create_function("die", 0, die)
        # Killed inside the third batch's statement, after 250 of its rows were copied.
        await store._db.execute(
            "CREATE TEMP TRIGGER die_mid_batch AFTER INSERT ON main.messages_archive "
            "WHEN (SELECT COUNT(*) FROM messages_archive) = 250 BEGIN SELECT die(); END")
        await store.cleanup_old(90, now=datetime(2027, 6, 1, tzinfo=timezone.utc), batch=100)

    asyncio.run(main())
""")


async def test_a_kill_mid_batch_loses_and_duplicates_nothing(opened: Opened, db_path: Path) -> None:
    path = db_path
    store = await opened.store(path)
    await store.add_many([msg(i, at=T0 + timedelta(seconds=i)) for i in range(1000)])
    await opened.close(store)
    child = subprocess.run([sys.executable, "-c", KILLED_MID_BATCH, str(path)], cwd=REPO, timeout=60,
                           capture_output=True, text=True)
    assert child.returncode == -9, child.stderr
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        hot = {r[0] for r in db.execute("SELECT message_id FROM messages")}
        archived = {r[0] for r in db.execute("SELECT message_id FROM messages_archive")}
    assert len(archived) == 200  # two committed batches; the third rolled back whole
    assert hot | archived == {str(1000 + i) for i in range(1000)} and not hot & archived
    # The next run finishes the job.
    store = await opened.store(path)
    assert await store.cleanup_old(90, now=datetime(2027, 6, 1, tzinfo=timezone.utc)) == 800
    assert (await store.count(), await store.count_archived()) == (0, 1000)


# -- the proactive log ------------------------------------------------------------------------


async def test_record_and_read_posts(log: ProactiveLog) -> None:
    await log.record(message_id="p1", guild_id="g1", channel_id="c1", kind="proactive", posted_at=T0)
    await log.record(message_id="p2", guild_id="g1", channel_id="c2", kind="proactive", posted_at=T0 + 2 * MIN)
    await log.record(message_id="f1", guild_id=None, channel_id="dm1", kind="followup", posted_at=T0 + 3 * MIN)
    await log.record(message_id="p1", guild_id="g1", channel_id="c1", kind="proactive", posted_at=T0 + 9 * MIN)
    assert [p.message_id for p in await log.posts_since(T0)] == ["p1", "p2", "f1"]
    assert [p.message_id for p in await log.posts_since(T0 + MIN)] == ["p2", "f1"]
    assert [p.message_id for p in await log.posts_since(T0, kind="proactive", channel_id="c1")] == ["p1"]
    assert (await log.posts_since(T0, kind="followup"))[0] == ProactivePost("f1", None, "dm1", "followup", T0 + 3 * MIN)
    assert await log.last_post_at() == T0 + 2 * MIN  # proactive by default
    assert await log.last_post_at(kind=None) == T0 + 3 * MIN
    assert await log.last_post_at(channel_id="c1") == T0
    assert await log.last_post_at(channel_id="c9") is None
    with pytest.raises(ValueError, match="kind"):
        await log.record(message_id="x", guild_id="g1", channel_id="c1", kind="spam", posted_at=T0)
    with pytest.raises(ValueError, match="outcome"):
        await log.set_outcome("p1", "loved", T0)


async def test_evaluate_writes_outcomes_back(store: MessageStore, log: ProactiveLog) -> None:
    now = T0 + 3 * timedelta(hours=1)
    posts = {  # message id -> channel
        "2001": "answered", "2002": "only-bot", "2003": "reacted", "2004": "late", "2005": "self-react",
        "2006": "deleted-reply", "2007": "recent",
    }
    for i, (mid, channel) in enumerate(posts.items()):
        at = now - 10 * MIN if channel == "recent" else T0 + i * MIN
        await store.add(msg(int(mid) - 1000, at=at, channel=channel, author="bot", is_bot=True))
        await log.record(message_id=mid, guild_id="g1", channel_id=channel, kind="proactive", posted_at=at)
    t = {channel: T0 + i * MIN for i, channel in enumerate(posts.values())}
    await store.add_many([
        msg(1, at=t["answered"] + 10 * MIN, channel="answered", author="dana"),
        # the bot's own follow-up messages are not engagement
        msg(2, at=t["only-bot"] + 5 * MIN, channel="only-bot", author="bot", is_bot=True),
        msg(3, at=t["late"] + 31 * MIN, channel="late", author="dana"),
        msg(4, at=t["deleted-reply"] + 5 * MIN, channel="deleted-reply", author="dana"),
        msg(5, at=t["only-bot"] - 5 * MIN, channel="only-bot", author="dana"),  # before the post
    ])
    await store.mark_deleted("1004", t["deleted-reply"] + 6 * MIN)
    await store.add_reaction("2003", "eli", "👍", t["reacted"] + 20 * MIN)
    await store.add_reaction("2005", "bot", "👍", t["self-react"] + MIN)

    assert await log.evaluate(store, now=now, window_minutes=30, self_id="bot") == 6
    outcomes = {p.channel_id: p.outcome for p in await log.posts_since(T0)}
    assert outcomes == {
        "answered": "engaged", "only-bot": "ignored", "reacted": "engaged", "late": "ignored",
        "self-react": "ignored", "deleted-reply": "ignored", "recent": None,
    }
    assert all(p.evaluated_at == now for p in await log.posts_since(T0) if p.outcome)
    assert await log.evaluate(store, now=now, self_id="bot") == 0  # nothing left whose window passed
    assert await log.evaluate(store, now=now + 30 * MIN, self_id="bot") == 1  # the recent one, now due


async def test_success_rates(log: ProactiveLog) -> None:
    for i, (channel, kind, outcome) in enumerate([
        ("c1", "proactive", "engaged"), ("c1", "proactive", "ignored"), ("c1", "proactive", "engaged"),
        ("c1", "proactive", None), ("c1", "followup", "ignored"), ("c2", "proactive", "ignored"),
    ]):
        await log.record(message_id=f"m{i}", guild_id="g1", channel_id=channel, kind=kind,
                         posted_at=T0 + timedelta(days=i))
        if outcome:
            await log.set_outcome(f"m{i}", outcome, T0 + timedelta(days=i, hours=1))
    assert await log.success_rates(T0) == {"c1": (2, 3), "c2": (0, 1)}
    assert await log.success_rates(T0 + timedelta(days=1)) == {"c1": (1, 2), "c2": (0, 1)}
    assert await log.success_rates(T0 + timedelta(days=9)) == {}
    assert [p.message_id for p in await log.pending_evaluation(T0 + timedelta(days=9))] == ["m3"]


# -- every new query uses an index ------------------------------------------------------------


TABLES = r"(messages|messages_archive|reactions|proactive_posts)"


async def test_new_queries_use_indexes(store: MessageStore, log: ProactiveLog, db_path: Path) -> None:
    await store.add_many([msg(i, at=NOW - timedelta(days=95 - i / 100), channel=f"c{i % 20}", author=f"u{i % 30}")
                          for i in range(3000)])
    await log.record(message_id="1001", guild_id="g1", channel_id="c1", kind="proactive", posted_at=T0)
    statements: list[str] = []
    await store._db.set_trace_callback(statements.append)
    await log._db.set_trace_callback(statements.append)
    await store.last_seen("u1", guild_id="g1")
    await store.authors_since("c1", T0, until=NOW)
    await store.authors_since("c1", T0, humans_only=False)
    await store.last_message_at("c1", humans_only=True)
    await store.channel_info("c1")
    await store.channel_info("gone")  # falls through to the archive
    await store.reaction_users("1001", until=NOW)
    await store.cleanup_old(90, now=NOW, batch=500)
    await store.get("1001")  # archived by now
    await store.mark_edited("1002", "x", NOW)
    await log.posts_since(T0, channel_id="c1", kind="proactive")
    await log.posts_since(T0)
    await log.last_post_at()
    await log.last_post_at(channel_id="c1")
    await log.pending_evaluation(NOW)
    await log.success_rates(T0)
    await store._db.set_trace_callback(None)
    await log._db.set_trace_callback(None)
    queries = sorted({s for s in statements if re.match(r"\s*(SELECT|DELETE|UPDATE)", s)})
    assert len(queries) >= 15
    with sqlite3.connect(db_path) as db:
        for sql in queries:
            plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]
            for step in plan:
                if re.match(rf"(SCAN|SEARCH) {TABLES}\b", step):
                    # A search of an index range, or the newest row first along an index
                    # (ORDER BY ... LIMIT stops at the first match); never a table scan.
                    ordered_walk = step.startswith("SCAN") and "INDEX" in step and "LIMIT" in sql
                    assert (step.startswith("SEARCH") and "USING" in step) or ordered_walk, f"{sql}\n  -> {plan}"
