"""Reminders: the tool, the store and the delivery scheduler, on a real SQLite database
with a fake clock and a fake DM channel that keeps what "Discord" holds.

Exactly once is shown by killing a delivery between its claim and the "sent" record (the
task cancelled mid-send, the connection dropped without a commit, as SIGKILL leaves it)
and starting a new scheduler on the same database file."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from framework.assistant.reminder_delivery import SETTLE_SECONDS, ReminderDelivery, ReminderDeliveryError
from framework.assistant.reminders import FixedZone, ReminderTool
from framework.domain import ConversationScope, ToolError
from framework.domain.reminders import local_time_of
from framework.runtime.loops import LoopHealth
from framework.runtime.reminder_loop import reminder_loop
from framework.storage.reminders import ReminderStore, read_reminders

from .fakes import FakeClock

MASTER = "123456789012345678"
SCOPE = ConversationScope(bot_id="cortana", guild_id=None, channel_id="900", user_id=MASTER)
BERLIN = "Europe/Berlin"


class FakeDMs:
    """The master's DM channel as Discord holds it: every message the bot sent, with its time.

    ``hang_after_send``: the message reaches "Discord", then the sender never hears back
    (the process dies before it can record it). ``hang_before_send``: it never leaves."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.messages: list[tuple[str, str, str, datetime]] = []  # (id, user, content, at)
        self.hang_after_send = False
        self.hang_before_send = False
        self.fail = False
        self.sending = asyncio.Event()
        self._next = 7000

    @property
    def texts(self) -> list[str]:
        return [m[2] for m in self.messages]

    async def send_dm(self, user_id: str, content: str) -> str:
        self.sending.set()
        if self.fail:
            raise ConnectionError("Discord is unreachable")
        if self.hang_before_send:
            await asyncio.Event().wait()
        self._next += 1
        self.messages.append((str(self._next), user_id, content, self.clock.now()))
        if self.hang_after_send:
            await asyncio.Event().wait()
        return str(self._next)

    async def own_dms_since(self, user_id: str, after: datetime, limit: int = 50) -> list[tuple[str, str]]:
        return [(mid, text) for mid, user, text, at in self.messages if user == user_id and at > after][:limit]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "messages.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc))  # 13:00 in Berlin


async def _tool(store: ReminderStore, clock: FakeClock, **args: Any) -> dict[str, Any]:
    out = await ReminderTool(store, FixedZone(BERLIN), clock).run(args, SCOPE)
    return json.loads(out)


# -- delivery ---------------------------------------------------------------------------


async def test_a_reminder_is_delivered_once_when_due_and_not_before(db: Path, clock: FakeClock) -> None:
    store = await ReminderStore.open(db)
    dms = FakeDMs(clock)
    delivery = ReminderDelivery(store, dms, MASTER, clock)
    created = (await _tool(store, clock, action="create", text="stretch", in_minutes=2))["created"]
    assert created["due"] == "2026-12-02T13:02+01:00"

    clock.advance(90)
    assert await delivery.run_once() == 0
    clock.advance(30)  # due now
    assert await delivery.run_once() == 1
    clock.advance(30)
    assert await delivery.run_once() == 0
    assert dms.texts == ["⏰ Reminder: stretch"]
    (row,) = read_reminders(db, include_done=True)
    assert (row.status, row.message_id, row.sent_at) == ("sent", dms.messages[0][0], clock.now() - timedelta(seconds=30))
    await store.close()


async def test_reminders_missed_while_down_go_out_at_start_up_marked_late(db: Path, clock: FakeClock) -> None:
    store = await ReminderStore.open(db)
    await _tool(store, clock, action="create", text="call mum", at="2026-12-02T14:05+01:00")
    await _tool(store, clock, action="create", text="water plants", at="2026-12-02T15:00+01:00")
    await store.close()

    clock.advance(3 * 3600)  # the bot was down until 16:00 Berlin
    store = await ReminderStore.open(db)
    dms = FakeDMs(clock)
    connected = asyncio.Event()
    connected.set()
    health = LoopHealth(db.parent / "loops.json", clock)
    parking = _Parking(clock)
    loop = asyncio.create_task(reminder_loop(ReminderDelivery(store, dms, MASTER, clock), clock=parking,
                                             health=health, connected=connected))
    await asyncio.wait_for(parking.parked.wait(), 10)  # the first pass runs at once; the next sleep parks
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert dms.texts == [
        "⏰ Reminder: call mum (late: was due 14:05)",
        "⏰ Reminder: water plants (late: was due 15:00)",
    ]
    await store.close()


class _Parking:
    """The fake clock's time, but a sleep of more than zero parks (one pass, then stop)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.parked = asyncio.Event()

    def now(self) -> datetime:
        return self._clock.now()

    def monotonic(self) -> float:
        return self._clock.monotonic()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.parked.set()
            await asyncio.Event().wait()


async def test_a_late_reminder_from_another_day_names_the_day(db: Path, clock: FakeClock) -> None:
    store = await ReminderStore.open(db)
    await _tool(store, clock, action="create", text="bins", at="2026-12-02T20:00+01:00")
    clock.advance(26 * 3600)
    dms = FakeDMs(clock)
    await ReminderDelivery(store, dms, MASTER, clock).run_once()
    assert dms.texts == ["⏰ Reminder: bins (late: was due Wed 2 Dec 20:00)"]
    await store.close()


async def test_a_daily_reminder_keeps_its_local_time_across_a_dst_change(db: Path) -> None:
    # Berlin leaves summer time on 2026-10-25 at 03:00 CEST (01:00 UTC).
    clock = FakeClock(datetime(2026, 10, 23, 12, 0, tzinfo=timezone.utc))
    store = await ReminderStore.open(db)
    dms = FakeDMs(clock)
    delivery = ReminderDelivery(store, dms, MASTER, clock)
    await _tool(store, clock, action="create", text="pills", at="2026-10-24T08:00+02:00", repeat="daily")
    sent_at = []
    for _ in range(4 * 24 * 2):  # four days, a pass every 30 minutes
        clock.advance(1800)
        if await delivery.run_once():
            sent_at.append(clock.now())
    local = [t.astimezone(ZoneInfo(BERLIN)) for t in sent_at]
    assert [t.strftime("%m-%d %H:%M") for t in local] == ["10-24 08:00", "10-25 08:00", "10-26 08:00", "10-27 08:00"]
    assert [t.strftime("%H:%M") for t in sent_at] == ["06:00", "07:00", "07:00", "07:00"]  # UTC moves, local not
    (row,) = await store.find()
    assert row.status == "pending" and row.due_at == datetime(2026, 10, 28, 7, 0, tzinfo=timezone.utc)
    await store.close()


async def test_a_weekly_reminder_missed_for_weeks_comes_back_once_then_weekly(db: Path, clock: FakeClock) -> None:
    store = await ReminderStore.open(db)
    await _tool(store, clock, action="create", text="review", at="2026-12-02T15:00Z", repeat="weekly")
    clock.advance(20 * 86400)  # down for almost three weeks
    dms = FakeDMs(clock)
    assert await ReminderDelivery(store, dms, MASTER, clock).run_once() == 1
    (row,) = await store.find()
    assert row.due_at == datetime(2026, 12, 23, 15, 0, tzinfo=timezone.utc)
    assert len(dms.messages) == 1
    await store.close()


async def test_a_cancelled_reminder_is_never_sent(db: Path, clock: FakeClock) -> None:
    store = await ReminderStore.open(db)
    dms = FakeDMs(clock)
    delivery = ReminderDelivery(store, dms, MASTER, clock)
    created = (await _tool(store, clock, action="create", text="meeting", in_minutes=5))["created"]
    cancelled = await _tool(store, clock, action="cancel", id=created["id"])
    assert cancelled["cancelled"]["status"] == "cancelled"
    clock.advance(600)
    assert await delivery.run_once() == 0
    assert dms.messages == []
    assert (await _tool(store, clock, action="list"))["reminders"] == []
    with pytest.raises(ToolError, match="already cancelled"):
        await _tool(store, clock, action="cancel", id=created["id"])
    await store.close()


async def test_a_failed_send_is_retried_once_settled_and_a_pass_that_failed_says_so(db: Path, clock: FakeClock) -> None:
    store = await ReminderStore.open(db)
    dms = FakeDMs(clock)
    delivery = ReminderDelivery(store, dms, MASTER, clock)
    await _tool(store, clock, action="create", text="stretch", in_minutes=1)
    clock.advance(60)
    dms.fail = True
    with pytest.raises(ReminderDeliveryError):
        await delivery.run_once()
    dms.fail = False
    clock.advance(30)
    assert await delivery.run_once() == 0  # the claim is not settled yet: the DM might exist
    clock.advance(SETTLE_SECONDS)
    assert await delivery.run_once() == 1
    assert dms.texts == ["⏰ Reminder: stretch (late: was due 13:01)"]
    await store.close()


# -- exactly once across a kill between "due" and "sent" ---------------------------------


async def _killed_mid_send(db: Path, clock: FakeClock, *, reached_discord: bool) -> FakeDMs:
    """A scheduler claims the due reminder and is killed while sending: the task is cancelled
    and its connection closed without another write, as SIGKILL would leave the file."""
    store = await ReminderStore.open(db)
    await _tool(store, clock, action="create", text="take the cake out", in_minutes=1)
    clock.advance(60)
    dms = FakeDMs(clock)
    dms.hang_after_send = reached_discord
    dms.hang_before_send = not reached_discord
    task = asyncio.create_task(ReminderDelivery(store, dms, MASTER, clock).run_once())
    await dms.sending.wait()
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await store._db.close()  # no commit, no checkpoint: what the killed process left
    (row,) = read_reminders(db)
    assert row.status == "sending" and row.delivery == "⏰ Reminder: take the cake out"
    dms.hang_after_send = dms.hang_before_send = False
    return dms


@pytest.mark.parametrize("reached_discord", [True, False], ids=["dm-already-sent", "dm-never-left"])
async def test_a_kill_between_claim_and_sent_neither_loses_nor_doubles_the_reminder(
    db: Path, clock: FakeClock, reached_discord: bool
) -> None:
    dms = await _killed_mid_send(db, clock, reached_discord=reached_discord)
    assert len(dms.messages) == (1 if reached_discord else 0)

    clock.advance(5)  # the keeper restarts the bot a few seconds later
    store = await ReminderStore.open(db)
    delivery = ReminderDelivery(store, dms, MASTER, clock)
    assert await delivery.run_once() == 0  # a fresh claim is not settled yet: the request may be in flight
    for _ in range(int(SETTLE_SECONDS // 30) + 2):
        clock.advance(30)
        await delivery.run_once()
    assert len(dms.messages) == 1, dms.texts
    (row,) = read_reminders(db, include_done=True)
    assert (row.status, row.message_id) == ("sent", dms.messages[0][0])
    if not reached_discord:
        assert dms.texts == ["⏰ Reminder: take the cake out (late: was due 13:01)"]
    await store.close()


async def test_a_settled_claim_does_not_take_another_reminders_identical_dm(db: Path, clock: FakeClock) -> None:
    store = await ReminderStore.open(db)
    dms = FakeDMs(clock)
    await _tool(store, clock, action="create", text="take the cake out", in_minutes=1)
    clock.advance(60)
    await ReminderDelivery(store, dms, MASTER, clock).run_once()  # the first one went out and is recorded
    await store.close()
    dms2 = await _killed_mid_send(db, clock, reached_discord=False)  # a second, identical one did not
    dms2.messages[:0] = dms.messages
    store = await ReminderStore.open(db)
    clock.advance(SETTLE_SECONDS + 1)
    assert await ReminderDelivery(store, dms2, MASTER, clock).run_once() == 1
    assert len(dms2.messages) == 2
    await store.close()


# -- the tool's input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"action": "create", "in_minutes": 2}, "needs `text`"),
        ({"action": "create", "text": "x"}, "exactly one of"),
        ({"action": "create", "text": "x", "in_minutes": 2, "at": "2026-12-02T15:00+01:00"}, "exactly one of"),
        ({"action": "create", "text": "x", "at": "2026-12-02T15:00"}, "no UTC offset"),
        ({"action": "create", "text": "x", "at": "tomorrow at 3"}, "not an ISO 8601 time"),
        ({"action": "create", "text": "x", "at": "2026-12-03"}, "is a date"),
        ({"action": "create", "text": "x", "at": "2026-12-02T09:00+01:00"}, "in the past"),
        ({"action": "create", "text": "x", "at": "2027-07-01T09:00+01:00"}, "daylight saving"),
        ({"action": "create", "text": "x", "at": "2027-03-28T02:30+01:00"}, "does not exist"),
        ({"action": "create", "text": "x", "in_minutes": -5}, "later than now"),
        ({"action": "create", "text": "x", "in_minutes": "soon"}, "number of minutes"),
        ({"action": "create", "text": "x", "in_minutes": 1e12}, "ten years"),
        ({"action": "create", "text": "x", "in": "soonish"}, "not a duration"),
        ({"action": "create", "text": "x", "in": "3 fortnights"}, "unknown unit"),
        ({"action": "create", "text": "x", "in_minutes": 2, "repeat": "hourly"}, "repeat must be"),
        ({"action": "create", "text": "x" * 1001, "in_minutes": 2}, "under 1000"),
        ({"action": "snooze"}, "action must be"),
        ({"action": "cancel"}, "needs `id`"),
        ({"action": "cancel", "id": "nope"}, "no reminder 'nope'"),
        ({"action": "create", "text": "x", "in_minutes": 2, "when": "now"}, "unknown: when"),
    ],
)
async def test_the_tool_refuses_unusable_input_with_what_to_write(
    db: Path, clock: FakeClock, args: dict[str, Any], message: str
) -> None:
    store = await ReminderStore.open(db)
    with pytest.raises(ToolError, match=message):
        await _tool(store, clock, **args)
    assert read_reminders(db, include_done=True) == []
    await store.close()


@pytest.mark.parametrize(
    ("args", "due"),
    [
        ({"in": "in 2 hours"}, "2026-12-02T15:00+01:00"),
        ({"in": "1h30m"}, "2026-12-02T14:30+01:00"),
        ({"in_minutes": 2, "at": None}, "2026-12-02T13:02+01:00"),  # a null is "not given"
        ({"at": "2026-12-02T18:00Z"}, "2026-12-02T19:00+01:00"),
        ({"at": "2026-12-03T09:00-05:00"}, "2026-12-03T15:00+01:00"),  # another zone's time, shown in ours
    ],
)
async def test_the_tool_takes_absolute_and_relative_times(
    db: Path, clock: FakeClock, args: dict[str, Any], due: str
) -> None:
    store = await ReminderStore.open(db)
    created = (await _tool(store, clock, action="create", text="x", **args))["created"]
    assert created["due"] == due
    (row,) = read_reminders(db)
    assert row.local_time == local_time_of(row.due_at, BERLIN) and row.timezone == BERLIN
    listed = await _tool(store, clock, action="list")
    assert listed["time_zone"] == BERLIN and [r["id"] for r in listed["reminders"]] == [created["id"]]
    await store.close()


def test_the_tool_describes_itself_to_both_api_shapes() -> None:
    tool = ReminderTool(None, FixedZone("UTC"), FakeClock())  # type: ignore[arg-type]
    anthropic, function = tool.anthropic_param(), tool.function_schema()
    assert anthropic["name"] == function["name"] == "reminders"
    assert anthropic["input_schema"] == function["parameters"]
    assert set(anthropic["input_schema"]["properties"]["action"]["enum"]) == {"create", "list", "cancel"}
