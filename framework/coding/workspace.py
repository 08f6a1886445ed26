"""The coding agent's workspace: one folder, shown to the model (and to the jailed shell) as /workspace.

The file tools and the skills reach it only through the memory tool's path jail
(:class:`~framework.memory.fileops.Jail` over :mod:`~framework.memory.nofollow`): no link is
followed at any depth, ``..`` cannot climb out, special and hard-linked files are refused,
and every step is taken from an open folder descriptor, so a shell swapping a folder for a
link at the same moment cannot send a read or a write outside.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..domain import ToolError
from ..memory.fileops import Jail
from ..memory.paths import Parts, parse_memory_path, virtual_path
from .jail import JAIL_HOME

__all__ = ["Workspace"]


class Workspace:
    """The folder on disk, its path jail, and who owns what is made in it."""

    def __init__(self, root: Path, owner: tuple[int, int] | None) -> None:
        self.host_root = Path(root)
        self.owner = owner
        self.jail = Jail(self.host_root, virtual_root=JAIL_HOME, tool="this file tool", owner=owner)

    def prepare(self) -> Path:
        """Create the folder (0700) and give it to the jail's user; its resolved path."""
        root = self.jail.root()
        if self.owner is not None:
            info = root.stat()
            if (info.st_uid, info.st_gid) != self.owner:
                os.chown(root, *self.owner)
        return root

    def parse(self, raw: object, field: str = "path") -> Parts:
        """A model-given path: relative to /workspace, or absolute below it; anything else refused."""
        if isinstance(raw, str) and raw and not raw.startswith(("/", "\\", "~")):
            raw = f"{JAIL_HOME}/{raw}"
        parts = parse_memory_path(raw, field, root=JAIL_HOME)
        if not parts:
            raise ToolError(f"`{field}` names {JAIL_HOME} itself; give a file inside it, e.g. notes.md")
        return parts

    @staticmethod
    def shown(parts: Parts) -> str:
        return virtual_path(parts, JAIL_HOME)
