"""Settings two bots may not share: a token variable, a log file, a data folder.

Two bots on one token fight over one Discord session; two bots on one log file
interleave their lines and rotate each other's file; one data folder means one
history database written by two processes. Each is refused before anything starts.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..paths import BotPaths
from .models import BotConfig, default_token_var

__all__ = ["Conflict", "conflicts_with_others", "shared_settings"]


@dataclass(frozen=True)
class Conflict:
    """Two bots (or more) whose configs hold the same value for a setting each needs alone."""

    setting: str
    value: str
    bots: tuple[str, ...]

    def line(self) -> str:
        names = " and ".join(f"bots/{b}.yaml" for b in self.bots)
        return f"{names} share {self.setting} {self.value!r}; give each bot its own (e.g. {self._example()})"

    def _example(self) -> str:
        # The first bot whose own default differs from the shared value: that is its fix.
        for bot in self.bots:
            if self.setting == "discord.token_env_var":
                own = default_token_var(bot)
            elif self.setting == "logging.file":
                own = f"logs/{bot}.log"
            else:
                own = f"persistence/{bot}"
            if own != self.value:
                return f"{own} for {bot}"
        return own


def _settings(config: BotConfig) -> dict[str, str]:
    # The data folder derives from bot_id (persistence/<bot_id>), which the file name fixes.
    data = BotPaths(Path("."), config.bot_id).persistence.as_posix()
    return {
        "discord.token_env_var": config.discord.token_env_var,
        "logging.file": posixpath.normpath(config.log_file),
        "data folder": posixpath.normpath(data),
    }


def shared_settings(configs: Mapping[str, BotConfig]) -> list[Conflict]:
    """Every value held by more than one bot, in bot order."""
    holders: dict[tuple[str, str], list[str]] = {}
    for bot_id, config in configs.items():
        for setting, value in _settings(config).items():
            holders.setdefault((setting, value), []).append(bot_id)
    return [
        Conflict(setting, value, tuple(bots))
        for (setting, value), bots in holders.items()
        if len(bots) > 1
    ]


def conflicts_with_others(home: Path, configs: Mapping[str, BotConfig], bot_ids: list[str]) -> list[Conflict]:
    """Conflicts that involve one of ``configs``, checked against every configured bot that loads.

    ``bot_ids`` are all the bots in bots/; those not in ``configs`` are loaded here, and one
    that does not load is left out (its own errors are reported when it is validated).
    """
    from ..errors import ConfigError
    from .loader import load_bot_config

    everyone: dict[str, BotConfig] = {}
    for bot_id in bot_ids:
        if bot_id in configs:
            everyone[bot_id] = configs[bot_id]
            continue
        try:
            everyone[bot_id] = load_bot_config(BotPaths(home, bot_id).config, home)
        except ConfigError:
            continue
    for bot_id, config in configs.items():  # a target outside bots/ (not expected) still counts
        everyone.setdefault(bot_id, config)
    return [c for c in shared_settings(everyone) if any(b in configs for b in c.bots)]
