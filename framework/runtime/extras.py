"""What only some bots import, and which bot needs which.

The zygote preloads what every bot imports (``preload.py``). The Groq SDK, the health
endpoint and the coding tools are imported by a bot only when its config and keys call
for them; the zygote imports such an extra when the first bot that needs it asks to be
forked, before forking it, so that bot and every later one share it. A bot that needs
none of them is forked as soon as the zygote has the common set: the first bot of a
folder never waits for imports it will not use. Like the preload, importing an extra
must start no thread: the zygote forks right after.

Light on purpose: the keeper's config reader and the zygote's request check use the
names; only :func:`load_extras` imports anything heavy.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..config.health import HEALTH_PORT_ENV

if TYPE_CHECKING:
    from ..config import BotConfig

__all__ = ["EXTRAS", "extras_for", "load_extras"]

# name -> the modules that make it (each imports its library)
EXTRAS: dict[str, tuple[str, ...]] = {
    "groq": ("framework.llm.groq_llm",),
    "health": ("framework.runtime.health", "framework.runtime.metrics"),
    "coding": ("framework.coding",),
}


def extras_for(config: BotConfig, environ: Mapping[str, str]) -> list[str]:
    """The extras this bot's runtime will import, by the rules it builds with: the Groq
    link needs a ``GROQ_API_KEY[_N]`` (``llm/router.py``), the endpoint a port, the coding
    tools ``tools.coding`` on."""
    from ..llm.keypool import KeyPool

    extras = []
    groq = config.api.fallback.groq
    if groq.enabled and groq.models and KeyPool.from_env("GROQ", environ):
        extras.append("groq")
    if config.health.port is not None or (environ.get(HEALTH_PORT_ENV) or "").strip():
        extras.append("health")
    if config.tools.coding.enabled:
        extras.append("coding")
    return extras


def load_extras(names: Iterable[str]) -> None:
    """Import the modules of ``names`` (already imported ones cost nothing)."""
    for name in names:
        for module in EXTRAS[name]:
            importlib.import_module(module)
