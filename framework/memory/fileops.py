"""Blocking filesystem primitives of the memory tool, confined to one bot's folder.

Everything here runs in a worker thread (the tool calls it through ``asyncio.to_thread``)
and raises :class:`ToolError` with messages that name the *virtual* path only: host paths
never reach the model.

Confinement: :meth:`Jail.host` maps already-normalised parts under the root, refuses a
symlink anywhere on the way (the tool never follows links, so ``..`` handled lexically is
the real path) and finally checks that the real path is still the root or inside it.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

from ..llm.types import ToolError
from .paths import Parts, virtual_path

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "READ_LIMIT_BYTES",
    "Jail",
    "read_text",
    "write_atomic",
    "make_parents",
    "format_size",
    "os_error",
]

DIR_MODE = 0o700
FILE_MODE = 0o600
# Nothing we write exceeds the configured cap (at most 10 MiB); this only bounds reads of
# files put there by hand, so one view cannot pull an arbitrary blob into memory.
READ_LIMIT_BYTES = 16 * 1024 * 1024

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted in the tree must not hang a read


def os_error(action: str, parts: Parts, err: OSError) -> ToolError:
    """A ToolError for an OS failure, without the host path ``str(err)`` would carry."""
    reason = err.strerror or type(err).__name__
    return ToolError(f"Could not {action} {virtual_path(parts)}: {reason}.")


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
    """One bot's memory folder on disk (``memories/<bot_id>``), shown to the model as /memories."""

    def __init__(self, root: Path) -> None:
        self._given = Path(root)
        self._resolved: Path | None = None

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

    def host(self, parts: Parts) -> Path:
        """The host path for ``parts``; ToolError when any existing component is a symlink."""
        root = self.root()
        current = root
        for index, name in enumerate(parts):
            current = current / name
            try:
                info = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                break  # the rest does not exist yet, so it cannot be a link
            except OSError as err:
                raise os_error("inspect", parts[: index + 1], err) from err
            if stat.S_ISLNK(info.st_mode):
                raise ToolError(
                    f"{virtual_path(parts[: index + 1])} is a symbolic link; the memory tool does not follow links."
                )
        path = root.joinpath(*parts)
        # Belt and braces: whatever happened above, the real location must stay in the root.
        real = os.path.realpath(path)
        if real != str(root) and not real.startswith(str(root) + os.sep):
            raise ToolError(f"Path {virtual_path(parts)} would escape the /memories directory.")
        return path


def make_parents(root: Path, parts: Parts) -> None:
    """Create the missing folders above ``parts`` (mode 0700); refuse links and files on the way."""
    current = root
    for index, name in enumerate(parts[:-1]):
        current = current / name
        shown = virtual_path(parts[: index + 1])
        try:
            os.mkdir(current, DIR_MODE)
        except FileExistsError:
            info = os.lstat(current)
            if stat.S_ISLNK(info.st_mode):
                raise ToolError(f"{shown} is a symbolic link; the memory tool does not follow links.") from None
            if not stat.S_ISDIR(info.st_mode):
                raise ToolError(f"{shown} is a file, not a directory.") from None
            continue
        except OSError as err:
            raise os_error("create the directory", parts[: index + 1], err) from err
        os.chmod(current, DIR_MODE)


def read_text(path: Path, parts: Parts) -> str:
    """The UTF-8 text of the regular file at ``path``; never follows a final symlink."""
    shown = virtual_path(parts)
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK)
    except FileNotFoundError:
        raise ToolError(f"The path {shown} does not exist. Please provide a valid path.") from None
    except OSError as err:
        raise os_error("open", parts, err) from err
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ToolError(f"The path {shown} is a directory, not a file.")
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"The path {shown} is not a regular file.")
        if info.st_size > READ_LIMIT_BYTES:
            raise ToolError(f"The file {shown} is too large to open ({info.st_size} bytes).")
        chunks: list[bytes] = []
        remaining = READ_LIMIT_BYTES + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as err:
        raise os_error("read", parts, err) from err
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > READ_LIMIT_BYTES:
        raise ToolError(f"The file {shown} is too large to open.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(
            f"The file {shown} is not valid UTF-8 text; the memory tool only handles UTF-8 text files."
        ) from None


def write_atomic(path: Path, text: str, parts: Parts) -> None:
    """Replace ``path`` with ``text`` (mode 0600) via a temp file in the same folder.

    A crash leaves either the old or the new file, never half of one. The temp name is short
    and hidden (view skips it), so a 255-byte file name still leaves room for it.
    """
    data = text.encode("utf-8")
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _O_NOFOLLOW, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, FILE_MODE)  # the umask may have stripped bits from os.open's mode
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        _discard(tmp)
        raise os_error("write", parts, err) from err
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass  # already gone, or best effort: a leftover hidden temp file is harmless and view skips it


def format_size(size: int) -> str:
    """A human size as the SDK's view shows it: ``0B``, ``512B``, ``4K``, ``1.5M``."""
    if size == 0:
        return "0B"
    units = ["B", "K", "M", "G"]
    index = min((size.bit_length() - 1) // 10, len(units) - 1)
    value = size / (1024**index)
    return f"{int(value)}{units[index]}" if value == int(value) else f"{value:.1f}{units[index]}"
