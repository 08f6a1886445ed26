"""Typed schema of ``personality.prompt_files``: a system prompt built from files.

The files live in the bot's memory folder, ``memories/<bot>/prompt/`` (the model sees
``/memories/prompt/``), so ``sync`` carries them between machines like any memory. The
read-only ones are the operator's (who the bot is, how it uses its tools); the memory
tool refuses to change them, and a bot whose read-only file is missing does not start.
The writable ones are the bot's own to edit through the memory tool; a missing one is
simply empty until the model first writes it.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["PROMPT_FOLDER", "PromptFilesConfig", "prompt_files_problem"]

PROMPT_FOLDER = "prompt"
"""The folder of the prompt files inside ``memories/<bot>/``."""

# A plain file name: no folders, no hidden files, nothing a shell or git treats specially.
FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class PromptFilesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read_only: list[FileName] = []
    """Files the bot reads but may not change (e.g. IDENTITY.md, TOOLS.md); each must exist."""
    writable: list[FileName] = []
    """Files the bot may edit with the memory tool (e.g. SOUL.md, USER.md); created on first write."""

    @model_validator(mode="after")
    def _distinct(self) -> PromptFilesConfig:
        seen: set[str] = set()
        for name in [*self.read_only, *self.writable]:
            # Case-folded: on a case-insensitive disk SOUL.md and soul.md are one file.
            if name.casefold() in seen:
                raise ValueError(f"{name} is named twice; a prompt file is either read_only or writable, once")
            seen.add(name.casefold())
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """Every file, in prompt order: the read-only ones first, then the writable ones."""
        return (*self.read_only, *self.writable)


def prompt_files_problem(config: PromptFilesConfig, memories: Path, shown_root: str) -> str | None:
    """One line naming the read-only prompt files that are missing, or None when all are there.

    ``memories`` is the bot's memory folder on disk; ``shown_root`` the same folder as the
    person should read it (``memories/cortana``).
    """
    folder = memories / PROMPT_FOLDER
    missing = [name for name in config.read_only if not os.path.isfile(folder / name)]
    if not missing:
        return None
    where = ", ".join(f"{shown_root}/{PROMPT_FOLDER}/{name}" for name in missing)
    return (
        f"personality.prompt_files.read_only: {where} not found; restore the file (it ships with the bot: "
        f"git checkout -- {shown_root}/{PROMPT_FOLDER}) or remove it from the list"
    )
