"""A loopback dad-joke API for the sandbox, shaped like icanhazdadjoke's JSON answer.

``bot_manager sandbox`` points the sandbox copy's ``behaviour.jokes.api_url`` at it, so a
bot's joke command works offline. Its jokes say they come from the sandbox.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["JokesStandin", "SANDBOX_JOKES"]

SANDBOX_JOKES = (
    "(sandbox joke) I only know jokes about the offline sandbox. They don't get out much.",
    "(sandbox joke) Why did the loopback server stay calm? It never takes anything outside personally.",
    "(sandbox joke) I tried to fetch a joke from the internet, but it was 127.0.0.1 all the way down.",
)


@dataclass
class JokesStandin:
    """aiohttp app answering ``GET /`` with ``{"id", "joke", "status": 200}``, jokes in turn."""

    jokes: tuple[str, ...] = SANDBOX_JOKES
    served: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None
    _turn: Any = field(default_factory=lambda: itertools.count())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/", self._joke)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _joke(self, request: web.Request) -> web.Response:
        n = next(self._turn)
        self.served += 1
        body = {"id": f"sandbox-{n}", "joke": self.jokes[n % len(self.jokes)], "status": 200}
        return web.Response(text=json.dumps(body), content_type="application/json")
