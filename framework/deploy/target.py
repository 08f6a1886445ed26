"""What a deployment needs to know about one bot, read from its validated config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config.coding import workspace_path
from ..config.models import BotConfig
from ..llm.legacy_key import LEGACY_KEY_VAR
from ..paths import BotPaths

__all__ = ["DeployTarget", "IDLE_RSS_MB", "MEMORY_REQUEST", "MEMORY_LIMIT", "target_for"]

# A bot process measured ~107 MB resident when idle; the request leaves headroom for
# a burst of replies, the limit for image work.
IDLE_RSS_MB = 107
MEMORY_REQUEST = "160Mi"
MEMORY_LIMIT = "512Mi"


@dataclass(frozen=True)
class DeployTarget:
    """One bot as its host sees it: where it lives, which secrets it reads, its health port."""

    bot_id: str
    home: Path
    token_var: str
    secret_vars: tuple[str, ...]  # names only: the token first, then the API keys
    health_port: int | None
    health_host: str  # where the health server listens; a container needs 0.0.0.0
    log_dir: Path  # the folder of the bot's log file (logs/ unless logging.file says otherwise)
    # discord.shards.processes: how many processes run the bot, each a block of shard_count shards
    shard_processes: int = 1
    shard_count: int | None = None
    workspace: Path | None = None  # the coding agent's workspace (tools.coding on), which the bot writes

    @property
    def shard_indexes(self) -> list[int | None]:
        """One entry per process to deploy: [None] for a bot run as one process, else 0..N-1."""
        return [None] if self.shard_processes == 1 else list(range(self.shard_processes))

    def health_port_of(self, shard_process: int | None) -> int | None:
        """Processes that share a host listen on ``health.port + k``, as under ``bot_manager spawn``."""
        return None if self.health_port is None else self.health_port + (shard_process or 0)

    @property
    def paths(self) -> BotPaths:
        return BotPaths(self.home, self.bot_id)

    @property
    def reachable_from_outside(self) -> bool:
        """Whether probes from outside the container reach the health server."""
        return self.health_host not in ("127.0.0.1", "localhost", "::1")

    @property
    def name(self) -> str:
        """A DNS-1123 name for the bot (Kubernetes objects, compose services)."""
        return "bot-" + self.bot_id.replace("_", "-")


def _health_port(config: BotConfig) -> int | None:
    # The health section is optional; a bot without it has no probe target.
    health = getattr(config, "health", None)
    port = getattr(health, "port", None)
    return int(port) if isinstance(port, int) and not isinstance(port, bool) and port > 0 else None


def _secret_vars(config: BotConfig) -> tuple[str, ...]:
    names = [config.discord.token_env_var, "ANTHROPIC_API_KEY", LEGACY_KEY_VAR]
    if config.api.fallback.groq.enabled:
        names.append("GROQ_API_KEY")
    names.extend(f"{p.name.upper()}_API_KEY" for p in config.api.fallback.openai_compatible if p.key_required)
    if config.access.mode == "master_dm":
        names.append(config.access.master_user_env)
    return tuple(dict.fromkeys(names))


def target_for(config: BotConfig, home: Path) -> DeployTarget:
    """The deployment view of a validated config (``home`` is the project folder)."""
    return DeployTarget(
        bot_id=config.bot_id,
        home=home,
        token_var=config.discord.token_env_var,
        secret_vars=_secret_vars(config),
        health_port=_health_port(config),
        health_host=str(getattr(getattr(config, "health", None), "host", "127.0.0.1")),
        log_dir=(home / config.log_file).parent,
        shard_processes=config.discord.shards.processes,
        shard_count=config.discord.shards.count if isinstance(config.discord.shards.count, int) else None,
        workspace=home / workspace_path(config.tools.coding, config.bot_id) if config.tools.coding.enabled else None,
    )
