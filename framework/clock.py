"""Injected time: engines take a Clock so tests can run hours in microseconds.

Two shapes of one idea: :class:`Clock` for code on an event loop (the bot process), and
:class:`BlockingClock` for the keeper, a small process with no event loop that sleeps
for real between polls of its child and writes wall time into the state file.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Protocol

__all__ = ["BlockingClock", "Clock", "SystemBlockingClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class BlockingClock(Protocol):
    """Time for the keeper: monotonic for deadlines, wall time for the state file."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemBlockingClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
