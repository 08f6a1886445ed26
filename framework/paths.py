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
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BOT_ID_PATTERN", "BotPaths", "project_home", "list_bot_ids"]

# Bot ids become file names and env-var prefixes: keep them boring.
BOT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


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


@dataclass(frozen=True)
class BotPaths:
    """Every path belonging to one bot."""

    home: Path
    bot_id: str

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
        return self.logs_dir / f"{self.bot_id}.log"

    @property
    def conversation_log(self) -> Path:
        return self.logs_dir / f"{self.bot_id}.conversation.jsonl"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def keeper_lock(self) -> Path:
        """Held (``flock``) by the keeper for its lifetime: one keeper per bot."""
        return self.run_dir / f"{self.bot_id}.lock"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / f"{self.bot_id}.pid"

    @property
    def state_file(self) -> Path:
        return self.run_dir / f"{self.bot_id}.state.json"

    @property
    def ready_file(self) -> Path:
        return self.run_dir / f"{self.bot_id}.ready"

    @property
    def loops_file(self) -> Path:
        """Periodic loops that keep failing, written by the bot process for ``status``."""
        return self.run_dir / f"{self.bot_id}.loops.json"

    @property
    def runtime_lock(self) -> Path:
        return self.run_dir / f"{self.bot_id}.runtime.lock"

    @property
    def exit_file(self) -> Path:
        return self.run_dir / f"{self.bot_id}.exit.json"

    @property
    def snapshot_merged(self) -> Path:
        """Size and mtime of the last ``persistence/<bot>/snapshot.db`` merged into the live history."""
        return self.run_dir / f"{self.bot_id}.snapshot-merged.json"
