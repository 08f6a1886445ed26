"""Blocking filesystem primitives of the memory tool, confined to one bot's folder.

Everything here runs in a worker thread (the tool calls it through ``asyncio.to_thread``)
and raises :class:`ToolError` with messages that name the *virtual* path only: host paths
never reach the model.

Confinement: every operation goes through :mod:`~framework.memory.nofollow`, which walks
from the root's descriptor without following a link at any step and works on the last item
relative to its parent's descriptor, so the ``..`` handled lexically by ``paths`` is the real
path and a folder swapped for a link mid-operation is refused, never followed. Hard-linked
files are refused as well.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..domain import ToolError
from . import nofollow
from .nofollow import DIR_MODE, FILE_MODE, Refused
from .paths import VIRTUAL_ROOT, Parts, virtual_path

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "READ_LIMIT_BYTES",
    "Jail",
    "refusal",
    "decode_text",
    "format_size",
    "os_error",
]

# Nothing we write exceeds the configured cap (at most 10 MiB); this only bounds reads of
# files put there by hand, so one view cannot pull an arbitrary blob into memory.
READ_LIMIT_BYTES = 16 * 1024 * 1024


def os_error(action: str, parts: Parts, err: OSError, root: str = VIRTUAL_ROOT) -> ToolError:
    """A ToolError for an OS failure, without the host path ``str(err)`` would carry."""
    reason = err.strerror or type(err).__name__
    return ToolError(f"Could not {action} {virtual_path(parts, root)}: {reason}.")


def refusal(parts: Parts, refused: Refused, root: str = VIRTUAL_ROOT, tool: str = "the memory tool") -> ToolError:
    """The model-facing words for a :class:`Refused` met while working on ``parts`` (below ``root``, by ``tool``)."""
    shown = virtual_path(parts, root)
    item = virtual_path(parts[: refused.depth], root)
    reason = refused.reason
    if reason == nofollow.MISSING:
        return ToolError(f"The path {shown} does not exist. Please provide a valid path.")
    if reason == nofollow.LINK:
        return ToolError(f"{item} is a symbolic link; {tool} does not follow links.")
    if reason == nofollow.NOT_DIR:
        return ToolError(f"{item} is a file, not a directory.")
    if reason == nofollow.IS_DIR:
        return ToolError(f"The path {item} is a directory, not a file.")
    if reason == nofollow.HARD_LINK:
        names = refused.info.st_nlink if refused.info is not None else 2
        return ToolError(
            f"The file {item} has {names} names (hard links), so it may also be a file outside {root}; "
            f"{tool} neither reads nor changes such files. Delete it and write what it should hold anew."
        )
    if reason == nofollow.TOO_LARGE:
        size = refused.info.st_size if refused.info is not None else 0
        return ToolError(f"The file {item} is too large to open ({size} bytes).")
    return ToolError(f"The path {item} is not a regular file.")


def decode_text(data: bytes, parts: Parts, root: str = VIRTUAL_ROOT, tool: str = "the memory tool") -> str:
    """``data`` as UTF-8 text; ToolError naming the file at ``parts`` when it is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(
            f"The file {virtual_path(parts, root)} is not valid UTF-8 text; {tool} only handles UTF-8 text files."
        ) from None


def _make_dir_chain(path: Path) -> None:
    """Create ``path`` and missing ancestors with mode 0700 (used for the root only).

    ``mkdir(parents=True, mode=...)`` applies the mode to the leaf only; each missing
    component is created explicitly so none is left world-accessible under a loose umask.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # created concurrently: not ours to chmod
        os.chmod(directory, DIR_MODE)  # mkdir is subject to umask; chmod is not


class Jail:
    """One folder on disk shown to the model under a virtual root: a bot's memory folder
    (``memories/<bot_id>`` as /memories) or the coding agent's workspace (as /workspace).

    Every method takes normalised path parts (see :func:`~framework.memory.paths.parse_memory_path`)
    and raises :class:`ToolError` for a refusal, worded with ``virtual_root`` and ``tool``;
    none follows a link below the root. ``owner`` is given every folder and file made here
    (see :data:`~framework.memory.nofollow.Owner`).
    """

    def __init__(
        self, root: Path, *, virtual_root: str = VIRTUAL_ROOT, tool: str = "the memory tool",
        owner: nofollow.Owner = None,
    ) -> None:
        self._given = Path(root)
        self._resolved: Path | None = None
        self.virtual_root = virtual_root
        self.tool = tool
        self.owner = owner

    def refusal(self, parts: Parts, refused: Refused) -> ToolError:
        return refusal(parts, refused, self.virtual_root, self.tool)

    def os_error(self, action: str, parts: Parts, err: OSError) -> ToolError:
        return os_error(action, parts, err, self.virtual_root)

    def root(self) -> Path:
        """The resolved root, created (0700) when missing, e.g. after an operator wiped it."""
        resolved = self._resolved
        if resolved is None or not resolved.is_dir():
            _make_dir_chain(self._given.absolute())
            # The root itself may be a symlink (memories on another volume): that is the
            # operator's choice, so resolve it once; below the root no link is ever followed.
            resolved = Path(os.path.realpath(self._given))
            self._resolved = resolved
        return resolved

    @contextmanager
    def root_fd(self) -> Iterator[int]:
        """A descriptor of the root folder, for the duration of the block."""
        try:
            fd = nofollow.open_root(self.root())
        except OSError as err:
            raise self.os_error("open", (), err) from err
        try:
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def folder(self, parts: Parts, *, create: bool = False) -> Iterator[int]:
        """A descriptor of the folder at ``parts`` (``create`` makes the missing ones, 0700)."""
        with self.root_fd() as root_fd:
            try:
                fd = nofollow.open_dir(root_fd, parts, create=create, owner=self.owner)
            except Refused as refused:
                raise self.refusal(parts, refused) from None
            except OSError as err:
                raise self.os_error("open", parts, err) from err
        try:
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def parent(self, parts: Parts, *, create: bool = False) -> Iterator[int]:
        """A descriptor of the folder holding ``parts[-1]`` (``parts`` is not the root)."""
        with self.folder(parts[:-1], create=create) as fd:
            yield fd

    def lstat(self, parts: Parts) -> os.stat_result | None:
        """The item at ``parts`` itself (a final link is reported, not followed); None when missing."""
        with self.root_fd() as root_fd:
            if not parts:
                return os.fstat(root_fd)
            try:
                with nofollow.folder(root_fd, parts[:-1]) as fd:
                    return nofollow.lstat_at(fd, parts[-1])
            except Refused as refused:
                if refused.reason in (nofollow.MISSING, nofollow.NOT_DIR):
                    return None  # nothing can be below a missing folder or a file
                raise self.refusal(parts, refused) from None
            except OSError as err:
                raise self.os_error("inspect", parts, err) from err

    def read_bytes(self, parts: Parts, limit: int = READ_LIMIT_BYTES) -> tuple[bytes, os.stat_result]:
        """The bytes and ``fstat`` of the regular file at ``parts`` (refused: links, hard links, folders)."""
        with self.parent(parts) as fd:
            try:
                return nofollow.read_at(fd, parts[-1], len(parts), limit)
            except Refused as refused:
                raise self.refusal(parts, refused) from None
            except OSError as err:
                raise self.os_error("read", parts, err) from err

    def read_text(self, parts: Parts) -> str:
        """The UTF-8 text of the regular file at ``parts``."""
        return decode_text(self.read_bytes(parts)[0], parts, self.virtual_root, self.tool)

    def write_text(self, parts: Parts, text: str) -> None:
        """Replace (or create) the file at ``parts`` with ``text`` (0600), making missing folders (0700).

        A crash leaves either the old or the new file, never half of one.
        """
        data = text.encode("utf-8")
        with self.parent(parts, create=True) as fd:
            try:
                nofollow.write_at(fd, parts[-1], data, len(parts), owner=self.owner)
            except Refused as refused:
                raise self.refusal(parts, refused) from None
            except OSError as err:
                raise self.os_error("write", parts, err) from err

    def missing_folders(self, parts: Parts) -> int:
        """How many folders above ``parts[-1]`` a write would have to create."""
        with self.root_fd() as root_fd:
            try:
                with nofollow.folder(root_fd, parts[:-1]):
                    return 0
            except Refused as refused:
                if refused.reason != nofollow.MISSING:
                    raise self.refusal(parts, refused) from None
                return len(parts) - refused.depth
            except OSError as err:
                raise self.os_error("inspect", parts, err) from err

    def delete(self, parts: Parts) -> None:
        """Delete the file, or the folder with everything in it, at ``parts``; links refused."""
        with self.parent(parts) as fd:
            try:
                nofollow.remove_at(fd, parts[-1], len(parts))
            except Refused as refused:
                raise self.refusal(parts, refused) from None
            except FileNotFoundError:
                raise self.refusal(parts, Refused(nofollow.MISSING, len(parts))) from None
            except OSError as err:
                raise self.os_error("delete", parts, err) from err

    def rename(self, old_parts: Parts, new_parts: Parts) -> None:
        """Move ``old_parts`` to ``new_parts`` (missing folders above the destination are made)."""
        with self.parent(old_parts) as old_fd, self.parent(new_parts, create=True) as new_fd:
            try:
                nofollow.rename_at(old_fd, old_parts[-1], new_fd, new_parts[-1])
            except FileNotFoundError:
                raise self.refusal(old_parts, Refused(nofollow.MISSING, len(old_parts))) from None
            except OSError as err:
                raise self.os_error("rename", old_parts, err) from err


def format_size(size: int) -> str:
    """A human size as the SDK's view shows it: ``0B``, ``512B``, ``4K``, ``1.5M``."""
    if size == 0:
        return "0B"
    units = ["B", "K", "M", "G"]
    index = min((size.bit_length() - 1) // 10, len(units) - 1)
    value = size / (1024**index)
    return f"{int(value)}{units[index]}" if value == int(value) else f"{value:.1f}{units[index]}"
