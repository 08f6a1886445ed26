"""Client-side memory for the bots: the ``memory_20250818`` tool over ``memories/<bot_id>/``.

Engine-side only: no SDK, Discord or database imports. :class:`MemoryTool` is the
:class:`framework.domain.llm.ClientTool`; :func:`scope_folder` names the folder a conversation
owns (``/memories/servers/<guild_id>`` or ``/memories/dms/<user_id>``) for prompts.

Around the tool: :class:`MemoryManager` (the memory digest for prompts),
:class:`FollowupStore` (follow-ups the model writes, checked and kept by the engine) and
:class:`ProfileUpdater` (facts users state about themselves, merged into their profiles).
Share one :class:`PathLocks` (``tool.locks``) between every writer of the tree.
"""

from __future__ import annotations

from .contact import has_contact_details, strip_contact_details
from .followups import (
    CompletedFollowup,
    Followup,
    FollowupFile,
    FollowupsCorrupt,
    FollowupStore,
    Priority,
    followups_instructions,
    parse_followups,
    priority_at_least,
    score_priority,
)
from .locks import PathLocks
from .manager import MemoryManager
from .paths import VIRTUAL_ROOT, parse_memory_path, scope_folder, scope_prefix
from .profiles import ProfileUpdater, merge_facts, read_profile_facts, render_profile
from .tool import COMMANDS, MemoryTool

__all__ = [
    "MemoryTool",
    "COMMANDS",
    "VIRTUAL_ROOT",
    "PathLocks",
    "parse_memory_path",
    "scope_folder",
    "scope_prefix",
    "MemoryManager",
    "FollowupStore",
    "Followup",
    "CompletedFollowup",
    "FollowupFile",
    "FollowupsCorrupt",
    "Priority",
    "parse_followups",
    "score_priority",
    "priority_at_least",
    "followups_instructions",
    "ProfileUpdater",
    "merge_facts",
    "render_profile",
    "read_profile_facts",
    "strip_contact_details",
    "has_contact_details",
]
