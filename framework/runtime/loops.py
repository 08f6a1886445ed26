"""The bot process's periodic loops (the check, the agentic pass, the ones to come).

Every loop runs through :func:`run_periodic`: a failing pass is logged with its traceback
and the loop goes on to the next one, as discord.py's event handlers survive a failing
handler. A loop that keeps failing must not stay a line in a log nobody reads, so
:class:`LoopHealth` mirrors each loop's run of consecutive failures into
``run/<bot>.loops.json``, which ``bot_manager status`` shows beside the bot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..clock import Clock
from ..fsutil import atomic_write_json, read_json
from .loop_health import FAILING_AFTER, LoopHealth, read_failing_loops

__all__ = ["LoopHealth", "run_periodic", "read_failing_loops", "check_loop", "agentic_loop", "FAILING_AFTER"]

_log = logging.getLogger(__name__)


async def run_periodic(
    name: str,
    body: Callable[[], Awaitable[object]],
    *,
    clock: Clock,
    interval: float,
    health: LoopHealth,
    first_delay: float | None = None,
) -> None:
    """Sleep, run ``body``, repeat until cancelled; a failing pass never ends the loop."""
    delay = interval if first_delay is None else first_delay
    while True:
        await clock.sleep(delay)
        delay = interval
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures = health.failed(name, exc)
            _log.exception("%s pass failed (%d in a row); the loop goes on", name, failures)
        else:
            health.succeeded(name)


# -- the loops of a bot process ----------------------------------------------------------


class CheckingEngine(Protocol):
    """What the check loop drives (the reactive engine)."""

    def check(self) -> int: ...

    def sweep(self) -> None: ...


class PassingEngine(Protocol):
    """What the agentic loop drives (the agentic engine); its report has a ``summary()``."""

    async def run_once(self, now: datetime) -> Any: ...


async def check_loop(
    engine: CheckingEngine, *, interval: float, clock: Clock, health: LoopHealth, enabled: bool = True
) -> None:
    """The periodic check: every ``interval`` seconds, one decision per pending channel;
    cooldown keys are swept hourly so weeks of running stay small."""
    sweeps_every = max(1, int(3600 / interval))
    checks = 0

    async def one_pass() -> None:
        nonlocal checks
        checks += 1
        if enabled:
            engine.check()
        if checks % sweeps_every == 0:
            engine.sweep()

    await run_periodic("check", one_pass, clock=clock, interval=interval, health=health)


def next_agentic_delay(state_path: Path, now: datetime, interval: float) -> float:
    """Seconds until the first agentic pass: at once if the last one (noted in
    ``state_path``) is older than ``interval`` (one catch-up after downtime, never a burst)."""
    from ..engines.agentic import next_tick_delay

    state = read_json(state_path)
    last_tick = None
    if isinstance(state, dict) and isinstance(state.get("last_tick"), str):
        try:
            last_tick = datetime.fromisoformat(state["last_tick"])
        except ValueError:
            last_tick = None
        if last_tick is not None and last_tick.tzinfo is None:  # hand-edited or from elsewhere
            last_tick = last_tick.replace(tzinfo=timezone.utc)
    return next_tick_delay(last_tick, now, interval)


async def agentic_loop(
    engine: PassingEngine,
    *,
    state_path: Path,
    interval: float,
    clock: Clock,
    health: LoopHealth,
    connected: asyncio.Event,
) -> None:
    """Every ``interval`` seconds one agentic pass, its time noted in ``state_path``."""
    await connected.wait()  # the engine needs to know who it is

    async def one_pass() -> None:
        now = clock.now()
        report = await engine.run_once(now)
        _log.info("%s", report.summary())
        atomic_write_json(state_path, {"last_tick": now.isoformat()})

    await run_periodic(
        "agentic", one_pass, clock=clock, interval=interval, health=health,
        first_delay=next_agentic_delay(state_path, clock.now(), interval),
    )
