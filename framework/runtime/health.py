"""The optional HTTP endpoint of one bot (``health.port``), served on the bot's own loop.

- ``GET /``: ``Bot is alive!`` (the keepalive contract of hosting platforms that ping a URL);
- ``/healthz``: liveness. It answers 200 while the loop answers and the process is not
  shutting down, 503 once shutdown has begun (an orchestrator then stops routing to it);
- ``/readyz``: readiness. 200 when the gateway session is ready and the database takes a
  write; else 503 with what is missing;
- ``/metrics``: the bot's own registry in the Prometheus text format.

A port already taken is a configuration problem (exit 78), said in one line naming it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ..config.health import HealthConfig
from ..errors import ConfigError
from .metrics import BotMetrics

__all__ = ["HealthServer"]

_log = logging.getLogger(__name__)

# A readiness probe times out in seconds; a database slower than this to lock is not ready.
_DB_CHECK_SECONDS = 3.0  # above the store's own 2 s lock wait, which then says "database is locked"


class HealthServer:
    """Serves the four routes; :meth:`start` binds the port, :meth:`stop` releases it."""

    def __init__(
        self,
        config: HealthConfig,
        metrics: BotMetrics,
        *,
        gateway_ready: Callable[[], bool],
        write_problem: Callable[[], Awaitable[str | None]],
        stopping: Callable[[], bool],
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._gateway_ready = gateway_ready
        self._write_problem = write_problem
        self._stopping = stopping
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port (the configured one, or the kernel's pick for 0)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._alive)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_text)
        return app

    async def start(self) -> None:
        host, port = self._config.host, self._config.port
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_address=False)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"health.port: port {port} on {host} is already in use; pick a free port or stop what holds it"
                ) from None
            raise ConfigError(f"health.host/health.port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._runner = runner
        addresses = runner.addresses
        self.port = addresses[0][1] if addresses else port
        _log.info("health endpoint on http://%s:%s/", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- routes ----------------------------------------------------------------------------

    async def _alive(self, request: web.Request) -> web.Response:
        return web.Response(text="Bot is alive!")

    async def _healthz(self, request: web.Request) -> web.Response:
        if self._stopping():
            return web.json_response({"status": "shutting down"}, status=503)
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        problems: list[str] = []
        if self._stopping():
            problems.append("shutting down")
        if not self._gateway_ready():
            problems.append("gateway session not ready")
        try:
            problem = await asyncio.wait_for(self._write_problem(), _DB_CHECK_SECONDS)
        except asyncio.TimeoutError:
            problem = f"database write lock not taken within {_DB_CHECK_SECONDS:.0f} s"
        if problem is not None:
            problems.append(problem)
        body = {"status": "not ready" if problems else "ready", "gateway": self._gateway_ready(),
                "database": problem is None, "problems": problems}
        return web.json_response(body, status=503 if problems else 200)

    async def _metrics_text(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
