"""The reminder loop of a bot process: due reminders to the master's DM, every 30 s.

Its own loop, not the hourly agentic pass: a reminder is due to the minute. It starts
once the Discord session is ready (a DM needs the session) and runs its first pass at
once, so reminders that fell due while the bot was down go out at start-up, marked late.
Like every loop of the process it runs through :func:`~framework.runtime.loops.run_periodic`:
a failing pass (Discord unreachable) is logged and retried, and a loop that keeps failing
shows in ``bot_manager status``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from ..clock import Clock
from .loops import LoopHealth, run_periodic

__all__ = ["REMINDER_INTERVAL", "reminder_loop"]

#: Seconds between passes: a reminder goes out within this of its time (minute precision).
REMINDER_INTERVAL = 30.0


class DeliveringEngine(Protocol):
    async def run_once(self) -> int: ...


async def reminder_loop(
    delivery: DeliveringEngine,
    *,
    clock: Clock,
    health: LoopHealth,
    connected: asyncio.Event,
    interval: float = REMINDER_INTERVAL,
) -> None:
    """Every ``interval`` seconds one delivery pass, the first as soon as Discord is ready."""
    await connected.wait()
    await run_periodic("reminders", delivery.run_once, clock=clock, interval=interval, health=health, first_delay=0)
