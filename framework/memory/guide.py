"""The standing instructions about memory that go into every system prompt.

Static for a bot (prompt caching): the conversation's own folder is named in the memory
digest (framework.memory.manager), not here.
"""

from __future__ import annotations

from collections.abc import Sequence

from .prompt_files import prompt_files_guide

__all__ = ["memory_guide"]

_GUIDE = """\
Long-term memory: the memory tool keeps files under /memories that you will see again in later
conversations. The memory section names the folder this conversation may use. Keep in it:
- culture.md: how this server talks, its norms, running jokes, when people are around;
- channels/<channel id>.md: what a channel is for and what is going on in it;
- users/<user id>.md: what a person told you about themselves (in a DM: profile.md).
Write down what will matter later, update rather than append, keep files short. Only public,
self-stated facts: never phone numbers, e-mail addresses, addresses or account handles."""


def memory_guide(*, followups: str = "", prompt_files: Sequence[str] = ()) -> str:
    """The memory instructions, plus the follow-up instructions when follow-ups are created,
    plus which prompt files (``prompt_files``: the writable ones) the model may edit, and why."""
    guide = _GUIDE + (f"\n\n{followups.strip()}" if followups.strip() else "")
    editable = prompt_files_guide(prompt_files)
    return guide + (f"\n\n{editable}" if editable else "")
