"""The sandbox's Anthropic stand-in with a script: tests queue replies and read requests.

Tests queue scripted responses (``script``, consumed in order; ``model_replies``, fixed
by model id) and inspect the requests the bot really sent over HTTP (``requests``). With
nothing scripted it answers as the stand-in does. Synchronous callers run it on the
sandbox's loop thread: ``sandbox.run(stub.start())``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from framework.sandbox.anthropic_standin import AnthropicStandin, standin_text

__all__ = ["AnthropicStub", "BACKGROUND_REPLIES"]


# Background calls on the cheap model (profile extraction) find nothing.
BACKGROUND_REPLIES: dict[str, dict[str, Any]] = {"claude-haiku-4-5": {"content": [{"type": "text", "text": "{}"}]}}


@dataclass
class AnthropicStub(AnthropicStandin):
    """Scripted replies first, then the stand-in; every request recorded.

    A script entry is ``{"content": [...], "stop_reason"?: ..., "usage"?: {...}}`` or an
    error, ``{"status": 429, "error"?: {...}, "headers"?: {"retry-after": "2"}}``, or a
    function of the request body returning one (a reply that repeats a tool's result).
    """

    script: list[dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=list)
    # Fixed replies by model id, outside the script (e.g. background calls on the cheap model
    # would otherwise take scripted replies meant for the conversation).
    model_replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay_seconds: float = 0.0

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(
            {"body": body, "authorization": request.headers.get("authorization"), "headers": dict(request.headers)}
        )
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        fixed = self.model_replies.get(body.get("model", ""))
        if fixed is None and not self.script:
            return self.message_response(body, [{"type": "text", "text": standin_text(body)}])
        scripted = fixed if fixed is not None else self.script.pop(0)
        if callable(scripted):
            scripted = scripted(body)
        if "status" in scripted:  # an error response
            return web.Response(
                status=scripted["status"],
                text=json.dumps({"type": "error", "error": scripted.get("error", {"type": "api_error", "message": "stub error"})}),
                content_type="application/json",
                headers=scripted.get("headers"),
            )
        return self.message_response(
            body, scripted["content"], scripted.get("stop_reason", "end_turn"), scripted.get("usage")
        )
