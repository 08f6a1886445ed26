"""Per-user and per-channel reply cooldowns.

A user the bot answered less than ``per_user`` seconds ago (40 s) is skipped by the
periodic check, so one person cannot pull the bot into a rapid back-and-forth. After the
bot sends, the channel cools for 45 s (one message), 75 s (two or three) or 105 s (four or
more), so a burst of replies buys a longer pause.

Left alone, both would keep one entry per key forever; ``sweep()`` drops the expired ones so a
bot that runs for weeks does not accumulate every user and channel it ever saw. The
runtime calls it from its periodic loop.

Recording before the model call (rather than after sending) doubles as a reservation:
a second trigger arriving while the first reply is being generated sees the cooldown.
Time is ``clock.monotonic()``, immune to wall-clock jumps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, TypeVar

from ..clock import Clock
from ..config.models import CooldownConfig

__all__ = ["UserCooldowns", "ChannelCooldowns"]

M = TypeVar("M")

_author_id: Callable[[Any], str] = attrgetter("author_id")


class UserCooldowns:
    """Seconds that must pass between two replies to the same user."""

    def __init__(self, clock: Clock, cooldown_s: float = 40) -> None:
        self._clock = clock
        self.cooldown_s = cooldown_s
        self._last_reply: dict[str, float] = {}

    @classmethod
    def from_config(cls, config: CooldownConfig, clock: Clock) -> UserCooldowns:
        """Build from ``reactive.cooldowns`` (``per_user``)."""
        return cls(clock, config.per_user)

    def can_reply_to_user(self, user_id: str) -> bool:
        """True when the bot has not replied to this user within the cooldown."""
        last = self._last_reply.get(user_id)
        return last is None or self._clock.monotonic() - last >= self.cooldown_s

    def record_reply(self, user_id: str) -> None:
        """Start (or restart) the user's cooldown now."""
        self._last_reply[user_id] = self._clock.monotonic()

    def remaining(self, user_id: str) -> float:
        """Seconds until the bot may reply to the user again (0 when it may now)."""
        last = self._last_reply.get(user_id)
        if last is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock.monotonic() - last))

    def filter_messages(
        self, messages: Iterable[M], author_id: Callable[[M], str] = _author_id
    ) -> list[M]:
        """The messages whose authors are not on cooldown, order kept.

        ``author_id`` extracts the user id; the default reads ``.author_id`` as on
        ``IncomingMessage`` and ``StoredMessage``.
        """
        return [m for m in messages if self.can_reply_to_user(author_id(m))]

    def sweep(self) -> int:
        """Forget users whose cooldown is over; returns how many were dropped."""
        now = self._clock.monotonic()
        expired = [u for u, t in self._last_reply.items() if now - t >= self.cooldown_s]
        for user_id in expired:
            del self._last_reply[user_id]
        return len(expired)

    def __len__(self) -> int:
        return len(self._last_reply)


class ChannelCooldowns:
    """A pause after the bot speaks in a channel, longer after more messages."""

    def __init__(
        self, clock: Clock, single_s: float = 45, multi_s: float = 75, heavy_s: float = 105
    ) -> None:
        self._clock = clock
        self.single_s = single_s
        self.multi_s = multi_s
        self.heavy_s = heavy_s
        self._until: dict[str, float] = {}

    @classmethod
    def from_config(cls, config: CooldownConfig, clock: Clock) -> ChannelCooldowns:
        """Build from ``reactive.cooldowns`` (``single_message``, ``multi_message``, ``heavy_activity``)."""
        return cls(clock, config.single_message, config.multi_message, config.heavy_activity)

    def duration_for(self, message_count: int) -> float:
        """Cooldown length for a reply of ``message_count`` messages (0 for none)."""
        if message_count <= 0:
            return 0.0
        if message_count == 1:
            return self.single_s
        if message_count <= 3:
            return self.multi_s
        return self.heavy_s

    def set_cooldown(self, channel_id: str, message_count: int) -> float:
        """Cool the channel after sending ``message_count`` messages; returns the length.

        This replaces any running cooldown, shorter or longer. A count of 0 (nothing was
        sent) sets none, rather than falling through to the multi-message length.
        """
        duration = self.duration_for(message_count)
        if duration > 0:
            self._until[channel_id] = self._clock.monotonic() + duration
        return duration

    def is_in_cooldown(self, channel_id: str) -> bool:
        """True while the channel's cooldown runs."""
        return self.remaining(channel_id) > 0

    def remaining(self, channel_id: str) -> float:
        """Seconds left on the channel's cooldown (0 when none)."""
        until = self._until.get(channel_id)
        if until is None:
            return 0.0
        return max(0.0, until - self._clock.monotonic())

    def sweep(self) -> int:
        """Forget channels whose cooldown is over; returns how many were dropped."""
        now = self._clock.monotonic()
        expired = [c for c, until in self._until.items() if until <= now]
        for channel_id in expired:
            del self._until[channel_id]
        return len(expired)

    def __len__(self) -> int:
        return len(self._until)
