"""Observer events: every change in the sandbox, in order, for tests and the terminal chat.

Each event is a dict with a ``type`` (``message``, ``edit``, ``delete``, ``reaction``,
``reaction_remove``, ``typing``, ``identify``, ``resumed``, ``resume_rejected``,
``disconnect``; for guild structure ``channel_create``, ``channel_update``,
``role_create``, ``member_update``, ``thread_create``, ``pin``, ``unpin``) and an
``index``, its position in :attr:`EventBus.events`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

_log = logging.getLogger(__name__)

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


class EventBus:
    """Records events and lets callers listen, subscribe to a queue, or wait for one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.typing_events: list[Event] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._queues: dict[int, Callable[[Event], None]] = {}
        self._waiters: list[tuple[Predicate, asyncio.Future[Event]]] = []

    # -- observers ------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        event["index"] = len(self.events)
        self.events.append(event)
        if event["type"] == "typing":
            self.typing_events.append(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # an observer's bug must not break the server
                _log.exception("sandbox event listener failed")
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                if predicate(event):
                    future.set_result(event)
            except Exception as exc:
                future.set_exception(exc)

    def add_listener(self, callback: Callable[[Event], None]) -> None:
        """Call *callback(event)* synchronously, on the server's loop, for every new event."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[Event], None]) -> None:
        """Undo :meth:`add_listener`."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue receiving every event from now on (undo with :meth:`unsubscribe`)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues[id(queue)] = queue.put_nowait
        self.add_listener(queue.put_nowait)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        """Stop feeding *queue*."""
        callback = self._queues.pop(id(queue), None)
        if callback is not None:
            self.remove_listener(callback)

    async def wait_for(self, predicate: Predicate, timeout: float = 5.0, *, since: int = 0) -> Event:
        """The first event from index *since* on (past ones included) matching *predicate*.

        Checking past events means "do X, then wait for its effect" cannot miss an
        effect that happened before the wait began; pass ``since=len(server.events)``
        to look only at what comes next. Raises ``TimeoutError``.
        """
        for event in self.events[since:]:
            if predicate(event):
                return event
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            recent = [e["type"] for e in self.events[-10:]]
            raise TimeoutError(f"no matching sandbox event within {timeout}s (recent: {recent})") from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def cancel_waiters(self) -> None:
        """Cancel every pending :meth:`wait_for` (on shutdown)."""
        for _predicate, future in self._waiters:
            if not future.done():
                future.cancel()
        self._waiters.clear()
