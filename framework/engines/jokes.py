"""Dad jokes, as Ana tells them: now and then on untriggered traffic, and on ``!joke``.

The download is injected as ``fetch: Callable[[], Awaitable[str | None]]`` because engines
never import an HTTP client (tests/test_layering.py). The adapter supplies it; what it must
do, following Ana's service:

* ``GET behaviour.jokes.api_url`` with ``Accept: application/json`` and a ``User-Agent``
  naming the bot (icanhazdadjoke asks for one; Ana sent ``DadJokeDiscordBot/2.0``), a total
  timeout of ``behaviour.jokes.timeout_seconds``;
* return the ``joke`` field of a 200 answer, else ``None`` (raising is also fine: any
  error counts as "no joke").

The service applies the same timeout again around the call, so a fetcher that hangs
cannot hold a joke slot.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import date, timezone

from ..clock import Clock
from ..config.behaviour import JokesConfig, SecondsRange
from ..domain.textclean import collapse_whitespace, truncate
from .actions import Action, Send, Typing, Wait

__all__ = ["JokeFetch", "JokeService"]

_log = logging.getLogger(__name__)

JokeFetch = Callable[[], Awaitable[str | None]]


class JokeService:
    """Decides when to tell a joke and plans how (intro, typing, joke, outro).

    Unprompted jokes obey ``enabled``, ``max_per_day`` (per UTC day), ``cooldown_seconds``
    (monotonic) and ``chance``, checked in that order. A slot is reserved before the
    download; a failed download gives the day's slot back but keeps the cooldown, so a
    broken API is not hammered. ``!joke`` is not limited (as in Ana); ``enabled: false``
    turns both off.
    """

    def __init__(self, config: JokesConfig, clock: Clock, rng: random.Random, fetch: JokeFetch) -> None:
        self.config = config
        self._clock = clock
        self._rng = rng
        self._fetch_joke = fetch
        self._day: date | None = None
        self._count = 0
        self._last: float | None = None

    def _today(self) -> date:
        return self._clock.now().astimezone(timezone.utc).date()

    @property
    def told_today(self) -> int:
        """Unprompted jokes counted for the current UTC day (reserved ones included)."""
        return self._count if self._day == self._today() else 0

    def _uniform(self, span: SecondsRange) -> float:
        return self._rng.uniform(span[0], span[1])

    def _reserve(self) -> bool:
        """Take today's slot and start the cooldown, or say why not (logged at debug)."""
        cfg = self.config
        today = self._today()
        if self._day != today:  # a new UTC day starts a new count
            self._day, self._count = today, 0
        if not cfg.enabled or self._count >= cfg.max_per_day:
            return False
        now = self._clock.monotonic()
        if self._last is not None and now - self._last < cfg.cooldown_seconds:
            return False
        if self._rng.random() >= cfg.chance:
            return False
        self._last = now
        self._count += 1
        return True

    async def _fetch(self) -> str | None:
        """The joke text, or None on any failure (logged): timeout, error, empty answer."""
        try:
            raw = await asyncio.wait_for(self._fetch_joke(), timeout=self.config.timeout_seconds)
        except asyncio.TimeoutError:
            _log.warning("dad joke fetch timed out after %.1f s", self.config.timeout_seconds)
            return None
        except Exception as exc:  # the fetcher is adapter code (aiohttp, JSON): any failure means no joke
            _log.warning("dad joke fetch failed: %s: %s", type(exc).__name__, exc)
            return None
        text = collapse_whitespace(raw) if isinstance(raw, str) else ""
        return truncate(text) if text else None

    async def maybe_joke(self) -> list[Action]:
        """For a message that triggered nothing: the actions of an unprompted joke, or ``[]``."""
        if not self._reserve():
            return []
        reserved_day = self._day
        joke = await self._fetch()
        if joke is None:
            if self._day == reserved_day:  # refund the day's slot (not a new day's); the cooldown stays
                self._count = max(self._count - 1, 0)
            return []
        cfg = self.config
        use_intro = bool(cfg.intros) and self._rng.random() < cfg.intro_probability
        use_outro = bool(cfg.outros) and self._rng.random() < cfg.outro_probability
        plan: list[Action] = []
        if use_intro:
            plan += [Typing(self._uniform(cfg.intro_typing)), Send(self._rng.choice(cfg.intros))]
            plan.append(Wait(self._uniform(cfg.intro_pause)))
        plan += [Typing(self._uniform(cfg.joke_typing)), Send(joke)]
        if use_outro:
            plan += [Wait(self._uniform(cfg.outro_pause)), Typing(self._uniform(cfg.outro_typing))]
            plan.append(Send(self._rng.choice(cfg.outros)))
        return plan

    async def joke_command(self) -> list[Action]:
        """``!joke``: a set-up line, a pause, typing and the joke; without a joke, the 'idk any' line.

        ``[]`` when jokes are disabled."""
        cfg = self.config
        if not cfg.enabled:
            return []
        joke = await self._fetch()
        if joke is None:
            return [Send(cfg.no_joke_line)]
        return [
            Send(self._rng.choice(cfg.command_setups)),
            Wait(self._uniform(cfg.command_pause)),
            Typing(self._uniform(cfg.command_typing)),
            Send(joke),
        ]
