"""File work below one folder that never follows a link, at any depth, and never races a check.

Checking a path and then opening it by name are two steps: a folder swapped for a symbolic
link between them would send the open outside. Here each folder on the way is opened
relative to the descriptor of the one above it with ``O_NOFOLLOW | O_DIRECTORY``, and the last
item is opened, created, replaced, renamed or removed relative to its parent's descriptor
(``dir_fd``), so what was checked is what is used. Whatever is swapped meanwhile, the work
lands in a folder we hold open, which is below the root. Only the root itself may be reached
through a link (the operator's choice, e.g. memories on another volume).

A regular file with more than one name (a hard link, ``st_nlink > 1``) is refused too: its
other name may be outside the root, so reading or changing it would reach outside.

Shared by the memory tool (:mod:`~framework.memory.fileops`), the operator's read-only
browser (:mod:`~framework.memory.browse`) and the coding agent's file tools and skills
(:mod:`~framework.coding`), whose workspace a jailed shell writes at the same time: a refusal is a :class:`Refused` naming what went
wrong and how many path parts lead to it; each caller words it for its own reader. Other OS
failures (permissions, a full disk) propagate as :class:`OSError`.

Needs ``dir_fd`` support (Linux, macOS, the BSDs).
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "TEMP_PREFIX",
    "Refused",
    "MISSING",
    "LINK",
    "NOT_DIR",
    "IS_DIR",
    "SPECIAL",
    "HARD_LINK",
    "TOO_LARGE",
    "temp_name",
    "is_temp_name",
    "open_root",
    "open_dir",
    "folder",
    "lstat_at",
    "read_at",
    "write_at",
    "remove_at",
    "rename_at",
    "scan_at",
    "Owner",
]

DIR_MODE = 0o700
FILE_MODE = 0o600
# The memory tool's atomic writes go through ``.tmp-<32 hex>`` in the target's folder: short
# (a 255-byte name still leaves room for it), hidden (view skips it) and recognisable (sync
# never commits it, usage counts skip it).
TEMP_PREFIX = ".tmp-"

MISSING = "missing"
LINK = "link"
NOT_DIR = "not a directory"
IS_DIR = "a directory"
SPECIAL = "not a regular file"
HARD_LINK = "hard link"
TOO_LARGE = "too large"

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted in the tree must not hang a read
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_OPEN_DIR = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
_OPEN_READ = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC
_OPEN_TEMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC

# (uid, gid) that new folders and files are given, or None to keep the process's own. A tree
# also written by a shell that runs as another user (the coding jail drops root to nobody)
# must stay that user's, or the shell could not change what the file tools made.
Owner = tuple[int, int] | None


class Refused(Exception):
    """The item ``parts[:depth]`` stops the operation, for ``reason`` (one of the constants above).

    ``info`` is the refused item's ``lstat``/``fstat`` when it was taken (link counts, sizes).
    """

    def __init__(self, reason: str, depth: int, info: os.stat_result | None = None) -> None:
        super().__init__(reason, depth)
        self.reason = reason
        self.depth = depth
        self.info = info


def temp_name() -> str:
    """A fresh name for an atomic write's temp file (see ``TEMP_PREFIX``)."""
    return f"{TEMP_PREFIX}{uuid.uuid4().hex}"


def is_temp_name(name: str) -> bool:
    """``name`` is one of our temp files (a write in flight, or left over by a crash)."""
    return name.startswith(TEMP_PREFIX)


def _kind_of(info: os.stat_result) -> str | None:
    """The refusal a non-folder item on the way deserves (None for a folder)."""
    if stat.S_ISDIR(info.st_mode):
        return None
    return LINK if stat.S_ISLNK(info.st_mode) else NOT_DIR


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """The item ``name`` in the folder ``dir_fd`` itself (links not followed); None when missing."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None


def open_root(root: Path) -> int:
    """A descriptor of the root folder (links in the root's own path are the operator's and followed)."""
    return os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)


def _open_child(dir_fd: int, name: str, depth: int) -> int:
    try:
        return os.open(name, _OPEN_DIR, dir_fd=dir_fd)
    except FileNotFoundError:
        raise Refused(MISSING, depth) from None
    except OSError:
        # ELOOP for a link (EMLINK on some BSDs), ENOTDIR for a file: look at what is there.
        info = lstat_at(dir_fd, name)
        if info is None:
            raise Refused(MISSING, depth) from None
        reason = _kind_of(info)
        if reason is None:
            raise  # a real folder we may not open (permissions): the OSError says why
        raise Refused(reason, depth, info) from None


def _make_child(dir_fd: int, name: str, depth: int, owner: Owner = None) -> int:
    """Create the folder ``name`` (mode 0700 whatever the umask, given to ``owner``) and open it."""
    try:
        os.mkdir(name, DIR_MODE, dir_fd=dir_fd)
    except FileExistsError:
        return _open_child(dir_fd, name, depth)  # made meanwhile, or a file or link: checked there
    fd = _open_child(dir_fd, name, depth)
    try:
        os.fchmod(fd, DIR_MODE)  # mkdir is subject to the umask; fchmod is not
        if owner is not None:
            os.fchown(fd, *owner)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_dir(
    base_fd: int, names: Sequence[str], *, create: bool = False, offset: int = 0, owner: Owner = None
) -> int:
    """A new descriptor of the folder ``names`` below ``base_fd``, every step opened without following links.

    ``create`` makes missing folders (0700, given to ``owner``). ``offset`` is how many path parts lead to
    ``base_fd``, so a :class:`Refused` depth counts from the root. The caller closes the result.
    """
    fd = os.dup(base_fd)
    try:
        for index, name in enumerate(names):
            depth = offset + index + 1
            try:
                child = _open_child(fd, name, depth)
            except Refused as refused:
                if not (create and refused.reason == MISSING):
                    raise
                child = _make_child(fd, name, depth, owner)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def folder(
    base_fd: int, names: Sequence[str], *, create: bool = False, offset: int = 0, owner: Owner = None
) -> Iterator[int]:
    """:func:`open_dir` as a context manager that closes the descriptor."""
    fd = open_dir(base_fd, names, create=create, offset=offset, owner=owner)
    try:
        yield fd
    finally:
        os.close(fd)


def _check_file(info: os.stat_result, depth: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise Refused(IS_DIR, depth, info)
    if stat.S_ISLNK(info.st_mode):
        raise Refused(LINK, depth, info)
    if not stat.S_ISREG(info.st_mode):
        raise Refused(SPECIAL, depth, info)
    if info.st_nlink > 1:
        raise Refused(HARD_LINK, depth, info)


def read_at(dir_fd: int, name: str, depth: int, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``name`` in ``dir_fd`` (at most ``limit``) and its ``fstat``.

    The checks are made on the opened file, so what is read is what was checked.
    """
    try:
        fd = os.open(name, _OPEN_READ, dir_fd=dir_fd)
    except FileNotFoundError:
        raise Refused(MISSING, depth) from None
    except OSError:
        info = lstat_at(dir_fd, name)
        if info is None:
            raise Refused(MISSING, depth) from None
        _check_file(info, depth)  # a link (ELOOP) lands here
        raise
    try:
        info = os.fstat(fd)
        _check_file(info, depth)
        if info.st_size > limit:
            raise Refused(TOO_LARGE, depth, info)
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # grew while we read
        raise Refused(TOO_LARGE, depth, info)
    return data, info


def write_at(dir_fd: int, name: str, data: bytes, depth: int, mode: int = FILE_MODE, owner: Owner = None) -> None:
    """Replace (or create) the file ``name`` in ``dir_fd`` with ``data`` via a temp file and a rename.

    A crash leaves the old or the new file, never half of one. Whatever stands at ``name`` is
    replaced as a directory entry, never written through, so a link there cannot carry the
    write elsewhere; links, folders, special files and hard-linked files are refused all the same.
    """
    existing = lstat_at(dir_fd, name)
    if existing is not None:
        _check_file(existing, depth)
    tmp = temp_name()
    try:
        fd = os.open(tmp, _OPEN_TEMP, mode, dir_fd=dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)  # the umask may have stripped bits from os.open's mode
            if owner is not None:
                os.fchown(fd, *owner)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass  # never created, or already renamed; a leftover is hidden, skipped and never synced
        raise


def remove_at(dir_fd: int, name: str, depth: int) -> None:
    """Delete the file, or the folder with everything in it, ``name`` in ``dir_fd``; links refused.

    ``shutil.rmtree`` with ``dir_fd`` works through descriptors and re-checks each folder's
    identity before descending, so a folder swapped for a link meanwhile is not followed.
    """
    info = lstat_at(dir_fd, name)
    if info is None:
        raise Refused(MISSING, depth)
    if stat.S_ISLNK(info.st_mode):
        raise Refused(LINK, depth, info)
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def rename_at(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """Move ``src`` in ``src_fd`` to ``dst`` in ``dst_fd`` (neither end is followed if it is a link)."""
    os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def scan_at(dir_fd: int) -> list[tuple[str, os.stat_result]]:
    """Every item of the folder ``dir_fd`` with its ``lstat``, sorted by name; vanished items skipped."""
    found: list[tuple[str, os.stat_result]] = []
    with os.scandir(dir_fd) as items:
        for item in items:
            try:
                found.append((item.name, item.stat(follow_symlinks=False)))
            except OSError:
                continue
    found.sort(key=lambda pair: pair[0])
    return found
