"""OpenAI-style chat completions: the conversion and tool loop every non-Claude provider
shares (Groq's adapter uses them too), and a provider for any OpenAI-compatible server
(Gemini's compatibility endpoint, OpenRouter, a local llama.cpp or Ollama).

The provider posts with **aiohttp**, not the groq SDK: groq's client appends the fixed
path ``/openai/v1/chat/completions`` to its base URL, so it cannot reach
``…/v1beta/openai/chat/completions`` (Gemini) or ``localhost:11434/v1/chat/completions``.
aiohttp is already loaded (discord.py, the stubs); one session per provider, one POST per
round. It sends ``max_tokens``, which every compatible server takes
(``max_completion_tokens``, which Groq and OpenAI now prefer, is not universal).

A request becomes: one system message (persona, then the memory digest), the turns, and
the client tools as functions when ``request.use_tools`` and a scope to run them in are
given. Tool failures go back to the model as ``Error: …`` tool results; the last round
forbids tools so the loop ends with text. The text passes through :mod:`.textclean`; an
empty result is a failed attempt (SERVER), so the router tries the next model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiohttp

from ..domain import textclean
from .errors import classify_openai_like, classify_status, message_from_body
from ..domain import ConversationScope, ErrorKind, LLMReply, LLMRequest, ModelSettings, ProviderError, ToolError, Usage
from ..ports import ClientTool

__all__ = ["OpenAICompatibleProvider", "chat_messages", "sampling_params", "usage_of", "run_chat", "PostFn"]

_log = logging.getLogger(__name__)

# (params, extra_body, timeout) -> the decoded chat.completion object
PostFn = Callable[[dict[str, Any], dict[str, Any], float], Awaitable[dict[str, Any]]]


def chat_messages(request: LLMRequest, *, images: bool = False) -> list[dict[str, Any]]:
    """System (persona + memory digest) and the turns as chat messages.

    The request's images go before the text of the last user turn as ``image_url`` data
    URLs when the provider takes images (``images``); otherwise that turn says they were
    there and cannot be seen, so the model does not pretend to describe them."""
    system = "\n\n".join(part for part in (request.system, request.memory_context) if part)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages += [{"role": turn.role, "content": turn.content} for turn in request.turns]
    if request.images and len(messages) > (1 if system else 0) and messages[-1]["role"] == "user":
        text = messages[-1]["content"]
        if images:
            parts: list[dict[str, Any]] = [_image_url(block) for block in request.images]
            messages[-1]["content"] = [*parts, {"type": "text", "text": text}]
        else:
            count = len(request.images)
            messages[-1]["content"] = (
                f"{text}\n\n({count} image{'s were' if count > 1 else ' was'} attached as listed; "
                "you cannot see images: say so if asked about them.)"
            )
    return messages


def _image_url(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source", {})
    return {"type": "image_url", "image_url": {"url": f"data:{source.get('media_type')};base64,{source.get('data')}"}}


def sampling_params(request: LLMRequest, model: ModelSettings, max_tokens_field: str) -> dict[str, Any]:
    """Model, token limit (the request's, capped by the model's) and the model's sampling."""
    limit = request.max_tokens if model.max_tokens is None else min(request.max_tokens, model.max_tokens)
    params: dict[str, Any] = {"model": model.model, max_tokens_field: limit}
    if model.temperature is not None:
        params["temperature"] = model.temperature
    if model.top_p is not None:
        params["top_p"] = model.top_p
    return params


def usage_of(data: dict[str, Any]) -> Usage:
    """``usage.prompt_tokens`` / ``completion_tokens``; cached prompt tokens count as cache reads."""
    usage = data.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return Usage(input_tokens=max(0, prompt - cached), output_tokens=int(usage.get("completion_tokens") or 0), cache_read_tokens=cached)


async def _run_call(call: dict[str, Any], tools: dict[str, ClientTool], scope: ConversationScope) -> dict[str, Any]:
    function = call.get("function") or {}
    name = str(function.get("name", ""))
    tool = tools.get(name)
    if tool is None:
        content = f"Error: there is no tool named {name!r}"
    else:
        raw = function.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            args = None
        if not isinstance(args, dict):
            content = "Error: the arguments must be a JSON object"
        else:
            try:
                content = await tool.run(args, scope)
            except ToolError as exc:
                content = f"Error: {exc}"
            except Exception:  # a tool bug must not lose the reply; the model hears it failed
                _log.exception("tool %s failed", name)
                content = "Error: the tool failed"
    return {"role": "tool", "tool_call_id": str(call.get("id", "")), "content": content}


async def run_chat(
    post: PostFn,
    request: LLMRequest,
    model: ModelSettings,
    *,
    provider: str,
    timeout: float,
    tools: Sequence[ClientTool] = (),
    max_tokens_field: str = "max_tokens",
    max_tool_iterations: int = 8,
    names: Iterable[str] = (),
    max_chars: int = textclean.DEFAULT_MAX_CHARS,
    images: bool = False,
) -> LLMReply:
    """One turn over chat completions, tool loop included, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    messages = chat_messages(request, images=images)
    params = sampling_params(request, model, max_tokens_field)
    scope = request.scope
    active = {t.name: t for t in tools} if request.use_tools and scope is not None else {}
    if active:
        params["tools"] = [{"type": "function", "function": t.function_schema()} for t in active.values()]
    usage, data, message = Usage(), {}, {}
    round_usage = Usage()
    for iteration in range(max(1, max_tool_iterations)):
        if active:
            # The last round may not call tools, so the loop always ends with an answer.
            params["tool_choice"] = "none" if iteration == max_tool_iterations - 1 else "auto"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProviderError(provider, ErrorKind.TIMEOUT, "no time left for another tool round")
        data = await post({**params, "messages": messages}, dict(model.extra_body), remaining)
        round_usage = usage_of(data)
        usage = usage + round_usage
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        calls = message.get("tool_calls") or []
        if not calls or scope is None or not active:
            break
        messages.append({"role": "assistant", "content": message.get("content") or "", "tool_calls": [
            {"id": c.get("id", ""), "type": "function", "function": c.get("function") or {}} for c in calls
        ]})
        for call in calls:
            messages.append(await _run_call(call, active, scope))
    else:
        raise ProviderError(provider, ErrorKind.SERVER, f"tool loop did not end in {max_tool_iterations} rounds")
    stop = (data.get("choices") or [{}])[0].get("finish_reason")
    text = textclean.clean(message.get("content"), names=names, max_chars=max_chars)
    if not text:
        raise ProviderError(provider, ErrorKind.SERVER, f"empty reply (finish_reason={stop})")
    plan = None
    if request.want_plan:
        # Fallback models are not asked for a plan: their answer becomes a one-message plan.
        from ..domain import plan_from_text

        plan = plan_from_text(text)
    return LLMReply(
        text=text, model=str(data.get("model") or model.model), provider=provider, usage=usage, stop_reason=stop, plan=plan,
        context_tokens=round_usage.input_tokens + round_usage.cache_read_tokens,
    )


class OpenAICompatibleProvider:
    """``Provider`` for an OpenAI-compatible ``POST {base_url}/chat/completions``.

    ``api_key`` "" sends no Authorization header (a local server with ``key_required: false``).
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        tools: Sequence[ClientTool] = (),
        names: Iterable[str] = (),
        max_tool_iterations: int = 8,
        max_chars: int = textclean.DEFAULT_MAX_CHARS,
        max_tokens_field: str = "max_tokens",
        images: bool = False,
    ) -> None:
        self.name = name
        self.images = images  # the models take image input
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._tools = tuple(tools)
        self._names = tuple(names)
        self._max_tool_iterations = max_tool_iterations
        self._max_chars = max_chars
        self._max_tokens_field = max_tokens_field
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleProvider({self.name!r}, {self._url!r})"

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _post(self, api_key: str, params: dict[str, Any], extra: dict[str, Any], timeout: float) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            async with self._http().post(
                self._url, json={**params, **extra}, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                raw = await response.read()
                status, response_headers = response.status, response.headers
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise classify_openai_like(exc, self.name) from exc
        if status >= 400:
            raise classify_status(self.name, status, message_from_body(raw), response_headers)
        try:
            data = json.loads(raw)
        except ValueError:
            raise ProviderError(self.name, ErrorKind.SERVER, "the response is not JSON", status=status) from None
        if isinstance(data, dict) and data.get("choices"):
            return data
        if isinstance(data, dict) and isinstance(data.get("error"), (dict, str)):
            # OpenRouter reports some upstream failures inside a 200.
            code = data["error"].get("code") if isinstance(data["error"], dict) else None
            raise classify_status(self.name, code if isinstance(code, int) else 502, message_from_body(data), response_headers)
        raise ProviderError(self.name, ErrorKind.SERVER, "the response has no choices", status=status)

    async def complete(self, request: LLMRequest, *, model: ModelSettings, api_key: str, timeout: float) -> LLMReply:
        async def post(params: dict[str, Any], extra: dict[str, Any], call_timeout: float) -> dict[str, Any]:
            return await self._post(api_key, params, extra, call_timeout)

        return await run_chat(
            post,
            request,
            model,
            provider=self.name,
            timeout=timeout,
            tools=self._tools,
            max_tokens_field=self._max_tokens_field,
            max_tool_iterations=self._max_tool_iterations,
            names=self._names,
            max_chars=self._max_chars,
            images=self.images,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
