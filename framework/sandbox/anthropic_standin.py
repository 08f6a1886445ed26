"""A loopback stand-in for the Anthropic Messages API: the sandbox's offline model.

``bot_manager sandbox`` without an ``ANTHROPIC_API_KEY`` points the bot's real SDK at it,
and it answers every ``POST /v1/messages`` with a line that says plainly it is a
stand-in and repeats what it was asked. With a :class:`PromptCacheEmulator` the usage
it reports splits the input the way the API's prompt cache would. Synchronous callers
run it on the sandbox's loop thread: ``sandbox.run(standin.start())``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .assistant_intents import assistant_turn
from .prompt_cache import PromptCacheEmulator


__all__ = ["AnthropicStandin", "STANDIN_PREFIX", "standin_text"]

STANDIN_PREFIX = "[stand-in model, not Claude: set ANTHROPIC_API_KEY for real replies]"

_ASKED = re.compile(r"is talking to you: (.*?)\nReply to them\.", re.S)


# What a persona's mode sounds like from the stand-in: enough to see the mode was read.
MODE_LINES = {
    "roast": "[roast mode] bold of you to type that with your whole chest 💀",
    "flirt": "[flirt mode] careful, i might start thinking you mean it",
}


def standin_text(body: dict[str, Any], mode_of: Callable[[str], str] | None = None) -> str:
    """The stand-in's honest reply: it repeats what it was asked, after a line in the
    persona's mode when ``mode_of`` reads one (roast, flirt) in it."""
    last = body.get("messages", [{}])[-1].get("content", "")
    if isinstance(last, list):
        last = " ".join(b.get("text", "") for b in last if isinstance(b, dict))
    match = _ASKED.search(last)
    asked = (match.group(1) if match else last).strip()
    mode = MODE_LINES.get(mode_of(asked)) if mode_of is not None else None
    if len(asked) > 300:
        asked = asked[:297] + "..."
    return f"{STANDIN_PREFIX} {mode + ' ' if mode else ''}You said: \u201c{asked}\u201d"


@dataclass
class AnthropicStandin:
    """aiohttp app answering ``POST /v1/messages`` with :func:`standin_text`."""

    cache: PromptCacheEmulator | None = None  # emulate the prompt cache in the usage it reports
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    port: int = 0
    # GET /v1/models/{id} answers with this context limit (max_input_tokens); by model id, else the default.
    model_limits: dict[str, int] = field(default_factory=dict)
    default_model_limit: int = 200_000
    model_lookups: int = 0
    # The persona's mode of a message ("roast", "flirt", "normal"), when the bot has modes.
    mode_of: Callable[[str], str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models/{model_id}", self._model)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        planned = assistant_turn(body, STANDIN_PREFIX)  # a few assistant phrases become real tool calls
        if planned is not None:
            return self.message_response(body, planned[0], planned[1])
        return self.message_response(body, [{"type": "text", "text": standin_text(body, self.mode_of)}])

    async def _model(self, request: web.Request) -> web.Response:
        """One model's card, as the Models API gives it (the context limit is what callers read)."""
        self.model_lookups += 1
        model = request.match_info["model_id"]
        card = {
            "type": "model", "id": model, "display_name": model, "created_at": "2026-01-01T00:00:00Z",
            "lifecycle": "active", "max_input_tokens": self.model_limits.get(model, self.default_model_limit),
        }
        return web.Response(text=json.dumps(card), content_type="application/json")

    def message_response(
        self,
        body: dict[str, Any],
        content: list[dict[str, Any]],
        stop_reason: str = "end_turn",
        usage: dict[str, Any] | None = None,
    ) -> web.Response:
        """A Messages API reply to *body* carrying *content*; *usage* replaces the estimate."""
        reply = {
            "id": f"msg_stub_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "stub"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": _rough_tokens(body), "output_tokens": 12},
        }
        if self.cache is not None:
            reply["usage"] = {**reply["usage"], **self.cache.usage(body)}
        if usage is not None:
            reply["usage"] = usage
        return web.Response(text=json.dumps(reply), content_type="application/json")


def _rough_tokens(body: dict[str, Any]) -> int:
    return max(1, len(json.dumps(body)) // 4)
