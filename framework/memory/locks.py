"""Per-path locks over the memory tree, so concurrent commands never lose an update.

A command that changes path P holds P exclusively and every ancestor of P shared:

* two commands on the same file run one after the other (read-modify-write is safe);
* commands on different files run concurrently;
* deleting or renaming a folder waits for every command inside it, and commands inside it
  wait for the delete/rename, so a write can neither resurrect a deleted folder halfway
  nor make ``rmtree`` fail on a file appearing under it.

All the paths a command needs are taken in one step (rename: both paths), never one after
the other, so there is no hold-and-wait and no lock order to get wrong: no deadlock.
Bookkeeping is synchronous on the event loop; waiters are futures woken on every release,
which keeps cancellation simple (a cancelled waiter just drops out).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .paths import Parts

__all__ = ["PathLocks"]


class PathLocks:
    """Exclusive-on-path, shared-on-ancestors locks keyed by normalised (resolved) path parts."""

    def __init__(self) -> None:
        self._exclusive: set[Parts] = set()
        self._shared: Counter[Parts] = Counter()
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def idle(self) -> bool:
        """True when nothing is held or awaited (for tests and diagnostics)."""
        return not self._exclusive and not self._shared and not self._waiters

    @staticmethod
    def _plan(paths: tuple[Parts, ...]) -> tuple[frozenset[Parts], frozenset[Parts]]:
        exclusive = frozenset(paths)
        shared = frozenset(path[:i] for path in paths for i in range(len(path))) - exclusive
        return exclusive, shared

    def _free(self, exclusive: frozenset[Parts], shared: frozenset[Parts]) -> bool:
        if any(path in self._exclusive or self._shared[path] for path in exclusive):
            return False
        return not any(path in self._exclusive for path in shared)

    @asynccontextmanager
    async def hold(self, *paths: Parts) -> AsyncIterator[None]:
        """Hold ``paths`` exclusively (and their ancestors shared) for the ``async with`` body."""
        exclusive, shared = self._plan(paths)
        loop = asyncio.get_running_loop()
        while not self._free(exclusive, shared):
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)
        self._exclusive.update(exclusive)
        self._shared.update(shared)
        try:
            yield
        finally:
            self._exclusive.difference_update(exclusive)
            self._shared.subtract(shared)
            for path in shared:
                if self._shared[path] <= 0:
                    del self._shared[path]
            # Wake everyone: each re-checks its own paths. Fine for a handful of writers per bot.
            waiters, self._waiters = self._waiters, set()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
