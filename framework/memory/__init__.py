"""Client-side memory for the bots: the ``memory_20250818`` tool over ``memories/<bot_id>/``.

Engine-side only: no SDK, Discord or database imports. :class:`MemoryTool` is the
:class:`framework.llm.types.ClientTool`; :func:`scope_folder` names the folder a conversation
owns (``/memories/servers/<guild_id>`` or ``/memories/dms/<user_id>``) for prompts.
"""

from __future__ import annotations

from .paths import VIRTUAL_ROOT, parse_memory_path, scope_folder, scope_prefix
from .tool import COMMANDS, MemoryTool

__all__ = ["MemoryTool", "COMMANDS", "VIRTUAL_ROOT", "parse_memory_path", "scope_folder", "scope_prefix"]
