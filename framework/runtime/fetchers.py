"""HTTP fetchers the engines take as plain callables (engines never import an HTTP client)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp

from ..config.behaviour import JokesConfig

__all__ = ["dad_joke_fetcher"]

_log = logging.getLogger(__name__)


def dad_joke_fetcher(config: JokesConfig) -> Callable[[], Awaitable[str | None]]:
    """``async () -> joke | None`` for ``behaviour.jokes.api_url`` (icanhazdadjoke's JSON API)."""

    async def fetch() -> str | None:
        timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)
        headers = {"Accept": "application/json", "User-Agent": "discord-claude-framework (dad jokes)"}
        try:
            async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
                async with session.get(config.api_url) as response:
                    if response.status != 200:
                        _log.warning("dad joke API answered HTTP %d", response.status)
                        return None
                    data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            _log.warning("dad joke fetch failed: %s", exc)
            return None
        joke = data.get("joke") if isinstance(data, dict) else None
        return joke if isinstance(joke, str) and joke.strip() else None

    return fetch
