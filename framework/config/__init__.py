"""Bot configuration (``bots/<id>.yaml``) and environment settings."""

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
