"""The composition root of one bot process: every part built from the config, and wired.

:func:`build_bot` is the one place that knows which adapter serves which port. It builds,
in order: the message store and the conversation log; the Discord client (whose events go
to :class:`Intake`); the brain (Claude with its client tools, the fallbacks, the usage
ledger and the daily budget); the context builder; the gates, the plan executor and the
reactive engine; the history backfill; the agentic engine and the profile updater when
enabled. Everything it opens is registered on the caller's exit stack, last opened first
closed, so the store (opened first) closes last and checkpoints its WAL.

Imported only by the bot process (``framework.runtime.app``), never by the CLI, so
``bot_manager status`` never pays for discord.py or the SDKs.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..config import BotConfig, Settings
from ..config.access import master_user_id
from ..config.prompt_files import prompt_files_problem
from ..config.shards import shard_plan
from ..domain.shards import EVERY_SHARD, ShardScope
from ..domain import IncomingMessage
from ..discord.adapter import BotClient, DiscordChat, make_client
from ..discord.backfill import DiscordHistory
from ..discord.commands import install_settings_commands
from ..discord.tools import DiscordQueryTools
from ..engines.access import AccessPolicy
from ..engines.agentic import AgenticEngine
from ..engines.backfill import Backfill, BackfillSettings, ParentFetcher
from ..engines.behaviour import HumanBehaviour
from ..engines.context import ContextBuilder
from ..engines.conversation import ConversationCache, ConversationSettings
from ..engines.executor import PlanExecutor
from ..engines.gates import Gates
from ..engines.human import HumanLayer
from ..engines.jokes import JokeService
from ..engines.modes import ModeDetector, RoastLimiter
from ..engines.reactive import ReactiveEngine, ReactiveSettings
from ..engines.settings_commands import SettingsCommands, SettingsStorePort, StampedSettings, restore_model
from ..errors import ConfigError
from ..llm.anthropic_llm import AnthropicProvider
from ..llm.budget import BudgetedLLM, BudgetGuard
from ..llm.model_admin import ModelAdmin
from ..llm.context_limits import ModelsApiLimits
from ..llm.router import Router, build_router
from ..llm.websearch import WebSearchBudget
from ..memory import MemoryTool
from ..memory.followups import FollowupStore, followups_instructions
from ..memory.guide import memory_guide
from ..memory.locks import PathLocks
from ..memory.manager import MemoryManager
from ..memory.profiles import ProfileUpdater
from ..memory.prompt_files import PromptFileRules, PromptFiles
from ..paths import BotPaths
from ..ports import ClientTool, DecisionLog, UsageSink
from ..storage import MessageStore
from ..storage.ledger import UsageLedger
from ..storage.proactive import ProactiveLog
from ..storage.settings_file import JsonSettings
from .assistant import AssistantParts, open_assistant
from .coding import open_coding
from .conversation_log import ConversationLog
from .fetchers import dad_joke_fetcher
from .images import build_images, noting
from .intake import Intake

if TYPE_CHECKING:  # prometheus_client is loaded only by a bot with health.port set
    from .metrics import BotMetrics

__all__ = ["Bot", "build_bot"]

_log = logging.getLogger(__name__)


@dataclass
class Bot:
    """Every part of one bot process, built and wired, not yet connected to Discord."""

    config: BotConfig
    paths: BotPaths
    clock: Clock
    store: MessageStore
    decisions: ConversationLog
    client: BotClient
    intake: Intake
    router: Router
    llm: BudgetedLLM
    context: ContextBuilder
    gates: Gates
    executor: PlanExecutor
    engine: ReactiveEngine
    backfill: Backfill
    agentic: AgenticEngine | None
    profiles: ProfileUpdater | None
    access: AccessPolicy
    """Who may talk to the bot and where; slash commands ask it too (``allows_command``)."""
    assistant: AssistantParts | None = None
    """Todos, calendar and the person's time zone (``assistant.enabled``); its store holds the settings table."""
    shards: ShardScope = EVERY_SHARD
    """The guilds this process answers for (all of them unless it is one shard process of the bot)."""


async def build_bot(
    config: BotConfig,
    paths: BotPaths,
    environ: Mapping[str, str],
    settings: Settings,
    *,
    clock: Clock,
    resources: AsyncExitStack,
    redact: Callable[[str], str] = str,
    on_ready: Callable[[], None] = lambda: None,
    on_shutdown_command: Callable[[], None] = lambda: None,
    guild_ready_timeout: float = 2.0,
    metrics: BotMetrics | None = None,
) -> Bot:
    """Build the bot. ``on_ready`` runs once the Discord session is ready (the runtime
    reports readiness); ``on_shutdown_command`` when an owner's shutdown command ran;
    ``metrics`` (the health endpoint's, when on) is fed by wrappers around the seams."""
    rng = random.Random()
    # Before anything opens: a missing or malformed master id is a config error (exit 78).
    access = AccessPolicy(config.access.mode, master_user_id(config.access, environ))
    shards = shard_plan(config.discord.shards, environ)  # the environment's share overrides the config's
    scope = ShardScope(shards.count, shards.ids) if shards is not None else EVERY_SHARD
    store = await MessageStore.open(paths.database)
    resources.push_async_callback(store.close)  # last out: checkpoints the WAL into messages.db
    decisions = ConversationLog(
        paths.conversation_log, config.bot_id, config.logging.max_size_mb, config.logging.backup_count, redact=redact
    )
    resources.callback(decisions.close)
    logged: DecisionLog = decisions
    if metrics is not None:
        from .metrics import MeteredDecisionLog

        logged = MeteredDecisionLog(decisions, metrics)

    intake = Intake(store=store, clock=clock, on_ready=on_ready, access=access, decisions=logged)
    images = build_images(config, settings, resources)
    # One path for every message handed in, live or recovered by the backfill: images noted,
    # counted, then the intake.
    incoming = noting(images, intake.on_incoming)
    if metrics is not None:
        incoming = metrics.seeing(incoming)
    client = make_client(
        sharded=shards is not None,
        shard_count=shards.count if shards is not None else None,
        shard_ids=shards.ids if shards is not None else None,
        on_incoming=incoming,
        on_edit=intake.on_edit,
        on_delete=intake.on_delete,
        on_connected=intake.on_connected,
        on_reaction=intake.on_reaction,
        on_session_start=intake.on_session_start if metrics is None else metrics.session_started(intake.on_session_start),
        on_session_ready=intake.on_session_ready,
        on_resumed=metrics.reconnected if metrics is not None else None,
        servers=config.discord.servers,
        guild_ready_timeout=guild_ready_timeout,
        now=clock.now,
    )

    chat = DiscordChat(client)
    locks = PathLocks()  # one lock table for every writer of memory files
    assistant = await open_assistant(
        config.assistant, paths.database, clock, resources, master_id=access.master_user_id, dms=chat
    )
    coding = await open_coding(config, paths, access.master_user_id, decisions, clock)
    extra_tools = [*(assistant.tools if assistant is not None else ()), *(coding.tools if coding is not None else ())]
    router, llm = await _build_brain(
        config, paths, environ, settings, clock, resources, client, locks, extra_tools=extra_tools, metrics=metrics,
    )
    if config.commands.slash:
        await _build_settings_commands(config, paths, environ, settings, router, client, clock, assistant, access)
    context = _build_context(config, paths, store, clock)
    context.image_source = images
    if coding is not None:
        context.coding = coding.prompt  # the tools' guide and the skills, in the system prompt
    if assistant is not None:
        context.local_time = assistant.zone.describe  # every request: the person's local date and time
    if config.conversation.enabled:
        context.conversation = _build_conversation(config, paths, environ, settings, clock, llm)
    gates = Gates.from_config(
        rate_limiting=config.rate_limiting, reactive=config.reactive, engagement=config.personality.engagement,
        clock=clock, rng=rng,
    )
    human = _build_human_layer(config, clock, rng) if config.personality.behaviour.enabled else None
    executor = PlanExecutor(chat=chat, clock=clock, gates=gates, on_shutdown=on_shutdown_command)
    engine = ReactiveEngine(
        context=context,
        store=store,
        llm=llm,
        executor=executor,
        decisions=logged,
        gates=gates,
        rng=rng,
        settings=ReactiveSettings(
            ignore_bots=config.reactive.ignore_bots,
            stale_after_messages=config.reactive.stale_after_messages,
            max_typing_seconds=config.reactive.max_typing_seconds,
            static_lines=tuple(config.api.fallback.static_lines),
        ),
        human=human,
    )
    backfill = _build_backfill(config, store, client, context, clock, resources, incoming, scope)

    agentic = None
    if config.agentic.enabled:
        agentic = await _build_agentic(config, paths, store, llm, context, executor, clock, locks, resources, access, scope)
        context.hints = agentic.weave_hint
        engine.set_on_replied(agentic.on_replied)
    profiles = None
    if config.memory.enabled and config.memory.profiles.enabled:
        profiles = ProfileUpdater(
            llm=llm, root=paths.memories, locks=locks, clock=clock, config=config.memory.profiles,
            bot_id=config.bot_id, max_file_bytes=config.memory.max_file_bytes,
        )
        resources.push_async_callback(profiles.stop)

    intake.attach(engine=engine, context=context, client=client, backfill=backfill, profiles=profiles)
    return Bot(
        config=config, paths=paths, clock=clock, store=store, decisions=decisions, client=client, intake=intake,
        router=router, llm=llm, context=context, gates=gates, executor=executor, engine=engine, backfill=backfill,
        agentic=agentic, profiles=profiles, access=access, assistant=assistant, shards=scope,
    )


async def _build_brain(
    config: BotConfig,
    paths: BotPaths,
    environ: Mapping[str, str],
    settings: Settings,
    clock: Clock,
    resources: AsyncExitStack,
    client: BotClient,
    locks: PathLocks,
    *,
    extra_tools: Sequence[ClientTool] = (),
    metrics: BotMetrics | None = None,
) -> tuple[Router, BudgetedLLM]:
    """The model chain: Claude with its tools, the fallbacks, the ledger and the budget."""
    api = config.api
    tools: list[ClientTool] = []
    if config.memory.enabled:
        tools.append(
            MemoryTool(
                paths.memories, max_file_bytes=config.memory.max_file_bytes, locks=locks,
                max_files=config.memory.max_files, max_total_bytes=config.memory.max_total_bytes,
                prompt_files=PromptFileRules(
                    tuple(config.personality.prompt_files.read_only), tuple(config.personality.prompt_files.writable)
                ),
            )
        )
    tools.extend(DiscordQueryTools(client).tools())
    tools.extend(extra_tools)  # the assistant's todos and calendar, the coding tools, when enabled
    ledger = await UsageLedger.open(paths.database, api.prices, clock=clock)
    resources.push_async_callback(ledger.close)
    web_search = WebSearchBudget(
        clock,
        max_daily=api.web_search.max_daily,
        max_per_request=api.web_search.max_per_request,
        used_today=await ledger.web_searches_today(clock.now()),
    )
    claude = AnthropicProvider(api, tools=tools, base_url=settings.anthropic_base_url, clock=clock, web_search=web_search)
    resources.push_async_callback(claude.close)  # idempotent: also closed by the router when in its chain
    sink: UsageSink = ledger
    if metrics is not None:
        from .metrics import MeteredUsageSink

        sink = MeteredUsageSink(ledger, metrics, lambda r: ledger.cost_of(r.model, r.usage))
    router = build_router(config, environ, anthropic_provider=claude, tools=tools, usage_sink=sink)
    resources.push_async_callback(router.close)  # every provider's HTTP client (Groq, OpenAI-compatible)
    router.restore_usage(await ledger.key_usage(clock.now()))  # key balance survives a restart
    if not router.describe():
        raise ConfigError(
            "no model provider has a key: set ANTHROPIC_API_KEY (or GROQ_API_KEY for the fallback) in .env, "
            "or try `bot_manager sandbox` offline"
        )
    return router, BudgetedLLM(router, BudgetGuard(ledger, api.budget.daily_tokens, clock))


async def _build_settings_commands(
    config: BotConfig, paths: BotPaths, environ: Mapping[str, str], settings: Settings, router: Router,
    client: BotClient, clock: Clock, assistant: AssistantParts | None, access: AccessPolicy,
) -> None:
    """``/settings`` (``commands.slash``): the person's saved model choice applied to the router,
    the commands synced when the client logs in, each one asking the access policy first.
    The choice is kept in the assistant's settings table when the bot has one (it syncs
    between machines), else in ``persistence/<bot>/settings.json``."""
    admin = ModelAdmin(
        config, router, environ, anthropic_base_url=settings.anthropic_base_url,
        list_timeout=config.commands.models_timeout_seconds,
    )
    store: SettingsStorePort = (
        StampedSettings(assistant.store, clock) if assistant is not None
        else JsonSettings(paths.persistence / "settings.json")
    )
    await restore_model(admin, store)
    install_settings_commands(client, SettingsCommands(admin, store), access.allows_command)


def _build_context(config: BotConfig, paths: BotPaths, store: MessageStore, clock: Clock) -> ContextBuilder:
    """What the model sees: persona, memory digest and guide, the channel's messages."""
    memory = None
    guide = ""
    if config.memory.enabled:
        memory = MemoryManager(config.bot_id, paths.memories, max_context_chars=config.memory.context_max_chars)
        followups = config.agentic.followups
        creating = config.agentic.enabled and followups.enabled and followups.auto_create
        guide = memory_guide(
            followups=followups_instructions(
                "<your folder>", delay_days=followups.follow_up_delay_days, max_pending=followups.max_pending
            ) if creating else "",
            prompt_files=config.personality.prompt_files.writable,
        )
    return ContextBuilder(
        bot_id=config.bot_id,
        bot_name=config.name,
        persona_prompt=config.personality.base_prompt,
        store=store,
        context_window=config.reactive.context_window,
        max_tokens=config.api.max_tokens,
        memory=memory,
        memory_guide=guide,
        prompt_files=_build_prompt_files(config, paths),
        clock=clock,
    )


def _build_prompt_files(config: BotConfig, paths: BotPaths) -> PromptFiles | None:
    """The system prompt's files (``personality.prompt_files``); a missing read-only one is a config error."""
    files = config.personality.prompt_files
    if not files.names:
        return None
    problem = prompt_files_problem(files, paths.memories, f"memories/{config.bot_id}")
    if problem is not None:
        raise ConfigError(problem)
    return PromptFiles(
        paths.memories, read_only=files.read_only, writable=files.writable, max_file_bytes=config.memory.max_file_bytes
    )


def _build_conversation(
    config: BotConfig, paths: BotPaths, environ: Mapping[str, str], settings: Settings, clock: Clock, llm: BudgetedLLM
) -> ConversationCache:
    """DMs as real turns with a sliding TTL and compaction (``conversation``), one file each."""
    limits = ModelsApiLimits.from_env(environ, base_url=settings.anthropic_base_url, monotonic=clock.monotonic)
    return ConversationCache(
        paths.conversations, clock=clock, llm=llm,
        settings=ConversationSettings.from_config(config.conversation), limits=limits,
    )


def _build_human_layer(config: BotConfig, clock: Clock, rng: random.Random) -> HumanLayer:
    """Ana's human-behaviour pipeline (personality.behaviour.enabled)."""
    behaviour = config.personality.behaviour
    return HumanLayer(
        behaviour,
        behaviour=HumanBehaviour(behaviour, rng),
        detector=ModeDetector(behaviour),
        roast_limiter=RoastLimiter(behaviour.modes.roast_cap, clock),
        jokes=JokeService(behaviour.jokes, clock, rng, dad_joke_fetcher(behaviour.jokes)),
        owner_ids=config.discord.owner_ids,
    )


def _build_backfill(
    config: BotConfig,
    store: MessageStore,
    client: BotClient,
    context: ContextBuilder,
    clock: Clock,
    resources: AsyncExitStack,
    deliver: Callable[[IncomingMessage], Awaitable[Any]],
    scope: ShardScope,
) -> Backfill:
    """What was missed while away, after each new gateway session; reply parents on demand."""
    history = DiscordHistory(client, servers=config.discord.servers)
    parents = config.history.reply_parents
    context.parents = ParentFetcher(history, store, timeout=parents.timeout_seconds)
    context.parent_fetches = parents.max_fetches_per_request
    backfill = Backfill(
        history=history, store=store, clock=clock,
        settings=BackfillSettings.from_config(config.history.backfill, direct_messages=scope.owns_direct_messages),
        deliver=deliver,  # an owed message takes the live path, so it is answered as a live one is
        remember=context.remember, name=f"{config.bot_id}:backfill",
    )
    resources.push_async_callback(backfill.stop)
    return backfill


async def _build_agentic(
    config: BotConfig,
    paths: BotPaths,
    store: MessageStore,
    llm: BudgetedLLM,
    context: ContextBuilder,
    executor: PlanExecutor,
    clock: Clock,
    locks: PathLocks,
    resources: AsyncExitStack,
    access: AccessPolicy,
    scope: ShardScope,
) -> AgenticEngine:
    """The hourly engine: follow-ups, proactive talk, memory upkeep."""
    log = await ProactiveLog.open(paths.database)
    resources.push_async_callback(log.close)
    engine = AgenticEngine(
        config=config.agentic,
        context=context,
        followups=FollowupStore(
            paths.memories, locks=locks, clock=clock, default_delay_days=config.agentic.followups.follow_up_delay_days,
        ),
        store=store,
        proactive_log=log,
        llm=llm,
        executor=executor,
        clock=clock,
        max_typing_seconds=config.reactive.max_typing_seconds,
        access=access,
        shards=scope,
    )
    await engine.refresh_woven()
    return engine
