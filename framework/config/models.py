"""Typed schema of ``bots/<id>.yaml``, with the default of every key a config leaves out.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored
setting. Secrets never live here: the config names the environment variable that holds
the Discord token (``discord.token_env_var``), and the value is read from the environment.
"""

from __future__ import annotations

import ntpath
import posixpath
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .access import AccessConfig
from .commands import CommandsConfig
from .assistant import AssistantConfig
from .coding import ToolsConfig
from .behaviour import BehaviourConfig
from .prompt_files import PromptFilesConfig
from .conversation import ConversationConfig
from .health import HealthConfig
from .shards import ShardsConfig

__all__ = [
    "BotConfig",
    "default_token_var",
    "DiscordConfig",
    "PersonalityConfig",
    "ResponseStyle",
    "EngagementConfig",
    "ReactiveConfig",
    "CooldownConfig",
    "AgenticConfig",
    "FollowupConfig",
    "ProactiveConfig",
    "UpkeepConfig",
    "MemoryConfig",
    "ProfilesConfig",
    "HistoryConfig",
    "BackfillConfig",
    "ReplyParentsConfig",
    "ApiConfig",
    "ContextEditingConfig",
    "ThrottlingConfig",
    "WebSearchConfig",
    "RateLimitingConfig",
    "RateWindow",
    "RateWindows",
    "ImagesConfig",
    "LoggingConfig",
    "SupervisorConfig",
    "DEFAULT_MODEL",
]

DEFAULT_MODEL = "claude-sonnet-4-6"

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Usage = Literal["never", "rare", "moderate", "frequent"]
Snowflake = Annotated[str, Field(pattern=r"^\d{1,20}$")]


def _ints_as_strings(value: object) -> object:
    # YAML reads an unquoted snowflake as an int; accept it, keep the string.
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


SnowflakeList = Annotated[list[Snowflake], BeforeValidator(_ints_as_strings)]


class _Section(BaseModel):
    # Infinity or NaN in a float setting is never meant (".inf" seconds between checks).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def default_token_var(bot_id: str) -> str:
    """The token variable a bot gets when its config names none: ``<BOT_ID>_BOT_TOKEN``."""
    return re.sub(r"[^A-Z0-9]", "_", bot_id.upper()) + "_BOT_TOKEN"


class DiscordConfig(_Section):
    token_env_var: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    """Name of the environment variable holding this bot's Discord token; default ``<BOT_ID>_BOT_TOKEN``."""
    servers: SnowflakeList = []
    """Guild ids the bot works in; empty means every guild it is invited to."""
    owner_ids: SnowflakeList = []
    """Discord user ids allowed to use owner-only commands (``!shutdown``)."""
    shards: ShardsConfig = ShardsConfig()
    """Discord sharding: ``count`` (or ``auto``) and the shard ``ids`` this process runs; unset is unsharded."""


class ResponseStyle(_Section):
    formality: Rate = 0.2
    emoji_usage: Usage = "never"
    reaction_usage: Usage = "moderate"
    formatting: Literal["minimal", "moderate", "rich"] = "minimal"


class EngagementConfig(_Section):
    mention_response_rate: Rate = 1.0
    technical_help_rate: Rate = 0.8
    humor_response_rate: Rate = 0.4
    cold_conversation_rate: Rate = 0.1
    warm_conversation_rate: Rate = 0.25
    hot_conversation_rate: Rate = 0.4


class PersonalityConfig(_Section):
    base_prompt: str = ""
    """The persona, first in the system prompt; may be left out when ``prompt_files`` name files."""
    response_style: ResponseStyle = ResponseStyle()
    engagement: EngagementConfig = EngagementConfig()
    behaviour: BehaviourConfig = BehaviourConfig()
    """Human timing, typos, roast/flirt modes, jokes, commands (Ana's layer); off by default."""
    prompt_files: PromptFilesConfig = PromptFilesConfig()
    """System-prompt files in ``memories/<bot>/prompt/``: read-only ones and ones the bot edits (none by default)."""

    @model_validator(mode="after")
    def _has_a_prompt(self) -> PersonalityConfig:
        if not self.base_prompt.strip() and not self.prompt_files.names:
            raise ValueError("base_prompt: required (the persona), unless prompt_files names the prompt's files")
        return self


class CooldownConfig(_Section):
    per_user: Annotated[float, Field(ge=0)] = 40
    single_message: Annotated[float, Field(ge=0)] = 45
    multi_message: Annotated[float, Field(ge=0)] = 75
    heavy_activity: Annotated[float, Field(ge=0)] = 105


class ReactiveConfig(_Section):
    enabled: bool = True
    check_interval_seconds: Annotated[float, Field(gt=0)] = 30
    context_window: Annotated[int, Field(ge=1, le=100)] = 20
    cooldowns: CooldownConfig = CooldownConfig()
    ignore_bots: bool = True
    """Ignore messages from other bots (the common baseline); False lets bots talk to it."""
    max_consecutive_bot_turns: Annotated[int, Field(ge=1)] = 3
    """Bot-loop guard: after this many bot messages in a row the bot waits for a human."""
    max_typing_seconds: Annotated[float, Field(ge=0)] = 15
    """The longest 'typing…' before a message: typing lasts chars / 40 s, at least 2 s, at most this."""
    stale_after_messages: Annotated[int, Field(ge=1)] = 4
    """A periodic-check answer is dropped when this many people spoke while it was written."""


class FollowupConfig(_Section):
    enabled: bool = True
    auto_create: bool = True
    max_pending: Annotated[int, Field(ge=0)] = 20
    priority_threshold: Literal["low", "medium", "high"] = "medium"
    follow_up_delay_days: Annotated[float, Field(ge=0)] = 1
    max_age_days: Annotated[float, Field(gt=0)] = 14
    active_within_hours: Annotated[float, Field(gt=0)] = 24
    """A due follow-up is delivered only if its person spoke in the last this many hours."""
    recent_activity_minutes: Annotated[float, Field(gt=0)] = 10
    """A channel with messages this recent is 'active': follow-ups are woven in or deferred."""


class ProactiveConfig(_Section):
    enabled: bool = True
    min_idle_hours: Annotated[float, Field(ge=0)] = 1.0
    max_idle_hours: Annotated[float, Field(ge=0)] = 8.0
    min_provocation_gap_hours: Annotated[float, Field(ge=0)] = 1.0
    max_per_day_global: Annotated[int, Field(ge=0)] = 10
    max_per_day_per_channel: Annotated[int, Field(ge=0)] = 3
    engagement_threshold: Rate = 0.3
    learning_window_days: Annotated[float, Field(gt=0)] = 7
    quiet_hours: tuple[Annotated[int, Field(ge=0, le=24)], Annotated[int, Field(ge=0, le=24)]] = (0, 6)
    """[start, end) local hours with no proactive talk; [22, 6] wraps past midnight; equal = none."""
    timezone: str = "UTC"
    """IANA zone of the server (e.g. America/Los_Angeles): quiet hours and daily caps use its clock."""
    allowed_channels: SnowflakeList = []
    """Channel ids where proactive talk is allowed; empty means none (proactive talk is opt-in per channel)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Europe/Berlin or UTC") from None
        return value

    @model_validator(mode="after")
    def _idle_range(self) -> ProactiveConfig:
        if self.min_idle_hours > self.max_idle_hours:
            raise ValueError(
                f"min_idle_hours ({self.min_idle_hours}) must not exceed max_idle_hours ({self.max_idle_hours})"
            )
        return self


class UpkeepConfig(_Section):
    """Memory upkeep in the agentic loop: old messages and old completed follow-ups archived."""

    archive_messages_after_days: Annotated[float, Field(gt=0)] = 90
    """Messages older than this move from the hot table to ``messages_archive`` (nothing is deleted)."""
    keep_completed_followups_days: Annotated[float, Field(gt=0)] = 30
    """Completed follow-ups older than this move from followups.json to the follow-up archive."""


class AgenticConfig(_Section):
    enabled: bool = True
    check_interval_hours: Annotated[float, Field(gt=0)] = 1
    followups: FollowupConfig = FollowupConfig()
    proactive: ProactiveConfig = ProactiveConfig()
    upkeep: UpkeepConfig = UpkeepConfig()


class ContextEditingConfig(_Section):
    enabled: bool = True
    trigger_tokens: Annotated[int, Field(ge=1000)] = 100_000
    keep_tool_uses: Annotated[int, Field(ge=0)] = 3
    exclude_tools: list[str] = ["memory"]


class ThrottlingConfig(_Section):
    min_delay_seconds: Annotated[float, Field(ge=0)] = 1.0
    max_concurrent: Annotated[int, Field(ge=1)] = 10


class WebSearchConfig(_Section):
    enabled: bool = True
    max_daily: Annotated[int, Field(ge=0)] = 300
    max_per_request: Annotated[int, Field(ge=1)] = 3


class ThinkingConfig(_Section):
    enabled: bool = False
    budget_tokens: Annotated[int, Field(ge=1024)] = 2048


class CacheConfig(_Section):
    enabled: bool = True
    ttl: Literal["5m", "1h"] = "5m"


class FallbackModel(_Section):
    """One model of a fallback waterfall with its own sampling settings."""

    model: Annotated[str, Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    extra_body: dict[str, object] = {}


# Ana's Groq waterfall, de-duplicated, with her per-model settings.
ANA_GROQ_MODELS = (
    FallbackModel(model="moonshotai/kimi-k2-instruct", max_tokens=80, temperature=0.88, top_p=0.92),
    FallbackModel(model="llama-3.1-8b-instant", max_tokens=70, temperature=0.86, top_p=0.90),
    FallbackModel(model="qwen/qwen3-32b", max_tokens=65, temperature=0.82, top_p=0.90),
)


class GroqFallbackConfig(_Section):
    enabled: bool = True
    models: list[FallbackModel] = list(ANA_GROQ_MODELS)

    @field_validator("models")
    @classmethod
    def _dedupe(cls, models: list[FallbackModel]) -> list[FallbackModel]:
        seen: set[str] = set()
        unique = []
        for m in models:  # Ana listed llama-3.1-8b-instant twice; call each model once
            if m.model not in seen:
                seen.add(m.model)
                unique.append(m)
        return unique


class OpenAICompatibleProvider(_Section):
    """Any OpenAI-compatible chat-completions API: Gemini, OpenRouter, a local server."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    """Also the key prefix: keys come from <NAME>_API_KEY or <NAME>_API_KEY_1..N."""
    base_url: Annotated[str, Field(pattern=r"^https?://")]
    models: Annotated[list[FallbackModel], Field(min_length=1)]
    key_required: bool = True
    """False for a local server that takes no key."""
    images: bool = False
    """True when the models take image input (``image_url`` parts); otherwise a request with
    images gets a line saying they were there, which the model cannot see."""


class FallbackConfig(_Section):
    groq: GroqFallbackConfig = GroqFallbackConfig()
    openai_compatible: list[OpenAICompatibleProvider] = []
    static_lines: list[str] = [
        "brain's buffering, give me a minute",
        "hold on, my thoughts are stuck in traffic",
        "can't think straight right now, ask me again in a bit",
    ]
    """Said only where a reply is owed (a mention, a DM) and every provider failed."""


class RouterConfig(_Section):
    request_deadline_seconds: Annotated[float, Field(gt=0)] = 30.0
    """One request may take this long across every retry, key and provider (a key rotator's
    "global timeout", 120 s there: a DM assistant may set that; chat bots keep 30 s)."""
    max_retry_after_seconds: Annotated[float, Field(ge=0)] = 10.0
    """A rate limit asking for a longer wait fails over instead of waiting."""
    attempt_timeout_seconds: Annotated[float, Field(gt=0)] = 20.0
    """One attempt (one key, one model, its whole tool loop) may take this long."""
    attempts_per_key: Annotated[int, Field(ge=1, le=10)] = 2
    """Attempts on one key when a rate limit asks for a short wait: 2 = the first and one
    retry (a key rotator's "max retries", which counts attempts the same way)."""
    max_keys_per_model: Annotated[int, Field(ge=1, le=20)] = 2
    """Keys tried for one model after a failure before the next model or provider."""
    rotation_tolerance: Annotated[float, Field(ge=0, le=100)] = 2.0
    """Key choice: 0 = always the least-used key today; higher = weighted random, each free
    key weighted (most uses - its uses) + tolerance + 1; 2.0 spreads calls, 5+ nearly even."""


class Price(_Section):
    """US dollars per million tokens."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    cache_read: Annotated[float, Field(ge=0)] | None = None
    cache_write: Annotated[float, Field(ge=0)] | None = None
    web_search_per_1k: Annotated[float, Field(ge=0)] = 0.0


DEFAULT_PRICES = {
    # Anthropic list prices for Sonnet-class models: cache writes 1.25x (5 min), reads 0.1x.
    "claude-sonnet-4-6": Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75, web_search_per_1k=10.0),
    "claude-haiku-4-5": Price(input=1.0, output=5.0, cache_read=0.10, cache_write=1.25, web_search_per_1k=10.0),
}


class BudgetConfig(_Section):
    daily_tokens: Annotated[int, Field(ge=0)] = 1_000_000
    """Past this (UTC day), the bot answers only what it owes, on the cheapest chain."""


class ApiConfig(_Section):
    model: Annotated[str, Field(min_length=1)] = DEFAULT_MODEL
    cheap_model: str | None = "claude-haiku-4-5"
    """A small Claude model for background work (profile extraction) and the last resort of the
    chain: it joins the cheap chain after Groq and the OpenAI-compatible providers; null leaves it out."""
    max_tokens: Annotated[int, Field(ge=1, le=128_000)] = 4096
    temperature: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    context_editing: ContextEditingConfig = ContextEditingConfig()
    throttling: ThrottlingConfig = ThrottlingConfig()
    web_search: WebSearchConfig = WebSearchConfig()
    thinking: ThinkingConfig = ThinkingConfig()
    cache: CacheConfig = CacheConfig()
    tool_loop_max_iterations: Annotated[int, Field(ge=1, le=50)] = 8
    fallback: FallbackConfig = FallbackConfig()
    router: RouterConfig = RouterConfig()
    budget: BudgetConfig = BudgetConfig()
    prices: dict[str, Price] = dict(DEFAULT_PRICES)


class ProfilesConfig(_Section):
    """Background extraction of public facts into user profiles (as Ana keeps them)."""

    enabled: bool = True
    min_chars: Annotated[int, Field(ge=1)] = 15
    """Only messages at least this long are looked at."""
    per_user_interval_seconds: Annotated[float, Field(ge=0)] = 600
    """At most one extraction per user in this many seconds."""
    max_per_hour: Annotated[int, Field(ge=0)] = 30
    """At most this many extraction calls per hour for the whole bot."""


class MemoryConfig(_Section):
    enabled: bool = True
    max_file_bytes: Annotated[int, Field(ge=1024, le=10 * 1024 * 1024)] = 64 * 1024
    """A memory file may not grow past this; the model is told so."""
    max_files: Annotated[int, Field(ge=10, le=1_000_000)] = 2000
    """At most this many files and folders in the bot's whole memory tree; a write past it is refused
    and the model is told to delete or consolidate."""
    max_total_bytes: Annotated[int, Field(ge=64 * 1024, le=1024 * 1024 * 1024)] = 32 * 1024 * 1024
    """At most this many bytes of files in the bot's whole memory tree (32 MiB); a write past it is refused."""
    context_max_chars: Annotated[int, Field(ge=200)] = 6000
    """The memory digest put in every prompt (culture, channel, people present) is cut to this size."""
    profiles: ProfilesConfig = ProfilesConfig()


class BackfillConfig(_Section):
    """What was posted while the bot was away, fetched on start and after a reconnect that could not resume."""

    enabled: bool = True
    max_messages_per_channel: Annotated[int, Field(ge=0, le=10_000)] = 500
    """The newest this many missed messages per channel are fetched; older ones are left out."""
    max_age_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 24
    """Nothing older than this is fetched."""
    max_dm_channels: Annotated[int, Field(ge=0, le=10_000)] = 50
    """Direct-message channels looked at (the most recently active ones the store knows)."""
    owed_within_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 5
    """A missed mention, reply to the bot or DM at most this old is still answered; older ones are only stored."""


class ReplyParentsConfig(_Section):
    """The message a reply answers, fetched from Discord when it is not stored."""

    max_fetches_per_request: Annotated[int, Field(ge=0, le=10)] = 3
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 3
    """Each fetch gives up after this long; the reply is then written without that parent."""


class HistoryConfig(_Section):
    backfill: BackfillConfig = BackfillConfig()
    reply_parents: ReplyParentsConfig = ReplyParentsConfig()


class RateWindow(_Section):
    duration_minutes: Annotated[float, Field(gt=0)]
    max_responses: Annotated[int, Field(ge=1)]


class RateWindows(_Section):
    short: RateWindow = RateWindow(duration_minutes=5, max_responses=20)
    long: RateWindow = RateWindow(duration_minutes=60, max_responses=200)


class RateLimitingConfig(_Section):
    windows: RateWindows = RateWindows()
    ignore_threshold: Annotated[int, Field(ge=1)] = 5
    engagement_tracking_delay: Annotated[float, Field(ge=0)] = 30


class ImagesConfig(_Section):
    enabled: bool = True
    max_per_message: Annotated[int, Field(ge=0, le=20)] = 5
    compression_target: Annotated[float, Field(gt=0.0, le=1.0)] = 0.73


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: str | None = None
    """Log path relative to the project folder; default ``logs/<bot_id>.log``."""
    max_size_mb: Annotated[float, Field(gt=0, le=1024)] = 50
    backup_count: Annotated[int, Field(ge=0, le=100)] = 3

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("file")
    @classmethod
    def _inside_project(cls, value: str | None) -> str | None:
        return None if value is None else project_relative(value)


def project_relative(value: str) -> str:
    """``value`` when it names a path inside the project folder, else a ``ValueError``.

    Configs travel between machines (``sync``), so a configured path may not point
    anywhere outside the project: no absolute path, no drive, no ``..`` step. Checked on
    the text alone, in both slash styles, so the answer is the same on every machine.
    """
    text = value.strip()
    if not text or "\0" in text:
        raise ValueError(f"got {value!r}, expected a path inside the project folder such as logs/bot.log")
    parts = re.split(r"[\\/]+", text)
    if posixpath.isabs(text) or ntpath.isabs(text) or ntpath.splitdrive(text)[0] or text.startswith("~") or ".." in parts:
        raise ValueError(
            f"{value!r} points outside the project folder; give a path inside it, such as logs/bot.log"
        )
    return value


class SupervisorConfig(_Section):
    """How the keeper treats this bot's process (the keys follow supervisord's names)."""

    startsecs: Annotated[float, Field(ge=0)] = 15
    """A run that lasts this long counts as a good start and resets the backoff."""
    startretries: Annotated[int, Field(ge=0)] = 5
    """Restarts after fast crashes in a row; the next fast crash marks the bot ``fatal``."""
    backoff_initial_seconds: Annotated[float, Field(ge=0)] = 1.0
    backoff_max_seconds: Annotated[float, Field(ge=0)] = 60.0
    stopwaitsecs: Annotated[float, Field(gt=0)] = 10.0
    """Grace period after SIGTERM before SIGKILL goes to the whole process group."""
    ready_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    """How long ``spawn`` waits for the bot to report it is connected."""
    preload: bool = True
    """Fork the bot from the project's zygote, which has the libraries loaded already (one
    shared copy for every bot, a restart in milliseconds); false runs a fresh interpreter.
    ``BOT_PRELOAD=0`` in the environment turns it off for every bot."""

    @model_validator(mode="after")
    def _backoff_range(self) -> SupervisorConfig:
        if self.backoff_initial_seconds > self.backoff_max_seconds:
            raise ValueError(
                f"backoff_initial_seconds ({self.backoff_initial_seconds}) must not exceed "
                f"backoff_max_seconds ({self.backoff_max_seconds})"
            )
        return self


class BotConfig(_Section):
    bot_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    discord: DiscordConfig
    personality: PersonalityConfig
    reactive: ReactiveConfig = ReactiveConfig()
    agentic: AgenticConfig = AgenticConfig()
    api: ApiConfig = ApiConfig()
    rate_limiting: RateLimitingConfig = RateLimitingConfig()
    images: ImagesConfig = ImagesConfig()
    logging: LoggingConfig = LoggingConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    memory: MemoryConfig = MemoryConfig()
    history: HistoryConfig = HistoryConfig()
    access: AccessConfig = AccessConfig()
    """Who may talk to the bot: ``open`` (anyone) or ``master_dm`` (one person, DMs only)."""
    commands: CommandsConfig = CommandsConfig()
    """Discord slash commands (``/settings``); off unless ``commands.slash``."""
    assistant: AssistantConfig = AssistantConfig()
    """The todo and calendar tools and the person's time zone (off by default)."""
    conversation: ConversationConfig = ConversationConfig()
    """The per-DM conversation cache: real turns, a sliding TTL, compaction near the context limit."""
    health: HealthConfig = HealthConfig()
    """The HTTP endpoint for probes and ``/metrics`` (off unless ``health.port``)."""
    tools: ToolsConfig = ToolsConfig()
    """The coding agent's jailed shell, file tools and skills (``tools.coding``, all off; master_dm only)."""

    @model_validator(mode="before")
    @classmethod
    def _token_var_from_bot_id(cls, data: object) -> object:
        # A default that names a bot derives from its id, so two bots never share one by omission.
        if not isinstance(data, dict) or not isinstance(data.get("bot_id"), str):
            return data
        discord = data.get("discord", {})
        if isinstance(discord, dict) and "token_env_var" not in discord:
            data = {**data, "discord": {**discord, "token_env_var": default_token_var(data["bot_id"])}}
        return data

    @property
    def log_file(self) -> str:
        return self.logging.file or f"logs/{self.bot_id}.log"
