"""History backfill, on plain data: which missed messages are still owed, what is stored and
handed on, and reply parents fetched on demand into the context sent to the model."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from framework.domain import IncomingMessage
from framework.engines.backfill import Backfill, BackfillSettings, ParentFetcher, is_owed, snowflake_at
from framework.engines.context import ContextBuilder, ContextRequest
from framework.ports import HistoryChannel
from framework.storage import MessageStore

from .fakes import FakeClock

BOT = "900"
SESSION = datetime.fromisoformat("2026-11-22T12:00:00+00:00")  # when the new gateway session began


def msg(minutes_ago: float, content: str = "hi", *, channel: str = "c1", author: str = "u1", **kw: object) -> IncomingMessage:
    """A message ``minutes_ago`` before SESSION, its id a real snowflake of that time."""
    at = SESSION - timedelta(minutes=minutes_ago)
    fields: dict[str, object] = dict(
        message_id=str(snowflake_at(at) + int(kw.pop("n", 0))), channel_id=channel, guild_id="g1", author_id=author,
        author_name={"u1": "dana", "u2": "sam", BOT: "Alpha"}.get(author, author), content=content, timestamp=at,
        is_self=author == BOT, is_bot=author == BOT, channel_name="general",
    )
    fields.update(kw)
    return IncomingMessage(**fields)  # type: ignore[arg-type]


class FakeHistory:
    """``HistoryPort`` over a dict of channel -> messages (oldest first), recording each request."""

    def __init__(self, messages: dict[str, list[IncomingMessage]], latest: dict[str, str | None] | None = None) -> None:
        self.messages = messages
        self.latest = latest
        self.requests: list[tuple[str, int, int]] = []
        self.fetches: list[str] = []
        self.broken: set[str] = set()
        self.slow: set[str] = set()

    def readable_channels(self) -> list[HistoryChannel]:
        latest = self.latest or {}
        return [HistoryChannel(c, latest.get(c)) for c in self.messages if not c.startswith("dm")]

    async def history_after(self, channel_id: str, after_id: int, limit: int) -> list[IncomingMessage]:
        self.requests.append((channel_id, after_id, limit))
        if channel_id in self.broken:
            raise RuntimeError("403 Missing Access")
        newer = [m for m in self.messages.get(channel_id, []) if int(m.message_id) > after_id]
        return newer[-limit:]

    async def fetch_message(self, channel_id: str, message_id: str) -> IncomingMessage | None:
        self.fetches.append(message_id)
        if message_id in self.slow:
            await asyncio.sleep(10)
        return next((m for m in self.messages.get(channel_id, []) if m.message_id == message_id), None)


class Delivered:
    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []

    async def __call__(self, message: IncomingMessage) -> None:
        self.messages.append(message)


def backfill(store: MessageStore, history: FakeHistory, clock: FakeClock, delivered: Delivered, **settings: object) -> Backfill:
    return Backfill(history=history, store=store, clock=clock, settings=BackfillSettings(**settings), deliver=delivered)  # type: ignore[arg-type]


# -- the rule ---------------------------------------------------------------------------------


def test_only_recent_messages_addressed_to_the_bot_are_owed() -> None:
    now, within = SESSION, timedelta(minutes=5)

    def owed(message: IncomingMessage, parent_author: str | None = None) -> bool:
        return is_owed(message, now=now, within=within, self_user_id=BOT, parent_author_id=parent_author)

    assert owed(msg(4, "<@900> hello?", mentions_self=True))
    assert owed(msg(5, "<@900> hello?", mentions_self=True))  # the window's edge counts
    assert not owed(msg(5.1, "<@900> hello?", mentions_self=True))  # older: stored, not answered
    assert owed(msg(1, "psst", guild_id=None))  # a DM
    assert not owed(msg(30, "psst", guild_id=None))
    assert owed(msg(1, "right?", reference_id="1"), parent_author=BOT)  # a reply to the bot
    assert not owed(msg(1, "right?", reference_id="1"), parent_author="u2")  # a reply to someone else
    assert not owed(msg(1, "just chatting"))
    assert not owed(msg(1, "talking to myself <@900>", author=BOT, mentions_self=True))


def test_snowflake_at_matches_discords_epoch() -> None:
    # 175928847299117063 is Discord's documented example, created 2016-04-30 11:18:25.796 UTC.
    assert snowflake_at(datetime.fromisoformat("2016-04-30T11:18:25.796+00:00")) == 175928847299117063 >> 22 << 22


# -- the backfill -------------------------------------------------------------------------------


async def test_missed_messages_are_stored_and_only_recent_owed_ones_handed_on(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    clock = FakeClock(SESSION + timedelta(seconds=3))
    seen = msg(120, "before the outage")
    await store.add(seen)
    older = msg(150, "older than what is stored")  # before the last stored one: not asked for
    gap = [
        msg(60, "while you were away"),
        msg(30, "<@900> old question", mentions_self=True),
        msg(2, "<@900> new question", mentions_self=True),
        msg(1, "dm", guild_id=None, channel="dm1"),
    ]
    await store.add(msg(500, "an old dm", guild_id=None, channel="dm1"))  # the store knows this DM channel
    history = FakeHistory({"c1": [older, seen, *gap[:3]], "dm1": [gap[3]]})
    delivered = Delivered()
    report = await backfill(store, history, clock, delivered).run(session_started=SESSION, self_user_id=BOT)

    assert [m.content for m in delivered.messages] == ["<@900> new question", "dm"]
    assert await store.known_ids(m.message_id for m in gap) == {m.message_id for m in gap}
    assert await store.get(older.message_id) is None
    assert (report.channels, report.stored, report.owed, report.failed) == (2, 4, 2, [])
    assert history.requests[0] == ("c1", int(seen.message_id), 500)
    await store.close()


async def test_a_second_backfill_stores_and_answers_nothing_twice(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    clock = FakeClock(SESSION)
    mention = msg(1, "<@900> still there?", mentions_self=True)
    history = FakeHistory({"c1": [msg(3, "hello"), mention]})
    delivered = Delivered()
    job = backfill(store, history, clock, delivered)
    await job.run(session_started=SESSION, self_user_id=BOT)
    answer = msg(0.5, "yes", author=BOT)  # not threaded: what the bot says after a mention is its answer
    history.messages["c1"].append(answer)
    await store.add(answer)
    clock.advance(30)
    again = await job.run(session_started=SESSION + timedelta(seconds=30), self_user_id=BOT)  # a reconnect
    assert [m.message_id for m in delivered.messages] == [mention.message_id]
    assert again.stored == 0 and again.owed == 0
    assert await store.count() == 3
    await store.close()


async def test_a_stored_mention_whose_answer_never_went_out_is_still_owed(tmp_path: Path) -> None:
    """Killed while typing the answer: the mention is stored, no answer exists; after the
    restart it is owed again. One that came live in the new session is the live path's."""
    store = await MessageStore.open(tmp_path / "db")
    before = msg(2, "<@900> are you ok?", mentions_self=True)
    live = msg(-0.2, "<@900> hello again", mentions_self=True)  # a moment after the session began
    await store.add_many([before, live])
    delivered = Delivered()
    await backfill(store, FakeHistory({"c1": [before, live]}), FakeClock(SESSION), delivered).run(
        session_started=SESSION, self_user_id=BOT
    )
    assert [m.message_id for m in delivered.messages] == [before.message_id]
    await store.close()


async def test_a_mention_the_bot_already_answered_is_not_answered_again(tmp_path: Path) -> None:
    """Killed right after answering: its reply reached Discord but the mention never reached the store."""
    store = await MessageStore.open(tmp_path / "db")
    mention = msg(2, "<@900> quick one", mentions_self=True)
    answer = msg(1.9, "sure", author=BOT, reference_id=mention.message_id)
    unanswered = msg(1, "<@900> and another", mentions_self=True, n=1)
    # Answered in a thread, and the answer since deleted on Discord: the store still knows.
    in_dm = msg(3, "psst", guild_id=None, channel="dm1")
    await store.add_many([msg(1.5, "ok", author=BOT, reference_id=in_dm.message_id, guild_id=None, channel="dm1")])
    delivered = Delivered()
    history = FakeHistory({"c1": [mention, answer, unanswered], "dm1": [in_dm]})
    await backfill(store, history, FakeClock(SESSION), delivered).run(session_started=SESSION, self_user_id=BOT)
    assert [m.message_id for m in delivered.messages] == [unanswered.message_id]
    await store.close()


async def test_a_reply_to_the_bot_in_the_gap_is_owed(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    ours = msg(10, "what do you all think?", author=BOT)
    await store.add(ours)
    reply = msg(1, "I think yes", reference_id=ours.message_id)
    aside = msg(0.5, "me too", author="u2", reference_id=reply.message_id)
    delivered = Delivered()
    await backfill(store, FakeHistory({"c1": [ours, reply, aside]}), FakeClock(SESSION), delivered).run(
        session_started=SESSION, self_user_id=BOT
    )
    assert [m.content for m in delivered.messages] == ["I think yes"]
    await store.close()


async def test_count_and_age_bound_what_is_asked_for(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    clock = FakeClock(SESSION)
    history = FakeHistory({"c1": [msg(60 * 30, "a day and more ago"), *[msg(60 - i, f"m{i}") for i in range(10)]]})
    await backfill(store, history, clock, Delivered(), max_messages=4, max_age=timedelta(hours=24)).run(
        session_started=SESSION, self_user_id=BOT
    )
    channel, after, limit = history.requests[0]
    assert after == snowflake_at(SESSION - timedelta(hours=24)) and limit == 4  # nothing stored: the age floor
    assert [m.content for m in await store.get_recent("c1", 20)] == ["m6", "m7", "m8", "m9"]  # the newest four
    await store.close()


async def test_the_search_starts_before_the_session_so_live_messages_do_not_hide_the_gap(tmp_path: Path) -> None:
    """A live message of the new session, stored before the backfill looks, is not taken
    for the last one seen: the messages posted before it in the gap are still fetched."""
    store = await MessageStore.open(tmp_path / "db")
    before = msg(90, "before the outage")
    gap = msg(20, "during the outage")
    live = msg(-0.1, "just now, live")  # posted a moment after the session began
    await store.add_many([before, live])
    await backfill(store, FakeHistory({"c1": [before, gap, live]}), FakeClock(SESSION), Delivered()).run(
        session_started=SESSION, self_user_id=BOT
    )
    assert await store.get(gap.message_id) is not None
    await store.close()


async def test_a_channel_with_nothing_new_costs_no_request_and_a_failing_one_stops_no_other(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    quiet = msg(90, "old news", channel="quiet")
    await store.add(quiet)
    history = FakeHistory(
        {"quiet": [quiet], "broken": [msg(5, "x", channel="broken")], "c1": [msg(5, "y")]},
        latest={"quiet": quiet.message_id, "broken": None, "c1": None},
    )
    history.broken.add("broken")
    report = await backfill(store, history, FakeClock(SESSION), Delivered()).run(session_started=SESSION, self_user_id=BOT)
    assert [r[0] for r in history.requests] == ["broken", "c1"]
    assert report.failed == ["broken"] and report.stored == 1
    await store.close()


async def test_start_runs_in_the_background_and_a_newer_session_replaces_a_running_one(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    history = FakeHistory({"c1": [msg(1, "<@900> hi", mentions_self=True)]})
    delivered = Delivered()
    job = backfill(store, history, FakeClock(SESSION), delivered)
    first = job.start(session_started=SESSION, self_user_id=BOT)
    second = job.start(session_started=SESSION, self_user_id=BOT)
    assert first is not None and second is not None
    report = await job.wait()
    assert first.cancelled() and report is not None and report.owed == 1
    assert len(delivered.messages) == 1
    assert backfill(store, history, FakeClock(SESSION), delivered, enabled=False).start(
        session_started=SESSION, self_user_id=BOT
    ) is None
    await store.close()


# -- reply parents ------------------------------------------------------------------------------


async def test_a_reply_parent_missing_from_the_store_is_fetched_stored_and_shown_to_the_model(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    parent = msg(60 * 48, "the lighthouse keeper's riddle", author="u2")  # never stored: older than any backfill
    question = msg(1, "<@900> what did this mean?", mentions_self=True, reference_id=parent.message_id)
    await store.add(question)
    history = FakeHistory({"c1": [parent, question]})
    builder = ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="P", store=store)
    builder.parents = ParentFetcher(history, store, timeout=1.0)
    request = await builder.build(ContextRequest("c1", "#general", [question], question, urgent=True))
    text = request.turns[0].content
    assert "replies to this thread:\nsam: the lighthouse keeper's riddle" in text
    assert (await store.get(parent.message_id)) is not None  # stored: the next request needs no fetch
    await builder.build(ContextRequest("c1", "#general", [question], question, urgent=True))
    assert history.fetches == [parent.message_id]
    await store.close()


async def test_parent_fetches_are_bounded_per_request_and_in_time(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    chain: list[IncomingMessage] = []
    for i in range(6):  # each step replies to the one before
        chain.append(msg(100 - i, f"step {i}", reference_id=chain[-1].message_id if chain else None))
    history = FakeHistory({"c1": chain})
    builder = ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="P", store=store)
    builder.parents = ParentFetcher(history, store, timeout=1.0)
    builder.parent_fetches = 2
    lines = await builder.reply_chain(chain[5].reference_id, channel_id="c1")
    assert len(history.fetches) == 2
    assert lines == ["[a deleted or older message]", "dana: step 3", "dana: step 4"]

    slow = msg(5, "too slow to fetch", author="u2")
    history.messages["c1"].append(slow)
    history.slow.add(slow.message_id)
    builder.parents = ParentFetcher(history, store, timeout=0.05)
    assert await builder.reply_chain(slow.message_id, channel_id="c1") == ["[a deleted or older message]"]

    gone = "123"  # deleted on Discord: asked for once, then remembered
    assert await builder.reply_chain(gone, channel_id="c1") == ["[a deleted or older message]"]
    assert await builder.reply_chain(gone, channel_id="c1") == ["[a deleted or older message]"]
    assert history.fetches.count(gone) == 1
    await store.close()


# -- the store's part -------------------------------------------------------------------------


async def test_store_queries_for_the_backfill(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    a, b = msg(30, "a"), msg(10, "b")
    reply = msg(5, "answer", author=BOT, reference_id=a.message_id)
    await store.add_many([a, b, reply, msg(40, "dm", guild_id=None, channel="dm1"), msg(3, "dm", guild_id=None, channel="dm2")])
    assert await store.last_message_id("c1", before=SESSION) == reply.message_id
    assert await store.last_message_id("c1", before=SESSION - timedelta(minutes=20)) == a.message_id
    assert await store.last_message_id("nowhere", before=SESSION) is None
    assert await store.dm_channel_ids(10) == ["dm2", "dm1"]
    assert await store.dm_channel_ids(1) == ["dm2"]
    assert await store.known_ids([a.message_id, "42"]) == {a.message_id}
    assert await store.replied_to([a.message_id, b.message_id], BOT) == {a.message_id}
    assert await store.replied_to([a.message_id], "u1") == set()
    await store.close()


async def test_a_shard_process_without_shard_0_leaves_direct_messages_to_the_one_with_it(tmp_path: Path) -> None:
    """Direct messages come on shard 0; the shard processes share one database, so only the
    process running shard 0 reads the known DM channels back (or a missed DM is answered twice)."""
    store = await MessageStore.open(tmp_path / "db")
    clock = FakeClock(SESSION + timedelta(seconds=3))
    await store.add(msg(500, "an old dm", guild_id=None, channel="dm1"))
    missed = msg(1, "dm", guild_id=None, channel="dm1")
    history = FakeHistory({"c1": [], "dm1": [missed]})
    without, with_dms = Delivered(), Delivered()
    await backfill(store, history, clock, without, direct_messages=False).run(session_started=SESSION, self_user_id=BOT)
    assert without.messages == [] and all(channel != "dm1" for channel, _, _ in history.requests)
    await backfill(store, history, clock, with_dms).run(session_started=SESSION, self_user_id=BOT)
    assert [m.content for m in with_dms.messages] == ["dm"]
    await store.close()
