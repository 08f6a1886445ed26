"""The router: one request, an ordered chain of providers, keys and models, one deadline.

The engines call :meth:`Router.complete`; it walks the chain (Claude, then Groq's model
waterfall, then any OpenAI-compatible providers) until a provider answers, and says a
static line only when a reply is owed (a mention, a DM) and nothing else worked.

Per model of a link, per request:

* a key from the link's :class:`~.keypool.KeyPool` (least used, none in cooldown);
* ``RATE_LIMIT`` with a ``retry_after`` up to ``max_retry_after_seconds`` that fits in the
  deadline: wait (the injected sleep) and retry the **same key**, up to ``attempts_per_key``
  attempts in all (2: one retry); otherwise cool the key down and go on;
* ``AUTH``: the key is locked out and another key is tried (this costs no attempt);
* ``OVERLOADED`` / ``SERVER`` / ``TIMEOUT``: cool the key down, try one more key, move on
  (another key or provider is as likely to answer as the same key after a wait, and
  costs no wait);
* ``BAD_REQUEST`` / ``CONTEXT_TOO_LONG``: every provider would refuse the same request, so
  stop (raise the error, or the static line when owed). One exception: a model the
  provider does not know or has retired (:func:`~.errors.model_unavailable`) is skipped.
* at most ``max_keys_per_model`` (2) failed keys per model, then the next model / link;
* the request deadline (``request_deadline_seconds``) bounds everything: each attempt's
  timeout is ``min(attempt cap, time left)`` (cap 20 s, so a hung Claude still leaves the
  fallbacks a third of the default 30 s) and no wait may overrun it.

Every attempt, failed or not, goes to the optional :class:`UsageSink` with its key alias;
the same records give the key pools their usage counts back after a restart
(:meth:`Router.restore_usage`). :meth:`Router.pools` is the status view of every pool.

How the rotator settings a personal assistant may bring map onto ``api.router``:
``ROTATOR_GLOBAL_TIMEOUT`` (120) is ``request_deadline_seconds``; ``ROTATOR_MAX_RETRIES``
(2, attempts on one key) is ``attempts_per_key``; ``ROTATOR_ROTATION_TOLERANCE`` (2.0) is
``rotation_tolerance``; the usage file (``key_usage.json``) is the usage ledger.

Providers here are non-streaming: a reply is complete or absent, so switching provider
can never follow a partly sent reply. A streaming provider must not be put in a chain
without changing that rule: never fail over once part of a reply is visible.

Ambient decisions (``want_plan`` and not ``owed``) stay on premium links (Claude) unless
``ambient_fallback``: a fallback model is not asked for a plan and would always speak,
and a bot that gets chatty whenever Claude is rate-limited is worse than a quiet one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..clock import Clock, SystemClock
from ..errors import LLMError
from .errors import model_unavailable, redact_key, scrub_error
from .keypool import ApiKey, KeyPool, utc_day
from .legacy_key import LEGACY_KEY_VAR, legacy_anthropic_key
from ..domain import RETRYABLE, ErrorKind, LLMReply, LLMRequest, ModelSettings, ProviderError
from ..ports import ClientTool, Provider
from ..domain import Usage, UsageRecord
from ..domain.keys import KeyUsage, PoolSnapshot
from ..ports import UsageSink

if TYPE_CHECKING:
    from ..config.models import BotConfig, FallbackModel

__all__ = ["Router", "ChainLink", "build_router"]

_log = logging.getLogger(__name__)

_MIN_ATTEMPT_SECONDS = 0.5  # less time than this left: no attempt is worth starting
_GRACE_SECONDS = 1.0  # the router's own timeout backs up a provider that overruns its own


@dataclass(frozen=True)
class ChainLink:
    """One provider with its models (tried in order) and keys (``None``: no key needed).

    ``premium`` links (Claude) are skipped by ``complete(cheap=True)``; ``attempt_timeout``
    overrides the router's per-attempt cap for this link.
    """

    provider: Provider
    models: Sequence[ModelSettings]
    pool: KeyPool | None = None
    premium: bool = False
    attempt_timeout: float | None = None


@dataclass
class _Run:
    deadline: float
    trail: list[str] = field(default_factory=list)
    fatal: ProviderError | None = None
    out_of_time: bool = False


class Router:
    """The engine-facing LLM port: ``await router.complete(request)``."""

    def __init__(
        self,
        chain: Sequence[ChainLink],
        *,
        bot_id: str = "",
        static_lines: Sequence[str] = (),
        request_deadline_seconds: float = 30.0,
        max_retry_after_seconds: float = 10.0,
        attempt_timeout_seconds: float = 20.0,
        max_keys_per_model: int = 2,
        attempts_per_key: int = 2,
        usage_sink: UsageSink | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        ambient_fallback: bool = False,
    ) -> None:
        self._chain = tuple(chain)
        self._bot_id = bot_id
        self._static_lines = tuple(static_lines)
        self._deadline = request_deadline_seconds
        self._max_retry_after = max_retry_after_seconds
        self._attempt_timeout = attempt_timeout_seconds
        self._max_keys = max(1, max_keys_per_model)
        self._attempts_per_key = max(1, attempts_per_key)
        self._sink = usage_sink
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._ambient_fallback = ambient_fallback
        self._override: tuple[str, str] | None = None

    @property
    def chain(self) -> tuple[ChainLink, ...]:
        return self._chain

    @property
    def model_override(self) -> tuple[str, str] | None:
        """(provider, model) put first by :meth:`override_model`, or None."""
        return self._override

    def override_model(self, provider: str | None, model: str | None = None) -> None:
        """Answer every later request with *provider*'s *model* first (a person's
        ``/settings model``); the rest of the chain stays behind it as the fallbacks.
        ``None`` goes back to the configured chain. Raises ``LookupError`` when no link of
        the chain is that provider (not configured, or no key)."""
        if provider is None or model is None:
            self._override = None
            return
        if not any(link.provider.name == provider for link in self._chain):
            raise LookupError(f"no {provider} link in the chain (not configured, or no key)")
        self._override = (provider, model)

    def _links(self) -> tuple[ChainLink, ...]:
        if self._override is None:
            return self._chain
        provider, model = self._override
        # The premium link first: overriding Claude's model replaces the reply model, not the cheap one.
        ordered = sorted(self._chain, key=lambda link: not link.premium)
        link = next(link for link in ordered if link.provider.name == provider)
        known = next((m for m in link.models if m.model == model), None)
        # A model not in the config gets the link's token cap, not another model's sampling settings.
        settings = known or ModelSettings(model, max_tokens=link.models[0].max_tokens)
        first = dataclasses.replace(link, models=[settings])
        return (first, *(other for other in self._chain if other is not link))

    def describe(self) -> list[str]:
        """One line per link: provider, models, key aliases (never values)."""
        lines = []
        for link in self._chain:
            keys = "no key" if link.pool is None else "keys " + ", ".join(link.pool.aliases)
            models = ", ".join(m.model for m in link.models)
            lines.append(f"{link.provider.name}{' (premium)' if link.premium else ''}: {models} [{keys}]")
        return lines

    def _pools(self) -> list[tuple[str, list[str], KeyPool]]:
        """Each distinct pool once (Claude's serves two links), with its provider and models."""
        found: dict[int, tuple[str, list[str], KeyPool]] = {}
        for link in self._chain:
            if link.pool is None:
                continue
            _, models, _ = found.setdefault(id(link.pool), (link.provider.name, [], link.pool))
            models.extend(m.model for m in link.models if m.model not in models)
        return list(found.values())

    def pools(self) -> list[PoolSnapshot]:
        """Every provider's key pool: alias, state, usage and cooldown of each key (no values)."""
        return [PoolSnapshot(name, tuple(models), tuple(pool.snapshot())) for name, models, pool in self._pools()]

    def restore_usage(self, usage: Mapping[str, KeyUsage]) -> None:
        """Give every pool the counts kept across a restart (by key alias)."""
        for _, _, pool in self._pools():
            pool.restore_usage(usage)

    async def complete(self, request: LLMRequest, *, cheap: bool = False) -> LLMReply:
        """A reply from the first link that answers; the static line if owed and none did.

        ``cheap``: skip premium links (Claude) and use the fallback links only (the daily
        budget is spent). Raises the request's ProviderError on BAD_REQUEST/CONTEXT_TOO_LONG
        and LLMError when every provider failed, unless the request is owed.
        """
        run = _Run(deadline=self._clock.monotonic() + self._deadline)
        links = [link for link in self._links() if not (cheap and link.premium)]
        if request.want_plan and not request.owed and not self._ambient_fallback:
            links = [link for link in links if link.premium]
        if not links:
            run.trail.append("no provider for this request" + (" on the cheap chain" if cheap else ""))
        for link in links:
            for model in link.models:
                reply = await self._model_step(link, model, request, run)
                if reply is not None:
                    return reply
                if run.fatal is not None or run.out_of_time:
                    return self._give_up(request, run)
        return self._give_up(request, run)

    async def close(self) -> None:
        """Close every provider that has a ``close`` (the router owns its chain)."""
        for link in self._chain:
            close = getattr(link.provider, "close", None)
            if close is not None:
                await close()

    # -- one model of one link ------------------------------------------------------------

    def _time_left(self, run: _Run) -> float:
        left = run.deadline - self._clock.monotonic()
        if left < _MIN_ATTEMPT_SECONDS and not run.out_of_time:
            run.out_of_time = True
            run.trail.append(f"deadline of {self._deadline:.0f} s reached")
        return left

    async def _model_step(self, link: ChainLink, model: ModelSettings, request: LLMRequest, run: _Run) -> LLMReply | None:
        tried: set[str] = set()
        failed = 0
        while failed < self._max_keys:
            if self._time_left(run) < _MIN_ATTEMPT_SECONDS:
                return None
            key: ApiKey | None = None
            if link.pool is not None:
                key = link.pool.acquire(model.model, exclude=tried)
                if key is None:
                    run.trail.append(f"{link.provider.name}/{model.model}: no {'other ' if tried else ''}free key")
                    return None
                tried.add(key.alias)
            result = await self._attempt(link, model, key, request, run)
            if isinstance(result, LLMReply):
                return result
            error = result
            attempts = 1
            while self._same_key_again(error, attempts, run):
                await self._clock.sleep(error.retry_after or 0.0)
                if link.pool is not None and key is not None:
                    link.pool.record_use(key)
                attempts += 1
                result = await self._attempt(link, model, key, request, run)
                if isinstance(result, LLMReply):
                    return result
                error = result
            if link.pool is not None and key is not None:
                link.pool.report_failure(key, error.kind, model=model.model, retry_after=error.retry_after)
            if error.kind not in RETRYABLE and error.kind is not ErrorKind.AUTH:
                if not model_unavailable(error):
                    run.fatal = error
                return None
            if link.pool is None:
                return None
            if error.kind is not ErrorKind.AUTH:  # a dead key says nothing about the provider
                failed += 1
        return None

    def _same_key_again(self, error: ProviderError, attempts: int, run: _Run) -> bool:
        """A rate limit asking for a short wait that fits the deadline, with attempts left."""
        wait = error.retry_after
        if error.kind is not ErrorKind.RATE_LIMIT or wait is None or wait > self._max_retry_after:
            return False
        if attempts >= self._attempts_per_key:
            return False
        return self._time_left(run) - wait >= _MIN_ATTEMPT_SECONDS

    async def _attempt(
        self, link: ChainLink, model: ModelSettings, key: ApiKey | None, request: LLMRequest, run: _Run
    ) -> LLMReply | ProviderError:
        name, alias = link.provider.name, key.alias if key is not None else None
        timeout = max(0.0, min(link.attempt_timeout or self._attempt_timeout, run.deadline - self._clock.monotonic()))
        started = self._clock.monotonic()
        reply: LLMReply | None = None
        error: ProviderError | None = None
        try:
            async with asyncio.timeout(timeout + _GRACE_SECONDS):
                reply = await link.provider.complete(
                    request, model=model, api_key=key.value if key is not None else "", timeout=timeout
                )
        except ProviderError as exc:
            error = scrub_error(exc, key.value, key.alias) if key is not None else exc
        except TimeoutError:
            error = ProviderError(name, ErrorKind.TIMEOUT, f"no answer within {timeout:.1f} s")
        except Exception as exc:  # a provider bug: fail over, but loudly
            text = f"unexpected {type(exc).__name__}: {exc}"
            text = redact_key(text, key.value, key.alias) if key is not None else text
            _log.error("%s/%s [%s] raised outside its error contract: %s", name, model.model, alias, text, exc_info=True)
            error = ProviderError(name, ErrorKind.SERVER, text)
        latency = self._clock.monotonic() - started
        if error is not None or reply is None:
            error = error or ProviderError(name, ErrorKind.SERVER, "the provider returned no reply")
            level = logging.INFO if error.kind in RETRYABLE else logging.WARNING
            _log.log(level, "%s/%s [%s] failed: %s", name, model.model, alias, error)
            run.trail.append(f"{name}/{model.model} [{alias or 'no key'}]: {error.kind.value}")
            await self._record(link, model, alias, request, Usage(), latency, error.kind)
            return error
        if link.pool is not None and key is not None:
            link.pool.report_success(key, model.model)
        await self._record(link, model, alias, request, reply.usage, latency, None)
        return dataclasses.replace(reply, key_alias=alias, latency_s=latency)

    async def _record(
        self, link: ChainLink, model: ModelSettings, alias: str | None, request: LLMRequest,
        usage: Usage, latency: float, kind: ErrorKind | None,
    ) -> None:
        if self._sink is None:
            return
        record = UsageRecord(
            bot_id=self._bot_id, provider=link.provider.name, model=model.model, key_alias=alias,
            purpose=request.purpose, usage=usage, latency_s=latency, ok=kind is None,
            error_kind=kind.value if kind is not None else None, images=len(request.images),
        )
        try:
            await self._sink.record(record)
        except Exception:  # the ledger must never cost a reply
            _log.exception("usage sink failed; record for %s/%s dropped", link.provider.name, model.model)

    def _give_up(self, request: LLMRequest, run: _Run) -> LLMReply:
        summary = "; ".join(run.trail) or "no provider configured"
        if request.owed and self._static_lines:
            _log.warning("no provider answered (%s): saying a static line", summary)
            return LLMReply(text=self._rng.choice(self._static_lines), model="static", provider="static", static=True)
        if run.fatal is not None:
            raise run.fatal
        raise LLMError(f"every provider failed: {summary}")


def _settings(model: FallbackModel) -> ModelSettings:
    return ModelSettings(
        model=model.model, max_tokens=model.max_tokens, temperature=model.temperature, top_p=model.top_p,
        extra_body=dict(model.extra_body),
    )


def _legacy_claude_pool(
    environ: Mapping[str, str], monotonic: Callable[[], float], rng: random.Random | None, tolerance: float,
    day: Callable[[], str],
) -> KeyPool:
    """A pool of ``LLM_API_KEY`` alone if it holds an Anthropic key, else an empty pool."""
    value = legacy_anthropic_key(environ)
    if value is None:
        if (environ.get(LEGACY_KEY_VAR) or "").strip():  # nothing of the value is logged
            _log.warning("%s is set but is not an Anthropic key (sk-ant-...): left unused; name a key of "
                         "another provider <PROVIDER>_API_KEY", LEGACY_KEY_VAR)
        return KeyPool([], clock=monotonic, rng=rng, tolerance=tolerance, day=day)
    _log.info("Claude uses %s (no ANTHROPIC_API_KEY or ANTHROPIC_API_KEY_<n> set)", LEGACY_KEY_VAR)
    return KeyPool([(LEGACY_KEY_VAR, value)], clock=monotonic, rng=rng, tolerance=tolerance, day=day)


def build_router(
    config: BotConfig,
    environ: Mapping[str, str],
    *,
    anthropic_provider: Provider | None,
    tools: Sequence[ClientTool] = (),
    usage_sink: UsageSink | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    day: Callable[[], str] = utc_day,
) -> Router:
    """The bot's chain from its config and the key variables in ``environ``.

    Claude (``ANTHROPIC_API_KEY[_N]``, premium), then Groq's waterfall (``GROQ_API_KEY[_N]``,
    ``GROQ_BASE_URL``) when enabled, then each OpenAI-compatible provider
    (``<NAME>_API_KEY[_N]``, or none with ``key_required: false``). Links without keys are
    left out; the chain is logged at INFO with key aliases only. A single key per provider
    is simply a pool of one (no switch turns rotation off). ``LLM_API_KEY``, the one-key
    form of a multi-provider assistant, serves Claude when no ``ANTHROPIC_API_KEY[_N]`` is
    set and it is an Anthropic key: the primary model is always Claude here, and a key of
    another provider would only earn 401s, so it is reported and left unused instead.
    ``day`` names the UTC day the pools count usage by.
    """
    api = config.api
    monotonic = clock.monotonic if clock is not None else time.monotonic
    names = (config.name, config.bot_id)
    tolerance = api.router.rotation_tolerance

    def pool(prefix: str) -> KeyPool:
        return KeyPool.from_env(prefix, environ, clock=monotonic, rng=rng, tolerance=tolerance, day=day)

    links: list[ChainLink] = []
    claude_keys = pool("ANTHROPIC")
    if not claude_keys:
        claude_keys = _legacy_claude_pool(environ, monotonic, rng, tolerance, day)
    if anthropic_provider is None:
        _log.info("Claude link inactive: no Anthropic provider given")
    elif not claude_keys:
        _log.info("Claude link inactive: no ANTHROPIC_API_KEY, ANTHROPIC_API_KEY_<n> or Anthropic LLM_API_KEY set")
    else:
        links.append(ChainLink(anthropic_provider, [ModelSettings(api.model, max_tokens=api.max_tokens)], claude_keys, premium=True))
    groq_cfg = api.fallback.groq
    groq_keys = pool("GROQ")
    if groq_cfg.enabled and groq_cfg.models and groq_keys:
        from .groq_llm import GroqProvider  # only a bot with Groq keys imports the groq SDK

        groq = GroqProvider(tools=tools, base_url=environ.get("GROQ_BASE_URL") or None, names=names,
                            max_tool_iterations=api.tool_loop_max_iterations)
        links.append(ChainLink(groq, [_settings(m) for m in groq_cfg.models], groq_keys))
    elif groq_cfg.enabled and groq_cfg.models:
        _log.info("Groq fallback inactive: no GROQ_API_KEY or GROQ_API_KEY_<n> set")
    for entry in api.fallback.openai_compatible:
        keys = pool(entry.name) if entry.key_required else None
        if keys is not None and not keys:
            _log.info("%s fallback inactive: no %s_API_KEY set", entry.name, entry.name.upper())
            continue
        from .openai_compat import OpenAICompatibleProvider

        provider = OpenAICompatibleProvider(entry.name, entry.base_url, tools=tools, names=names,
                                            max_tool_iterations=api.tool_loop_max_iterations, images=entry.images)
        links.append(ChainLink(provider, [_settings(m) for m in entry.models], keys))
    if anthropic_provider is not None and claude_keys and api.cheap_model:
        # Not premium: the cheap chain (background work, replies past the budget) may use it.
        links.append(ChainLink(anthropic_provider, [ModelSettings(api.cheap_model, max_tokens=api.max_tokens)], claude_keys))
    router = Router(
        links, bot_id=config.bot_id, static_lines=api.fallback.static_lines,
        request_deadline_seconds=api.router.request_deadline_seconds,
        max_retry_after_seconds=api.router.max_retry_after_seconds,
        attempt_timeout_seconds=api.router.attempt_timeout_seconds,
        attempts_per_key=api.router.attempts_per_key,
        max_keys_per_model=api.router.max_keys_per_model,
        usage_sink=usage_sink, clock=clock, rng=rng,
    )
    chain = " -> ".join(router.describe()) or "no provider"
    _log.info("LLM chain for %s: %s -> static line when owed (%d lines)", config.bot_id, chain, len(api.fallback.static_lines))
    return router
