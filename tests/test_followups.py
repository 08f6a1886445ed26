"""Follow-ups: priority scoring, the lenient parser and its repairs, the store's bookkeeping and locking."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from framework.domain import ConversationScope
from framework.memory import MemoryTool, PathLocks
from framework.memory.followups import (
    DROPPED_OUTCOME,
    EXPIRED_OUTCOME,
    CompletedFollowup,
    Followup,
    FollowupFile,
    FollowupsCorrupt,
    FollowupStore,
    followups_instructions,
    parse_followups,
    priority_at_least,
    score_priority,
)
from tests.fakes import FakeClock

UTC = timezone.utc
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
G1 = ConversationScope(bot_id="alpha", guild_id="G1", channel_id="C1", user_id="U1")

# A well-formed file of the documented shape: two pending items, one completed.
SPEC_EXAMPLE = """{
  "pending": [
    {"id": "followup_001", "user_id": "111222333", "user_name": "Dana", "event": "Building new PC for ML work",
     "mentioned_date": "2025-09-22T14:30:00Z", "expected_completion": "2025-10-05",
     "follow_up_after": "2025-10-06T00:00:00Z", "priority": "medium",
     "context": "Waiting on GPU shipment, mentioned RTX 4090", "channel_id": "987654321"},
    {"id": "followup_002", "user_id": "444555666", "user_name": "John", "event": "Game jam weekend project",
     "mentioned_date": "2025-09-25T18:00:00Z", "expected_completion": "2025-09-29",
     "follow_up_after": "2025-09-30T00:00:00Z", "priority": "low",
     "context": "Making puzzle platformer, first jam", "channel_id": "987654321"}
  ],
  "completed": [
    {"id": "followup_000", "user_id": "111222333", "user_name": "Dana", "event": "Job interview at TechCorp",
     "followed_up": "2025-09-24T16:00:00Z", "outcome": "Got the job! Started Sept 2025",
     "completed_date": "2025-09-24T16:00:00Z"}
  ]
}"""


def item(fid: str, user: str = "U1", event: str = "Trip to Lisbon", **over: Any) -> dict[str, Any]:
    base = {
        "id": fid,
        "user_id": user,
        "user_name": user.lower(),
        "event": event,
        "mentioned_date": "2026-03-01T10:00:00Z",
        "expected_completion": None,
        "follow_up_after": "2026-03-05T00:00:00Z",
        "priority": "medium",
        "context": "",
        "channel_id": "C1",
    }
    base.update(over)
    return base


def write(root: Path, folder: str, data: Any) -> Path:
    path = root / folder / "followups.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "memories" / "alpha"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(root: Path, clock: FakeClock) -> FollowupStore:
    return FollowupStore(root, clock=clock)


# -- priority --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "context", "expected"),
    [
        ("Job interview at TechCorp", "", "high"),
        ("INTERVIEWS next week", "", "high"),
        ("knee surgery", "", "high"),
        ("sister's wedding", "", "high"),
        ("grandpa's funeral", "", "high"),
        ("exam results come out", "", "high"),
        ("Building new PC for ML work", "", "medium"),
        ("Game jam weekend project", "", "medium"),
        ("moving to Berlin", "", "medium"),
        ("final exams", "", "medium"),
        ("trip to Goa", "", "medium"),
        ("something on friday", "nervous about the interview", "high"),
        ("lunch with friends", "", "low"),
        ("new projector arrives", "", "low"),  # whole words only: "projector" is not "project"
        ("talked to the interviewer", "", "low"),
        ("a tripod", "", "low"),
    ],
)
def test_score_priority(event: str, context: str, expected: str) -> None:
    assert score_priority(event, context) == expected


def test_priority_at_least() -> None:
    assert priority_at_least("high", "medium")
    assert priority_at_least("medium", "medium")
    assert not priority_at_least("low", "medium")
    assert priority_at_least("low", "low")
    assert not priority_at_least("medium", "high")


# -- parsing -----------------------------------------------------------------------------------------


def test_spec_example_parses_without_repairs_and_round_trips() -> None:
    file, notes = parse_followups(SPEC_EXAMPLE, now=NOW)
    assert notes == []
    assert [f.id for f in file.pending] == ["followup_001", "followup_002"]
    assert file.pending[0].follow_up_after == datetime(2025, 10, 6, tzinfo=UTC)
    assert file.completed[0].outcome == "Got the job! Started Sept 2025"
    text = file.to_json()
    assert '"follow_up_after": "2025-10-06T00:00:00Z"' in text
    assert "deferred_count" not in text and "delivery" not in text  # bookkeeping only when set
    again, notes2 = parse_followups(text, now=NOW)
    assert notes2 == [] and again == file and again.to_json() == text


def test_missing_file_and_empty_text() -> None:
    assert parse_followups(None, now=NOW) == (FollowupFile(), [])
    file, notes = parse_followups("  \n", now=NOW)
    assert file == FollowupFile() and notes == ["the file was empty"]


@pytest.mark.parametrize("text", ["not json at all {", "\x00\x01garbage", '"just a string"', "42"])
def test_not_json_is_corrupt(text: str) -> None:
    with pytest.raises(FollowupsCorrupt):
        parse_followups(text, now=NOW)


def test_repairs() -> None:
    data = {
        "pending": [
            item("a", mentioned_date="2026-03-01", follow_up_after="2026-03-04"),  # date-only times
            item("a", event="Exam on Friday"),  # duplicate id
            {k: v for k, v in item("x").items() if k not in ("id", "priority")},  # no id, no priority
            {k: v for k, v in item("b").items() if k != "user_id"},  # unrepairable: dropped
            item("c", follow_up_after=None, mentioned_date="2026-03-02T09:00:00"),  # naive, no due time
            item("done", user_id=123456789012345678),  # numeric snowflake; also completed below
            "a stray string",
        ],
        "completed": [
            item("done", user="123456789012345678", outcome="went fine", completed_date="2026-03-03T00:00:00Z")
        ],
    }
    file, notes = parse_followups(json.dumps(data), now=NOW, default_delay_days=2)
    ids = [f.id for f in file.pending]
    assert ids == ["a", "a-2", "followup_001", "c"]
    a = file.pending[0]
    assert a.mentioned_date == datetime(2026, 3, 1, tzinfo=UTC)
    assert a.follow_up_after == datetime(2026, 3, 4, tzinfo=UTC)
    assert file.pending[2].priority == "medium"  # scored: "Trip to Lisbon"
    c = file.pending[3]
    assert c.mentioned_date == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert c.follow_up_after == datetime(2026, 3, 4, 9, tzinfo=UTC)  # mentioned + 2 days
    assert [f.id for f in file.completed] == ["done"]
    joined = "\n".join(notes)
    for expected in ("id a was used already", "had no id", "no user_id", "scored medium", "completed entry wins",
                     "not an object", "not a full UTC time"):  # fmt: skip
        assert expected in joined
    assert "Lisbon" not in joined  # notes never repeat what people said


def test_pending_same_followup_as_completed_is_dropped() -> None:
    data = {
        "pending": [item("followup_001", event="  job   INTERVIEW ")],
        "completed": [item("followup_001", event="Job interview", outcome="got it")],
    }
    file, notes = parse_followups(json.dumps(data), now=NOW)
    assert file.pending == []
    assert [c.id for c in file.completed] == ["followup_001"]
    assert any("completed entry wins" in note for note in notes)


def test_pending_sharing_an_id_with_a_different_completed_followup_is_kept() -> None:
    data = {
        "pending": [
            item("followup_001", event="Dentist appointment"),
            item("followup_002", user="U2", event="Job interview"),  # same event, another person
            item("followup_001-2"),  # the next free suffix is taken already
        ],
        "completed": [
            item("followup_001", event="Job interview", outcome="got it"),
            item("followup_002", event="Job interview", outcome="got it"),
        ],
    }
    file, notes = parse_followups(json.dumps(data), now=NOW)
    assert [(f.id, f.user_id, f.event) for f in file.pending] == [
        ("followup_001-3", "U1", "Dentist appointment"),
        ("followup_002-2", "U2", "Job interview"),
        ("followup_001-2", "U1", "Trip to Lisbon"),
    ]
    assert [c.id for c in file.completed] == ["followup_001", "followup_002"]
    joined = "\n".join(notes)
    assert "belongs to a different completed follow-up" in joined
    assert "completed entry wins" not in joined
    assert "Dentist" not in joined


def test_top_level_list_and_trailing_commas() -> None:
    text = json.dumps([item("a")])[:-1] + ",]"
    file, notes = parse_followups(text, now=NOW)
    assert [f.id for f in file.pending] == ["a"]
    assert any("list" in n for n in notes) and any("JSON syntax" in n for n in notes)


def test_generated_ids_avoid_ids_written_later_in_the_file() -> None:
    data = {"pending": [{k: v for k, v in item("z").items() if k != "id"}, item("followup_001")]}
    file, _ = parse_followups(json.dumps(data), now=NOW)
    assert [f.id for f in file.pending] == ["followup_002", "followup_001"]


def test_exact_copies_are_removed_not_renamed() -> None:
    file, notes = parse_followups(json.dumps({"pending": [item("a"), item("a")]}), now=NOW)
    assert [f.id for f in file.pending] == ["a"]
    assert any("exact copy" in n for n in notes)


def test_unknown_fields_survive_a_rewrite() -> None:
    data = {"pending": [item("a", mood="anxious", extra={"n": 1})], "completed": [], "version": 2}
    file, notes = parse_followups(json.dumps(data), now=NOW)
    assert notes == []
    out = json.loads(file.to_json())
    assert out["version"] == 2
    assert out["pending"][0]["mood"] == "anxious" and out["pending"][0]["extra"] == {"n": 1}


def test_engine_bookkeeping_round_trips() -> None:
    file, _ = parse_followups(json.dumps({"pending": [item("a")]}), now=NOW)
    file.pending[0].delivery = "woven"
    file.pending[0].deferred_count = 2
    file.pending[0].last_considered = NOW
    again, notes = parse_followups(file.to_json(), now=NOW)
    assert notes == []
    assert again.pending[0].delivery == "woven"
    assert again.pending[0].deferred_count == 2
    assert again.pending[0].last_considered == NOW


# -- the store ---------------------------------------------------------------------------------------


async def test_missing_file_loads_empty_and_writes_nothing(store: FollowupStore, root: Path) -> None:
    assert await store.load("servers/G1") == FollowupFile()
    assert not store.path("servers/G1").exists()


async def test_corrupt_file_is_quarantined_with_its_bytes(
    store: FollowupStore, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = root / "servers" / "G1" / "followups.json"
    path.parent.mkdir(parents=True)
    garbage_text = "{ nope, not json ]"
    path.write_text(garbage_text, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="framework.memory.followups"):
        file = await store.load("servers/G1")
    assert file == FollowupFile()
    kept = root / "servers" / "G1" / "followups.corrupt-20260310T120000Z.json"
    assert kept.read_text(encoding="utf-8") == garbage_text
    assert json.loads(path.read_text(encoding="utf-8")) == {"pending": [], "completed": []}
    assert any("corrupt" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # A second corrupt file in the same second is kept too, under another name.
    path.write_text("garbage 2", encoding="utf-8")
    await store.load("servers/G1")
    assert (root / "servers" / "G1" / "followups.corrupt-20260310T120000Z-2.json").read_text() == "garbage 2"
    assert kept.read_text(encoding="utf-8") == garbage_text


async def test_binary_file_is_quarantined_too(store: FollowupStore, root: Path) -> None:
    garbage = b'{"pending": [ \xff\xfe\x00 binary'
    path = root / "dms" / "U1" / "followups.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(garbage)
    assert await store.load("dms/U1") == FollowupFile()
    assert (root / "dms" / "U1" / "followups.corrupt-20260310T120000Z.json").read_bytes() == garbage
    assert json.loads(path.read_text()) == {"pending": [], "completed": []}


async def test_repairs_are_written_back_and_logged_once(
    store: FollowupStore, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(root, "servers/G1", {"pending": [item("a", priority=None), item("a")]})
    with caplog.at_level(logging.INFO, logger="framework.memory.followups"):
        first = await store.load("servers/G1")
        second = await store.load("servers/G1")
    assert first == second
    assert [f.id for f in first.pending] == ["a", "a-2"]
    on_disk = json.loads(path.read_text())
    assert [p["id"] for p in on_disk["pending"]] == ["a", "a-2"]
    assert on_disk["pending"][0]["priority"] == "medium"
    assert len([r for r in caplog.records if "repaired" in r.getMessage()]) == 1


async def test_unrepairable_items_are_archived_not_lost(store: FollowupStore, root: Path) -> None:
    broken = {"event": "no person", "channel_id": "C1"}
    write(root, "servers/G1", {"pending": [item("a"), broken]})
    file = await store.load("servers/G1")
    assert [f.id for f in file.pending] == ["a"]
    archive = json.loads((root / "servers" / "G1" / "followups.archive.json").read_text())
    assert archive["dropped"] == [broken]


async def test_complete_moves_pending_to_completed(store: FollowupStore, root: Path, clock: FakeClock) -> None:
    write(root, "servers/G1", {"pending": [item("a"), item("b")]})
    done = await store.complete("servers/G1", "a", outcome="Got the job", now=clock.now(), followed_up=clock.now())
    assert isinstance(done, CompletedFollowup)
    assert done.outcome == "Got the job" and done.completed_date == NOW and done.followed_up == NOW
    file = await store.load("servers/G1")
    assert [f.id for f in file.pending] == ["b"]
    assert [c.id for c in file.completed] == ["a"]
    assert file.completed[0].channel_id == "C1"
    assert await store.complete("servers/G1", "a", outcome="again", now=NOW) is None
    assert await store.complete("servers/G1", "nope", outcome="x", now=NOW) is None


async def test_expire(store: FollowupStore, root: Path, clock: FakeClock) -> None:
    write(
        root,
        "servers/G1",
        {
            "pending": [
                item("old", mentioned_date="2026-02-01T00:00:00Z", follow_up_after="2026-02-10T00:00:00Z"),
                item("due", mentioned_date="2026-03-01T00:00:00Z", follow_up_after="2026-03-02T00:00:00Z"),
                # mentioned long ago, but the event is still ahead: kept
                item("far", mentioned_date="2026-01-01T00:00:00Z", follow_up_after="2026-04-01T00:00:00Z"),
            ]
        },
    )
    expired = await store.expire("servers/G1", now=clock.now(), max_age_days=14)
    assert [e.id for e in expired] == ["old"]
    assert expired[0].outcome == EXPIRED_OUTCOME and expired[0].followed_up is None
    file = await store.load("servers/G1")
    assert [f.id for f in file.pending] == ["due", "far"]
    clock.advance(timedelta(days=7).total_seconds())  # "due" is now 15 days overdue
    assert [e.id for e in await store.expire("servers/G1", now=clock.now(), max_age_days=14)] == ["due"]


async def test_enforce_max_pending_keeps_priority_then_soonest(store: FollowupStore, root: Path) -> None:
    write(
        root,
        "servers/G1",
        {
            "pending": [
                item("low-soon", priority="low", follow_up_after="2026-03-11T00:00:00Z"),
                item("high-late", priority="high", follow_up_after="2026-03-20T00:00:00Z"),
                item("med-late", priority="medium", follow_up_after="2026-03-19T00:00:00Z"),
                item("med-soon", priority="medium", follow_up_after="2026-03-12T00:00:00Z"),
            ]
        },
    )
    dropped = await store.enforce_max_pending("servers/G1", 2)
    assert sorted(d.id for d in dropped) == ["low-soon", "med-late"]
    assert all(d.outcome == DROPPED_OUTCOME for d in dropped)
    file = await store.load("servers/G1")
    assert [f.id for f in file.pending] == ["high-late", "med-soon"]  # the file's order is kept
    assert await store.enforce_max_pending("servers/G1", 2) == []


async def test_archive_completed(store: FollowupStore, root: Path) -> None:
    def done(fid: str, when: str) -> dict[str, Any]:
        return {"id": fid, "user_id": "U1", "event": "e", "outcome": "ok", "completed_date": when}

    path = write(
        root,
        "servers/G1",
        {
            "pending": [item("p")],
            "completed": [done("old1", "2026-01-01T00:00:00Z"), done("new", "2026-03-09T00:00:00Z")],
        },
    )
    assert await store.archive_completed("servers/G1", older_than=datetime(2026, 2, 1, tzinfo=UTC)) == 1
    archive_path = root / "servers" / "G1" / "followups.archive.json"
    archive = json.loads(archive_path.read_text())
    assert [c["id"] for c in archive["completed"]] == ["old1"]
    main = json.loads(path.read_text())
    assert [c["id"] for c in main["completed"]] == ["new"] and [p["id"] for p in main["pending"]] == ["p"]

    # A crash after the archive write but before the main write: the item is in both files.
    main["completed"].append(done("old1", "2026-01-01T00:00:00Z"))
    path.write_text(json.dumps(main))
    assert await store.archive_completed("servers/G1", older_than=datetime(2026, 2, 1, tzinfo=UTC)) == 1
    archive = json.loads(archive_path.read_text())
    assert [c["id"] for c in archive["completed"]] == ["old1"]  # not twice
    # A reused id with other content is another follow-up: appended.
    main = json.loads(path.read_text())
    main["completed"].append(done("old1", "2026-01-15T00:00:00Z"))
    path.write_text(json.dumps(main))
    await store.archive_completed("servers/G1", older_than=datetime(2026, 2, 1, tzinfo=UTC))
    archive = json.loads(archive_path.read_text())
    assert [c["completed_date"] for c in archive["completed"]] == ["2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z"]
    assert [c["id"] for c in json.loads(path.read_text())["completed"]] == ["new"]


async def test_folders_and_paths(store: FollowupStore, root: Path) -> None:
    write(root, "servers/G1", {"pending": []})
    write(root, "dms/U7", {"pending": []})
    (root / "servers" / "G2").mkdir(parents=True)  # no followups.json
    (root / "servers" / "G3").symlink_to(root / "servers" / "G1")  # a link: never followed
    assert store.folders() == ["dms/U7", "servers/G1"]
    assert store.path("servers/G1") == root / "servers" / "G1" / "followups.json"
    assert store.path("/memories/dms/U7") == root / "dms" / "U7" / "followups.json"
    for bad in ("servers", "servers/../x", "other/G1", "servers/G1/users"):
        with pytest.raises(ValueError):
            store.path(bad)


async def test_update_waits_for_the_memory_tool_lock(root: Path, clock: FakeClock) -> None:
    """Deterministic: while the tool holds the file, the store's read-modify-write cannot start."""
    tool = MemoryTool(root)
    store = FollowupStore(root, locks=tool.locks, clock=clock)
    assert store.locks is tool.locks
    await tool.run({"command": "create", "path": "/memories/servers/G1/followups.json",
                    "file_text": json.dumps({"pending": [item("a")]})}, G1)  # fmt: skip
    parts = ("servers", "G1", "followups.json")
    async with tool.locks.hold(parts):
        task = asyncio.create_task(store.complete("servers/G1", "a", outcome="done", now=NOW))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not task.done()
        # What a tool command holding the lock would do: change the file.
        path = store.path("servers/G1")
        data = json.loads(path.read_text())
        data["pending"].append(item("b"))
        path.write_text(json.dumps(data))
    assert (await task) is not None
    file = await store.load("servers/G1")
    assert [f.id for f in file.pending] == ["b"] and [c.id for c in file.completed] == ["a"]


async def test_concurrent_tool_edits_and_store_updates_lose_nothing(root: Path, clock: FakeClock) -> None:
    tool = MemoryTool(root)
    store = FollowupStore(root, locks=tool.locks, clock=clock)
    n = 12
    pending = [item(f"f{i}", event=f"event number {i} marker") for i in range(n)]
    await tool.run({"command": "create", "path": "/memories/servers/G1/followups.json",
                    "file_text": json.dumps({"pending": pending}, indent=2)}, G1)  # fmt: skip
    await store.load("servers/G1")  # normalise the layout once

    async def edit(i: int) -> None:
        await tool.run(
            {
                "command": "str_replace",
                "path": "/memories/servers/G1/followups.json",
                "old_str": f"event number {i} marker",
                "new_str": f"event number {i} edited",
            },
            G1,
        )

    async def bump(i: int) -> None:
        def change(file: FollowupFile) -> None:
            followup = file.get(f"f{i}")
            assert followup is not None
            followup.deferred_count += 1

        await store.update("servers/G1", change)

    await asyncio.gather(*(edit(i) for i in range(n)), *(bump(i) for i in range(n)))
    file = await store.load("servers/G1")
    assert [f.event for f in file.pending] == [f"event number {i} edited" for i in range(n)]
    assert [f.deferred_count for f in file.pending] == [1] * n
    assert tool.locks.idle


async def test_model_created_file_through_the_tool_is_read(root: Path, clock: FakeClock) -> None:
    tool = MemoryTool(root, locks=PathLocks())
    store = FollowupStore(root, locks=tool.locks, clock=clock)
    await tool.run({"command": "create", "path": "/memories/servers/G1/followups.json", "file_text": SPEC_EXAMPLE}, G1)
    before = store.path("servers/G1").read_text()
    file = await store.load("servers/G1")
    assert [f.id for f in file.pending] == ["followup_001", "followup_002"]
    assert store.path("servers/G1").read_text() == before  # nothing to repair: the model's text is untouched


def test_instructions_are_static_and_carry_the_schema() -> None:
    text = followups_instructions("/memories/servers/G1", delay_days=1, max_pending=20)
    assert text == followups_instructions("/memories/servers/G1/", delay_days=1, max_pending=20)
    assert "/memories/servers/G1/followups.json" in text
    for field in ("follow_up_after", "mentioned_date", "priority", "channel_id", "completed", "outcome"):
        assert field in text
    assert "20" in text and "1 day" in text
    example = text[text.index("{") : text.rindex("}") + 1]
    file, notes = parse_followups(example, now=NOW)
    assert notes == [] and len(file.pending) == 1
    assert "2 days" in followups_instructions("/memories/dms/U1", delay_days=2, max_pending=5)


def test_models_normalise_times_given_by_the_engine() -> None:
    naive = datetime(2026, 3, 1, 10, 0, 0, 123456)
    f = Followup(id="a", user_id="U1", event="e", mentioned_date=naive, follow_up_after="2026-03-02",
                 priority="low", channel_id="C1")  # fmt: skip
    assert f.mentioned_date == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert f.follow_up_after == datetime(2026, 3, 2, tzinfo=UTC)
    f.last_considered = datetime(2026, 3, 3, 8, 30, 15, 999)  # naive, as an engine bug might write it
    assert f.last_considered == datetime(2026, 3, 3, 8, 30, 15, tzinfo=UTC)
    with pytest.raises(ValueError):
        f.delivery = "shouted"  # type: ignore[assignment]
