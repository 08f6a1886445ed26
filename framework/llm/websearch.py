"""The per-bot daily cap on server-side web searches (``api.web_search.max_daily``)."""

from __future__ import annotations

from datetime import date

from ..clock import Clock

__all__ = ["WebSearchBudget"]


class WebSearchBudget:
    """Counts searches per UTC day; the Anthropic provider offers the tool only while some remain."""

    def __init__(self, clock: Clock, *, max_daily: int, max_per_request: int, used_today: int = 0) -> None:
        self._clock = clock
        self._max_daily = max_daily
        self._max_per_request = max_per_request
        self._day: date = clock.now().date()
        self._used = used_today

    def _roll(self) -> None:
        today = self._clock.now().date()
        if today != self._day:
            self._day, self._used = today, 0

    def max_uses(self) -> int:
        """How many searches the next request may make (0: don't offer the tool)."""
        self._roll()
        return max(0, min(self._max_per_request, self._max_daily - self._used))

    def record(self, searches: int) -> None:
        self._roll()
        self._used += searches

    @property
    def used_today(self) -> int:
        self._roll()
        return self._used
