"""History backfill: what the bot missed while it was away is stored, and only what is still owed is answered.

Messages posted while the process was down, or while a gateway session was lost and could
not be resumed, never arrive as events. After each new session :class:`Backfill` asks the
chat service (a :class:`~framework.ports.HistoryPort`), channel by channel, for the
messages after the last one stored before that session began, bounded by count (the
newest ones win, so a long outage keeps the latest talk) and by age. New ones are stored
the way live ones are (once: one already stored is skipped) and become context for later
replies; they are not new conversation to join. Only a message still owed to someone (see
:func:`is_owed`) goes on to the reactive engine's urgent path, the way a live mention
does; so does one stored before the outage whose answer never went out (the process died
while writing it). A message the bot answered, or after which it spoke in that channel,
is never handed over, and the engine's own answered set stops a second hand-over within
one process.

:class:`ParentFetcher` serves the other gap: the parent of a reply that is not in the store
is fetched when a reply's context is built, stored, and shown.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..clock import Clock
from ..domain import IncomingMessage, StoredMessage
from ..ports import BackfillStorePort, HistoryChannel, HistoryPort

__all__ = ["Backfill", "BackfillReport", "BackfillSettings", "ParentFetcher", "is_owed", "snowflake_at"]

_log = logging.getLogger(__name__)

_DISCORD_EPOCH_MS = 1_420_070_400_000
# Live messages of the new session may be stored before the backfill looks, and the chat
# service's clock may differ a little from ours: the search starts this much before the
# session began. The overlap costs a few already-stored messages, skipped.
_OVERLAP = timedelta(minutes=2)
_MISSING_MEMORY = 1000  # parents known to be unavailable, not asked for again


def snowflake_at(when: datetime) -> int:
    """The lowest Discord id a message created at ``when`` can have (ids carry their time)."""
    return max(0, (int(when.timestamp() * 1000) - _DISCORD_EPOCH_MS) << 22)


@dataclass(frozen=True)
class BackfillSettings:
    enabled: bool = True
    max_messages: int = 500  # per channel
    max_age: timedelta = timedelta(hours=24)
    max_dm_channels: int = 50
    owed_within: timedelta = timedelta(minutes=5)
    # Direct messages come on shard 0: a shard process without it leaves them to that process.
    direct_messages: bool = True

    @classmethod
    def from_config(cls, config: Any, *, direct_messages: bool = True) -> BackfillSettings:
        """From ``history.backfill`` (framework.config.models.BackfillConfig)."""
        return cls(
            direct_messages=direct_messages,
            enabled=config.enabled,
            max_messages=config.max_messages_per_channel,
            max_age=timedelta(hours=config.max_age_hours),
            max_dm_channels=config.max_dm_channels,
            owed_within=timedelta(minutes=config.owed_within_minutes),
        )


def is_owed(
    message: IncomingMessage, *, now: datetime, within: timedelta, self_user_id: str | None, parent_author_id: str | None
) -> bool:
    """Is a message found by the backfill still owed an answer?

    Only what was addressed to the bot (a mention, a DM, a reply to one of its messages)
    and is at most ``within`` old: a question from an hour ago answered now would land in
    a conversation that has moved on.
    """
    if message.is_self:
        return False
    addressed = (
        message.is_dm
        or message.mentions_self
        or (self_user_id is not None and parent_author_id is not None and parent_author_id == self_user_id)
    )
    return addressed and now - message.timestamp <= within


@dataclass
class BackfillReport:
    channels: int = 0
    fetched: int = 0
    stored: int = 0
    owed: int = 0
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"backfill: {self.channels} channels looked at, {self.fetched} messages fetched, "
            f"{self.stored} new stored, {self.owed} owed handed to the engine"
        )
        if self.failed:
            text += f"; {len(self.failed)} channels failed ({', '.join(self.failed[:5])})"
        return text


class Backfill:
    """Runs one backfill per new gateway session (:meth:`start`); a newer session's replaces an older one's."""

    def __init__(
        self,
        *,
        history: HistoryPort,
        store: BackfillStorePort,
        clock: Clock,
        settings: BackfillSettings,
        deliver: Callable[[IncomingMessage], Awaitable[Any]],
        remember: Callable[[IncomingMessage], Any] | None = None,
        name: str = "backfill",
    ) -> None:
        self._history = history
        self._store = store
        self._clock = clock
        self._settings = settings
        self._deliver = deliver  # the live path: an owed message is answered as a live one is
        self._remember = remember  # names for the transcript, from every stored message
        self._name = name
        self._task: asyncio.Task[BackfillReport] | None = None
        self.last_report: BackfillReport | None = None

    def start(self, *, session_started: datetime, self_user_id: str | None) -> asyncio.Task[BackfillReport] | None:
        """Backfill in the background for a session that began at ``session_started``.

        A backfill still running for an earlier session is cancelled: the new one starts
        from the same stored history, so it covers everything the old one would have.
        """
        if not self._settings.enabled:
            return None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.create_task(self.run(session_started=session_started, self_user_id=self_user_id), name=self._name)
        self._task.add_done_callback(self._finished)
        return self._task

    async def wait(self) -> BackfillReport | None:
        """The running backfill's report once it is done (tests)."""
        if self._task is None:
            return None
        return await asyncio.shield(self._task)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _finished(self, task: asyncio.Task[BackfillReport]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            _log.error("backfill failed: %s", exc, exc_info=exc)
            return
        self.last_report = task.result()
        _log.info("%s", self.last_report.summary())

    async def run(self, *, session_started: datetime, self_user_id: str | None) -> BackfillReport:
        """Backfill every readable channel and the known DM channels, one after another."""
        report = BackfillReport()
        channels = list(self._history.readable_channels())
        seen = {c.channel_id for c in channels}
        dm_limit = self._settings.max_dm_channels if self._settings.direct_messages else 0
        for channel_id in await self._store.dm_channel_ids(dm_limit) if dm_limit else ():
            if channel_id not in seen:
                channels.append(HistoryChannel(channel_id))
        # Far enough back to see again the recent messages an earlier process stored but
        # may have died before answering.
        watermark = session_started - max(_OVERLAP, self._settings.owed_within)
        for channel in channels:
            report.channels += 1
            try:
                await self._channel(channel, watermark, session_started, self_user_id, report)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one unreadable channel must not stop the others
                _log.warning("backfill of channel %s failed: %s", channel.channel_id, exc)
                report.failed.append(channel.channel_id)
        return report

    async def _channel(
        self,
        channel: HistoryChannel,
        watermark: datetime,
        session_started: datetime,
        self_user_id: str | None,
        report: BackfillReport,
    ) -> None:
        last = await self._store.last_message_id(channel.channel_id, before=watermark)
        after = max(int(last) if last else 0, snowflake_at(self._clock.now() - self._settings.max_age))
        if channel.latest_message_id is not None and int(channel.latest_message_id) <= after:
            return  # nothing newer there: no request
        fetched = await self._history.history_after(channel.channel_id, after, self._settings.max_messages)
        report.fetched += len(fetched)
        known = await self._store.known_ids(m.message_id for m in fetched)
        new = [m for m in fetched if m.message_id not in known]
        if new:
            await self._store.add_many(new)
            report.stored += len(new)
            if self._remember is not None:
                for message in new:
                    self._remember(message)
        # A known message of this session came as a live event and took the live path.
        unanswered = [m for m in fetched if m.message_id not in known or m.timestamp < session_started]
        for message in await self._owed(fetched, unanswered, self_user_id):
            report.owed += 1
            await self._deliver(message)

    async def _owed(
        self, fetched: Sequence[IncomingMessage], unanswered: Sequence[IncomingMessage], self_user_id: str | None
    ) -> list[IncomingMessage]:
        now = self._clock.now()
        # Whatever the bot said after a message counts as its answer: a reply is not always
        # threaded, and a second answer is worse than a missing one. ``fetched`` runs to the
        # present, so the bot's last word in the channel is in it.
        last_own = max((int(m.message_id) for m in fetched if m.is_self), default=0)
        candidates: list[IncomingMessage] = []
        for message in unanswered:
            if int(message.message_id) < last_own:
                continue
            parent_author = None
            if message.reference_id and not message.is_dm and not message.mentions_self:
                parent = await self._store.get(message.reference_id)
                parent_author = parent.author_id if parent is not None else None
            if is_owed(
                message, now=now, within=self._settings.owed_within,
                self_user_id=self_user_id, parent_author_id=parent_author,
            ):
                candidates.append(message)
        if not candidates or self_user_id is None:
            return candidates
        # A threaded answer stored earlier, whatever its place in the channel.
        answered = await self._store.replied_to((m.message_id for m in candidates), self_user_id)
        return [m for m in candidates if m.message_id not in answered]


class ParentFetcher:
    """``ParentFetchPort``: a missing reply parent from the chat service, stored once fetched.

    Each fetch is bounded by ``timeout``; a parent that could not be had is remembered, so
    a reply to a deleted message does not cost a request every time it is in context.
    """

    def __init__(self, history: HistoryPort, store: BackfillStorePort, *, timeout: float = 5.0) -> None:
        self._history = history
        self._store = store
        self._timeout = timeout
        self._missing: OrderedDict[str, None] = OrderedDict()

    async def fetch_missing(self, channel_id: str, message_id: str) -> StoredMessage | None:
        if message_id in self._missing:
            return None
        try:
            message = await asyncio.wait_for(self._history.fetch_message(channel_id, message_id), self._timeout)
        except asyncio.TimeoutError:
            _log.info("reply parent %s not fetched within %.1f s", message_id, self._timeout)
            return None  # not remembered: it may come next time
        except Exception as exc:  # the reply is written without the parent rather than not at all
            _log.warning("reply parent %s not fetched: %s", message_id, exc)
            return None
        if message is None:
            self._missing[message_id] = None
            while len(self._missing) > _MISSING_MEMORY:
                self._missing.popitem(last=False)
            return None
        await self._store.add_many([message])
        return await self._store.get(message_id)
