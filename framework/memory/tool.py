"""The client-side memory tool ``memory_20250818``: one bot's ``memories/<bot_id>/`` as ``/memories``.

Claude calls it natively (``anthropic_param``); providers without the native tool (Groq,
OpenAI-compatible) get the same commands as a function declaration (``function_schema``).
Either way the provider's tool loop calls :meth:`MemoryTool.run` with the model's arguments
and the conversation's scope; a refusal raises :class:`ToolError`, whose message goes back
to the model as an error result.

Layers: ``paths`` (what a path means and who may touch it), ``locks`` (no lost updates),
``commands``/``listing``/``fileops`` (the blocking file work, run in a worker thread) over
``nofollow`` (no link followed, at any step), ``quota`` (the per-bot caps).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from ..domain import ConversationScope, ToolError
from .commands import MemoryFiles
from .contact import has_contact_details
from .fileops import Jail
from .folderlock import under_folder_lock
from .layout import DM_PROFILE_FILE, DMS, SERVERS
from .locks import PathLocks
from .paths import Parts, check_read, check_write, parse_memory_path, scope_prefix, virtual_path
from .prompt_files import PROMPT_FOLDER, PromptFileRules
from .quota import DEFAULT_MAX_FILES, DEFAULT_MAX_TOTAL_BYTES, Caps

__all__ = ["MemoryTool", "COMMANDS"]

_log = logging.getLogger(__name__)

COMMANDS = ("view", "create", "str_replace", "insert", "delete", "rename")

_T = TypeVar("_T")

_DESCRIPTION = (
    "Persistent memory: a directory of UTF-8 text files under /memories that survives between "
    "conversations. This conversation may only use its own folder (/memories/servers/<guild id>/ in a "
    "server, /memories/dms/<user id>/ in a DM); view /memories to find it. Commands: "
    "view (path, optional view_range [start, end], 1-based, end -1 = to the end; a directory lists 2 levels, "
    "or, when large, its direct items a page at a time: view_range then selects items), "
    "create (path, file_text; refuses an existing file), "
    "str_replace (path, old_str, new_str; old_str must occur exactly once), "
    "insert (path, insert_line, insert_text; 0 = at the top, the line count = at the end), "
    "delete (path; a file or a whole directory), "
    "rename (old_path, new_path; the destination must not exist)."
)

_SCHEMA: dict[str, Any] = {
    "name": "memory",
    "description": _DESCRIPTION,
    "parameters": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": list(COMMANDS), "description": "The operation to perform."},
            "path": {
                "type": "string",
                "description": "Path of the file or directory, starting with /memories (all commands but rename).",
            },
            "view_range": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 2,
                "maxItems": 2,
                "description": (
                    "view only: [start, end] lines of a file (items of a large directory), 1-based and "
                    "inclusive; end -1 means to the end."
                ),
            },
            "file_text": {"type": "string", "description": "create only: the content of the new file."},
            "old_str": {"type": "string", "description": "str_replace only: the exact text to replace (unique)."},
            "new_str": {"type": "string", "description": "str_replace only: the replacement text."},
            "insert_line": {
                "type": "integer",
                "minimum": 0,
                "description": "insert only: insert after this line; 0 inserts at the top.",
            },
            "insert_text": {"type": "string", "description": "insert only: the text to insert."},
            "old_path": {"type": "string", "description": "rename only: the current path."},
            "new_path": {"type": "string", "description": "rename only: the new path (must not exist)."},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}


async def _in_thread(func: Callable[..., _T], *args: Any) -> _T:
    """Run blocking file work in a worker thread without blocking the event loop.

    A thread cannot be interrupted: when the caller is cancelled we still wait for the work
    to finish before re-raising, so the path locks the caller holds cover the whole write and
    no other command can overlap it.
    """
    task = asyncio.create_task(asyncio.to_thread(func, *args), name=f"memory:{getattr(func, '__name__', 'io')}")
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                continue  # already cancelling; the one CancelledError below is enough
        if not task.cancelled():
            task.exception()  # retrieved: the caller is gone, the outcome no longer matters
        raise


def _text_arg(args: dict[str, Any], key: str, command: str, default: str | None = None) -> str:
    value = args.get(key, default)
    if value is None:
        raise ToolError(f"`{key}` is required for the {command} command.")
    if not isinstance(value, str):
        raise ToolError(f"`{key}` must be a string, got {type(value).__name__}.")
    return value


def _int_arg(args: dict[str, Any], key: str, command: str) -> int:
    value = args.get(key)
    if value is None:
        raise ToolError(f"`{key}` is required for the {command} command.")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolError(f"`{key}` must be an integer, got {type(value).__name__}.")
    return value


def _view_range_arg(args: dict[str, Any]) -> tuple[int, int] | None:
    value = args.get("view_range")
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
    ):
        raise ToolError(f"Invalid `view_range` parameter: {value!r}. It should be [start, end], two integers.")
    return (value[0], value[1])


_CONTACT_REFUSAL = (
    "Refused: profiles never hold contact details (phone numbers, e-mail addresses, handles, links, "
    "street addresses); leave them out and write the rest."
)


def _is_profile(parts: Parts) -> bool:
    """``servers/<g>/users/<u>.md`` or ``dms/<u>/profile.md`` (see :func:`layout.profile_parts`)."""
    if len(parts) == 4 and parts[0] == SERVERS:
        return parts[2].lower() == "users" and parts[3].lower().endswith(".md")
    return len(parts) == 3 and parts[0] == DMS and parts[2].lower() == DM_PROFILE_FILE


def _check_profile_result(parts: Parts, before: str | None, after: str) -> None:
    """The file a write leaves at a profile path: no contact details it did not hold already.

    Run under the path lock on the text actually written, so a rename of another file onto a
    profile, or an edit that joins old and new text into a phone number, is refused too. A
    profile that already held contact details (written before this rule) can still be edited.
    """
    if has_contact_details(after) and not (before is not None and has_contact_details(before)):
        raise ToolError(_CONTACT_REFUSAL)


class MemoryTool:
    """The memory tool for one bot, rooted at ``memories/<bot_id>/`` (shown to the model as /memories).

    ``MemoryTool(root, max_file_bytes=65536, max_files=2000, max_total_bytes=32 MiB, locks=None)``:
    the limits are ``MemoryConfig``'s fields of the same names. ``locks`` is the
    :class:`PathLocks` table to use: pass the same one to every other writer of this tree in
    the process (follow-ups, profiles) so their read-modify-writes never interleave with the
    model's commands on the same file.

    Semantics (Anthropic's ``memory_20250818`` commands, with the SDK's output texts):

    * ``view``: a directory lists up to 2 levels, hidden items skipped; one whose listing would
      pass a page (50 lines, 3,000 characters) lists its direct items a page at a time instead,
      ``view_range`` selecting items (:mod:`framework.memory.listing`); a file is shown with
      line numbers, ``view_range=[start, end]`` 1-based inclusive, ``end=-1`` to the end,
      ranges outside the file are errors.
    * ``create``: makes a new file and **refuses an existing one** ("File ... already exists"),
      as Anthropic documents and the SDK's filesystem tool does (``O_EXCL``); the model edits
      with str_replace/insert or deletes first.
    * ``str_replace``: exactly one occurrence; none or several (with their lines) is an error.
    * ``insert``: ``insert_line`` 0 = top, n_lines = append; outside ``[0, n_lines]`` is an error.
    * ``delete``: a file or a whole directory. ``rename``: refuses an existing destination.

    Confinement and privacy: see :mod:`framework.memory.paths` (each conversation may touch
    only ``/memories/servers/<guild_id>/`` or ``/memories/dms/<user_id>/``; ``/memories`` and
    that folder itself can never be deleted, renamed or overwritten) and
    :mod:`framework.memory.nofollow` (no link is followed below the root, at any step, and
    hard-linked files are refused).

    Profiles (``servers/<g>/users/<u>.md``, ``dms/<u>/profile.md``) never take text with contact
    details (:func:`framework.memory.contact.has_contact_details`): create, str_replace and insert
    are refused, whatever the model meant to store, when the new text holds one or when the
    resulting file holds one the file did not hold before (text joined across the edit); a
    rename that would bring such a file to a profile path is refused too.

    Prompt files (``prompt_files``, a :class:`PromptFileRules`): ``/memories/prompt/`` holds
    files of the bot's system prompt; any conversation may view them and write the writable
    ones, and every write to a read-only one (create, str_replace, insert, delete, rename from
    or onto) is refused with a message naming the files it may edit. They take the profiles'
    contact-details rule too. Without ``prompt_files`` the folder is out of reach like any other.

    Writes are atomic (temp file + ``os.replace``), files 0600 and new folders 0700, content
    must be UTF-8 text within ``max_file_bytes`` (checked on the resulting file). The bot's
    whole tree holds at most ``max_files`` files and folders and ``max_total_bytes`` bytes: a
    create, a growing edit or a rename that makes folders past either is refused with the caps,
    the usage and what to do (:mod:`framework.memory.quota`).
    """

    name = "memory"

    def __init__(
        self,
        root: Path,
        *,
        max_file_bytes: int = 65536,
        max_files: int = DEFAULT_MAX_FILES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        locks: PathLocks | None = None,
        prompt_files: PromptFileRules | None = None,
    ) -> None:
        if max_file_bytes < 1:
            raise ValueError("max_file_bytes must be positive")
        self.root = Path(root)
        self.max_file_bytes = max_file_bytes
        self.caps = Caps(max_files=max_files, max_total_bytes=max_total_bytes)
        self._prompt_files = prompt_files
        self._files = MemoryFiles(
            Jail(self.root),
            max_file_bytes=max_file_bytes,
            caps=self.caps,
            guard=_check_profile_result,
            guarded=self._guarded,
        )
        self._locks = locks if locks is not None else PathLocks()
        self._handlers: dict[str, Callable[[dict[str, Any], Parts], Awaitable[str]]] = {
            "view": self._view,
            "create": self._create,
            "str_replace": self._str_replace,
            "insert": self._insert,
            "delete": self._delete,
            "rename": self._rename,
        }

    def _guarded(self, parts: Parts) -> bool:
        # Prompt files are synced and shown like profiles: the same privacy rule holds.
        return _is_profile(parts) or (self._prompt_files is not None and self._prompt_files.covers(parts))

    def _check_text(self, parts: Parts, text: str) -> None:
        """Contact details never go into a profile, not even when the model writes them itself."""
        if self._guarded(parts) and has_contact_details(text):
            raise ToolError(_CONTACT_REFUSAL)

    def _check_write(self, parts: Parts, prefix: Parts, action: str) -> None:
        """The conversation's own folder, or a writable prompt file (``/memories/prompt``, when configured)."""
        if self._prompt_files is not None and self._prompt_files.covers(parts):
            self._prompt_files.check_write(parts, action)
            return
        check_write(parts, prefix, action)

    @property
    def locks(self) -> PathLocks:
        """The lock table this tool writes under (share it with other writers of the tree)."""
        return self._locks

    def anthropic_param(self) -> dict[str, Any]:
        """The native tool definition for the Anthropic Messages API."""
        return {"type": "memory_20250818", "name": "memory"}

    def function_schema(self) -> dict[str, Any]:
        """The same commands as an OpenAI-style function declaration (a fresh copy each call)."""
        return copy.deepcopy(_SCHEMA)

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        """Execute one command inside ``scope``; raise ToolError to refuse or report a failure."""
        if not isinstance(args, dict):
            raise ToolError("The memory tool expects an object of arguments with a `command`.")
        command = args.get("command")
        handler = self._handlers.get(command) if isinstance(command, str) else None
        if handler is None:
            raise ToolError(f"Unknown command {command!r}; expected one of: {', '.join(COMMANDS)}.")
        prefix = scope_prefix(scope)
        try:
            return await handler(args, prefix)
        except ToolError:
            # Not the message: it may quote old_str, and file contents never go to the log.
            _log.debug("memory %s refused in %s", command, virtual_path(prefix))
            raise

    def _parse(self, args: dict[str, Any], key: str, command: str) -> Parts:
        try:
            parts = parse_memory_path(args.get(key), key)
        except ToolError:
            raw = args.get(key)
            _log.debug("memory %s: bad %s %r", command, key, raw[:100] if isinstance(raw, str) else raw)
            raise
        return parts

    async def _write(self, func: Callable[..., str], *args: Any) -> str:
        """A write in a worker thread, also under the folder's lock across the bot's processes."""
        return await _in_thread(under_folder_lock, self.root, func, *args)

    async def _view(self, args: dict[str, Any], prefix: Parts) -> str:
        parts = self._parse(args, "path", "view")
        view_range = _view_range_arg(args)
        if self._prompt_files is not None and self._prompt_files.covers(parts):
            self._prompt_files.check_read(parts)
            prefix = (PROMPT_FOLDER,)  # the listing shows the prompt folder as if it were owned
        else:
            check_read(parts, prefix)
        _log.debug("memory view %s", virtual_path(parts))
        # No lock: writes replace files atomically, so a read sees the old or the new file.
        return await _in_thread(self._files.view, parts, prefix, view_range)

    async def _create(self, args: dict[str, Any], prefix: Parts) -> str:
        parts = self._parse(args, "path", "create")
        self._check_write(parts, prefix, "write to")
        file_text = _text_arg(args, "file_text", "create")
        self._check_text(parts, file_text)
        _log.debug("memory create %s", virtual_path(parts))
        async with self._locks.hold(parts):
            return await self._write(self._files.create, parts, file_text)

    async def _str_replace(self, args: dict[str, Any], prefix: Parts) -> str:
        parts = self._parse(args, "path", "str_replace")
        self._check_write(parts, prefix, "edit")
        old_str = _text_arg(args, "old_str", "str_replace")
        new_str = _text_arg(args, "new_str", "str_replace", default="")  # omitted = delete the text
        self._check_text(parts, new_str)
        _log.debug("memory str_replace %s", virtual_path(parts))
        async with self._locks.hold(parts):
            return await self._write(self._files.str_replace, parts, old_str, new_str)

    async def _insert(self, args: dict[str, Any], prefix: Parts) -> str:
        parts = self._parse(args, "path", "insert")
        self._check_write(parts, prefix, "edit")
        insert_line = _int_arg(args, "insert_line", "insert")
        insert_text = _text_arg(args, "insert_text", "insert")
        self._check_text(parts, insert_text)
        _log.debug("memory insert %s at line %d", virtual_path(parts), insert_line)
        async with self._locks.hold(parts):
            return await self._write(self._files.insert, parts, insert_line, insert_text)

    async def _delete(self, args: dict[str, Any], prefix: Parts) -> str:
        parts = self._parse(args, "path", "delete")
        self._check_write(parts, prefix, "delete")
        _log.debug("memory delete %s", virtual_path(parts))
        async with self._locks.hold(parts):
            return await self._write(self._files.delete, parts)

    async def _rename(self, args: dict[str, Any], prefix: Parts) -> str:
        old_parts = self._parse(args, "old_path", "rename")
        new_parts = self._parse(args, "new_path", "rename")
        self._check_write(old_parts, prefix, "rename")
        self._check_write(new_parts, prefix, "rename onto")
        _log.debug("memory rename %s -> %s", virtual_path(old_parts), virtual_path(new_parts))
        async with self._locks.hold(old_parts, new_parts):
            return await self._write(self._files.rename, old_parts, new_parts)
