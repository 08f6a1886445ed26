"""Context limits from Anthropic's Models API (``max_input_tokens``), asked once per model.

The conversation cache compacts a conversation near its model's context limit; the limit
comes from ``client.models.retrieve(model).max_input_tokens``. Answers are kept for the
life of the process; a failed lookup (offline, a refused key, an older API without the
field) is not asked again for ``retry_after_seconds``, and meanwhile the caller's
configured fallback applies. Models of other providers are never asked about here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import anthropic

from .models_api import _api_key

__all__ = ["ModelsApiLimits"]

_log = logging.getLogger(__name__)


class ModelsApiLimits:
    """``ContextLimits`` (framework.engines.conversation) backed by the Models API."""

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None = None,
        monotonic: Callable[[], float],
        timeout: float = 10.0,
        retry_after_seconds: float = 3600.0,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._monotonic = monotonic
        self._timeout = timeout
        self._retry_after = retry_after_seconds
        self._known: dict[str, int] = {}
        self._failed_at: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self.lookups = 0  # requests made to the API (tests)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, base_url: str | None, monotonic: Callable[[], float]) -> ModelsApiLimits:
        return cls(_api_key(environ), base_url=base_url, monotonic=monotonic)

    async def max_input_tokens(self, model: str, provider: str) -> int | None:
        if provider != "anthropic" or self._api_key is None:
            return None
        if model in self._known:
            return self._known[model]
        failed = self._failed_at.get(model)
        if failed is not None and self._monotonic() - failed < self._retry_after:
            return None
        async with self._lock:  # one lookup at a time: two conversations must not ask twice
            if model in self._known:
                return self._known[model]
            limit = await self._ask(model)
        if limit is None:
            self._failed_at[model] = self._monotonic()
        else:
            self._known[model] = limit
        return limit

    async def _ask(self, model: str) -> int | None:
        self.lookups += 1
        client = anthropic.AsyncAnthropic(
            api_key=self._api_key, base_url=self._base_url, max_retries=0, timeout=self._timeout
        )
        try:
            info = await client.models.retrieve(model)
        except anthropic.APIStatusError as exc:
            # Never the body: it may echo request details; the status code says enough.
            _log.info("Models API: no context limit for %s (HTTP %s); using the configured fallback", model, exc.status_code)
            return None
        except anthropic.AnthropicError as exc:
            _log.info("Models API: no context limit for %s (%s); using the configured fallback", model, type(exc).__name__)
            return None
        finally:
            await client.close()
        limit = getattr(info, "max_input_tokens", None)
        return int(limit) if isinstance(limit, int) and limit > 0 else None
