"""Memory paths as the model writes them (``/memories/...``) and who may touch which.

The model sees one virtual tree rooted at ``/memories``; on disk it is ``memories/<bot_id>/``.
:func:`parse_memory_path` turns a model-supplied string into normalised path *parts*
(``("servers", "123", "culture.md")``) or refuses it; every later decision (access rules,
locks, the host path) is made on those parts, so ``servers/G1/../G2/x`` is judged as
``servers/G2/x``. Symlinks are refused on disk (see ``fileops``), so the normalised parts
are also the resolved path.

Access rules (:func:`scope_prefix`, :func:`check_read`, :func:`check_write`):

* a guild conversation owns ``/memories/servers/<guild_id>/``; a DM with user U owns
  ``/memories/dms/<U>/``. Reads and writes inside the owned folder are allowed.
* the owned folder's ancestors (``/memories``, ``/memories/servers`` or ``/memories/dms``)
  may be viewed, and their listings show only the path down to the owned folder.
* nothing else, and never a write to ``/memories`` itself or to the owned folder itself
  (deleting or renaming either would wipe a whole scope's memories in one call).
"""

from __future__ import annotations

import re

from ..domain import ConversationScope, ToolError

__all__ = [
    "VIRTUAL_ROOT",
    "MAX_PATH_CHARS",
    "MAX_COMPONENT_BYTES",
    "Parts",
    "parse_memory_path",
    "virtual_path",
    "scope_prefix",
    "scope_folder",
    "check_read",
    "check_write",
]

VIRTUAL_ROOT = "/memories"
MAX_PATH_CHARS = 1024
MAX_COMPONENT_BYTES = 255  # the usual filesystem limit for one name

Parts = tuple[str, ...]

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Discord snowflakes are digits; letters, '_' and '-' keep tests and future id schemes working.
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _show(raw: str) -> str:
    """A model-supplied path for an error message: bounded, control characters escaped."""
    text = raw if len(raw) <= 120 else raw[:117] + "..."
    return repr(text)


def virtual_path(parts: Parts, root: str = VIRTUAL_ROOT) -> str:
    """The path as the model sees it: ``("servers", "1")`` -> ``/memories/servers/1``."""
    return root + "".join("/" + part for part in parts)


def parse_memory_path(raw: object, field: str = "path", root: str = VIRTUAL_ROOT) -> Parts:
    """Validate a model-supplied path and return its normalised parts below ``/memories``
    (or below another tool's virtual ``root``, e.g. the coding agent's ``/workspace``).

    Refuses (ToolError) non-strings, empty or over-long paths, NUL and other control
    characters, backslashes and drive letters (Windows paths), ``~``, anything that is not
    ``/memories`` or below ``/memories/`` (so ``/memoriesX`` is refused), names longer than
    255 bytes and ``..`` climbing above ``/memories``. ``.`` and empty components are dropped;
    ``..`` is applied lexically, which matches the filesystem because symlinks are refused.
    Percent-encoding is not decoded: ``%2e%2e`` is an ordinary (safe) name.
    """
    if not isinstance(raw, str):
        raise ToolError(f"`{field}` must be a string such as {root}/notes.md, got {type(raw).__name__}.")
    if not raw:
        raise ToolError(f"`{field}` is empty; give a path such as {root}/notes.md.")
    if len(raw) > MAX_PATH_CHARS:
        raise ToolError(f"`{field}` is {len(raw)} characters long; paths are limited to {MAX_PATH_CHARS}.")
    if "\x00" in raw:
        raise ToolError(f"`{field}` {_show(raw)} contains a NUL character.")
    if _CONTROL.search(raw):
        raise ToolError(f"`{field}` {_show(raw)} contains control characters (newlines, tabs, ...).")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolError(f"`{field}` {_show(raw)} is not valid Unicode text.") from None
    if "\\" in raw or _DRIVE.match(raw):
        raise ToolError(
            f"`{field}` {_show(raw)} looks like a Windows path; use forward slashes below {root}."
        )
    if raw.startswith("~"):
        raise ToolError(f"`{field}` {_show(raw)} refers to a home folder; paths start with {root}.")
    if raw != root and not raw.startswith(root + "/"):
        raise ToolError(f"Path must start with {root}, got: {_show(raw)}")

    parts: list[str] = []
    for component in raw[len(root) :].split("/"):
        if component in ("", "."):
            continue
        if component == "..":
            if not parts:
                raise ToolError(f"Path {_show(raw)} would escape the {root} directory.")
            parts.pop()
            continue
        if len(component.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise ToolError(f"A name in `{field}` is longer than {MAX_COMPONENT_BYTES} bytes.")
        parts.append(component)
    return tuple(parts)


def scope_prefix(scope: ConversationScope) -> Parts:
    """The folder this conversation owns: ``("servers", guild_id)`` or ``("dms", user_id)``."""
    kind, ident = ("dms", scope.user_id) if scope.guild_id is None else ("servers", scope.guild_id)
    # The ids come from Discord, not the model, but they become path names: never trust them blindly.
    if not isinstance(ident, str) or not _SAFE_ID.fullmatch(ident):
        raise ToolError("This conversation has no usable memory folder (its guild or user id is not valid).")
    return (kind, ident)


def scope_folder(scope: ConversationScope) -> str:
    """The owned folder as the model sees it, e.g. ``/memories/servers/123`` (for prompts)."""
    return virtual_path(scope_prefix(scope))


def _inside(parts: Parts, prefix: Parts) -> bool:
    return parts[: len(prefix)] == prefix


def check_read(parts: Parts, prefix: Parts) -> bool:
    """Allow a view of ``parts``; True when it is an ancestor of the owned folder (a filtered view).

    Raises ToolError for anything outside the owned folder and its ancestors.
    """
    if _inside(parts, prefix):
        return False
    if _inside(prefix, parts):
        return True
    raise ToolError(
        f"Access denied: {virtual_path(parts)} is outside this conversation's memory folder "
        f"{virtual_path(prefix)}."
    )


def check_write(parts: Parts, prefix: Parts, action: str) -> None:
    """Allow ``action`` (e.g. "delete", "write to") on ``parts``: strictly inside the owned folder."""
    if not parts:
        raise ToolError(f"Cannot {action} the {VIRTUAL_ROOT} directory itself.")
    if parts == prefix:
        raise ToolError(
            f"Cannot {action} {virtual_path(prefix)} itself: it is this conversation's memory folder. "
            "Work on the files and folders inside it instead."
        )
    if not _inside(parts, prefix):
        raise ToolError(
            f"Access denied: {virtual_path(parts)} is outside this conversation's memory folder "
            f"{virtual_path(prefix)}."
        )
