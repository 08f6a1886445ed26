"""Test doubles for the engine ports (fakes, not mocks: they behave)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator

from framework.domain import Decision, IncomingMessage


class FakeClock:
    """A clock that only moves when told to (sleep advances it instantly)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)


@dataclass
class FakeChat:
    events: list[tuple[str, str, str | None]] = field(default_factory=list)
    _next_id: int = 5000

    @asynccontextmanager
    async def typing(self, channel_id: str) -> AsyncIterator[None]:
        self.events.append(("typing-start", channel_id, None))
        yield
        self.events.append(("typing-stop", channel_id, None))

    async def send(self, channel_id: str, content: str, reply_to: str | None = None, ping: bool = False) -> str:
        self._next_id += 1
        self.events.append(("send", content, reply_to))
        return str(self._next_id)

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        self.events.append(("react", emoji, message_id))


@dataclass
class RecordingDecisions:
    records: list[tuple[IncomingMessage, Decision]] = field(default_factory=list)

    def record(self, message: IncomingMessage, decision: Decision) -> None:
        self.records.append((message, decision))


__all__ = ["FakeClock", "FakeChat", "RecordingDecisions"]
