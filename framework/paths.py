"""Where a bot's files live under the project folder (``BOT_HOME``).

Layout (see also docs/architecture.md)::

    bots/<bot>.yaml                 config (committed)
    memories/<bot>/                 memory-tool files (committed)
    persistence/<bot>/messages.db   SQLite history, live (never committed: sync commits snapshot.db)
    persistence/<bot>/snapshot.db   a consistent, redacted copy made by ``bot_manager sync`` (committed)
    persistence/<bot>/agentic.json  when the agentic pass last ran (committed)
    persistence/<bot>/conversations/<channel>.json  a DM's conversation cache (committed)
    logs/<bot>.log                  human-readable log, rotated (sync commits copies under logs/synced/)
    logs/<bot>.conversation.jsonl   one JSON decision per line, rotated
    run/<bot>.lock                  held by the keeper for its lifetime (never committed)
    run/<bot>.pid                   keeper pid + create time
    run/<bot>.state.json            keeper's view: state, child pid, restarts, last exit
    run/<bot>.ready                 written by the runtime once connected to Discord
    run/<bot>.exit.json             written by the runtime when it exits on an error
    run/<bot>.runtime.lock          held by the running bot process (one instance per bot)
    run/<bot>.loops.json            periodic loops that keep failing, for ``status``
    run/<bot>.snapshot-merged.json  size and mtime of the last snapshot.db merged into the history
    run/config-facts.json           what status, list, logs and stop read of each config, by file version
    workspaces/<bot>/               the coding agent's workspace (``tools.coding.workspace``; never committed)
    run/zygote.sock                 the preloaded fork server of this project (framework.supervisor.zygote)
    logs/zygote.log                 its own log lines

A bot split into shard processes (``discord.shards.processes``) runs one keeper and one
bot process per share, each named ``<bot>@<k>``: its run files are ``run/<bot>@<k>.*``
and its logs ``logs/<bot>@<k>.log`` and ``logs/<bot>@<k>.conversation.jsonl`` (one writer
per rotating file). Its data (config, memories, persistence) stays the bot's, shared.
``run/<bot>.runtime.lock`` is then held shared by every shard process, so a copy of the
whole bot (held exclusive) and its shard processes never run at once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BOT_ID_PATTERN", "BotPaths", "config_facts_file", "process_name", "split_process_name", "shard_process_file",
    "project_home", "list_bot_ids",
]

# Bot ids become file names and env-var prefixes: keep them boring.
BOT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# A process of a bot: the bot id, or ``<bot>@<k>`` for shard process k.
_PROCESS_NAME = re.compile(r"^(?P<bot>[a-z0-9][a-z0-9_-]{0,63})(?:@(?P<index>0|[1-9][0-9]?))?$")


def process_name(bot_id: str, shard_process: int | None) -> str:
    """``alpha`` for a bot run as one process, ``alpha@1`` for its shard process 1."""
    return bot_id if shard_process is None else f"{bot_id}@{shard_process}"


def split_process_name(name: str) -> tuple[str, int | None] | None:
    """``alpha@1`` -> ("alpha", 1), ``alpha`` -> ("alpha", None); None when it is neither."""
    match = _PROCESS_NAME.match(name)
    if match is None:
        return None
    index = match.group("index")
    return match.group("bot"), None if index is None else int(index)


def shard_process_file(path: str, shard_process: int | None) -> str:
    """A per-process variant of a bot's file: ``logs/alpha.log`` -> ``logs/alpha@1.log``."""
    if shard_process is None:
        return path
    folder, _, file = path.rpartition("/")
    stem, dot, suffix = file.rpartition(".")
    named = f"{stem}@{shard_process}{dot}{suffix}" if stem else f"{file}@{shard_process}"
    return f"{folder}/{named}" if folder else named


def project_home(environ: dict[str, str] | None = None) -> Path:
    """The project folder: ``BOT_HOME`` or the current directory."""
    env = os.environ if environ is None else environ
    return Path(env.get("BOT_HOME") or os.getcwd()).resolve()


def list_bot_ids(home: Path) -> list[str]:
    """Ids of the configured bots (``bots/*.yaml``), sorted."""
    bots = home / "bots"
    if not bots.is_dir():
        return []
    return sorted(p.stem for p in bots.glob("*.yaml") if not p.name.startswith("."))


def config_facts_file(home: Path) -> Path:
    """The values the quick CLI verbs read of each config, kept by file version (framework.config.facts)."""
    return home / "run" / "config-facts.json"


@dataclass(frozen=True)
class BotPaths:
    """Every path belonging to one bot."""

    home: Path
    bot_id: str
    shard_process: int | None = None  # which of the bot's shard processes; None: the bot is one process

    @classmethod
    def for_process(cls, home: Path, name: str) -> BotPaths:
        """The paths of one process by its name (``alpha`` or ``alpha@1``)."""
        parts = split_process_name(name)
        if parts is None:
            raise ValueError(f"{name!r} is not a bot id or <bot>@<shard process>")
        return cls(home, *parts)

    @property
    def name(self) -> str:
        """The process's name in ``status`` and its run files: ``alpha`` or ``alpha@1``."""
        return process_name(self.bot_id, self.shard_process)

    @property
    def config(self) -> Path:
        return self.home / "bots" / f"{self.bot_id}.yaml"

    @property
    def memories(self) -> Path:
        return self.home / "memories" / self.bot_id

    @property
    def persistence(self) -> Path:
        return self.home / "persistence" / self.bot_id

    @property
    def database(self) -> Path:
        return self.persistence / "messages.db"

    @property
    def conversations(self) -> Path:
        """The conversation cache: one JSON file per DM channel (framework.engines.conversation)."""
        return self.persistence / "conversations"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def log(self) -> Path:
        return self.logs_dir / f"{self.name}.log"

    def log_file(self, configured: str) -> Path:
        """This process's log: the config's ``logging.file``, per shard process when split."""
        return self.home / shard_process_file(configured, self.shard_process)

    @property
    def conversation_log(self) -> Path:
        return self.logs_dir / f"{self.name}.conversation.jsonl"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def keeper_lock(self) -> Path:
        """Held (``flock``) by the keeper for its lifetime: one keeper per bot."""
        return self.run_dir / f"{self.name}.lock"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def state_file(self) -> Path:
        return self.run_dir / f"{self.name}.state.json"

    @property
    def ready_file(self) -> Path:
        return self.run_dir / f"{self.name}.ready"

    @property
    def loops_file(self) -> Path:
        """Periodic loops that keep failing, written by the bot process for ``status``."""
        return self.run_dir / f"{self.name}.loops.json"

    @property
    def runtime_lock(self) -> Path:
        """Held exclusive by the running process: one instance of each process name."""
        return self.run_dir / f"{self.name}.runtime.lock"

    @property
    def bot_runtime_lock(self) -> Path:
        """The bot's own lock: exclusive for a bot run as one process, shared by its shard processes."""
        return self.run_dir / f"{self.bot_id}.runtime.lock"

    @property
    def exit_file(self) -> Path:
        return self.run_dir / f"{self.name}.exit.json"

    @property
    def snapshot_merged(self) -> Path:
        """Size and mtime of the last ``persistence/<bot>/snapshot.db`` merged into the live history."""
        return self.run_dir / f"{self.bot_id}.snapshot-merged.json"
