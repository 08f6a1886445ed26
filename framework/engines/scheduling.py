"""When the reactive engine works on what: per-channel order, pending sets, answer-once.

* Channels are worked on concurrently, each in order: one worker task per channel drains
  that channel's queue, so a slow model call holds up only its own channel.
* Messages that need no answer now wait in a per-channel pending set until the periodic
  check takes them; a channel still busy with its last job keeps them for the next check,
  so a slow reply cannot pile up a queue of stale decisions behind it.
* Every message is answered at most once, whichever path sees it first: the ids of the
  last few thousand answered messages are remembered (a gateway RESUME replays events).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from ..domain import IncomingMessage

__all__ = ["ChannelScheduler"]

_log = logging.getLogger(__name__)

ANSWERED_MEMORY = 5000  # message ids remembered for answer-at-most-once

Job = Callable[[], Awaitable[object]]


@dataclass
class _Channel:
    queue: asyncio.Queue[Job] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None


class ChannelScheduler:
    def __init__(self, *, max_batch: int = 20) -> None:
        self._max_batch = max_batch  # newest pending messages handed to one check
        self._pending: dict[str, list[IncomingMessage]] = {}
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._channels: dict[str, _Channel] = {}

    # -- answer at most once ------------------------------------------------------------

    def answered(self, message: IncomingMessage) -> bool:
        return message.message_id in self._answered

    def mark_answered(self, messages: Iterable[IncomingMessage]) -> None:
        for message in messages:
            self._answered[message.message_id] = None
        while len(self._answered) > ANSWERED_MEMORY:
            self._answered.popitem(last=False)

    # -- pending sets -------------------------------------------------------------------

    def pend(self, message: IncomingMessage) -> None:
        self._pending.setdefault(message.channel_id, []).append(message)

    def take_batches(self) -> list[tuple[str, list[IncomingMessage]]]:
        """The pending messages of every channel with no job in flight (newest
        ``max_batch`` each); busy channels keep theirs for the next check."""
        batches = []
        for channel_id in list(self._pending):
            if self.busy(channel_id):
                continue
            messages = self._pending.pop(channel_id)
            batches.append((channel_id, messages[-self._max_batch :]))
        return batches

    # -- per-channel workers ------------------------------------------------------------

    def busy(self, channel_id: str) -> bool:
        channel = self._channels.get(channel_id)
        return channel is not None and channel.worker is not None and not channel.worker.done()

    def run(self, channel_id: str, job: Job) -> None:
        """Queue ``job`` on the channel's worker (started if idle); returns at once."""
        channel = self._channels.setdefault(channel_id, _Channel())
        channel.queue.put_nowait(job)
        if channel.worker is None or channel.worker.done():
            channel.worker = asyncio.create_task(self._work(channel_id, channel), name=f"reactive:{channel_id}")

    async def _work(self, channel_id: str, channel: _Channel) -> None:
        while not channel.queue.empty():
            job = channel.queue.get_nowait()
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad decision must not end the channel's worker
                _log.exception("reactive decision in channel %s failed", channel_id)

    async def idle(self) -> None:
        """Wait until every channel worker is done (tests, shutdown)."""
        workers = [c.worker for c in self._channels.values() if c.worker is not None]
        await asyncio.gather(*workers, return_exceptions=True)

    async def stop(self) -> None:
        for channel in self._channels.values():
            if channel.worker is not None:
                channel.worker.cancel()
        await self.idle()
