"""The Anthropic provider: Claude through the official SDK (2.x), with the full tool loop.

One :meth:`AnthropicProvider.complete` call is one turn of the bot: it may take several
API round trips while Claude reads or writes memory files, queries Discord, or searches
the web, capped at ``api.tool_loop_max_iterations``; the last round offers no tools,
so a turn always ends in an answer. What it sends:

* the prompt-cache prefix, built byte-identical from call to call: tools (in a fixed
  order, breakpoint on the last), the persona system block (breakpoint), the memory
  context block (breakpoint); a fourth breakpoint moves with the end of the tool loop;
* context editing (the context-management beta) from ``api.context_editing``, the
  memory tool excluded from clearing;
* extended thinking with the configured budget on models that have it; thinking is
  logged at DEBUG and never returned as text;
* the server-side web search tool while the bot's daily search cap allows;
* a response plan by structured output where the model supports it, else by a forced
  ``respond`` tool call.

Tool failures go back to the model as ``is_error`` results; they never end the turn.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import anthropic

from ..clock import Clock, SystemClock
from ..config.models import ApiConfig
from .errors import classify_anthropic
from ..domain import PLAN_TOOL_NAME, ResponsePlan, coerce_plan, plan_from_text
from .throttle import Throttle
from ..domain import LLMReply, LLMRequest, ModelSettings, ToolError, Usage
from ..ports import ClientTool
from .websearch import WebSearchBudget

__all__ = ["AnthropicProvider", "supports_structured_output", "supports_thinking"]

_log = logging.getLogger(__name__)

CONTEXT_MANAGEMENT_BETA = "context-management-2025-06-27"
WEB_SEARCH_TOOL = "web_search_20250305"
_FAMILY = re.compile(r"^claude-(opus|sonnet|haiku)-(\d+)(?:-(\d+))?")

PLAN_INSTRUCTIONS = (
    "Answer with a response plan: should_respond, response_strategy (none, single or double), "
    "responses (each with target, message and delay in seconds of typing), reasoning, and "
    "conversation_momentum (hot, warm or cold). Say nothing outside the plan."
)

FINAL_ROUND_NOTE = (
    "You have used every tool call this turn allows. Answer now with what you know, without "
    "calling a tool; if something is unfinished, say so briefly."
)


def _version(model: str) -> tuple[str, float] | None:
    match = _FAMILY.match(model)
    if not match:
        return None
    family, major, minor = match.group(1), int(match.group(2)), match.group(3)
    # "claude-sonnet-4-20250514" has a date, not a minor version, in that place
    minor_value = int(minor) if minor and len(minor) <= 2 else 0
    return family, major + minor_value / 10


def supports_structured_output(model: str) -> bool:
    """Structured outputs: Sonnet and Haiku 4.5+, Opus 4.1+ (and every later family)."""
    version = _version(model)
    if version is None:
        return False
    family, number = version
    return number >= (4.1 if family == "opus" else 4.5)


def supports_thinking(model: str) -> bool:
    """Extended thinking: every Claude 4-family model (and 3.7 Sonnet)."""
    version = _version(model)
    return model.startswith("claude-3-7") or (version is not None and version[1] >= 4)


def _cache(ttl: str) -> dict[str, str]:
    # 5m is the API default; only say 1h out loud (it bills differently).
    return {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}


class AnthropicProvider:
    """``Provider`` for Claude. One SDK client per API key, reused across calls."""

    name = "anthropic"

    def __init__(
        self,
        api: ApiConfig,
        *,
        tools: Sequence[ClientTool] = (),
        base_url: str | None = None,
        clock: Clock | None = None,
        web_search: WebSearchBudget | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self._api = api
        self._tools = {tool.name: tool for tool in tools}
        self._base_url = base_url
        self._clock = clock or SystemClock()
        self._web_search = web_search
        self._throttle = throttle or Throttle(
            self._clock,
            min_delay_seconds=api.throttling.min_delay_seconds,
            max_concurrent=api.throttling.max_concurrent,
        )
        self._clients: dict[str, anthropic.AsyncAnthropic] = {}

    def _client(self, api_key: str) -> anthropic.AsyncAnthropic:
        client = self._clients.get(api_key)
        if client is None:
            # max_retries=0: the router is the only retry loop (keys, cooldowns, failover).
            client = anthropic.AsyncAnthropic(api_key=api_key, base_url=self._base_url, max_retries=0)
            self._clients[api_key] = client
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    # -- request building --------------------------------------------------------

    def _tool_params(self, request: LLMRequest, model: str, forced_plan: bool) -> list[dict[str, Any]]:
        params: list[dict[str, Any]] = []
        if request.use_tools and request.scope is not None:
            params.extend(self._tools[name].anthropic_param() for name in sorted(self._tools))
        if forced_plan:
            params.append(
                {
                    "name": PLAN_TOOL_NAME,
                    "description": "Send your response plan. " + PLAN_INSTRUCTIONS,
                    "input_schema": ResponsePlan.json_schema_for_api(),
                }
            )
        if request.use_tools and self._web_search is not None and self._api.web_search.enabled:
            uses = self._web_search.max_uses()
            if uses > 0:
                params.append({"type": WEB_SEARCH_TOOL, "name": "web_search", "max_uses": uses})
        if params and self._api.cache.enabled:
            params[-1] = {**params[-1], "cache_control": _cache(self._api.cache.ttl)}
        return params

    def _system(self, request: LLMRequest, want_plan: bool) -> list[dict[str, Any]]:
        cache = _cache(self._api.cache.ttl) if self._api.cache.enabled else None
        persona = request.system + ("\n\n" + PLAN_INSTRUCTIONS if want_plan else "")
        blocks: list[dict[str, Any]] = [{"type": "text", "text": persona}]
        if request.memory_context:
            blocks.append({"type": "text", "text": request.memory_context})
        if cache:
            for block in blocks:
                block["cache_control"] = cache
        return blocks

    def _base_kwargs(self, request: LLMRequest, model: ModelSettings) -> tuple[dict[str, Any], bool]:
        api = self._api
        structured = request.want_plan and supports_structured_output(model.model)
        thinking = api.thinking.enabled and supports_thinking(model.model)
        # A forced tool call is not allowed with extended thinking: then the plan comes
        # back as text and is parsed.
        forced_plan = request.want_plan and not structured and not thinking
        max_tokens = min(request.max_tokens, model.max_tokens or request.max_tokens)
        kwargs: dict[str, Any] = {
            "model": model.model,
            "system": self._system(request, request.want_plan),
            "max_tokens": max_tokens + (api.thinking.budget_tokens if thinking else 0),
        }
        tools = self._tool_params(request, model.model, forced_plan)
        if tools:
            kwargs["tools"] = tools
        if forced_plan:
            kwargs["tool_choice"] = {"type": "tool", "name": PLAN_TOOL_NAME}
        if structured:
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": ResponsePlan.json_schema_for_api()}}
        if thinking:
            kwargs["thinking"] = {"type": "enabled", "budget_tokens": api.thinking.budget_tokens}
        elif api.temperature != 1.0:
            # SDK 2.x has no temperature kwarg; 1.0 is the API default, so only a change is sent.
            kwargs["extra_body"] = {"temperature": api.temperature}
        if api.context_editing.enabled:
            kwargs["betas"] = [CONTEXT_MANAGEMENT_BETA]
            kwargs["context_management"] = {
                "edits": [
                    {
                        "type": "clear_tool_uses_20250919",
                        "trigger": {"type": "input_tokens", "value": api.context_editing.trigger_tokens},
                        "keep": {"type": "tool_uses", "value": api.context_editing.keep_tool_uses},
                        "exclude_tools": list(api.context_editing.exclude_tools),
                    }
                ]
            }
        return kwargs, forced_plan

    # -- the turn -------------------------------------------------------------------

    async def complete(self, request: LLMRequest, *, model: ModelSettings, api_key: str, timeout: float) -> LLMReply:
        started = time.monotonic()
        kwargs, forced_plan = self._base_kwargs(request, model)
        messages: list[dict[str, Any]] = [
            {"role": turn.role, "content": [{"type": "text", "text": turn.content}]} for turn in request.turns
        ]
        if request.images and messages and messages[-1]["role"] == "user":
            # Images go before the text that talks about them, as the API recommends.
            messages[-1]["content"] = [dict(block) for block in request.images] + messages[-1]["content"]
        usage = round_usage = Usage()
        plan: ResponsePlan | None = None
        response: Any = None
        client = self._client(api_key)
        rounds = self._api.tool_loop_max_iterations
        for iteration in range(rounds):
            round_kwargs = kwargs
            if iteration == rounds - 1 and "tools" in kwargs:
                round_kwargs = self._last_round(kwargs, messages, forced_plan)
            self._move_loop_breakpoint(messages)
            try:
                async with self._throttle.slot():
                    response = await client.beta.messages.create(messages=messages, timeout=timeout, **round_kwargs)
            except anthropic.AnthropicError as exc:
                raise classify_anthropic(exc, self.name) from exc
            round_usage = self._usage_of(response)
            usage = usage + round_usage
            self._log_thinking(response)
            if response.stop_reason == "pause_turn":  # a long server-tool turn: resend to continue
                messages.append({"role": "assistant", "content": response.content})
                continue
            tool_uses = [b for b in response.content if b.type == "tool_use"]
            if response.stop_reason != "tool_use" or not tool_uses:
                break
            if forced_plan and any(b.name == PLAN_TOOL_NAME for b in tool_uses):
                plan = coerce_plan(next(b.input for b in tool_uses if b.name == PLAN_TOOL_NAME))
                break
            # The assistant turn goes back verbatim: thinking blocks must stay complete and in order.
            messages.append({"role": "assistant", "content": response.content})
            messages.append({"role": "user", "content": [await self._run_tool(b, request) for b in tool_uses]})
        else:
            _log.warning("tool loop stopped at its cap of %d iterations", rounds)
        text = "".join(b.text for b in response.content if b.type == "text") if response is not None else ""
        if request.want_plan and plan is None:
            plan = coerce_plan(text) if supports_structured_output(model.model) else None
            if plan is None:
                plan = plan_from_text(text)
            text = "\n".join(plan.messages)
        return LLMReply(
            text=text,
            model=getattr(response, "model", model.model),
            provider=self.name,
            usage=usage,
            stop_reason=getattr(response, "stop_reason", None),
            plan=plan,
            latency_s=time.monotonic() - started,
            context_tokens=round_usage.input_tokens + round_usage.cache_read_tokens + round_usage.cache_write_tokens,
        )

    @staticmethod
    def _last_round(kwargs: dict[str, Any], messages: list[dict[str, Any]], forced_plan: bool) -> dict[str, Any]:
        """The loop's final round: the model must answer now, without another tool call.

        Stopping at the cap while the model still asks for tools would leave no reply at
        all; so the last request takes the tools away (or forces the plan tool, which is
        the answer) and says why in the conversation, so the model writes what it has.
        """
        last = messages[-1]
        content = last["content"]
        if last["role"] == "user" and isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        ):
            last["content"] = [*last["content"], {"type": "text", "text": FINAL_ROUND_NOTE}]
        choice = {"type": "tool", "name": PLAN_TOOL_NAME} if forced_plan else {"type": "none"}
        return {**kwargs, "tool_choice": choice}

    async def _run_tool(self, block: Any, request: LLMRequest) -> dict[str, Any]:
        """Run one client tool call; every failure becomes an error result for the model."""
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.id}
        tool = self._tools.get(block.name)
        if tool is None or request.scope is None:
            return {**result, "content": f"Error: Tool '{block.name}' not found", "is_error": True}
        try:
            output = await tool.run(dict(block.input or {}), request.scope)
        except asyncio.CancelledError:
            raise
        except ToolError as exc:
            _log.info("tool %s refused: %s", block.name, exc)
            return {**result, "content": f"Error: {exc}", "is_error": True}
        except Exception:
            _log.exception("tool %s failed", block.name)
            return {**result, "content": "Error: the tool failed unexpectedly", "is_error": True}
        return {**result, "content": output}

    def _move_loop_breakpoint(self, messages: list[dict[str, Any]]) -> None:
        """Cache the conversation so far: one breakpoint on the newest user block.

        With tools + persona + memory that makes four, the API's maximum; the earlier
        loop breakpoint is removed so there is only ever one in the messages.
        """
        if not self._api.cache.enabled:
            return
        for message in messages:
            content = message["content"]
            if message["role"] == "user" and isinstance(content, list):
                for block in content:
                    if isinstance(block, dict):
                        block.pop("cache_control", None)
        last = messages[-1]
        if last["role"] == "user" and isinstance(last["content"], list) and last["content"]:
            block = last["content"][-1]
            if isinstance(block, dict):
                block["cache_control"] = _cache(self._api.cache.ttl)

    def _usage_of(self, response: Any) -> Usage:
        u = response.usage
        server = getattr(u, "server_tool_use", None)
        searches = int(getattr(server, "web_search_requests", 0) or 0) if server is not None else 0
        if searches and self._web_search is not None:
            self._web_search.record(searches)
        return Usage(
            input_tokens=u.input_tokens or 0,
            output_tokens=u.output_tokens or 0,
            cache_read_tokens=getattr(u, "cache_read_input_tokens", 0) or 0,
            cache_write_tokens=getattr(u, "cache_creation_input_tokens", 0) or 0,
            web_searches=searches,
        )

    @staticmethod
    def _log_thinking(response: Any) -> None:
        if not _log.isEnabledFor(logging.DEBUG):
            return
        for block in response.content:
            if block.type == "thinking":
                _log.debug("thinking: %s", block.thinking)
            elif block.type == "redacted_thinking":
                _log.debug("thinking: [redacted by the API]")
