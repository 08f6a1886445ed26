"""Engagement tracking: did anyone react or reply to the bot?

The single-bot predecessor slept 30 s per sent message, then fetched it and counted
reactions and replies.
Here the runtime reports events as they arrive and calls ``due()`` from its periodic loop,
so there is no sleeping task per message and a fake clock drives the tests.

Accounting, exactly once per event:

* A tracked message still inside its delay collects reactions and replies silently;
  when the delay has passed, ``due()`` settles it with exactly one
  ``limiter.record_engagement`` (engaged) or ``limiter.record_ignored`` (not), and
  forgets it. However many reactions it got, that is one engagement.
* A reaction on any other bot message (settled already, or sent before a restart)
  calls ``limiter.record_engagement`` at once, as the predecessor's ``on_reaction_add`` did.
  The predecessor ran both paths for the same reaction, so one early reaction counted twice;
  here a reaction feeds one path only.
* With a ``user_id``, one user's emoji on one message counts once: removing and
  re-adding it is not new engagement (the last ``max_seen`` such keys are remembered).

Replies count only while the message is tracked, as in the predecessor, which looked at the
messages after the bot's within the check (it read the next 10; here any reply that
arrives before the check counts).

The runtime must pass only reactions on this bot's own messages, and not the bot's own
reactions.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from ..clock import Clock
from ..config.models import RateLimitingConfig

__all__ = ["EngagementTracker", "EngagementSink", "Settled"]


class EngagementSink(Protocol):
    """What the tracker reports to: the ``RateLimiter``."""

    def record_engagement(self, channel_id: str) -> None: ...

    def record_ignored(self, channel_id: str) -> None: ...


@dataclass(frozen=True)
class Settled:
    """One tracked message whose delay passed, and how it was accounted."""

    channel_id: str
    message_id: str
    engaged: bool


@dataclass
class _Pending:
    channel_id: str
    deadline: float
    engaged: bool = False


class EngagementTracker:
    """Turns reactions and replies to the bot's messages into limiter engagement/ignores."""

    def __init__(
        self, clock: Clock, limiter: EngagementSink, delay_s: float = 30, *, max_seen: int = 4096
    ) -> None:
        self._clock = clock
        self._limiter = limiter
        self.delay_s = delay_s
        self._max_seen = max_seen
        self._pending: dict[str, _Pending] = {}  # message id -> state
        self._seen: OrderedDict[tuple[str, str, str | None], None] = OrderedDict()

    @classmethod
    def from_config(
        cls, config: RateLimitingConfig, clock: Clock, limiter: EngagementSink
    ) -> EngagementTracker:
        """Build with ``rate_limiting.engagement_tracking_delay`` as the delay."""
        return cls(clock, limiter, config.engagement_tracking_delay)

    def track(self, channel_id: str, message_id: str) -> None:
        """Register a message the bot just sent; it is settled ``delay_s`` from now.

        Tracking the same message twice keeps the first registration.
        """
        if message_id not in self._pending:
            deadline = self._clock.monotonic() + self.delay_s
            self._pending[message_id] = _Pending(channel_id, deadline)

    def observe_reaction(
        self,
        channel_id: str,
        message_id: str,
        emoji: str | None = None,
        user_id: str | None = None,
    ) -> bool:
        """A reaction was added to one of the bot's messages; True when it counted."""
        if user_id is not None:
            key = (message_id, user_id, emoji)
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > self._max_seen:
                self._seen.popitem(last=False)
        pending = self._pending.get(message_id)
        if pending is not None:
            pending.engaged = True  # settled once, by due()
        else:
            self._limiter.record_engagement(channel_id)
        return True

    def observe_reply(self, channel_id: str, reference_id: str | None) -> bool:
        """A message replied to ``reference_id``; True when that is a tracked bot message."""
        pending = self._pending.get(reference_id) if reference_id else None
        if pending is None or pending.channel_id != channel_id:
            return False
        pending.engaged = True
        return True

    def due(self) -> list[Settled]:
        """Settle every tracked message whose delay has passed, each exactly once."""
        now = self._clock.monotonic()
        settled: list[Settled] = []
        for message_id, pending in list(self._pending.items()):
            if pending.deadline > now:
                continue
            del self._pending[message_id]
            if pending.engaged:
                self._limiter.record_engagement(pending.channel_id)
            else:
                self._limiter.record_ignored(pending.channel_id)
            settled.append(Settled(pending.channel_id, message_id, pending.engaged))
        return settled

    def is_tracked(self, message_id: str) -> bool:
        """True while the message waits for its check."""
        return message_id in self._pending

    def pending_count(self) -> int:
        """How many messages wait for their check."""
        return len(self._pending)
