"""What the quick CLI verbs need of each bot config, computed once per content of the file.

``status``, ``list``, ``logs`` and ``stop`` need a handful of values from each config (its
name and description, its log file, ``supervisor.stopwaitsecs``, the health URL, how many
shard processes it runs as), and ``spawn`` whether it is forked from the preloaded zygote;
or the first line of why it does not load. Loading a config for real (ruamel.yaml's pure-Python
parser, then pydantic) costs about 150 ms of imports and 5-40 ms a file: more than the
whole 300 ms budget of ``status`` with ten bots, for values that change only when the
file does.

So the real loader computes them once per version of the file and they are kept in
``run/config-facts.json``, each under the file's signature (size, modification and
change times, inode: what git's index trusts to tell an unchanged file) and that of the
loader's own source files, so editing either one, or upgrading the framework, recomputes
them. The change time cannot be set back by hand (``touch -r`` sets only the
modification time), so an edit is never mistaken for the old file. This module imports
neither pydantic nor ruamel.yaml unless something must be recomputed. A project folder
that cannot be written computes every time and still answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_json, read_json
from ..paths import BotPaths, config_facts_file

__all__ = ["ConfigFacts", "config_facts"]

# Bumped when ConfigFacts changes shape, so an older file is recomputed rather than misread.
_FORMAT = 2


@dataclass(frozen=True)
class ConfigFacts:
    """One bot's config as the quick verbs see it (defaults stand in when it does not load)."""

    log_file: str  # relative to the project folder, as ``logging.file`` says
    stopwaitsecs: float
    name: str | None = None
    description: str | None = None
    health_urls: tuple[str, ...] = ()  # one per process (``health.port`` + k for shard process k); none when off
    shard_processes: int = 1  # ``discord.shards.processes``
    shard_count: int | None = None  # ``discord.shards.count`` when a number
    preload: bool = True  # ``supervisor.preload``: ``spawn`` starts the zygote early for such a bot
    error: str | None = None  # the loader's message when the config does not load

    @property
    def valid(self) -> bool:
        return self.error is None

    def health_url(self, shard_process: int | None = None) -> str | None:
        """The health endpoint of the bot, or of its shard process ``shard_process``."""
        index = shard_process or 0
        return self.health_urls[index] if index < len(self.health_urls) else None

    @classmethod
    def from_json(cls, data: Any) -> ConfigFacts | None:
        if not isinstance(data, dict) or set(data) != {f.name for f in fields(cls)}:
            return None
        try:
            return cls(**{**data, "health_urls": tuple(data["health_urls"])})
        except TypeError:
            return None


def config_facts(home: Path, bot_ids: Iterable[str]) -> dict[str, ConfigFacts]:
    """The facts of each bot, from the cache when its file and the loader are unchanged."""
    cache_path = config_facts_file(home)
    loader = _loader_signature()
    stored = read_json(cache_path)
    fresh = isinstance(stored, dict) and stored.get("format") == _FORMAT and stored.get("loader") == loader
    entries: dict[str, Any] = stored.get("bots", {}) if fresh and isinstance(stored.get("bots"), dict) else {}
    found: dict[str, ConfigFacts] = {}
    changed = False
    for bot_id in bot_ids:
        key = _file_key(BotPaths(home, bot_id).config)
        entry = entries.get(bot_id)
        cached = ConfigFacts.from_json(entry.get("facts")) if isinstance(entry, dict) and entry.get("key") == key else None
        if cached is None:
            cached = _compute(home, bot_id)
            if key is not None:  # an unreadable file is not remembered: the next call tries again
                entries[bot_id] = {"key": key, "facts": asdict(cached)}
                changed = True
        found[bot_id] = cached
    if changed:
        try:
            atomic_write_json(cache_path, {"format": _FORMAT, "loader": loader, "bots": entries})
        except OSError:
            pass  # a read-only project folder: correct answers, computed each time
    return found


def _file_key(path: Path) -> str | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"


def _loader_signature() -> str:
    """Names, sizes and modification times of this package's source: what validation means."""
    folder = Path(__file__).parent
    parts = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            info = entry.stat()
            parts.append(f"{entry.name}:{info.st_size}:{info.st_mtime_ns}")
    return ";".join(parts)


def _compute(home: Path, bot_id: str) -> ConfigFacts:
    # The real loader, so every rule of a valid config holds here too.
    from ..errors import ConfigError
    from .loader import load_bot_config
    from .models import SupervisorConfig

    paths = BotPaths(home, bot_id)
    try:
        config = load_bot_config(paths.config, home)
    except ConfigError as exc:
        processes, count = _split_of_broken(home, bot_id)
        return ConfigFacts(
            log_file=str(paths.log.relative_to(home)),
            stopwaitsecs=SupervisorConfig().stopwaitsecs,
            shard_processes=processes,
            shard_count=count,
            error=str(exc),
        )
    shards = config.discord.shards
    indexes = [None] if shards.processes <= 1 else list(range(shards.processes))
    urls = [config.health.url(k) for k in indexes]
    return ConfigFacts(
        log_file=config.log_file,
        stopwaitsecs=config.supervisor.stopwaitsecs,
        name=config.name,
        description=config.description,
        health_urls=tuple(url for url in urls if url is not None),
        shard_processes=shards.processes,
        shard_count=shards.count if isinstance(shards.count, int) else None,
        preload=config.supervisor.preload,
    )


def _split_of_broken(home: Path, bot_id: str) -> tuple[int, int | None]:
    """``discord.shards`` ``processes`` and ``count`` of a config that does not validate, read
    from its YAML when that parses ((1, None) otherwise): a split bot whose config broke
    while it runs still has its processes' logs found."""
    from ..errors import ConfigError
    from .loader import display_path, read_yaml

    path = BotPaths(home, bot_id).config
    try:
        shards = read_yaml(path, display_path(path, home))["discord"]["shards"]
        processes, count = shards.get("processes", 1), shards.get("count")
    except (ConfigError, KeyError, TypeError, AttributeError):
        return 1, None

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if not (whole(processes) and whole(count) and processes <= count):
        return 1, count if whole(count) else None
    return processes, count
