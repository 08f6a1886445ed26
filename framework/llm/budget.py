"""Daily token budget: past it, a bot answers only what it owes, on the cheapest chain.

:class:`BudgetGuard` asks the usage ledger how many tokens the bot spent this UTC day
(every token: input, output, cache reads and cache writes; see
:mod:`framework.storage.ledger`) and decides per request:

* under ``api.budget.daily_tokens``: ``"normal"``, the full chain;
* at or over it, for a request that is owed a reply (a mention, a DM): ``"cheap"``, the
  router's cheapest chain only;
* at or over it otherwise: ``"refuse"``; :class:`BudgetedLLM` raises
  :class:`~framework.domain.llm.BudgetExceeded` and the engine stays silent.

A budget of 0 therefore means "owed replies only, always on the cheap chain".

Engine side: this module talks to the ledger through the :class:`TokenCounter` Protocol
and to the router through :class:`CheapRouter`; it imports no database, SDK or Discord code.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from typing import Literal, Protocol

from ..clock import Clock
from ..errors import StoreError
from ..domain import BudgetExceeded, LLMReply, LLMRequest

__all__ = ["BudgetDecision", "TokenCounter", "CheapRouter", "BudgetGuard", "BudgetedLLM"]

_log = logging.getLogger(__name__)

BudgetDecision = Literal["normal", "cheap", "refuse"]


class TokenCounter(Protocol):
    """What the guard needs from the ledger (:class:`framework.storage.ledger.UsageLedger`)."""

    async def tokens_today(self, now: datetime) -> int:
        """Tokens spent in the UTC day holding ``now``."""


class CheapRouter(Protocol):
    """The LLM router: ``cheap=True`` runs only its cheapest chain."""

    async def complete(self, request: LLMRequest, *, cheap: bool = False) -> LLMReply: ...


def _utc_day(moment: datetime) -> date:
    if moment.tzinfo is None:  # the clocks give aware UTC; a naive value is taken as UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).date()


class BudgetGuard:
    """Decides, per request, whether the day's token budget allows the full chain."""

    def __init__(self, ledger: TokenCounter, daily_tokens: int, clock: Clock) -> None:
        if daily_tokens < 0:
            raise ValueError(f"daily_tokens must be 0 or more, got {daily_tokens}")
        self._ledger = ledger
        self.daily_tokens = daily_tokens
        self._clock = clock
        self._warned_on: date | None = None  # the UTC day the crossing was last logged

    async def decide(self, request: LLMRequest) -> BudgetDecision:
        """``"normal"`` under budget; past it ``"cheap"`` if ``request.owed``, else ``"refuse"``."""
        now = self._clock.now()
        try:
            spent = await self._ledger.tokens_today(now)
        except StoreError as exc:
            # A broken ledger must not silence the bot: fail open, loudly. The router still
            # has its own limits (deadlines, key pools), and the ledger error is in the log.
            _log.error("cannot read today's token usage, answering as if under budget: %s", exc)
            return "normal"
        if spent < self.daily_tokens:
            return "normal"
        day = _utc_day(now)
        if self._warned_on != day:
            self._warned_on = day
            _log.warning(
                "daily token budget of %d reached: answering only mentions and DMs, on the fallback chain",
                self.daily_tokens,
            )
        return "cheap" if request.owed else "refuse"


class BudgetedLLM:
    """The router behind the budget: what the engines call instead of the router itself."""

    def __init__(self, router: CheapRouter, guard: BudgetGuard) -> None:
        self._router = router
        self._guard = guard

    async def complete(self, request: LLMRequest, *, cheap: bool = False) -> LLMReply:
        """Run ``request`` on the chain the budget allows; raise BudgetExceeded if none.
        ``cheap``: the caller wants the cheap chain anyway (background work)."""
        decision = await self._guard.decide(request)
        if decision == "refuse":
            raise BudgetExceeded(
                f"daily token budget of {self._guard.daily_tokens} spent; "
                f"only mentions and DMs are answered until 00:00 UTC"
            )
        return await self._router.complete(request, cheap=cheap or decision == "cheap")
