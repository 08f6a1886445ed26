"""``status``: gather each bot's state from run/ and psutil (drawn by :mod:`.status_table`).

Budget: 10 bots in under 300 ms of wall time, the interpreter's start included. Nothing
here imports the config models (what status needs of a config comes from its facts,
computed once per version of the file: :mod:`framework.config.facts`), no rendering
library is imported (the table is plain text), each process is read once
(:mod:`.readings`), and nothing waits by default: CPU is the average since each process
started (from its cpu_times). ``status --sample S`` measures current CPU instead, over
one shared window for every process (prime ``cpu_percent``, sleep once, read), never one
interval per bot.

Today's tokens and estimated cost come from each bot's usage ledger through
:func:`~framework.storage.ledger.read_today_summary`: one read-only row lookup per bot
(the ledger keeps per-day totals), which never waits on a bot that is writing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import psutil

from ..config.facts import ConfigFacts, config_facts
from ..paths import BotPaths
from ..runtime.loop_health import read_failing_loops
from .pidfile import PidStatus, check_pidfile
from .process_ops import ProcessOps
from .readings import ProcessReading, ReadOnceOps
from ..shard_split import process_shard_ids
from .shares import process_names, started_process_names
from .states import ACTIVE_STATES, BotState, read_state

__all__ = ["StatusRow", "collect_status"]

@dataclass(frozen=True)
class StatusRow:
    """One bot in ``status``; the first nine fields are the stable JSON of ARCHITECTURE.md."""

    name: str
    state: str
    pid: int | None = None  # the bot runtime, not the keeper
    uptime_s: float | None = None
    restarts: int = 0
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    last_exit_code: int | None = None
    last_error: str | None = None
    keeper_pid: int | None = None
    note: str | None = None  # e.g. why the bot counts as crashed
    # From the usage ledger, for the current UTC day; None when the bot has no ledger yet.
    tokens_today: int | None = None
    cost_today_usd: float | None = None  # None also when no call today had a known price
    health_url: str | None = None  # the bot's health endpoint (``health.port``), from its config
    # The bot this process belongs to; a bot split into shard processes has one row per
    # process (``name`` alpha@0, alpha@1), each with its index and the shards it runs.
    bot: str | None = None
    shard_process: int | None = None
    shard_ids: tuple[int, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # every field is a plain value


def _base_row(home: Path, bot_id: str, ops: ProcessOps, now: float) -> StatusRow:
    paths = BotPaths.for_process(home, bot_id)
    check = check_pidfile(paths.pidfile, ops)
    status = read_state(paths.state_file)
    keeper_pid = check.record.pid if check.alive and check.record else None
    if status is None:
        # A live keeper that has not written its first state yet is starting.
        return StatusRow(bot_id, BotState.STARTING.value if check.alive else BotState.STOPPED.value, keeper_pid=keeper_pid)
    state, note = status.state, None
    if state in ACTIVE_STATES and not check.alive:
        state = BotState.CRASHED
        note = check.describe(paths.pidfile) if check.stale else "keeper exited without a clean stop (pidfile missing)"
    elif check.status is PidStatus.REUSED:
        note = check.describe(paths.pidfile)
    pid = None
    if check.alive and status.child_pid and state in (BotState.STARTING, BotState.RUNNING, BotState.STOPPING):
        pid = status.child_pid if ops.create_time(status.child_pid) is not None else None
    uptime = None
    if pid is not None and status.started_at is not None:
        uptime = max(0.0, now - status.started_at)
    return StatusRow(
        name=bot_id,
        state=state.value,
        pid=pid,
        uptime_s=uptime,
        restarts=status.restarts,
        last_exit_code=status.last_exit_code,
        last_error=status.last_error,
        keeper_pid=keeper_pid,
        note=note,
    )


def collect_status(
    home: Path,
    bot_ids: Iterable[str],
    ops: ProcessOps | None = None,
    *,
    cpu_sample: float = 0.0,
    now: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[StatusRow]:
    """One row per bot, with CPU and memory of each live bot process.

    ``cpu_sample=0`` reports CPU as the average since the process started, computed from
    its cpu_times without waiting (the 300 ms budget). A positive value measures every
    process over one shared window of that many seconds instead.
    """
    reader = ReadOnceOps()  # the kernel is asked about each process once
    ops = ops or reader
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now, timezone.utc)
    bot_ids = list(bot_ids)
    facts = config_facts(home, bot_ids)
    rows = [
        _with_health(
            _with_loops(_with_usage(_with_share(_base_row(home, name, ops, now), home, facts[bot_id]), home, today), home),
            facts[bot_id],
        )
        for bot_id in bot_ids
        for name in _process_names(home, bot_id, facts[bot_id])
    ]
    if cpu_sample > 0:
        return _with_sampled_metrics(rows, cpu_sample, sleep)
    return [_with_metrics(row, reader.reading(row.pid) if row.pid else None, now) for row in rows]


def _with_metrics(row: StatusRow, reading: ProcessReading | None, now: float) -> StatusRow:
    """CPU as the average since the process started, and its memory, from the one reading."""
    if reading is None or reading.zombie:
        return row
    alive_for = max(now - reading.create_time, 1e-3)
    return replace(row, cpu_percent=round(100.0 * reading.cpu_seconds / alive_for, 1), rss_bytes=reading.rss_bytes)


def _with_sampled_metrics(rows: list[StatusRow], window: float, sleep: Callable[[float], None]) -> list[StatusRow]:
    """Current CPU of every bot process over one shared window, and its memory."""
    procs: dict[int, psutil.Process] = {}
    for row in rows:
        if row.pid is None:
            continue
        try:
            proc = psutil.Process(row.pid)
            proc.cpu_percent(None)  # primes the counter; the second call measures since here
            procs[row.pid] = proc
        except psutil.Error:
            continue
    if procs:
        sleep(window)
    sampled = []
    for row in rows:
        proc = procs.get(row.pid) if row.pid is not None else None
        try:
            if proc is not None:
                with proc.oneshot():
                    row = replace(row, cpu_percent=round(proc.cpu_percent(None), 1), rss_bytes=proc.memory_info().rss)
        except psutil.Error:
            pass
        sampled.append(row)
    return sampled


def _process_names(home: Path, bot_id: str, facts: ConfigFacts) -> list[str]:
    """The bot's processes as configured, and any other one still started from before."""
    configured = process_names(bot_id, facts.shard_processes)
    return list(dict.fromkeys([*configured, *started_process_names(BotPaths(home, bot_id).run_dir, bot_id)]))


def _with_share(row: StatusRow, home: Path, facts: ConfigFacts) -> StatusRow:
    paths = BotPaths.for_process(home, row.name)
    if paths.shard_process is None:
        return replace(row, bot=paths.bot_id)
    processes, count = facts.shard_processes, facts.shard_count
    ids = None
    if count is not None and paths.shard_process < processes:
        ids = process_shard_ids(count, processes, paths.shard_process)
    return replace(row, bot=paths.bot_id, shard_process=paths.shard_process, shard_ids=ids)


def _with_usage(row: StatusRow, home: Path, today: datetime) -> StatusRow:
    # Imported on use: every CLI verb imports this module, only status and list read ledgers.
    from ..storage.ledger import read_today_summary

    if row.shard_process:
        # The shard processes share the bot's ledger: its usage shows once, on process 0.
        return row
    summary = read_today_summary(BotPaths.for_process(home, row.name).database, today)
    if summary is None:
        return row
    cost = None if summary.cost_usd is None else round(summary.cost_usd, 6)
    return replace(row, tokens_today=summary.tokens, cost_today_usd=cost)


def _with_loops(row: StatusRow, home: Path) -> StatusRow:
    """A running bot whose periodic loop keeps failing says so (the process itself is up)."""
    if row.state != BotState.RUNNING.value:
        return row
    failing = read_failing_loops(BotPaths.for_process(home, row.name).loops_file)
    if not failing:
        return row
    note = "; ".join(failing if row.note is None else [row.note, *failing])
    return replace(row, note=note)


def _with_health(row: StatusRow, facts: ConfigFacts) -> StatusRow:
    """The health URL as configured: from the config, never asked over HTTP (status stays
    fast). A config that does not load shows none here; ``bot_manager validate`` says why."""
    url = facts.health_url(row.shard_process)
    return row if url is None else replace(row, health_url=url)
