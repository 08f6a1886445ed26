"""Composition root of one bot process: builds adapters and engines from the config, runs them.

Exit codes: 0 after a clean shutdown (SIGTERM, SIGINT), 78 for a configuration problem
(bad config, missing or rejected token, no model provider key, privileged intents not
enabled), 1 for a crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from typing import Any

from ..clock import Clock, SystemClock
from ..config import BotConfig, Settings, load_settings
from ..domain import IncomingMessage
from ..errors import ConfigError, StoreError
from ..fsutil import atomic_write_json
from ..paths import BotPaths
from .conversation_log import ConversationLog
from .loops import LoopHealth, run_periodic

__all__ = ["BotRuntime"]

_log = logging.getLogger(__name__)


def _is_loopback(url: str | None) -> bool:
    return bool(url) and any(h in url for h in ("127.0.0.1", "localhost", "[::1]"))  # type: ignore[operator]


class BotRuntime:
    """One bot: Discord client, message store, model chain, reactive engine; started by :meth:`run`."""

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
        self._engine: Any = None
        self._agentic: Any = None
        self._profiles: Any = None
        self._connected = asyncio.Event()
        self._memory_locks: Any = None
        self._loop_health = LoopHealth(paths.loops_file, self.clock, redact)

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
        from ..config.modelcatalog import model_warning
        from ..discord.adapter import BotClient, DiscordChat, configure_endpoints
        from ..storage import MessageStore

        config, paths = self.config, self.paths
        warning = model_warning(config.api.model)
        if warning:
            _log.warning("api.model: %s", warning)
        token = self._token()
        settings = load_settings(paths.home, self.environ)
        paths.ready_file.unlink(missing_ok=True)
        configure_endpoints(settings.discord_api_base, settings.discord_gateway_url)

        async with AsyncExitStack() as resources:
            await asyncio.to_thread(self._adopt_synced_history)
            store = await MessageStore.open(paths.database)
            resources.push_async_callback(store.close)  # last out: checkpoints the WAL into messages.db
            decisions = ConversationLog(
                paths.conversation_log,
                config.bot_id,
                config.logging.max_size_mb,
                config.logging.backup_count,
                redact=self.redact,
            )
            resources.callback(decisions.close)

            async def on_incoming(message: IncomingMessage) -> None:
                if self._closing:  # discord.py may still deliver events while it closes
                    return
                await store.add(message)
                if not self._closing:
                    # Returns at once: replies are written by per-channel worker tasks.
                    await engine.on_message(message)
                    if self._profiles is not None:
                        self._profiles.consider(message)  # a background task when worth it

            async def on_reaction(channel_id: str, message_id: str, user_id: str, emoji: str, added: bool) -> None:
                if self._closing:
                    return
                if not added:
                    await store.remove_reaction(message_id, user_id, emoji)
                    return
                await store.add_reaction(message_id, user_id, emoji, self.clock.now())
                target = await store.get(message_id)
                own = target is not None and target.author_id == engine.self_user_id
                engine.observe_reaction(channel_id, message_id, user_id, emoji, on_own_message=own)

            def on_connected(user_id: str) -> None:
                engine.self_user_id = user_id
                context.self_user_id = user_id
                channel_names, role_names = client.channel_and_role_names()
                context.channel_names.update(channel_names)
                context.role_names.update(role_names)
                self._connected.set()
                self._report_ready()

            async def on_edit(message_id: str, content: str | None, edited_at: datetime) -> None:
                if not self._closing:
                    await store.mark_edited(message_id, content, edited_at)

            async def on_delete(message_id: str, deleted_at: datetime) -> None:
                if not self._closing:
                    await store.mark_deleted(message_id, deleted_at)

            session = {"started": self.clock.now()}

            def on_session_start() -> None:
                session["started"] = self.clock.now()

            def on_session_ready() -> None:  # after a start, or a reconnect that could not resume
                task = None if self._closing else backfill.start(
                    session_started=session["started"], self_user_id=engine.self_user_id
                )
                if task is not None:
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

            client = BotClient(
                on_incoming=on_incoming,
                on_edit=on_edit,
                on_delete=on_delete,
                on_connected=on_connected,
                on_reaction=on_reaction,
                on_session_start=on_session_start,
                on_session_ready=on_session_ready,
                servers=config.discord.servers,
                # On a loopback server the guild arrives in milliseconds; 0.05 s is the
                # documented safe minimum (0 can fire on_ready before GUILD_CREATE).
                guild_ready_timeout=0.05 if _is_loopback(settings.discord_gateway_url) else 2.0,
                now=self.clock.now,
            )
            llm = await self._build_brain(resources, client, settings)
            context = self._build_context(store)
            executor, engine = self._build_engine(store, llm, context, DiscordChat(client), decisions)
            self._engine = engine
            backfill = self._build_backfill(resources, store, client, context, on_incoming)
            if config.agentic.enabled:
                self._agentic = await self._build_agentic(resources, store, llm, context, executor)
                context.hints = self._agentic.weave_hint
                engine.set_on_replied(self._agentic.on_replied)
            if config.memory.enabled and config.memory.profiles.enabled:
                from ..memory.profiles import ProfileUpdater

                self._profiles = ProfileUpdater(
                    llm=llm, root=paths.memories, locks=self._memory_locks, clock=self.clock,
                    config=config.memory.profiles, bot_id=config.bot_id, max_file_bytes=config.memory.max_file_bytes,
                )
                resources.push_async_callback(self._profiles.stop)
            return await self._serve(client, token)

    def _adopt_synced_history(self) -> None:
        """Merge the committed history (``persistence/<bot>/snapshot.db``, written by
        ``bot_manager sync``) into the live database before it opens: a fresh clone starts
        with what the other machine knew. Skipped when the snapshot has not changed since
        the last merge (its size and mtime are noted in run/, which is machine-local)."""
        from ..fsutil import read_json
        from ..sync.dbmerge import merge_database

        snapshot = self.paths.persistence / "snapshot.db"
        if not snapshot.exists():
            return
        marker = self.paths.run_dir / f"{self.config.bot_id}.snapshot-merged.json"
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

    def _build_backfill(self, resources: AsyncExitStack, store: Any, client: Any, context: Any, deliver: Any) -> Any:
        """What was missed while away, after each new gateway session; reply parents on demand."""
        from ..discord.backfill import DiscordHistory
        from ..engines.backfill import Backfill, BackfillSettings, ParentFetcher

        history_config = self.config.history
        history = DiscordHistory(client, servers=self.config.discord.servers)
        parents = history_config.reply_parents
        context.parents = ParentFetcher(history, store, timeout=parents.timeout_seconds)
        context.parent_fetches = parents.max_fetches_per_request
        backfill = Backfill(
            history=history, store=store, clock=self.clock,
            settings=BackfillSettings.from_config(history_config.backfill),
            deliver=deliver,  # an owed message takes the live path, so it is answered as a live one is
            remember=context.remember, name=f"{self.config.bot_id}:backfill",
        )
        resources.push_async_callback(backfill.stop)
        return backfill

    def _build_context(self, store: Any) -> Any:
        """What the model sees: persona, memory digest and guide, the channel's messages."""
        from ..engines.context import ContextBuilder

        config = self.config
        memory = guide = None
        if config.memory.enabled:
            from ..memory.followups import followups_instructions
            from ..memory.guide import memory_guide
            from ..memory.manager import MemoryManager

            memory = MemoryManager(config.bot_id, self.paths.memories, max_context_chars=config.memory.context_max_chars)
            followups = config.agentic.followups
            creating = config.agentic.enabled and followups.enabled and followups.auto_create
            guide = memory_guide(
                followups=followups_instructions(
                    "<your folder>", delay_days=followups.follow_up_delay_days, max_pending=followups.max_pending
                ) if creating else ""
            )
        return ContextBuilder(
            bot_id=config.bot_id,
            bot_name=config.name,
            persona_prompt=config.personality.base_prompt,
            store=store,
            context_window=config.reactive.context_window,
            max_tokens=config.api.max_tokens,
            memory=memory,
            memory_guide=guide or "",
            clock=self.clock,
        )

    def _build_engine(self, store: Any, llm: Any, context: Any, chat: Any, decisions: ConversationLog) -> tuple[Any, Any]:
        """The reactive engine and its gates, from the config; returns (executor, engine)."""
        import random

        from ..engines.botloop import BotLoopGuard
        from ..engines.cooldowns import ChannelCooldowns, UserCooldowns
        from ..engines.engagement import EngagementTracker
        from ..engines.executor import PlanExecutor
        from ..engines.momentum import response_chance
        from ..engines.ratelimit import RateLimiter
        from ..engines.reactive import ReactiveEngine, ReactiveSettings

        config, clock = self.config, self.clock
        limiter = RateLimiter.from_config(config.rate_limiting, clock)
        users = UserCooldowns.from_config(config.reactive.cooldowns, clock)
        channels = ChannelCooldowns.from_config(config.reactive.cooldowns, clock)
        engagement = EngagementTracker.from_config(config.rate_limiting, clock, limiter)
        engagement_rates = config.personality.engagement
        human = self._build_human_layer(limiter) if config.personality.behaviour.enabled else None
        executor = PlanExecutor(
            chat=chat, clock=clock, limiter=limiter, channel_cooldowns=channels, user_cooldowns=users,
            engagement=engagement, on_shutdown=self.request_stop,
        )
        return executor, ReactiveEngine(
            context=context,
            store=store,
            llm=llm,
            executor=executor,
            decisions=decisions,
            clock=clock,
            rng=random.Random(),
            limiter=limiter,
            user_cooldowns=users,
            channel_cooldowns=channels,
            engagement=engagement,
            botloop=BotLoopGuard.from_config(config.reactive),
            settings=ReactiveSettings(
                mention_response_rate=engagement_rates.mention_response_rate,
                ignore_bots=config.reactive.ignore_bots,
                stale_after_messages=config.reactive.stale_after_messages,
                max_typing_seconds=config.reactive.max_typing_seconds,
                static_lines=tuple(config.api.fallback.static_lines),
            ),
            chance_for=lambda momentum: response_chance(momentum, engagement_rates),
            human=human,
        )

    async def _build_agentic(self, resources: AsyncExitStack, store: Any, llm: Any, context: Any, executor: Any) -> Any:
        """The hourly engine: follow-ups, proactive talk, memory upkeep."""
        from ..engines.agentic import AgenticEngine
        from ..memory.followups import FollowupStore
        from ..storage.proactive import ProactiveLog

        log = await ProactiveLog.open(self.paths.database)
        resources.push_async_callback(log.close)
        engine = AgenticEngine(
            config=self.config.agentic,
            context=context,
            followups=FollowupStore(
                self.paths.memories, locks=self._memory_locks, clock=self.clock,
                default_delay_days=self.config.agentic.followups.follow_up_delay_days,
            ),
            store=store,
            proactive_log=log,
            llm=llm,
            executor=executor,
            clock=self.clock,
            max_typing_seconds=self.config.reactive.max_typing_seconds,
        )
        await engine.refresh_woven()
        return engine

    async def _agentic_loop(self) -> None:
        """Every agentic.check_interval_hours one pass; after downtime one catch-up pass, not a burst."""
        from ..engines.agentic import next_tick_delay
        from ..fsutil import read_json

        interval = self.config.agentic.check_interval_hours * 3600
        state_path = self.paths.persistence / "agentic.json"
        state = read_json(state_path)
        last_tick = None
        if isinstance(state, dict) and isinstance(state.get("last_tick"), str):
            try:
                last_tick = datetime.fromisoformat(state["last_tick"])
            except ValueError:
                last_tick = None
            if last_tick is not None and last_tick.tzinfo is None:  # hand-edited or from elsewhere
                last_tick = last_tick.replace(tzinfo=timezone.utc)
        await self._connected.wait()  # the engine needs to know who it is

        async def one_pass() -> None:
            now = self.clock.now()
            report = await self._agentic.run_once(now)
            _log.info("%s", report.summary())
            atomic_write_json(state_path, {"last_tick": now.isoformat()})

        await run_periodic(
            "agentic", one_pass, clock=self.clock, interval=interval, health=self._loop_health,
            first_delay=next_tick_delay(last_tick, self.clock.now(), interval),
        )

    def _build_human_layer(self, limiter: Any) -> Any:
        """Ana's human-behaviour pipeline (personality.behaviour.enabled)."""
        import random

        from ..engines.behaviour import HumanBehaviour
        from ..engines.human import HumanLayer
        from ..engines.jokes import JokeService
        from ..engines.modes import ModeDetector, RoastLimiter
        from .fetchers import dad_joke_fetcher

        config, clock = self.config, self.clock
        behaviour_config = config.personality.behaviour
        rng = random.Random()
        jokes = JokeService(behaviour_config.jokes, clock, rng, dad_joke_fetcher(behaviour_config.jokes))
        return HumanLayer(
            behaviour_config,
            behaviour=HumanBehaviour(behaviour_config, rng),
            detector=ModeDetector(behaviour_config),
            roast_limiter=RoastLimiter(behaviour_config.modes.roast_cap, clock),
            jokes=jokes,
            owner_ids=config.discord.owner_ids,
        )

    async def _check_loop(self) -> None:
        """The periodic check: every check_interval_seconds, one decision per pending channel."""
        interval = self.config.reactive.check_interval_seconds
        sweeps_every = max(1, int(3600 / interval))  # drop stale cooldown keys hourly
        checks = 0

        async def one_pass() -> None:
            nonlocal checks
            checks += 1
            if self.config.reactive.enabled:
                self._engine.check()
            if checks % sweeps_every == 0:
                self._engine.sweep()

        await run_periodic("check", one_pass, clock=self.clock, interval=interval, health=self._loop_health)

    async def _build_brain(self, resources: AsyncExitStack, client: Any, settings: Settings) -> Any:
        """The model chain: Claude with its tools, the fallbacks, the ledger and the budget."""
        from ..discord.tools import DiscordQueryTools
        from ..llm.anthropic_llm import AnthropicProvider
        from ..llm.budget import BudgetedLLM, BudgetGuard
        from ..llm.router import build_router
        from ..llm.websearch import WebSearchBudget
        from ..memory import MemoryTool
        from ..storage.ledger import UsageLedger

        config, api = self.config, self.config.api
        from ..memory.locks import PathLocks

        tools: list[Any] = []
        self._memory_locks = PathLocks()  # one lock table for every writer of memory files
        if config.memory.enabled:
            tools.append(
                MemoryTool(
                    self.paths.memories, max_file_bytes=config.memory.max_file_bytes, locks=self._memory_locks,
                    max_files=config.memory.max_files, max_total_bytes=config.memory.max_total_bytes,
                )
            )
        tools.extend(DiscordQueryTools(client).tools())
        ledger = await UsageLedger.open(self.paths.database, api.prices, clock=self.clock)
        resources.push_async_callback(ledger.close)
        web_search = WebSearchBudget(
            self.clock,
            max_daily=api.web_search.max_daily,
            max_per_request=api.web_search.max_per_request,
            used_today=await ledger.web_searches_today(self.clock.now()),
        )
        claude = AnthropicProvider(
            api, tools=tools, base_url=settings.anthropic_base_url, clock=self.clock, web_search=web_search
        )
        resources.push_async_callback(claude.close)
        router = build_router(config, self.environ, anthropic_provider=claude, tools=tools, usage_sink=ledger)
        if not router.describe():
            raise ConfigError(
                "no model provider has a key: set ANTHROPIC_API_KEY (or GROQ_API_KEY for the fallback) in .env, "
                "or try `bot_manager sandbox` offline"
            )
        return BudgetedLLM(router, BudgetGuard(ledger, api.budget.daily_tokens, self.clock))

    async def _serve(self, client: Any, token: str) -> int:
        """Run the Discord client until a stop signal or a fatal client error."""
        import discord

        var = self.config.discord.token_env_var
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        client_task = asyncio.create_task(client.start(token), name=f"{self.config.bot_id}:discord")
        stop_task = asyncio.create_task(self._stop.wait(), name=f"{self.config.bot_id}:stop")
        loops = [self._check_loop()] + ([self._agentic_loop()] if self._agentic is not None else [])
        for name, coro in zip(("check", "agentic"), loops):
            task = asyncio.create_task(coro, name=f"{self.config.bot_id}:{name}")
            task.add_done_callback(self._loop_ended)
            self._tasks.add(task)
        try:
            await asyncio.wait({client_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            if client_task.done() and not self._stop.is_set():
                exc = client_task.exception()
                if isinstance(exc, discord.LoginFailure):
                    raise ConfigError(
                        f"Discord rejected the token in {var}; copy a fresh one from the Developer Portal "
                        "(Bot > Reset Token)"
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
            await self._shutdown(client, client_task)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _shutdown(self, client: Any, client_task: asyncio.Task[Any]) -> None:
        """Close Discord first (no new events), then finish or cancel replies in flight;
        the exit stack then closes the model clients, the ledger and the store."""
        self._closing = True
        await client.close()  # closes the gateway session and the HTTP session
        if not client_task.done():
            client_task.cancel()
        await asyncio.gather(client_task, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._engine.stop()  # replies in flight are cancelled; the store closes after
        self.paths.ready_file.unlink(missing_ok=True)

    def _loop_ended(self, task: asyncio.Task[Any]) -> None:
        """A background loop must never end quietly: log why, so `bot_manager logs` shows it."""
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        _log.error("%s loop ended: %s", task.get_name(), exc if exc is not None else "returned", exc_info=exc)

    def _report_ready(self) -> None:
        atomic_write_json(
            self.paths.ready_file,
            {"pid": os.getpid(), "ready_at": datetime.now(timezone.utc).isoformat()},
        )
        _log.info("%s is ready", self.config.bot_id)

