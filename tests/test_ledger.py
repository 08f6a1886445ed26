"""Usage ledger (llm_calls in messages.db), its read-only status reader, and the daily budget."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from framework.config.models import DEFAULT_PRICES, Price
from framework.errors import StoreError
from framework.llm.budget import BudgetedLLM, BudgetGuard
from framework.domain import BudgetExceeded, ChatTurn, LLMReply, LLMRequest, Usage, UsageRecord
from framework.storage import MessageStore
from framework.storage.ledger import DaySummary, UsageLedger, estimate_cost, read_today_summary

from .fakes import FakeClock

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
SONNET = "claude-sonnet-4-6"
PRICES = {SONNET: DEFAULT_PRICES[SONNET], "cheap-model": Price(input=2.0, output=10.0)}


def rec(
    model: str = SONNET,
    usage: Usage = Usage(100, 20),
    *,
    key_alias: str | None = "ANTHROPIC_API_KEY",
    ok: bool = True,
    error_kind: str | None = None,
    purpose: str = "reply",
) -> UsageRecord:
    return UsageRecord(
        bot_id="alpha",
        provider="anthropic",
        model=model,
        key_alias=key_alias,
        purpose=purpose,
        usage=usage,
        latency_s=1.2345,
        ok=ok,
        error_kind=error_kind,
    )


def rows(path: Path) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute("SELECT * FROM llm_calls ORDER BY id"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOON)


@pytest.fixture
async def ledger(tmp_path: Path, clock: FakeClock):  # type: ignore[no-untyped-def]
    led = await UsageLedger.open(tmp_path / "persistence" / "alpha" / "messages.db", PRICES, clock)
    yield led
    await led.close()


# --- rows and cost -------------------------------------------------------------------


async def test_a_row_holds_every_field(ledger: UsageLedger) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=20_000, cache_write_tokens=4000, web_searches=2)
    await ledger.record(rec(usage=usage, key_alias="ANTHROPIC_API_KEY_2", purpose="check"))
    await ledger.record(rec("llama-3.1-8b-instant", Usage(), key_alias="GROQ_API_KEY", ok=False, error_kind="rate_limit"))
    first, second = rows(ledger.path)
    assert dict(first) == {
        "id": 1,
        "time": "2026-11-22T12:00:00.000000Z",  # fixed width, UTC, from the injected clock
        "bot_id": "alpha",
        "provider": "anthropic",
        "model": SONNET,
        "key_alias": "ANTHROPIC_API_KEY_2",
        "purpose": "check",
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_read_tokens": 20_000,
        "cache_write_tokens": 4000,
        "web_searches": 2,
        "latency_ms": 1234,
        "ok": 1,
        "error_kind": None,
        "cost_usd": pytest.approx(0.0515),
        "images": 0,
    }
    assert (second["ok"], second["error_kind"], second["key_alias"], second["cost_usd"]) == (0, "rate_limit", "GROQ_API_KEY", None)


async def test_the_ledger_shares_the_message_database(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "messages.db"
    store = await MessageStore.open(path)
    led = await UsageLedger.open(path, PRICES, clock)  # a second connection to the same WAL file
    await led.record(rec())
    assert await store.count() == 0
    await led.close()
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"messages", "llm_calls", "llm_days"} <= tables
    assert "idx_llm_calls_time" in indexes


def test_cost_arithmetic_with_cache_reads_and_writes() -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=20_000, cache_write_tokens=4000, web_searches=2)
    # Sonnet: 1000*3 + 500*15 + 20000*0.30 + 4000*3.75 = 3000 + 7500 + 6000 + 15000 = 31500 per 1M
    #         = $0.0315, plus 2 searches at $10 per 1000 = $0.02
    assert estimate_cost(usage, DEFAULT_PRICES[SONNET]) == pytest.approx(0.0515)
    # No cache rates: reads at 0.1x input (0.2), writes at 1.25x input (2.5), no search price:
    # 1000*2 + 500*10 + 20000*0.2 + 4000*2.5 = 2000 + 5000 + 4000 + 10000 = 21000 per 1M
    assert estimate_cost(usage, Price(input=2.0, output=10.0)) == pytest.approx(0.021)
    # A cache rate of 0 is a price, not a missing one.
    assert estimate_cost(Usage(cache_read_tokens=1_000_000), Price(input=2.0, output=10.0, cache_read=0.0)) == 0.0


async def test_unpriced_model_is_recorded_without_a_cost(ledger: UsageLedger, clock: FakeClock) -> None:
    await ledger.record(rec("mystery-model", Usage(1000, 100)))
    [row] = rows(ledger.path)
    assert (row["model"], row["input_tokens"], row["cost_usd"]) == ("mystery-model", 1000, None)
    assert await ledger.today_summary(clock.now()) == DaySummary(1100, None, 1)  # cost unknown, not $0
    await ledger.record(rec("cheap-model", Usage(1_000_000, 0)))
    assert await ledger.today_summary(clock.now()) == DaySummary(1_001_100, pytest.approx(2.0), 2)


async def test_a_dated_model_id_is_priced_as_its_alias(ledger: UsageLedger) -> None:
    await ledger.record(rec(f"{SONNET}-20260115", Usage(1_000_000, 0)))
    assert rows(ledger.path)[0]["cost_usd"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    "secret",
    ["sk-ant-api03-Abc_def-123", "gsk_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z", "anthropic_api_key", "", "KEY WITH SPACE"],
)
async def test_only_a_variable_name_is_stored_as_key_alias(ledger: UsageLedger, secret: str) -> None:
    with pytest.raises(ValueError, match="environment variable name") as info:
        await ledger.record(rec(key_alias=secret))
    if secret:
        assert secret not in str(info.value)  # the refusal does not leak the value either
    assert rows(ledger.path) == []


async def test_no_key_alias_is_fine(ledger: UsageLedger) -> None:
    await ledger.record(rec(key_alias=None))  # a local server that takes no key
    assert rows(ledger.path)[0]["key_alias"] is None


# --- the UTC day ---------------------------------------------------------------------


class SetClock:
    def __init__(self) -> None:
        self.at = NOON

    def now(self) -> datetime:
        return self.at


async def test_tokens_today_counts_only_the_utc_day(tmp_path: Path) -> None:
    clock = SetClock()
    ledger = await UsageLedger.open(tmp_path / "messages.db", PRICES, clock)
    midnight = datetime(2026, 11, 23, tzinfo=timezone.utc)
    stamps = [
        (midnight - timedelta(microseconds=1), Usage(100, 10, cache_read_tokens=1000, cache_write_tokens=5)),  # 1115
        (midnight, Usage(7, 3)),  # 10
        (midnight + timedelta(hours=23, minutes=59, seconds=59), Usage(1, 1)),  # 2
        (midnight + timedelta(days=1), Usage(50, 50)),  # the day after
    ]
    for stamp, usage in stamps:
        clock.at = stamp
        await ledger.record(rec(usage=usage))
    assert await ledger.tokens_today(midnight - timedelta(hours=1)) == 1115  # cache tokens count
    assert await ledger.tokens_today(midnight) == 12
    assert await ledger.tokens_today(midnight + timedelta(hours=12)) == 12
    assert await ledger.tokens_today(midnight + timedelta(days=1, seconds=1)) == 100
    assert await ledger.tokens_today(midnight + timedelta(days=5)) == 0
    # 00:30 in UTC+2 is 22:30 UTC the evening before: the UTC day decides.
    plus_two = timezone(timedelta(hours=2))
    assert await ledger.tokens_today(datetime(2026, 11, 23, 0, 30, tzinfo=plus_two)) == 1115
    tokens, cost, calls = await ledger.today_summary(midnight)
    assert (tokens, calls) == (12, 2) and cost == pytest.approx(estimate_cost(Usage(8, 4), PRICES[SONNET]))
    await ledger.close()


async def test_web_searches_today_let_the_daily_cap_survive_a_restart(tmp_path: Path) -> None:
    clock = SetClock()
    ledger = await UsageLedger.open(tmp_path / "messages.db", PRICES, clock)
    midnight = datetime(2026, 11, 23, tzinfo=timezone.utc)
    for stamp, searches in [(midnight - timedelta(seconds=1), 5), (midnight, 2), (midnight + timedelta(hours=3), 1)]:
        clock.at = stamp
        await ledger.record(rec(usage=Usage(10, 1, web_searches=searches)))
    assert await ledger.web_searches_today(midnight + timedelta(hours=5)) == 3
    assert await ledger.web_searches_today(midnight - timedelta(hours=5)) == 5
    await ledger.close()


async def test_the_day_totals_match_the_rows(ledger: UsageLedger, clock: FakeClock) -> None:
    # llm_days is kept by a trigger; summing llm_calls must give the same answer.
    for i in range(30):
        clock.advance(3600)  # 30 hours: spans two UTC days
        await ledger.record(rec("mystery-model" if i % 7 == 0 else SONNET, Usage(i * 10, i, cache_read_tokens=i * 100)))
    with closing(sqlite3.connect(ledger.path)) as db:
        by_day = db.execute(
            "SELECT substr(time, 1, 10), SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens), "
            "SUM(cost_usd), COUNT(*) FROM llm_calls GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert len(by_day) == 2
    for day, tokens, cost, calls in by_day:
        summary = await ledger.today_summary(datetime.fromisoformat(day).replace(hour=6, tzinfo=timezone.utc))
        assert (summary.tokens, summary.calls) == (tokens, calls)
        assert summary.cost_usd == pytest.approx(cost)


async def test_an_unreadable_ledger_is_a_store_error(ledger: UsageLedger) -> None:
    with closing(sqlite3.connect(ledger.path, isolation_level=None)) as db:
        db.execute("DROP TABLE llm_days")
    with pytest.raises(StoreError, match="usage ledger"):
        await ledger.tokens_today(NOON)


async def test_a_failed_write_is_logged_and_releases_the_database(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "messages.db"
    led = await UsageLedger.open(path, PRICES, clock)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        # The call's row goes in, then the trigger's upsert fails: an error mid-transaction.
        db.execute("DROP TABLE llm_days")
        db.execute("CREATE TABLE llm_days (day TEXT PRIMARY KEY, tokens INTEGER CHECK (tokens < 0), cost_usd REAL, calls INTEGER)")
    with caplog.at_level(logging.ERROR, logger="framework.storage.ledger"):
        await led.record(rec())  # logged, not raised: the reply is not lost over bookkeeping
    assert "could not record a reply call" in caplog.text
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # the message store can still write: no lock left behind
        assert other.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0] == 0  # nor half a record
        other.execute("DROP TABLE llm_days")
        other.execute("COMMIT")
    await led.close()
    led = await UsageLedger.open(path, PRICES, clock)  # opening recreates what is missing
    await led.record(rec())
    assert await led.tokens_today(NOON) == 120
    await led.close()


# --- the status reader ---------------------------------------------------------------


def test_read_today_summary_of_a_missing_database_is_none(tmp_path: Path) -> None:
    path = tmp_path / "persistence" / "alpha" / "messages.db"
    assert read_today_summary(path, NOON) is None
    assert not path.exists() and not path.parent.exists()  # read-only: creates nothing


async def test_read_today_summary_without_the_table_is_none(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    store = await MessageStore.open(path)  # messages only: the bot never called a model
    try:
        assert read_today_summary(path, NOON) is None
    finally:
        await store.close()
    assert read_today_summary(path, NOON) is None
    path.write_bytes(b"not a database at all")
    assert read_today_summary(path, NOON) is None


async def test_read_today_summary_reads_while_the_bot_writes(ledger: UsageLedger, clock: FakeClock) -> None:
    await ledger.record(rec(usage=Usage(1_000_000, 0)))
    # Another writer holds an open write transaction with uncommitted calls in it.
    writer = sqlite3.connect(ledger.path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO llm_calls (time, bot_id, provider, model, key_alias, purpose, input_tokens, output_tokens, "
            "cache_read_tokens, cache_write_tokens, web_searches, latency_ms, ok, error_kind, cost_usd) "
            "VALUES ('2026-11-22T12:00:01.000000Z', 'alpha', 'anthropic', ?, NULL, 'reply', 5, 5, 0, 0, 0, 1, 1, NULL, 1.0)",
            (SONNET,),
        )
        assert read_today_summary(ledger.path, NOON) == DaySummary(1_000_000, pytest.approx(3.0), 1)
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert read_today_summary(ledger.path, NOON) == DaySummary(1_000_010, pytest.approx(4.0), 2)
    assert read_today_summary(ledger.path, NOON + timedelta(days=1)) == DaySummary(0, 0.0, 0)


def test_read_today_summary_does_not_wait_on_a_locked_database(tmp_path: Path) -> None:
    # A rollback-journal database under an exclusive lock (WAL never gets here): the
    # reader gives up at once instead of holding `status` up.
    from framework.storage.ledger import LEDGER_SCHEMA

    path = tmp_path / "messages.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.executescript(LEDGER_SCHEMA)
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        assert read_today_summary(path, NOON) is None
        assert time.monotonic() - started < 1.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# --- the budget ----------------------------------------------------------------------


class Counter:
    """The ledger as the guard sees it."""

    def __init__(self, tokens: int = 0) -> None:
        self.tokens = tokens
        self.asked: list[datetime] = []

    async def tokens_today(self, now: datetime) -> int:
        self.asked.append(now)
        return self.tokens


class BrokenCounter:
    async def tokens_today(self, now: datetime) -> int:
        raise StoreError("cannot read the usage ledger: disk I/O error")


class RecordingRouter:
    def __init__(self) -> None:
        self.calls: list[tuple[LLMRequest, bool]] = []

    async def complete(self, request: LLMRequest, *, cheap: bool = False) -> LLMReply:
        self.calls.append((request, cheap))
        return LLMReply(text="cheap" if cheap else "full", model="m")


def request(owed: bool) -> LLMRequest:
    return LLMRequest(system="s", turns=(ChatTurn("user", "hi"),), owed=owed)


BUDGET_LOG = "daily token budget of 1000 reached: answering only mentions and DMs, on the fallback chain"


def budget_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "framework.llm.budget" and r.levelno == logging.WARNING]


async def test_guard_normal_cheap_refuse(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    counter = Counter(999)
    guard = BudgetGuard(counter, 1000, clock)
    caplog.set_level(logging.INFO, logger="framework.llm.budget")
    assert await guard.decide(request(owed=False)) == "normal"
    assert await guard.decide(request(owed=True)) == "normal"
    assert budget_warnings(caplog) == []
    assert counter.asked == [NOON, NOON]  # asks about the clock's day

    counter.tokens = 1000  # reaching the budget counts as past it
    assert await guard.decide(request(owed=True)) == "cheap"
    assert await guard.decide(request(owed=False)) == "refuse"
    counter.tokens = 50_000
    clock.advance(3600 * 11)  # 23:00, same UTC day
    assert await guard.decide(request(owed=False)) == "refuse"
    assert budget_warnings(caplog) == [BUDGET_LOG]  # once that day

    clock.advance(3600 * 2)  # 01:00 the next day: a new day, the ledger is under budget again
    counter.tokens = 10
    assert await guard.decide(request(owed=False)) == "normal"
    counter.tokens = 1001
    assert await guard.decide(request(owed=True)) == "cheap"
    assert budget_warnings(caplog) == [BUDGET_LOG, BUDGET_LOG]  # and once again the next day


async def test_a_zero_budget_answers_only_owed_requests_cheaply(clock: FakeClock) -> None:
    guard = BudgetGuard(Counter(0), 0, clock)
    assert await guard.decide(request(owed=True)) == "cheap"
    assert await guard.decide(request(owed=False)) == "refuse"
    with pytest.raises(ValueError):
        BudgetGuard(Counter(0), -1, clock)


async def test_guard_fails_open_when_the_ledger_fails(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    guard = BudgetGuard(BrokenCounter(), 1000, clock)
    with caplog.at_level(logging.ERROR, logger="framework.llm.budget"):
        assert await guard.decide(request(owed=False)) == "normal"
    assert "disk I/O error" in caplog.text


async def test_budgeted_llm_picks_the_chain(clock: FakeClock) -> None:
    counter, router = Counter(0), RecordingRouter()
    llm = BudgetedLLM(router, BudgetGuard(counter, 1000, clock))
    assert (await llm.complete(request(owed=False))).text == "full"
    counter.tokens = 1000
    owed = request(owed=True)
    assert (await llm.complete(owed)).text == "cheap"
    with pytest.raises(BudgetExceeded, match="daily token budget of 1000"):
        await llm.complete(request(owed=False))
    assert [(req.owed, cheap) for req, cheap in router.calls] == [(False, False), (True, True)]
    assert router.calls[1][0] is owed  # the request goes through untouched


async def test_budget_over_a_real_ledger(ledger: UsageLedger, clock: FakeClock) -> None:
    router = RecordingRouter()
    llm = BudgetedLLM(router, BudgetGuard(ledger, 10_000, clock))
    await llm.complete(request(owed=False))
    # 8k of it cache reads: they count toward the budget.
    await ledger.record(rec(usage=Usage(1500, 500, cache_read_tokens=8000)))
    await llm.complete(request(owed=True))
    with pytest.raises(BudgetExceeded):
        await llm.complete(request(owed=False))
    clock.advance(86_400)
    await llm.complete(request(owed=False))
    assert [cheap for _, cheap in router.calls] == [False, True, False]


def test_budget_module_is_engine_side() -> None:
    code = (
        "import sys, framework.llm.budget; "
        "bad = [m for m in ('aiosqlite', 'anthropic', 'discord', 'groq', 'sqlite3') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
