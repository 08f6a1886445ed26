"""The modules every bot process needs, imported once by the zygote before it forks bots.

Everything here is imported for its side effect: after ``import framework.runtime.preload``
the heavy libraries (discord.py, the anthropic SDK, aiohttp, pydantic and the config
models, SQLite, Pillow) and the framework's runtime are in ``sys.modules``, so a forked
bot finds them loaded and shares their memory with every other bot. Importing must
start no thread, open no socket and create no event loop: the zygote forks after this.
"""

from __future__ import annotations

# Not ``framework.runtime.__main__``: the child runs it with runpy as ``__main__``, which
# warns when the module is already imported. Everything it imports is below.
# What only some bots use (the Groq SDK, the health endpoint, the coding tools) is not
# here: the zygote imports each when the first bot that needs it asks (``extras.py``).
import codecs
import concurrent.futures.thread  # noqa: F401  (asyncio.to_thread's, first used as a bot starts)

import ruamel.yaml.mergevalue  # noqa: F401  (loaded by ruamel while it reads the first config)

import framework.config.loader  # noqa: F401
import framework.config.models  # noqa: F401
import framework.discord.adapter  # noqa: F401
import framework.exitcodes  # noqa: F401
import framework.images  # noqa: F401  (Pillow: the runtime imports it only for a bot with images on)
import framework.llm.anthropic_llm  # noqa: F401
import framework.llm.openai_compat  # noqa: F401
import framework.runtime.app  # noqa: F401
import framework.runtime.extras  # noqa: F401  (the zygote's request check reads its names)
import framework.runtime.logs  # noqa: F401
import framework.runtime.wiring  # noqa: F401
import framework.storage  # noqa: F401
import framework.sync.dbmerge  # noqa: F401  (every start adopts history a sync brought)

codecs.lookup("utf-8-sig")  # the config loader's codec, found and cached once for every bot
