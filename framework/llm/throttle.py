"""Request pacing from ``api.throttling``: a minimum gap between request starts and a cap
on requests in flight. Time comes from an injected clock so tests never wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..clock import Clock

__all__ = ["Throttle"]


class Throttle:
    def __init__(self, clock: Clock, *, min_delay_seconds: float, max_concurrent: int) -> None:
        self._clock = clock
        self._min_delay = min_delay_seconds
        self._slots = asyncio.Semaphore(max_concurrent)
        self._start_lock = asyncio.Lock()
        self._last_start: float | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of ``max_concurrent`` slots, starting at least ``min_delay`` after the last start."""
        async with self._slots:
            async with self._start_lock:  # starts are spaced one after another, in arrival order
                if self._last_start is not None:
                    wait = self._last_start + self._min_delay - self._clock.monotonic()
                    if wait > 0:
                        await self._clock.sleep(wait)
                self._last_start = self._clock.monotonic()
            yield
