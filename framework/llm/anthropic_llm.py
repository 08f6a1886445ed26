"""The Anthropic adapter: plain Messages API through the official SDK (2.x).

The full brain (tool loop, memory tool, caching, thinking, router) builds on this;
the engines only ever see :class:`~framework.ports.LLMPort`.
"""

from __future__ import annotations

import logging
from typing import Any

import anthropic

from .types import LLMReply, LLMRequest, Usage
from ..errors import LLMError

__all__ = ["AnthropicLLM"]

_log = logging.getLogger(__name__)


class AnthropicLLM:
    """``LLMPort`` over ``anthropic.AsyncAnthropic``."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        temperature: float = 1.0,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        # base_url None lets the SDK read ANTHROPIC_BASE_URL, as documented.
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._model = model
        self._temperature = temperature

    async def complete(self, request: LLMRequest) -> LLMReply:
        kwargs: dict[str, Any] = {}
        # SDK 2.x has no temperature kwarg; 1.0 is the API default, so only send a change.
        if self._temperature != 1.0:
            kwargs["extra_body"] = {"temperature": self._temperature}
        try:
            response = await self._client.messages.create(
                model=self._model,
                max_tokens=request.max_tokens,
                system=request.system,
                messages=[{"role": t.role, "content": t.content} for t in request.turns],
                **kwargs,
            )
        except anthropic.APIStatusError as exc:
            raise LLMError(f"Anthropic API {exc.status_code}: {exc.message}") from exc
        except anthropic.APIConnectionError as exc:
            raise LLMError(f"cannot reach the Anthropic API: {exc}") from exc
        except anthropic.AnthropicError as exc:
            raise LLMError(f"Anthropic client error: {exc}") from exc
        text = "".join(block.text for block in response.content if block.type == "text")
        usage = response.usage
        _log.info(
            "model %s: %d in / %d out tokens, stop=%s",
            response.model,
            usage.input_tokens,
            usage.output_tokens,
            response.stop_reason,
        )
        return LLMReply(
            text=text,
            model=response.model,
            usage=Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
            stop_reason=response.stop_reason,
        )

    async def close(self) -> None:
        await self._client.close()
