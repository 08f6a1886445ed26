"""Per-channel rate limiter, ported from the ``SimpleRateLimiter`` of the single-bot predecessor.

Two sliding windows (20 replies in 5 min, 200 in 1 h) and an ignore threshold (5 bot
messages nobody reacted or replied to → silence). Engagement lowers the ignore count by
one, floor 0. The checks run in the original order: short window, long window, ignores.

One deliberate deviation: in the
original, a channel that reached the threshold stayed silent forever unless somebody
happened to react to an old bot message. Here the ignore count resets to 0 once no
ignore has been recorded for ``ignore_expiry_s`` (30 min by default); ``None`` restores
the original never-expiring behaviour.

Time comes from ``clock.monotonic()`` so a wall-clock jump (NTP, DST on a naive clock)
cannot open or close a window.
"""

from __future__ import annotations

from ..clock import Clock
from ..config.models import RateLimitingConfig

__all__ = ["RateLimiter"]


class RateLimiter:
    """Two-window, engagement-adaptive rate limiter keyed by channel id."""

    def __init__(
        self,
        clock: Clock,
        *,
        short_window_s: float = 300,
        short_max: int = 20,
        long_window_s: float = 3600,
        long_max: int = 200,
        ignore_threshold: int = 5,
        ignore_expiry_s: float | None = 1800,
    ) -> None:
        self._clock = clock
        self.short_window_s = short_window_s
        self.short_max = short_max
        self.long_window_s = long_window_s
        self.long_max = long_max
        self.ignore_threshold = ignore_threshold
        self.ignore_expiry_s = ignore_expiry_s
        self._response_times: dict[str, list[float]] = {}
        self._ignored_count: dict[str, int] = {}
        self._last_ignored: dict[str, float] = {}

    @classmethod
    def from_config(
        cls, config: RateLimitingConfig, clock: Clock, *, ignore_expiry_s: float | None = 1800
    ) -> RateLimiter:
        """Build from the ``rate_limiting`` section (window durations are in minutes there)."""
        return cls(
            clock,
            short_window_s=config.windows.short.duration_minutes * 60,
            short_max=config.windows.short.max_responses,
            long_window_s=config.windows.long.duration_minutes * 60,
            long_max=config.windows.long.max_responses,
            ignore_threshold=config.ignore_threshold,
            ignore_expiry_s=ignore_expiry_s,
        )

    def can_respond(self, channel_id: str) -> tuple[bool, str | None]:
        """Whether the bot may speak in the channel now, and if not, why.

        Reasons: ``"rate_limit_short"``, ``"rate_limit_long"``, ``"ignored_threshold"``.
        """
        now = self._clock.monotonic()
        times = self._prune(channel_id, now)
        short = [t for t in times if now - t < self.short_window_s]
        if len(short) >= self.short_max:
            return False, "rate_limit_short"
        long = [t for t in times if now - t < self.long_window_s]
        if len(long) >= self.long_max:
            return False, "rate_limit_long"
        if self._ignored(channel_id, now) >= self.ignore_threshold:
            return False, "ignored_threshold"
        return True, None

    def record_response(self, channel_id: str) -> None:
        """Record that the bot sent a message in the channel."""
        now = self._clock.monotonic()
        # Pruning here too changes no decision (pruned entries lie outside every window);
        # it keeps a channel whose replies never pass through can_respond from growing.
        self._prune(channel_id, now)
        self._response_times.setdefault(channel_id, []).append(now)

    def record_ignored(self, channel_id: str) -> None:
        """Record that a bot message got no reaction or reply within the tracking delay."""
        now = self._clock.monotonic()
        self._ignored_count[channel_id] = self._ignored(channel_id, now) + 1
        self._last_ignored[channel_id] = now

    def record_engagement(self, channel_id: str) -> None:
        """Record engagement (a reaction or a reply): the ignore count drops by one, floor 0."""
        count = max(0, self._ignored(channel_id, self._clock.monotonic()) - 1)
        if count:
            self._ignored_count[channel_id] = count
        else:
            self._forget_ignores(channel_id)

    def get_stats(self, channel_id: str) -> dict[str, int | float | bool | str | None]:
        """Current counts and limits for the channel, for inspection (the bot itself asks ``can_respond``)."""
        now = self._clock.monotonic()
        times = self._prune(channel_id, now)
        allowed, reason = self.can_respond(channel_id)
        return {
            "responses_short": sum(1 for t in times if now - t < self.short_window_s),
            "short_max": self.short_max,
            "responses_long": sum(1 for t in times if now - t < self.long_window_s),
            "long_max": self.long_max,
            "ignored_count": self._ignored(channel_id, now),
            "ignore_threshold": self.ignore_threshold,
            "can_respond": allowed,
            "reason": reason,
        }

    def _prune(self, channel_id: str, now: float) -> list[float]:
        # The original pruned at the long window (3600 s); the larger of the two windows
        # gives the same result with the defaults and stays right if short > long.
        horizon = max(self.short_window_s, self.long_window_s)
        times = [t for t in self._response_times.get(channel_id, ()) if now - t < horizon]
        if times:
            self._response_times[channel_id] = times
        else:
            self._response_times.pop(channel_id, None)
        return times

    def _ignored(self, channel_id: str, now: float) -> int:
        last = self._last_ignored.get(channel_id)
        if (
            self.ignore_expiry_s is not None
            and last is not None
            and now - last >= self.ignore_expiry_s
        ):
            self._forget_ignores(channel_id)
        return self._ignored_count.get(channel_id, 0)

    def _forget_ignores(self, channel_id: str) -> None:
        self._ignored_count.pop(channel_id, None)
        self._last_ignored.pop(channel_id, None)
