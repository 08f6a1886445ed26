"""The modules a bot process needs, imported once by the zygote before it forks bots.

After :func:`preload` of :data:`CORE` and :data:`EXTRAS` the heavy libraries (discord.py,
the model SDKs, aiohttp, pydantic and the config models, SQLite, Pillow,
prometheus_client) and the framework's runtime are in ``sys.modules``, so a forked bot
finds them loaded and shares their memory with every other bot. Importing must start no
thread, open no socket and create no event loop: the zygote forks after this.

The two groups exist for the first bot of a project folder, which waits for the zygote's
imports: the zygote forks it once :data:`CORE` is in and imports :data:`EXTRAS` after
that. A bot forked before then imports what it uses of them itself, as an exec'd bot
does (the runtime imports each one only for a bot that uses it).
"""

from __future__ import annotations

import importlib

__all__ = ["CORE", "EXTRAS", "preload"]

# Not ``framework.runtime.__main__``: the child runs it with runpy as ``__main__``, which
# warns when the module is already imported. Everything it imports is below.
# What every bot uses: discord.py, the config, the runtime and the Anthropic SDK (the brain).
CORE = (
    "framework.config.models",
    "framework.discord.adapter",
    "framework.llm.anthropic_llm",
    "framework.llm.openai_compat",
    "framework.runtime.app",
    "framework.runtime.wiring",
    "framework.storage",
)
# What only some bots use: the Groq SDK (a Groq key), Pillow (images on), prometheus_client
# (a health port). In the zygote each costs one shared copy for every bot, so they are
# loaded whether or not the bots at hand use them.
EXTRAS = (
    "framework.llm.groq_llm",
    "framework.images",
    "framework.runtime.health",
    "framework.runtime.metrics",
)


def preload(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)
