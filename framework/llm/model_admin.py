"""The model chain as ``/settings`` sees it: which model answers, which providers and
keys there are, and which models each provider offers.

* A model is named ``claude-sonnet-4-6`` (Claude) or ``<provider>/<model>``
  (``groq/llama-3.1-8b-instant``, ``openai/gpt-4o``: an OpenAI-compatible provider by its
  configured name). A choice is applied to the router (:meth:`Router.override_model`), so
  the next request uses it without a restart.
* Model lists come from the providers' own model-list APIs (Anthropic's Models API,
  ``GET /models`` of an OpenAI-compatible API) with a short timeout; offline, refused or
  slow, the configured models stand in.
* Key states are read from the router's pools, by alias only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import anthropic

from ..config.modelcatalog import known_ids, lookup
from ..domain.settings import KeyView, ProviderView
from .router import Router

if TYPE_CHECKING:
    from ..config.models import BotConfig

__all__ = ["ModelAdmin", "CLAUDE"]

_log = logging.getLogger(__name__)

CLAUDE = "anthropic"


class ModelAdmin:
    """Reads and steers one bot's router; built once per bot process."""

    def __init__(
        self,
        config: BotConfig,
        router: Router,
        environ: Mapping[str, str],
        *,
        anthropic_base_url: str | None = None,
        list_timeout: float = 5.0,
    ) -> None:
        self._config = config
        self._router = router
        self._environ = environ
        self._anthropic_base_url = anthropic_base_url
        self._timeout = list_timeout
        api = config.api
        # Every provider the config names, in chain order, with its configured models.
        self._configured: dict[str, list[str]] = {CLAUDE: [api.model] + ([api.cheap_model] if api.cheap_model else [])}
        if api.fallback.groq.enabled and api.fallback.groq.models:
            self._configured["groq"] = [m.model for m in api.fallback.groq.models]
        for entry in api.fallback.openai_compatible:
            self._configured[entry.name] = [m.model for m in entry.models]

    # -- names ------------------------------------------------------------------------

    def providers(self) -> list[str]:
        return list(self._configured)

    def active(self) -> set[str]:
        """Providers with a link in the chain (configured and with a key)."""
        return {link.provider.name for link in self._router.chain}

    def configured_models(self, provider: str) -> list[str]:
        return list(self._configured.get(provider, []))

    def split(self, name: str) -> tuple[str, str]:
        """``groq/llama-3.1-8b-instant`` -> (groq, llama-3.1-8b-instant); a bare name is Claude's.

        A model id may hold a slash itself (``moonshotai/kimi-k2-instruct`` on Groq): only a
        first part naming a configured provider is taken as the provider.
        """
        name = name.strip()
        head, sep, tail = name.partition("/")
        if sep and head.lower() in self._configured and tail:
            return head.lower(), tail
        if sep and head.lower() == "claude" and tail:
            return CLAUDE, tail
        return CLAUDE, name

    def label(self, provider: str, model: str) -> str:
        return model if provider == CLAUDE else f"{provider}/{model}"

    def current(self) -> tuple[str, str]:
        """(provider, model) answering first: the override, else the chain's first link."""
        override = self._router.model_override
        if override is not None:
            return override
        chain = self._router.chain
        if chain and chain[0].models:
            return chain[0].provider.name, chain[0].models[0].model
        return CLAUDE, self._config.api.model

    def known_offline(self, provider: str, model: str) -> bool:
        """Known without asking the provider: configured, or a Claude id the catalogue knows."""
        return model in self._configured.get(provider, []) or (provider == CLAUDE and lookup(model) is not None)

    def candidates(self, provider: str) -> list[str]:
        """Names to suggest near a mistyped one, offline."""
        base = self.configured_models(provider)
        return base + [m for m in known_ids() if m not in base] if provider == CLAUDE else base

    # -- steering ---------------------------------------------------------------------

    def apply(self, provider: str | None, model: str | None) -> None:
        """Put *model* of *provider* first for the next request; ``None`` back to the config's.
        Raises ``LookupError`` when the provider has no link (no key)."""
        self._router.override_model(provider, model)

    # -- keys -------------------------------------------------------------------------

    def pools(self) -> list[ProviderView]:
        """Every configured provider with its keys' states (aliases and counts only)."""
        views: dict[str, ProviderView] = {}
        for pool in self._router.pools():  # each pool once: Claude's serves its cheap model too
            keys = tuple(
                KeyView(k.alias, k.state, f"{k.usage_today} today, {k.usage_total} in all", k.remaining_seconds)
                for k in pool.keys
            )
            views.setdefault(pool.provider, ProviderView(pool.provider, self._models(pool.provider, pool.models), keys))
        for link in self._router.chain:  # a provider that needs no key (a local server)
            name = link.provider.name
            views.setdefault(name, ProviderView(name, self._models(name, [m.model for m in link.models]), ()))
        for name, models in self._configured.items():
            views.setdefault(name, ProviderView(name, tuple(models), (), active=False))
        return list(views.values())

    def _models(self, provider: str, fallback: Sequence[str]) -> tuple[str, ...]:
        return tuple(self._configured.get(provider) or fallback)

    # -- model lists ------------------------------------------------------------------

    async def list_models(self, provider: str) -> tuple[list[str], bool]:
        """(model ids, True when the provider's API answered); the configured ones otherwise."""
        configured = self.configured_models(provider)
        try:
            async with asyncio.timeout(self._timeout):
                listed = await self._ask(provider)
        except Exception as exc:  # offline, refused, slow, no key: the configured ones stand in
            _log.info("model list of %s unavailable (%s): using the configured models", provider, type(exc).__name__)
            return configured, False
        if listed is None:
            return configured, False
        return sorted(set(listed)), True

    def _key_for(self, provider: str) -> str | None:
        for link in self._router.chain:
            if link.provider.name == provider:
                if link.pool is None:
                    return ""
                key = link.pool.choose()
                return key.value if key is not None else None
        return None

    async def _ask(self, provider: str) -> list[str] | None:
        key = self._key_for(provider)
        if key is None:
            return None
        if provider == CLAUDE:
            client = anthropic.AsyncAnthropic(api_key=key, base_url=self._anthropic_base_url, max_retries=0,
                                              timeout=self._timeout)
            try:
                page = await client.models.list(limit=100)
                return [m.id for m in page.data]
            finally:
                await client.close()
        if provider == "groq":
            # Here, not at the top: importing groq_llm loads the groq SDK (and, through httpx,
            # Rich and Click), which a bot without Groq keys never needs.
            from .groq_llm import DEFAULT_GROQ_BASE_URL

            base = (self._environ.get("GROQ_BASE_URL") or "").strip() or DEFAULT_GROQ_BASE_URL
            url = base.rstrip("/") + "/openai/v1/models"
        else:
            entry = next((e for e in self._config.api.fallback.openai_compatible if e.name == provider), None)
            if entry is None:
                return None
            url = entry.base_url.rstrip("/") + "/models"
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with aiohttp.ClientSession() as session:
            async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=self._timeout)) as response:
                if response.status >= 400:
                    _log.info("model list of %s: HTTP %d", provider, response.status)
                    return None
                data: Any = await response.json(content_type=None)
        items = data.get("data") if isinstance(data, dict) else None
        return [str(m["id"]) for m in items if isinstance(m, dict) and m.get("id")] if isinstance(items, list) else None
