"""One bot process, from start to exit: build the bot, serve it, report readiness, shut down.

The parts are built by :func:`framework.runtime.wiring.build_bot`; this module runs them:
the Discord session, the periodic loops (the check, the agentic pass), signals, and an
orderly shutdown (Discord closed first so no new event starts work, then the loops and the
replies in flight, then everything the wiring opened, the store last).

Exit codes: 0 after a clean shutdown (SIGTERM, SIGINT), 78 for a configuration problem
(bad config, missing or rejected token, no model provider key, privileged intents not
enabled), 1 for a crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..clock import Clock, SystemClock
from ..config import BotConfig, load_settings
from ..config.modelcatalog import model_warning
from ..errors import ConfigError, StoreError
from ..fsutil import atomic_write_json, read_json
from ..paths import BotPaths
from .loops import LoopHealth, agentic_loop, check_loop
from .reminder_loop import reminder_loop

if TYPE_CHECKING:
    from .health import HealthServer
    from .wiring import Bot

__all__ = ["BotRuntime"]

_log = logging.getLogger(__name__)


def _is_loopback(url: str | None) -> bool:
    return bool(url) and any(h in url for h in ("127.0.0.1", "localhost", "[::1]"))  # type: ignore[operator]


class BotRuntime:
    """One bot process; :meth:`run` returns its exit code."""

    def __init__(
        self,
        config: BotConfig,
        paths: BotPaths,
        environ: Mapping[str, str],
        clock: Clock | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.config = config
        self.redact = redact
        self.paths = paths
        self.environ = environ
        self.clock = clock or SystemClock()
        self._stop = asyncio.Event()
        self._connected = asyncio.Event()
        self._loops: set[asyncio.Task[None]] = set()
        self._closing = False
        self._loop_health = LoopHealth(paths.loops_file, self.clock, redact)
        self.health: HealthServer | None = None  # the HTTP endpoint, when ``health.port`` is set

    def request_stop(self) -> None:
        self._stop.set()

    def _token(self) -> str:
        var = self.config.discord.token_env_var
        token = (self.environ.get(var) or "").strip()
        if not token:
            raise ConfigError(f"environment variable {var} (discord.token_env_var) is not set; add it to .env")
        return token

    async def run(self) -> int:
        # Imported here so `bot_manager status` and friends never pay for discord.py or the SDKs.
        from ..discord.adapter import configure_endpoints
        from .wiring import build_bot

        config, paths = self.config, self.paths
        warning = model_warning(config.api.model)
        if warning:
            _log.warning("api.model: %s", warning)
        token = self._token()
        settings = load_settings(paths.home, self.environ)
        paths.ready_file.unlink(missing_ok=True)
        configure_endpoints(settings.discord_api_base, settings.discord_gateway_url)

        metrics = None
        if config.health.port is not None:  # aiohttp.web and prometheus_client only for a bot that serves them
            from .metrics import BotMetrics

            metrics = BotMetrics(config.bot_id, self.clock)
        async with AsyncExitStack() as resources:
            await asyncio.to_thread(self._adopt_synced_history)
            bot = await build_bot(
                config, paths, self.environ, settings,
                clock=self.clock, resources=resources, redact=self.redact,
                on_ready=self._on_ready, on_shutdown_command=self.request_stop,
                # On a loopback server the guild arrives in milliseconds; 0.05 s is the
                # documented safe minimum (0 can fire on_ready before GUILD_CREATE).
                guild_ready_timeout=0.05 if _is_loopback(settings.discord_gateway_url) else 2.0,
                metrics=metrics,
            )
            if metrics is not None:  # bound before Discord connects: probes see "not ready" until READY
                from .health import HealthServer

                self.health = HealthServer(
                    config.health, metrics, gateway_ready=bot.client.session_live,
                    write_problem=bot.store.write_problem, stopping=lambda: self._closing or self._stop.is_set(),
                )
                await self.health.start()
                resources.push_async_callback(self.health.stop)  # after the shutdown: /healthz says 503 during it
            return await self._serve(bot, token)

    def _adopt_synced_history(self) -> None:
        """Merge the committed history (``persistence/<bot>/snapshot.db``, written by
        ``bot_manager sync``) into the live database before it opens: a fresh clone starts
        with what the other machine knew. Skipped when the snapshot has not changed since
        the last merge (its size and mtime are noted in run/, which is machine-local)."""
        from ..sync.dbmerge import merge_database

        snapshot = self.paths.persistence / "snapshot.db"
        if not snapshot.exists():
            return
        marker = self.paths.snapshot_merged
        stat = snapshot.stat()
        seen = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        if read_json(marker) == seen and self.paths.database.exists():
            return
        try:
            stats = merge_database(self.paths.database, snapshot)
        except StoreError as exc:  # a corrupt snapshot (or a Git LFS pointer) must not stop the bot
            _log.warning("history from %s not merged: %s; the bot runs on its own history", snapshot.name, exc)
            return
        if stats.changed:
            _log.info("history from %s: %d new messages", snapshot.name, stats.new_messages)
        marker.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(marker, seen)

    def _loops_of(self, bot: Bot) -> dict[str, Coroutine[Any, Any, None]]:
        """The named periodic loops of this bot; each survives a failing pass."""
        loops: dict[str, Coroutine[Any, Any, None]] = {
            "check": check_loop(
                bot.engine, interval=self.config.reactive.check_interval_seconds, clock=self.clock,
                health=self._loop_health, enabled=self.config.reactive.enabled,
            ),
        }
        if bot.agentic is not None:
            loops["agentic"] = agentic_loop(
                bot.agentic, state_path=self.paths.persistence / "agentic.json",
                interval=self.config.agentic.check_interval_hours * 3600, clock=self.clock,
                health=self._loop_health, connected=self._connected,
            )
        # Reminders go to a direct message, which belongs to the process of shard 0.
        if bot.assistant is not None and bot.assistant.reminders is not None and bot.shards.owns_direct_messages:
            loops["reminders"] = reminder_loop(
                bot.assistant.reminders, clock=self.clock, health=self._loop_health, connected=self._connected,
            )
        return loops

    async def _serve(self, bot: Bot, token: str) -> int:
        """Run the Discord session until a stop signal or a fatal session error."""
        bot_id = self.config.bot_id
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        session = asyncio.create_task(
            bot.client.serve(token, token_env_var=self.config.discord.token_env_var), name=f"{bot_id}:discord"
        )
        stop_task = asyncio.create_task(self._stop.wait(), name=f"{bot_id}:stop")
        for name, coro in self._loops_of(bot).items():
            task = asyncio.create_task(coro, name=f"{bot_id}:{name}")
            task.add_done_callback(self._loop_ended)
            self._loops.add(task)
        try:
            await asyncio.wait({session, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            if session.done() and not self._stop.is_set():
                exc = session.exception()
                if exc is not None:
                    raise exc
                raise RuntimeError("the Discord connection closed unexpectedly")
            _log.info("shutting down")
            return 0
        finally:
            # The signal handlers stay installed while shutting down, so a second Ctrl-C
            # cannot interrupt the database checkpoint half-way.
            stop_task.cancel()
            await self._shutdown(bot, session)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _shutdown(self, bot: Bot, session: asyncio.Task[None]) -> None:
        """Close Discord first (no new events), then the loops and the replies in flight;
        the exit stack then closes the model clients, the ledger and the store."""
        self._closing = True
        bot.intake.close()
        await bot.client.close()  # closes the gateway session and the HTTP session
        if not session.done():
            session.cancel()
        await asyncio.gather(session, return_exceptions=True)
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        await bot.engine.stop()  # replies in flight are cancelled; the store closes after
        self.paths.ready_file.unlink(missing_ok=True)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        """A background loop must never end quietly: log why, so `bot_manager logs` shows it."""
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        _log.error("%s loop ended: %s", task.get_name(), exc if exc is not None else "returned", exc_info=exc)

    def _on_ready(self) -> None:
        self._connected.set()
        atomic_write_json(
            self.paths.ready_file,
            {"pid": os.getpid(), "ready_at": datetime.now(timezone.utc).isoformat()},
        )
        _log.info("%s is ready", self.paths.name)
