"""Bot configuration (``bots/<id>.yaml``) and environment settings.

The names below are loaded on first use (PEP 562), so a module of this package that
needs neither pydantic nor ruamel.yaml (``facts``, read by ``bot_manager status``)
can be imported without paying for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loader import CheckResult, check_bot, display_path, load_bot_config
    from .models import DEFAULT_MODEL, BotConfig
    from .settings import Settings, load_settings, merged_environ

__all__ = [
    "BotConfig",
    "CheckResult",
    "DEFAULT_MODEL",
    "Settings",
    "check_bot",
    "display_path",
    "load_bot_config",
    "load_settings",
    "merged_environ",
]

_HOMES = {
    "CheckResult": "loader",
    "check_bot": "loader",
    "display_path": "loader",
    "load_bot_config": "loader",
    "DEFAULT_MODEL": "models",
    "BotConfig": "models",
    "Settings": "settings",
    "load_settings": "settings",
    "merged_environ": "settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value  # the next lookup is an ordinary attribute
    return value
