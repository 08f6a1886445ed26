"""A loopback stand-in for the Anthropic Messages API.

Two uses: ``bot_manager sandbox`` without an ``ANTHROPIC_API_KEY`` points the bot's real
SDK at it, and it answers with a line that says plainly it is a stand-in; tests queue
scripted responses and inspect the requests the bot really sent over HTTP. Synchronous
callers run it on the sandbox's loop thread: ``sandbox.run(stub.start())``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .prompt_cache_emulator import PromptCacheEmulator


__all__ = ["AnthropicStub", "BACKGROUND_REPLIES", "STANDIN_PREFIX", "standin_text"]

STANDIN_PREFIX = "[stand-in model, not Claude: set ANTHROPIC_API_KEY for real replies]"

_ASKED = re.compile(r"is talking to you: (.*?)\nReply to them\.", re.S)


# For scripted tests: background calls on the cheap model (profile extraction) find nothing.
BACKGROUND_REPLIES: dict[str, dict[str, Any]] = {"claude-haiku-4-5": {"content": [{"type": "text", "text": "{}"}]}}


def standin_text(body: dict[str, Any]) -> str:
    """The stand-in's honest reply: it repeats what it was asked."""
    last = body.get("messages", [{}])[-1].get("content", "")
    if isinstance(last, list):
        last = " ".join(b.get("text", "") for b in last if isinstance(b, dict))
    match = _ASKED.search(last)
    asked = (match.group(1) if match else last).strip()
    if len(asked) > 300:
        asked = asked[:297] + "..."
    return f"{STANDIN_PREFIX} You said: \u201c{asked}\u201d"


@dataclass
class AnthropicStub:
    """aiohttp app answering ``POST /v1/messages``; scripted replies first, then the stand-in."""

    script: list[dict[str, Any]] = field(default_factory=list)
    # Fixed replies by model id, outside the script (e.g. background calls on the cheap model
    # would otherwise take scripted replies meant for the conversation).
    model_replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay_seconds: float = 0.0
    cache: PromptCacheEmulator | None = None  # emulate the prompt cache in the usage it reports
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
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
        self.requests.append(
            {"body": body, "authorization": request.headers.get("authorization"), "headers": dict(request.headers)}
        )
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        fixed = self.model_replies.get(body.get("model", ""))
        if fixed is not None or self.script:
            scripted = fixed if fixed is not None else self.script.pop(0)
            if "status" in scripted:  # an error response
                return web.Response(
                    status=scripted["status"],
                    text=json.dumps({"type": "error", "error": scripted.get("error", {"type": "api_error", "message": "stub error"})}),
                    content_type="application/json",
                    headers=scripted.get("headers"),  # optional, e.g. {"retry-after": "2"}
                )
            content = scripted["content"]
            stop_reason = scripted.get("stop_reason", "end_turn")
            scripted_usage = scripted.get("usage")
        else:
            content = [{"type": "text", "text": standin_text(body)}]
            stop_reason = "end_turn"
            scripted_usage = None
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
        if scripted_usage is not None:
            reply["usage"] = scripted_usage
        return web.Response(text=json.dumps(reply), content_type="application/json")


def _rough_tokens(body: dict[str, Any]) -> int:
    return max(1, len(json.dumps(body)) // 4)
