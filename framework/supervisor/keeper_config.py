"""What the keeper needs of its bot's config, read in a short-lived fork of the keeper.

Loading a config for real imports ruamel.yaml, pydantic and the config models: about 15 MB
that would stay in every keeper for its whole life (ten bots, ten keepers) although the
keeper reads the config once. So the keeper forks before importing any of them; the
child loads the config, sends the few values the keeper uses back over a pipe as JSON
and exits, and the keeper never imports them. The keeper has no thread yet at this point
(the output pump starts with the bot), so the fork copies nothing half-held.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from ..paths import BotPaths
from .machine import KeeperSettings

__all__ = ["KeeperConfig", "read_keeper_config"]

_EXIT_READ_FAILED = 70


@dataclass(frozen=True)
class KeeperConfig:
    """The keeper's view of one bot config (or why it does not load)."""

    settings: KeeperSettings | None = None
    preload: bool = True
    log_path: str = ""
    max_size_mb: float = 10.0
    backup_count: int = 5
    share: dict[str, str] | None = None  # the shard process's environment (empty for a whole bot)
    secrets: dict[str, str] | None = None  # value -> name, for the redactor
    config_error: str | None = None  # the loader's first line: a configuration error
    extras: tuple[str, ...] = ()  # what the zygote imports before forking it (runtime/extras.py)


def read_keeper_config(paths: BotPaths, home: Path, environ: Mapping[str, str]) -> KeeperConfig:
    """Load the config in a child process; the parent never imports the config models."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, write, leave without running the keeper's cleanup
        code = 0
        try:
            os.close(read_fd)
            payload = json.dumps(_compute(paths, home, environ)).encode()
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
        except BaseException:
            code = _EXIT_READ_FAILED
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as incoming:
        data = incoming.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        raise RuntimeError(f"reading {paths.config} failed in a child process (status {status})")
    return _decode(json.loads(data))


def _compute(paths: BotPaths, home: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    from ..config import load_bot_config, merged_environ
    from ..errors import ConfigError
    from ..redact import secret_values
    from ..runtime.extras import extras_for
    from .shares import shard_process_env

    try:
        config = load_bot_config(paths.config, home)
        share = shard_process_env(config, paths.shard_process)
    except ConfigError as exc:
        return {"config_error": str(exc).splitlines()[0]}
    merged = merged_environ(home, environ)
    return {
        "settings": asdict(KeeperSettings.from_config(config.supervisor)),
        "preload": config.supervisor.preload,
        "log_path": str(paths.log_file(config.log_file)),
        "max_size_mb": config.logging.max_size_mb,
        "backup_count": config.logging.backup_count,
        "share": share,
        "secrets": secret_values(merged, [config.discord.token_env_var]),
        "extras": extras_for(config, merged),
    }


def _decode(data: dict[str, Any]) -> KeeperConfig:
    if data.get("config_error") is not None:
        return KeeperConfig(config_error=str(data["config_error"]))
    return KeeperConfig(
        settings=KeeperSettings(**data["settings"]),
        preload=bool(data["preload"]),
        log_path=data["log_path"],
        max_size_mb=data["max_size_mb"],
        backup_count=data["backup_count"],
        share=dict(data["share"]),
        secrets=dict(data["secrets"]),
        extras=tuple(data["extras"]),
    )
