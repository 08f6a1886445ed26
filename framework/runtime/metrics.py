"""What one bot process counts for Prometheus, fed from the seams the runtime already has.

Each bot has its own :class:`CollectorRegistry` (never the process-global one), so two
runtimes in one process (tests, the sandbox) never mix their figures, and every series
carries the bot's id as the ``bot`` label. The counters are fed by wrappers around the
ports the wiring already passes around: the Discord client's incoming-message callback
(messages seen), the router's usage sink (model calls, tokens, cost, failovers), the
decision log (replies sent, rate-limit refusals, event-to-reply latency) and the session
start and resume callbacks (reconnects). A wrapper never lets a metrics failure cost the work it wraps.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ..clock import Clock
from ..domain import Decision, IncomingMessage
from ..domain.llm import UsageRecord
from ..ports import DecisionLog, UsageSink

__all__ = ["BotMetrics", "MeteredDecisionLog", "MeteredUsageSink"]

_log = logging.getLogger(__name__)

# A reply takes from well under a second (a static line) to a minute (tools, a slow model).
_LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)
# A failed call of one of these kinds makes the router move on to the next key or provider.
_FAILOVER_KINDS = frozenset({"rate_limit", "overloaded", "server", "timeout", "auth"})


class BotMetrics:
    """The series of one bot; :meth:`render` gives the Prometheus text format."""

    def __init__(self, bot_id: str, clock: Clock) -> None:
        self.bot_id = bot_id
        self._clock = clock
        self.registry = CollectorRegistry()
        reg, bot = self.registry, ["bot"]
        self.messages_seen = Counter("bot_messages_seen", "Messages received from Discord, the bot's own left out", bot, registry=reg).labels(bot_id)
        self.replies_sent = Counter("bot_replies_sent", "Messages answered with a reply", bot, registry=reg).labels(bot_id)
        self.model_calls = Counter(
            "bot_model_calls", "Model provider calls", ["bot", "provider", "outcome"], registry=reg
        )
        self.tokens = Counter("bot_tokens", "Tokens used, by kind", ["bot", "kind"], registry=reg)
        self.cost = Counter("bot_estimated_cost_usd", "Estimated cost of model calls (USD)", bot, registry=reg).labels(bot_id)
        self.failovers = Counter(
            "bot_model_failovers", "Failed model calls the router moved past", bot, registry=reg
        ).labels(bot_id)
        self.rate_limited = Counter(
            "bot_rate_limit_refusals", "Messages not answered because of the rate windows", bot, registry=reg
        ).labels(bot_id)
        self.reconnects = Counter(
            "bot_gateway_reconnects", "Gateway sessions resumed, or started again after the first", bot, registry=reg
        ).labels(bot_id)
        self.reply_latency = Histogram(
            "bot_reply_latency_seconds", "From a message's arrival to the bot's reply", bot,
            registry=reg, buckets=_LATENCY_BUCKETS,
        ).labels(bot_id)
        self._token_kinds = {
            kind: self.tokens.labels(bot_id, kind) for kind in ("input", "output", "cache_read", "cache_write")
        }
        self._sessions = 0

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -- the seams -------------------------------------------------------------------------

    def seeing(self, handler: Callable[[IncomingMessage], Awaitable[Any]]) -> Callable[[IncomingMessage], Awaitable[Any]]:
        """The incoming-message callback, counting each message first (the bot's own are not counted)."""

        async def counted(message: IncomingMessage) -> Any:
            if not message.is_self:
                self.messages_seen.inc()
            return await handler(message)

        return counted

    def session_started(self, handler: Callable[[], Any] | None) -> Callable[[], Any]:
        """The new-session callback, counting every session after the first as a reconnect."""

        def counted() -> Any:
            self._sessions += 1
            if self._sessions > 1:
                self.reconnects.inc()
            return handler() if handler is not None else None

        return counted

    def reconnected(self) -> None:
        """A dropped gateway session resumed."""
        self.reconnects.inc()

    def usage(self, record: UsageRecord, cost: float | None = None) -> None:
        outcome = "ok" if record.ok else (record.error_kind or "error")
        self.model_calls.labels(self.bot_id, record.provider, outcome).inc()
        u = record.usage
        for kind, n in (("input", u.input_tokens), ("output", u.output_tokens),
                        ("cache_read", u.cache_read_tokens), ("cache_write", u.cache_write_tokens)):
            if n:
                self._token_kinds[kind].inc(n)
        if not record.ok and record.error_kind in _FAILOVER_KINDS:
            self.failovers.inc()
        if cost:
            self.cost.inc(cost)

    def decided(self, message: IncomingMessage, decision: Decision) -> None:
        if decision.action == "reply" and decision.reply_ids:
            self.replies_sent.inc()
            waited = (self._clock.now() - message.timestamp).total_seconds()
            self.reply_latency.observe(max(waited, 0.0))
        elif "rate_limit" in decision.reason:
            self.rate_limited.inc()


class MeteredUsageSink:
    """A :class:`UsageSink` that counts each call, then hands it to the real sink (the ledger)."""

    def __init__(
        self, sink: UsageSink, metrics: BotMetrics, cost_of: Callable[[UsageRecord], float | None] | None = None
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self._cost_of = cost_of  # the ledger's price table, so both agree on what a call cost

    async def record(self, record: UsageRecord) -> None:
        try:
            self._metrics.usage(record, self._cost_of(record) if self._cost_of is not None else None)
        except Exception:
            _log.exception("metrics: usage not counted")
        await self._sink.record(record)


class MeteredDecisionLog:
    """A :class:`DecisionLog` that counts replies and refusals, then writes the real log."""

    def __init__(self, log: DecisionLog, metrics: BotMetrics) -> None:
        self._log = log
        self._metrics = metrics

    def record(self, message: IncomingMessage, decision: Decision) -> None:
        try:
            self._metrics.decided(message, decision)
        except Exception:
            _log.exception("metrics: decision not counted")
        self._log.record(message, decision)
