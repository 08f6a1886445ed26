"""A loopback stand-in for Groq's / OpenAI's chat-completions API (tests only).

Answers ``POST /openai/v1/chat/completions`` (the groq SDK's path) and
``POST /v1/chat/completions`` (an OpenAI-compatible ``base_url`` of ``<stub>/v1``), records
every request, and plays a script, one entry per request::

    {"text": "hi there"}                                   # a normal answer
    {"tool_calls": [{"name": "lookup", "arguments": {...}}]}  # a tool round
    {"status": 429, "error": {...}, "headers": {"retry-after": "2"}}  # an error
    {"raw": "<html>oops", "status": 200}                   # any body, verbatim
    {"delay": 0.5, ...}                                    # wait first (timeouts)
    {"usage": {...}, "finish_reason": "length", "model": "x"}  # optional on answers

With the script empty it answers ``"stub reply from <model>"``. Handlers are cancelled
when the client hangs up, so a timed-out delay does not hold up ``stop()``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["ChatCompletionsStub", "GroqStub"]


@dataclass
class ChatCompletionsStub:
    """aiohttp app for chat completions; ``script`` entries are consumed in order."""

    script: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        """The groq SDK's base URL; OpenAI-compatible clients use ``base_url + "/v1"``."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/openai/v1/chat/completions", self._completions)
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def auths(self) -> list[str | None]:
        """The Authorization header of every request so far, in order."""
        return [r["authorization"] for r in self.requests]

    def models(self) -> list[str]:
        return [r["body"].get("model", "") for r in self.requests]

    async def _completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(
            {"path": request.path, "body": body, "authorization": request.headers.get("authorization")}
        )
        scripted = self.script.pop(0) if self.script else {}
        if scripted.get("delay"):
            await asyncio.sleep(scripted["delay"])
        if "raw" in scripted:
            return web.Response(status=scripted.get("status", 200), text=scripted["raw"], headers=scripted.get("headers"))
        if "status" in scripted and scripted["status"] >= 400:
            error = scripted.get("error", {"message": "stub error", "type": "api_error"})
            return web.Response(
                status=scripted["status"],
                text=json.dumps({"error": error}),
                content_type="application/json",
                headers=scripted.get("headers"),
            )
        return web.json_response(self._completion(body, scripted), headers=scripted.get("headers"))

    def _completion(self, body: dict[str, Any], scripted: dict[str, Any]) -> dict[str, Any]:
        model = scripted.get("model", body.get("model", "stub"))
        message: dict[str, Any] = {"role": "assistant"}
        if "tool_calls" in scripted:
            message["content"] = scripted.get("text")
            message["tool_calls"] = [
                {
                    "id": call.get("id", f"call_{next(self._ids)}"),
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": call["arguments"] if isinstance(call["arguments"], str) else json.dumps(call["arguments"]),
                    },
                }
                for call in scripted["tool_calls"]
            ]
            finish = "tool_calls"
        else:
            message["content"] = scripted.get("text", f"stub reply from {model}")
            finish = "stop"
        prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
        return {
            "id": f"chatcmpl-stub-{next(self._ids)}",
            "object": "chat.completion",
            "created": 1_790_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": scripted.get("finish_reason", finish)}],
            "usage": scripted.get(
                "usage", {"prompt_tokens": prompt, "completion_tokens": 7, "total_tokens": prompt + 7}
            ),
        }


GroqStub = ChatCompletionsStub
