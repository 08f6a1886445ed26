"""API keys of one provider: which to use next, and which to leave alone for a while.

Keys come from the environment (``<PREFIX>_API_KEY`` and ``<PREFIX>_API_KEY_1..N``) and
are known everywhere by their **alias**, the variable's name; the value is only handed to
the provider's HTTP client and never appears in ``repr``, ``str`` or a log line.

Selection is LLM-API-Key-Proxy's "balanced" mode: a weighted random pick among the keys
that are free, each weighted ``(max_usage - usage) + tolerance + 1`` where ``usage`` is the
key's calls today (UTC day) and ``max_usage`` the largest of them among the free keys. The
least-used key is the likeliest without the others starving. The **rotation tolerance**
sets how random that is: 0 always takes the least used (ties broken at random), 2.0 (the
default) spreads calls so that no key is predictable, 5 and more come close to uniform.
The random source is injected (``rng``), so a seeded pool chooses the same keys every run.

Usage counts (today's and all-time) live in memory and are restored at start-up with
:meth:`KeyPool.restore_usage` from the usage ledger, which already records every call
with its key alias: a restart does not make one key look fresh. Counts of the day reset
when the UTC day changes (the day the ledger and the daily budget use).

Policies (times from the injected monotonic clock):

* **Cooldowns are per (key, model)**: Groq and Anthropic limit each model separately, so a
  key that hit kimi's limit still serves llama in the same waterfall.
* Overloaded / server error / timeout: consecutive failures cool the key 10, 30, 60, 120,
  then 300 s (cap). A success resets the count and the cooldown.
* Rate limit: the provider's retry-after (capped at a day), or 60 s without one. It does
  not escalate the count: a quota says nothing about the key's health.
* Auth failure (401/403/402, an unpaid account): the whole key is **locked out** for 300 s,
  doubling on each consecutive lockout up to an hour. Not permanent: a transient auth
  blip or a settled bill should not need a restart, and a revoked key then costs one fast
  401 an hour. A success (after the lockout ends) clears the lockout count.
* Bad request / context too long: no penalty; the request was at fault, not the key.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..domain import ErrorKind
from ..domain.keys import KeySnapshot, KeyState, KeyUsage

__all__ = [
    "ApiKey", "KeyPool", "KeyStatus", "COOLDOWN_SCHEDULE", "DEFAULT_TOLERANCE", "LOCKOUT_SECONDS", "LOCKOUT_MAX_SECONDS",
    "utc_day",
]

_log = logging.getLogger(__name__)

COOLDOWN_SCHEDULE = (10.0, 30.0, 60.0, 120.0, 300.0)
RATE_LIMIT_DEFAULT_SECONDS = 60.0
RATE_LIMIT_MAX_SECONDS = 86_400.0  # a daily quota's retry-after is honoured; a bogus year is not
LOCKOUT_SECONDS = 300.0
LOCKOUT_MAX_SECONDS = 3600.0
DEFAULT_TOLERANCE = 2.0  # the rotator's documented recommendation ("harder to fingerprint")


def utc_day() -> str:
    """Today's UTC date as YYYY-MM-DD: the day usage counts reset."""
    return datetime.now(timezone.utc).date().isoformat()


class ApiKey:
    """One key: ``alias`` (the env var name) is public, ``value`` is only for the HTTP client."""

    __slots__ = ("alias", "_value")

    def __init__(self, alias: str, value: str) -> None:
        self.alias = alias
        self._value = value

    @property
    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"ApiKey({self.alias!r})"

    def __str__(self) -> str:
        return self.alias  # str() of a key is its alias, never its value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other.alias == self.alias

    def __hash__(self) -> int:
        return hash(self.alias)


@dataclass
class _Cooldown:
    failures: int = 0
    until: float = 0.0


@dataclass
class _KeyState:
    key: ApiKey
    usage: int = 0  # calls on ``day``: what selection balances
    total: int = 0  # calls ever (restored from the ledger at start-up)
    day: str = ""
    locked_until: float = 0.0
    lockouts: int = 0
    models: dict[str, _Cooldown] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyStatus:
    """A key's state for ``status`` output and tests (no value, only the alias)."""

    alias: str
    usage: int
    cooldown_remaining: float
    locked_remaining: float
    consecutive_failures: int

    @property
    def available(self) -> bool:
        return self.cooldown_remaining <= 0 and self.locked_remaining <= 0


class KeyPool:
    """The keys of one provider, with usage counts, cooldowns and lockouts."""

    def __init__(
        self,
        keys: Iterable[tuple[str, str]],
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        day: Callable[[], str] = utc_day,
    ) -> None:
        """``keys`` are ``(alias, value)`` pairs; a value seen before is skipped (same key twice).

        ``clock`` is monotonic seconds (cooldowns); ``day`` names the current UTC day
        (usage counts of the day reset when it changes).
        """
        if tolerance < 0:
            raise ValueError(f"rotation tolerance must be 0 or more, got {tolerance}")
        self._clock = clock
        self._rng = rng or random.Random()
        self._tolerance = tolerance
        self._day = day
        self._states: dict[str, _KeyState] = {}
        seen: set[str] = set()
        for alias, value in keys:
            if value in seen:
                _log.info("%s holds the same key as another variable: used once", alias)
                continue
            seen.add(value)
            self._states[alias] = _KeyState(ApiKey(alias, value))

    @classmethod
    def from_env(
        cls,
        prefix: str,
        environ: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        day: Callable[[], str] = utc_day,
    ) -> KeyPool:
        """Keys from ``<PREFIX>_API_KEY`` then ``<PREFIX>_API_KEY_1..N`` (numeric order).

        The prefix is upper-cased (config names providers in lower case). Empty values are
        skipped; surrounding whitespace (a stray newline from a .env file) is dropped.
        """
        base = f"{prefix.upper()}_API_KEY"
        numbered = re.compile(rf"^{re.escape(base)}_(\d+)$")
        names = [base] if base in environ else []
        names += sorted((n for n in environ if numbered.match(n)), key=lambda n: int(n.rsplit("_", 1)[1]))
        pairs = [(n, environ[n].strip()) for n in names if environ[n] and environ[n].strip()]
        return cls(pairs, clock=clock, rng=rng, tolerance=tolerance, day=day)

    def __len__(self) -> int:
        return len(self._states)

    def __repr__(self) -> str:
        return f"KeyPool({list(self._states)!r})"

    @property
    def aliases(self) -> list[str]:
        return list(self._states)

    @property
    def tolerance(self) -> float:
        return self._tolerance

    # -- usage counts -------------------------------------------------------------------

    def _roll(self) -> None:
        """Start a new day's counts when the UTC day has changed since the last look."""
        today = self._day()
        for state in self._states.values():
            if state.day != today:
                state.day, state.usage = today, 0

    def record_use(self, key: ApiKey) -> None:
        """Count one call made with ``key`` (``acquire`` does; so does a same-key retry)."""
        self._roll()
        state = self._states[key.alias]
        state.usage += 1
        state.total += 1

    def restore_usage(self, usage: Mapping[str, KeyUsage]) -> None:
        """Take counts kept across a restart (by alias; unknown aliases are ignored).

        A count of another day restores the total only. Counts made since start-up are
        added, so restoring late never loses a call.
        """
        self._roll()
        for alias, counts in usage.items():
            state = self._states.get(alias)
            if state is None:
                continue
            state.total += counts.total
            if counts.day == state.day:
                state.usage += counts.today

    def usage(self) -> dict[str, KeyUsage]:
        """Every key's counts by alias."""
        self._roll()
        return {a: KeyUsage(s.usage, s.total, s.day) for a, s in self._states.items()}

    # -- selection ----------------------------------------------------------------------

    def _free(self, state: _KeyState, model: str, now: float) -> bool:
        cooldown = state.models.get(model)
        return state.locked_until <= now and (cooldown is None or cooldown.until <= now)

    def weights(self, model: str = "", exclude: Collection[str] = ()) -> dict[str, float]:
        """The selection weight of every key free for ``model`` (empty when none is)."""
        self._roll()
        now = self._clock()
        free = [s for s in self._states.values() if s.key.alias not in exclude and self._free(s, model, now)]
        if not free:
            return {}
        top = max(s.usage for s in free)
        return {s.key.alias: (top - s.usage) + self._tolerance + 1 for s in free}

    def choose(self, model: str = "", exclude: Collection[str] = ()) -> ApiKey | None:
        """Pick a free key for ``model`` without counting a use; ``None`` if every key is busy."""
        weights = self.weights(model, exclude)
        if not weights:
            return None
        aliases = list(weights)
        if self._tolerance <= 0:
            least = min(self._states[a].usage for a in aliases)
            aliases = [a for a in aliases if self._states[a].usage == least]
            return self._states[self._rng.choice(aliases)].key
        picked = self._rng.choices(aliases, weights=[weights[a] for a in aliases])[0]
        return self._states[picked].key

    def acquire(self, model: str = "", exclude: Collection[str] = ()) -> ApiKey | None:
        """Pick a free key for ``model`` and count the use."""
        key = self.choose(model, exclude)
        if key is not None:
            self.record_use(key)
        return key

    # -- outcomes -----------------------------------------------------------------------

    def report_success(self, key: ApiKey, model: str = "") -> None:
        """The call worked: clear the key's failure count, cooldown and lockout history."""
        state = self._states[key.alias]
        state.models.pop(model, None)
        state.lockouts = 0

    def report_failure(self, key: ApiKey, kind: ErrorKind, *, model: str = "", retry_after: float | None = None) -> float:
        """Apply the policy for ``kind``; return how many seconds the key (or key+model) rests."""
        state = self._states[key.alias]
        now = self._clock()
        if kind is ErrorKind.AUTH:
            seconds = min(LOCKOUT_SECONDS * 2**state.lockouts, LOCKOUT_MAX_SECONDS)
            state.lockouts += 1
            state.locked_until = now + seconds
            _log.warning("%s refused (auth): locked out for %.0f s", key.alias, seconds)
            return seconds
        if kind in (ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_TOO_LONG):
            return 0.0
        cooldown = state.models.setdefault(model, _Cooldown())
        if kind is ErrorKind.RATE_LIMIT:
            seconds = RATE_LIMIT_DEFAULT_SECONDS if retry_after is None else min(retry_after, RATE_LIMIT_MAX_SECONDS)
        else:
            cooldown.failures += 1
            seconds = COOLDOWN_SCHEDULE[min(cooldown.failures, len(COOLDOWN_SCHEDULE)) - 1]
        cooldown.until = max(cooldown.until, now + seconds)
        _log.info("%s cooling down %.0f s for %s (%s)", key.alias, seconds, model or "every model", kind.value)
        return seconds

    def status(self, model: str = "") -> list[KeyStatus]:
        """Every key's usage today, cooldown for ``model`` and lockout, by alias."""
        self._roll()
        now = self._clock()
        out = []
        for state in self._states.values():
            cooldown = state.models.get(model, _Cooldown())
            out.append(
                KeyStatus(
                    alias=state.key.alias,
                    usage=state.usage,
                    cooldown_remaining=max(0.0, cooldown.until - now),
                    locked_remaining=max(0.0, state.locked_until - now),
                    consecutive_failures=cooldown.failures,
                )
            )
        return out

    def snapshot(self) -> list[KeySnapshot]:
        """Every key's state across all models, for a status display (aliases only)."""
        self._roll()
        now = self._clock()
        out = []
        for state in self._states.values():
            locked = max(0.0, state.locked_until - now)
            cooling = {m: c.until - now for m, c in state.models.items() if c.until > now}
            kind: KeyState
            remaining: float
            if locked > 0:
                kind, remaining = "locked", locked
            elif cooling:
                kind, remaining = "cooling", max(cooling.values())
            else:
                kind, remaining = "healthy", 0.0
            out.append(
                KeySnapshot(
                    alias=state.key.alias,
                    state=kind,
                    usage_today=state.usage,
                    usage_total=state.total,
                    remaining_seconds=remaining,
                    cooling_models=tuple(sorted(m or "every model" for m in cooling)),
                )
            )
        return out
