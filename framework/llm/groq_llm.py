"""Groq as a fallback provider, through the official groq SDK (1.x).

One ``groq.AsyncGroq`` client per API key, all on one shared HTTP connection pool (a
client costs an SSL context otherwise), with ``max_retries=0``: the router is the only
retry loop (a retry inside the SDK would hide a 429 from the key pool and eat the
request's deadline). Each call gets the time the router has left for the attempt.

Conversion, the tool loop (client tools declared as functions) and text clean-up are the
OpenAI-style ones in :mod:`.openai_compat`; the token limit goes out as
``max_completion_tokens`` (``max_tokens`` is deprecated in Groq's API), capped by the
model's own setting (Ana's waterfall: 80/70/65 tokens).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Sequence
from typing import Any

# httpx, the groq SDK's HTTP client, imports its own command-line client (httpx._main) at
# import time whenever Rich and Click are installed, and they are, for bot_manager: about
# 6 MB and a hundred modules in every bot process that has Groq keys, for a command a bot
# never runs. A module marked absent makes httpx take its fallback for a missing CLI.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import groq  # noqa: E402
import httpx  # noqa: E402

from ..domain import textclean
from .errors import classify_openai_like
from .openai_compat import run_chat
from ..domain import LLMReply, LLMRequest, ModelSettings
from ..ports import ClientTool

__all__ = ["GroqProvider", "DEFAULT_GROQ_BASE_URL"]

_log = logging.getLogger(__name__)

DEFAULT_GROQ_BASE_URL = "https://api.groq.com"


class GroqProvider:
    """``Provider`` for Groq's chat completions (``POST /openai/v1/chat/completions``)."""

    name = "groq"

    def __init__(
        self,
        *,
        tools: Sequence[ClientTool] = (),
        base_url: str | None = None,
        names: Iterable[str] = (),
        max_tool_iterations: int = 8,
        max_chars: int = textclean.DEFAULT_MAX_CHARS,
    ) -> None:
        """``base_url``: ``GROQ_BASE_URL`` from the bot's environment, else Groq's own.

        ``tools`` are offered only to requests with ``use_tools`` and a scope; ``names`` (the
        bot's name and id) are stripped when a model starts its answer with them.
        """
        # Passed explicitly: left None, the SDK would read os.environ behind the caller's back.
        self._base_url = base_url or DEFAULT_GROQ_BASE_URL
        self._tools = tuple(tools)
        self._names = tuple(names)
        self._max_tool_iterations = max_tool_iterations
        self._max_chars = max_chars
        self._clients: dict[str, groq.AsyncGroq] = {}
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"GroqProvider({self._base_url!r})"

    def _client(self, api_key: str) -> groq.AsyncGroq:
        client = self._clients.get(api_key)
        if client is None:
            if self._http is None:
                self._http = groq.DefaultAsyncHttpxClient()
            client = groq.AsyncGroq(api_key=api_key, base_url=self._base_url, max_retries=0, http_client=self._http)
            self._clients[api_key] = client
        return client

    async def complete(self, request: LLMRequest, *, model: ModelSettings, api_key: str, timeout: float) -> LLMReply:
        client = self._client(api_key)

        async def post(params: dict[str, Any], extra: dict[str, Any], call_timeout: float) -> dict[str, Any]:
            try:
                response = await client.chat.completions.create(
                    **params, extra_body=extra or None, timeout=call_timeout
                )
            except groq.GroqError as exc:
                raise classify_openai_like(exc, self.name) from exc
            return response.model_dump(mode="json", exclude_none=True)

        return await run_chat(
            post,
            request,
            model,
            provider=self.name,
            timeout=timeout,
            tools=self._tools,
            max_tokens_field="max_completion_tokens",
            max_tool_iterations=self._max_tool_iterations,
            names=self._names,
            max_chars=self._max_chars,
        )

    async def close(self) -> None:
        """Close the shared connection pool (every per-key client uses it)."""
        http, self._http, self._clients = self._http, None, {}
        if http is not None:
            await http.aclose()
