"""Composition root of one bot process: builds adapters and engines from the config, runs them.

Exit codes: 0 after a clean shutdown (SIGTERM, SIGINT), 78 for a configuration problem
(bad config, missing or rejected token, privileged intents not enabled), 1 for a crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ..clock import Clock, SystemClock
from ..config import BotConfig, load_settings
from ..domain import IncomingMessage
from ..engines.responder import MentionResponder
from ..errors import ConfigError
from ..fsutil import atomic_write_json
from ..paths import BotPaths
from .conversation_log import ConversationLog

__all__ = ["BotRuntime"]

_log = logging.getLogger(__name__)


def _is_loopback(url: str | None) -> bool:
    return bool(url) and any(h in url for h in ("127.0.0.1", "localhost", "[::1]"))  # type: ignore[operator]


class BotRuntime:
    """One bot: Discord client, message store, model, responder; started by :meth:`run`."""

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
        self._closing = False  # set first thing on shutdown: no new work is accepted after it
        self._tasks: set[asyncio.Task[Any]] = set()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        # Imported here so `bot_manager status` and friends never pay for discord.py or the SDK.
        import discord

        from ..discord.adapter import BotClient, DiscordChat, configure_endpoints
        from ..llm.anthropic_llm import AnthropicLLM
        from ..storage import MessageStore

        from ..config.modelcatalog import deprecation_warning

        config, paths = self.config, self.paths
        warning = deprecation_warning(config.api.model)
        if warning:
            _log.warning("api.model: %s", warning)
        token = (self.environ.get(config.discord.token_env_var) or "").strip()
        if not token:
            raise ConfigError(
                f"environment variable {config.discord.token_env_var} (discord.token_env_var) is not set; "
                "add it to .env"
            )
        settings = load_settings(paths.home, self.environ)
        if settings.anthropic_api_key is None:
            raise ConfigError("ANTHROPIC_API_KEY is not set; add it to .env (or try `bot_manager sandbox` offline)")

        paths.ready_file.unlink(missing_ok=True)
        store = await MessageStore.open(paths.database)
        llm = AnthropicLLM(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            model=config.api.model,
            temperature=config.api.temperature,
        )
        decisions = ConversationLog(
            paths.conversation_log,
            config.bot_id,
            config.logging.max_size_mb,
            config.logging.backup_count,
            redact=self.redact,
        )
        configure_endpoints(settings.discord_api_base, settings.discord_gateway_url)

        async def on_incoming(message: IncomingMessage) -> None:
            if self._closing:  # discord.py may still deliver events while it closes
                return
            await store.add(message)
            if message.is_self or self._closing:
                return
            # The gateway handler returns at once; the reply is written in its own task.
            task = asyncio.create_task(responder.handle(message), name=f"{config.bot_id}:reply:{message.message_id}")
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

        async def on_edit(message_id: str, content: str | None, edited_at: datetime) -> None:
            if not self._closing:
                await store.mark_edited(message_id, content, edited_at)

        async def on_delete(message_id: str, deleted_at: datetime) -> None:
            if not self._closing:
                await store.mark_deleted(message_id, deleted_at)

        client = BotClient(
            on_incoming=on_incoming,
            on_edit=on_edit,
            on_delete=on_delete,
            on_connected=self._report_ready,
            servers=config.discord.servers,
            # On a loopback server the guild arrives in milliseconds; 0.05 s is the
            # documented safe minimum (0 can fire on_ready before GUILD_CREATE).
            guild_ready_timeout=0.05 if _is_loopback(settings.discord_gateway_url) else 2.0,
        )
        responder = MentionResponder(
            bot_name=config.name,
            persona_prompt=config.personality.base_prompt,
            store=store,
            llm=llm,
            chat=DiscordChat(client),
            decisions=decisions,
            clock=self.clock,
            context_window=config.reactive.context_window,
            max_tokens=config.api.max_tokens,
        )

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        client_task = asyncio.create_task(client.start(token), name=f"{config.bot_id}:discord")
        stop_task = asyncio.create_task(self._stop.wait(), name=f"{config.bot_id}:stop")
        try:
            await asyncio.wait({client_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            if client_task.done() and not self._stop.is_set():
                exc = client_task.exception()
                if isinstance(exc, discord.LoginFailure):
                    raise ConfigError(
                        f"Discord rejected the token in {config.discord.token_env_var}; "
                        "copy a fresh one from the Developer Portal (Bot > Reset Token)"
                    ) from exc
                if isinstance(exc, discord.PrivilegedIntentsRequired):
                    raise ConfigError(
                        "Discord refused the privileged intents; enable Message Content and Server Members "
                        "intents in the Developer Portal (Bot > Privileged Gateway Intents)"
                    ) from exc
                if exc is not None:
                    raise exc
                raise RuntimeError("the Discord connection closed unexpectedly")
            _log.info("shutting down")
            return 0
        finally:
            # The signal handlers stay installed while shutting down, so a second Ctrl-C
            # cannot interrupt the database checkpoint half-way.
            stop_task.cancel()
            await self._shutdown(client, client_task, store, llm, decisions)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _shutdown(self, client: Any, client_task: asyncio.Task[Any], store: Any, llm: Any, decisions: ConversationLog) -> None:
        self._closing = True
        await client.close()  # closes the gateway session and the HTTP session: no new events
        if not client_task.done():
            client_task.cancel()
        await asyncio.gather(client_task, return_exceptions=True)
        while self._tasks:  # a reply may have been scheduled while the client closed
            pending = list(self._tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self._tasks.difference_update(pending)
        await store.close()  # checkpoints the WAL into messages.db
        await llm.close()
        decisions.close()
        self.paths.ready_file.unlink(missing_ok=True)

    def _report_ready(self) -> None:
        atomic_write_json(
            self.paths.ready_file,
            {"pid": os.getpid(), "ready_at": datetime.now(timezone.utc).isoformat()},
        )
        _log.info("%s is ready", self.config.bot_id)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("reply task %s failed", task.get_name(), exc_info=task.exception())
