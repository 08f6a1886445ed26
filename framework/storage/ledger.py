"""Usage ledger: one row per model call in ``llm_calls``, next to the messages.

The table lives in the bot's ``persistence/<bot>/messages.db`` (the same file as the
message history, so a single file carries both through git). The ledger opens its own
connection; in WAL mode it and the :class:`~framework.storage.messages.MessageStore`
write to the same file without blocking each other's readers.

Each row carries the call's token counts and an estimated cost in US dollars, computed
at write time from the bot's price table (``api.prices``): later price changes do not
rewrite history, and a model missing from the table is still recorded, with a NULL cost.
A trigger keeps per-UTC-day totals in ``llm_days`` in the same transaction, so the
budget check and ``status`` read one row however many calls the day holds (the index on
``llm_calls.time`` serves range queries over the calls themselves).

Budget counting rule: :meth:`UsageLedger.tokens_today` counts *every* token of the UTC
day, input + output + cache reads + cache writes (:attr:`Usage.total_tokens`). The daily
budget is a volume cap that is easy to reason about from the config; converting cache
reads to a billed equivalent would tie it to one provider's pricing. Money is tracked
separately in ``cost_usd``.

:meth:`UsageLedger.key_usage` gives the key pools their counts back at start-up (calls per
key alias today and ever): the ledger is the persistent record of key usage, so there is
no second file to keep in step. The table is machine-local (``sync`` leaves it out), so the
counts are this machine's.

:func:`read_today_summary` is the ``status`` command's reader: synchronous, read-only,
stdlib ``sqlite3`` only, and it answers ``None`` rather than failing or waiting.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Protocol, Sequence

from ..errors import StoreError
from .timestamps import to_db as _ts

if TYPE_CHECKING:
    import aiosqlite

    from ..config.models import Price
    from ..domain import Usage, UsageRecord
    from ..domain.keys import KeyUsage

__all__ = [
    "LEDGER_SCHEMA",
    "DaySummary",
    "UsageLedger",
    "estimate_cost",
    "price_for",
    "read_today_summary",
]

_log = logging.getLogger(__name__)

LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,                -- fixed-width ISO-8601 UTC: text order is time order
    bot_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    key_alias TEXT,                    -- the environment variable's NAME, never the key
    purpose TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    web_searches INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    ok BOOLEAN NOT NULL,
    error_kind TEXT,
    cost_usd REAL,                     -- NULL when the model has no price
    images INTEGER NOT NULL DEFAULT 0  -- image blocks sent with the call
);
CREATE INDEX IF NOT EXISTS idx_llm_calls_time ON llm_calls(time);
-- Calls per key at start-up (the key pools' counts) from the index alone, not a table scan.
CREATE INDEX IF NOT EXISTS idx_llm_calls_key ON llm_calls(key_alias, time);

-- Running totals per UTC day, kept by a trigger in the same transaction as each insert:
-- the budget check and `status` read one row instead of summing the day's calls.
CREATE TABLE IF NOT EXISTS llm_days (
    day TEXT PRIMARY KEY,              -- YYYY-MM-DD, UTC (the first 10 characters of time)
    tokens INTEGER NOT NULL,           -- input + output + cache reads + cache writes
    cost_usd REAL,                     -- sum over the priced calls; NULL while there are none
    calls INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS llm_calls_into_days AFTER INSERT ON llm_calls BEGIN
    INSERT INTO llm_days (day, tokens, cost_usd, calls)
    VALUES (
        substr(NEW.time, 1, 10),
        NEW.input_tokens + NEW.output_tokens + NEW.cache_read_tokens + NEW.cache_write_tokens,
        NEW.cost_usd,
        1
    )
    ON CONFLICT (day) DO UPDATE SET
        tokens = tokens + excluded.tokens,
        cost_usd = CASE WHEN excluded.cost_usd IS NULL THEN cost_usd
                        ELSE COALESCE(cost_usd, 0) + excluded.cost_usd END,
        calls = calls + 1;
END;
"""

_SUMMARY_SQL = "SELECT tokens, cost_usd, calls FROM llm_days WHERE day = ?"

# An environment variable name as the config and the key pools spell them: upper case.
# Real keys mix case or carry '-' ("sk-ant-...", "gsk_aB3..."), so they never match.
_KEY_ALIAS = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
# A dated model id ("claude-sonnet-4-6-20260115") is priced as its undated alias.
_DATE_SUFFIX = re.compile(r"-\d{8}$")
# How long status waits on a locked database before showing "-" instead.
_READ_TIMEOUT_S = 0.05


class DaySummary(NamedTuple):
    """One UTC day of model calls; unpacks as ``tokens, cost_usd, calls``.

    ``cost_usd`` sums the priced calls only (a model missing from the price table adds
    nothing); it is None when there were calls and none of them had a price.
    """

    tokens: int
    cost_usd: float | None
    calls: int


class _Now(Protocol):
    def now(self) -> datetime: ...


class _UtcNow:
    # Not framework.clock.SystemClock: that module imports asyncio, which status avoids.
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


def _utc_day(now: datetime) -> str:
    """The UTC day holding ``now``, as the ``llm_days.day`` key (YYYY-MM-DD)."""
    return _ts(now)[:10]


def _summary(row: Sequence[Any] | None) -> DaySummary:
    if row is None:  # no call that day
        return DaySummary(0, 0.0, 0)
    tokens, cost, calls = int(row[0]), row[1], int(row[2])
    return DaySummary(tokens, None if cost is None else float(cost), calls)


def _check_key_alias(alias: str | None) -> None:
    if alias is not None and not _KEY_ALIAS.match(alias):
        # The value is deliberately not echoed: it may be the secret itself.
        raise ValueError(
            f"key_alias must be an environment variable name such as ANTHROPIC_API_KEY_2, "
            f"got a {len(alias)}-character value that is not one; the ledger never stores keys"
        )


def price_for(model: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: an exact entry, else the entry of its undated alias."""
    price = prices.get(model)
    if price is None:
        undated = _DATE_SUFFIX.sub("", model)
        if undated != model:
            price = prices.get(undated)
    return price


def estimate_cost(usage: Usage, price: Price) -> float:
    """US dollars for ``usage`` at ``price`` (per million tokens; web searches per thousand).

    A price without cache rates uses Anthropic's ratios to the input rate: reads 0.1x,
    writes 1.25x (the 5-minute cache).
    """
    cache_read = price.cache_read if price.cache_read is not None else 0.1 * price.input
    cache_write = price.cache_write if price.cache_write is not None else 1.25 * price.input
    per_million = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * cache_read
        + usage.cache_write_tokens * cache_write
    )
    return per_million / 1_000_000 + usage.web_searches * price.web_search_per_1k / 1000


async def _add_images_column(db: aiosqlite.Connection) -> None:
    """A ledger written before calls counted their images gets the column (0 for old rows)."""
    from .sqlite import run

    columns = {row[1] for row in await db.execute_fetchall("PRAGMA table_info(llm_calls)")}
    if "images" not in columns:
        await run(db, "ALTER TABLE llm_calls ADD COLUMN images INTEGER NOT NULL DEFAULT 0")
        await db.commit()


class UsageLedger:
    """Records every provider call in ``llm_calls`` (a :class:`~framework.domain.llm.UsageSink`).

    Open with :meth:`open`, close with :meth:`close`. ``clock.now()`` stamps each row;
    the read methods take ``now`` explicitly.
    """

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        prices: Mapping[str, Price],
        clock: _Now | None = None,
    ) -> None:
        self._db = db
        self.path = path
        self._prices = dict(prices)
        self._clock: _Now = clock or _UtcNow()

    @classmethod
    async def open(cls, path: Path, prices: Mapping[str, Price], clock: _Now | None = None) -> UsageLedger:
        """Open (creating if needed) the ledger table in the SQLite file at ``path``."""
        # Imported here: read_today_summary (the status command) needs only stdlib sqlite3,
        # and aiosqlite brings in asyncio.
        from .sqlite import open_database

        db = await open_database(path, LEDGER_SCHEMA, "usage ledger")
        await _add_images_column(db)
        return cls(db, path, prices, clock)

    async def close(self) -> None:
        # No checkpoint here: the message store's close does it, and SQLite checkpoints
        # when the last connection to the file closes anyway.
        try:
            await self._db.commit()
        except sqlite3.Error as exc:
            _log.warning("could not commit the usage ledger %s on close: %s", self.path, exc)
        finally:
            await self._db.close()

    def cost_of(self, model: str, usage: Usage) -> float | None:
        """Estimated cost of one call, or None for a model missing from the price table."""
        price = price_for(model, self._prices)
        return None if price is None else estimate_cost(usage, price)

    async def record(self, record: UsageRecord) -> None:
        """Store one call. Raises ValueError if ``key_alias`` is not a variable name.

        A database failure is logged, not raised: the call has already happened and the
        reply should not be lost over its bookkeeping.
        """
        from .sqlite import run  # aiosqlite loads with the connection, not with this module

        _check_key_alias(record.key_alias)
        usage = record.usage
        cost = self.cost_of(record.model, usage)
        if cost is None:
            _log.debug("no price for model %s: its cost is left empty in the ledger", record.model)
        row = (
            _ts(self._clock.now()),
            record.bot_id,
            record.provider,
            record.model,
            record.key_alias,
            record.purpose,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.web_searches,
            max(0, round(record.latency_s * 1000)),
            record.ok,
            record.error_kind,
            cost,
            record.images,
        )
        try:
            await run(
                self._db,
                "INSERT INTO llm_calls (time, bot_id, provider, model, key_alias, purpose, input_tokens, "
                "output_tokens, cache_read_tokens, cache_write_tokens, web_searches, latency_ms, ok, "
                "error_kind, cost_usd, images) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            await self._db.commit()
        except sqlite3.Error as exc:
            _log.error("could not record a %s call to %s in the usage ledger: %s", record.purpose, record.model, exc)
            await self._rollback()

    async def _rollback(self) -> None:
        # A failed insert leaves its implicit transaction open, and with it the write lock
        # the message store needs: end it.
        try:
            await self._db.rollback()
        except sqlite3.Error as exc:
            _log.warning("could not roll back the usage ledger %s: %s", self.path, exc)

    async def today_summary(self, now: datetime) -> DaySummary:
        """Tokens, estimated cost and number of calls of the UTC day holding ``now``."""
        try:
            rows = list(await self._db.execute_fetchall(_SUMMARY_SQL, (_utc_day(now),)))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the usage ledger {self.path}: {exc}") from exc
        return _summary(rows[0] if rows else None)

    async def tokens_today(self, now: datetime) -> int:
        """Every token (input, output, cache reads and writes) of the UTC day holding ``now``."""
        return (await self.today_summary(now)).tokens

    async def key_usage(self, now: datetime) -> dict[str, KeyUsage]:
        """Calls per key alias: on the UTC day holding ``now`` and ever (failed calls count:
        the key was used). Keyless calls are left out."""
        from ..domain.keys import KeyUsage

        day = _utc_day(now)
        try:
            totals = await self._db.execute_fetchall(
                "SELECT key_alias, COUNT(*) FROM llm_calls WHERE key_alias IS NOT NULL GROUP BY key_alias"
            )
            today = dict(
                await self._db.execute_fetchall(  # type: ignore[arg-type]
                    "SELECT key_alias, COUNT(*) FROM llm_calls WHERE key_alias IS NOT NULL "
                    "AND time >= ? AND time < ? GROUP BY key_alias",
                    (day, day + "~"),  # every timestamp of the day sorts between these
                )
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the usage ledger {self.path}: {exc}") from exc
        return {
            str(alias): KeyUsage(today=int(today.get(alias, 0)), total=int(total), day=day) for alias, total in totals
        }

    async def web_searches_today(self, now: datetime) -> int:
        """Server-side web searches of the UTC day holding ``now`` (the daily cap survives restarts)."""
        day = _utc_day(now)
        try:
            rows = list(
                await self._db.execute_fetchall(
                    "SELECT COALESCE(SUM(web_searches), 0) FROM llm_calls WHERE time >= ? AND time < ?",
                    (day, day + "~"),  # every timestamp of the day sorts between these
                )
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the usage ledger {self.path}: {exc}") from exc
        return int(rows[0][0]) if rows else 0


def read_today_summary(db_path: Path, now: datetime) -> DaySummary | None:
    """Today's (UTC) usage from a bot's database, for ``status``; None when unavailable.

    Read-only (``mode=ro``: never creates the file or the table), stdlib only, and never
    waits long: a missing file, a missing table, a locked or unreadable database all
    answer None. A bot writing at the same time does not block it (WAL readers see the
    last committed rows).
    """
    if not db_path.is_file():
        return None
    try:
        uri = db_path.resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=_READ_TIMEOUT_S)
    except (sqlite3.Error, ValueError, OSError) as exc:
        _log.debug("cannot open %s read-only: %s", db_path, exc)
        return None
    try:
        row = conn.execute(_SUMMARY_SQL, (_utc_day(now),)).fetchone()
    except sqlite3.Error as exc:
        # "no such table" before the bot's first model call; "database is locked" in the
        # rare moments a WAL reader must wait (recovery after a crash).
        _log.debug("cannot read today's usage from %s: %s", db_path, exc)
        return None
    finally:
        conn.close()
    return _summary(row)
