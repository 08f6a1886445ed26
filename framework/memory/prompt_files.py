"""Prompt files: part of a bot's system prompt kept as files in its memory folder.

On disk ``memories/<bot>/prompt/<NAME>``, for the model ``/memories/prompt/<NAME>``. Two kinds
(``personality.prompt_files`` in the config):

* read-only files (IDENTITY.md, TOOLS.md): the operator's; the memory tool may view them but
  refuses every write, so no conversation can talk the bot out of its identity;
* writable files (SOUL.md, USER.md): the bot's own, edited through the memory tool from any of
  its conversations; a missing one is empty until the model first creates it.

:class:`PromptFileRules` is what the memory tool asks before touching ``/memories/prompt``;
:class:`PromptFiles` renders the files for the system prompt on every request. The render
is cached by each file's signature (mtime, size, inode) and returns the very same text while
no file changed, so the cached prompt prefix stays byte-identical; an edit by the model, by
hand or by ``sync`` is seen on the next request, without a restart.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..domain import ToolError
from .fileops import Jail
from .paths import Parts, virtual_path

__all__ = ["PROMPT_FOLDER", "PromptFileRules", "PromptFiles", "prompt_files_guide"]

_log = logging.getLogger(__name__)

PROMPT_FOLDER = "prompt"  # the same name as framework.config.prompt_files.PROMPT_FOLDER

# What the well-known writable files are for, so the model knows why it would edit them.
_PURPOSE = {
    "SOUL.md": "your personality: tone, humour, how you put things. Refine it when the person's reactions "
    "show what suits them; keep what works, change what grates",
    "USER.md": "what you have learned about the person you work for: preferences, routines, the people and "
    "projects in their life, how they like things done. Update it when they tell you something lasting",
}
_DEFAULT_PURPOSE = "edit it when what it covers changes"

_Signature = tuple[int, int, int]  # (mtime_ns, size, inode)


@dataclass(frozen=True)
class PromptFileRules:
    """Which files of ``/memories/prompt`` the memory tool may write: the writable ones, nothing else."""

    read_only: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()

    def covers(self, parts: Parts) -> bool:
        """True for ``/memories/prompt`` and anything below it: these rules decide."""
        return bool(parts) and parts[0] == PROMPT_FOLDER

    def check_read(self, parts: Parts) -> None:
        """Viewing the folder and the named files is allowed; anything else there does not exist for the model."""
        if len(parts) == 1 or (len(parts) == 2 and parts[1] in self.read_only + self.writable):
            return
        raise ToolError(f"The path {virtual_path(parts)} does not exist. Please provide a valid path.")

    def check_write(self, parts: Parts, action: str) -> None:
        """Allow ``action`` on a writable prompt file; refuse (ToolError) everything else under the folder."""
        shown = virtual_path(parts)
        # Case-folded: on a case-insensitive disk identity.md is IDENTITY.md.
        folded = {name.casefold() for name in self.read_only}
        if len(parts) == 2 and parts[1].casefold() in folded:
            raise ToolError(
                f"Refused: {shown} is read-only. It is set by the person who runs you and you cannot "
                f"{action} it; {self._editable()}"
            )
        if len(parts) == 2 and parts[1] in self.writable:
            return
        if len(parts) == 1:
            raise ToolError(f"Cannot {action} {shown} itself: it holds your prompt files. {self._editable()}")
        raise ToolError(f"Refused: {shown} is not one of your prompt files. {self._editable()}")

    def _editable(self) -> str:
        if not self.writable:
            return "none of your prompt files can be edited."
        names = ", ".join(virtual_path((PROMPT_FOLDER, n)) for n in self.writable)
        return f"the files you may edit are {names}."


def prompt_files_guide(writable: Sequence[str]) -> str:
    """The memory guide's paragraph on the prompt files the model may edit, and why."""
    if not writable:
        return ""
    lines = [
        "Your prompt files are part of this system prompt and of every conversation you have. You may edit "
        "these with the memory tool (str_replace or insert; create one that does not exist yet):"
    ]
    for name in writable:
        lines.append(f"- {virtual_path((PROMPT_FOLDER, name))}: {_PURPOSE.get(name, _DEFAULT_PURPOSE)}.")
    lines.append(
        "The others are read-only. Edits take effect from your next message. Keep these files short and "
        "current: rewrite a line rather than adding a contradicting one; never store passwords or codes."
    )
    return "\n".join(lines)


class PromptFiles:
    """The prompt files of one bot, rendered for the system prompt.

    ``PromptFiles(memories_root, read_only=(...), writable=(...))``. :meth:`render` returns
    the files in a fixed order (read-only first, then writable, each in config order), each
    under a heading with its path; ``max_file_bytes`` bounds what is read of one file.
    """

    def __init__(
        self,
        root: Path,
        *,
        read_only: Sequence[str] = (),
        writable: Sequence[str] = (),
        max_file_bytes: int = 64 * 1024,
    ) -> None:
        self.root = Path(root)
        self.read_only = tuple(read_only)
        self.writable = tuple(writable)
        self.max_file_bytes = max_file_bytes
        self._jail = Jail(self.root)
        self._texts: dict[str, tuple[_Signature | None, str]] = {}
        self._rendered: tuple[tuple[_Signature | None, ...], str] | None = None

    @property
    def rules(self) -> PromptFileRules:
        return PromptFileRules(self.read_only, self.writable)

    def _signature(self, name: str) -> _Signature | None:
        try:
            info = os.stat(os.path.join(str(self.root), PROMPT_FOLDER, name))
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _read(self, name: str, signature: _Signature | None) -> str:
        """The file's text (stripped), re-read only when its signature changed."""
        held = self._texts.get(name)
        if held is not None and held[0] == signature:
            return held[1]
        text = ""
        if signature is not None:
            parts = (PROMPT_FOLDER, name)
            try:
                # Through the jail: a link below the memory root is refused, never followed.
                data, _ = self._jail.read_bytes(parts, limit=self.max_file_bytes)
                text = data.decode("utf-8", errors="replace").strip()
            except ToolError as err:
                if held is not None and name in self.read_only:
                    # A read-only file gone bad mid-run (half-synced, replaced by a link):
                    # keep what the bot started with rather than lose its identity.
                    _log.warning("prompt file %s unreadable (%s); keeping the last good text", name, err)
                    return held[1]
                _log.warning("prompt file %s unreadable: %s", name, err)
        elif held is not None and name in self.read_only:
            _log.warning("prompt file %s disappeared; keeping the last good text", name)
            return held[1]
        self._texts[name] = (signature, text)
        return text

    def render(self) -> str:
        """The prompt files as one system-prompt section; the same string while no file changed."""
        names = (*self.read_only, *self.writable)
        signatures = tuple(self._signature(name) for name in names)
        if self._rendered is not None and self._rendered[0] == signatures:
            return self._rendered[1]
        sections = []
        for name, signature in zip(names, signatures):
            text = self._read(name, signature)
            shown = virtual_path((PROMPT_FOLDER, name))
            if name in self.read_only:
                sections.append(f"## {name} (read-only)\n{text}")
            else:
                body = text or "(empty: nothing written yet)"
                sections.append(f"## {name} ({shown}, yours to edit)\n{body}")
        rendered = "\n\n".join(sections)
        self._rendered = (signatures, rendered)
        return rendered
