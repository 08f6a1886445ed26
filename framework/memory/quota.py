"""Per-bot caps on the memory tree: how many files and folders, how many bytes in all.

Without them a model in a loop (or talked into one) fills the disk, and every machine the
memories sync to: 3,000 files of 60 KB took five seconds. The caps are checked before a
write that would grow the tree (create, an edit that makes a file longer, a rename that makes
folders) and the refusal tells the model the caps, the usage, and what to do about it.
Writes that do not grow the tree (deletes, edits that shorten) always pass, so a full memory
can always be tidied.

Usage is measured on disk for each such write (a walk through descriptors, never following
links; a few milliseconds for a tree at the default caps), so files written by other
writers, pulled by sync or removed by hand are always counted right. Commands on different
files run concurrently, so the caps can be overshot by at most one write per command in flight.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass

from ..domain import ToolError
from .nofollow import is_temp_name
from .paths import Parts, virtual_path

__all__ = ["DEFAULT_MAX_FILES", "DEFAULT_MAX_TOTAL_BYTES", "Caps", "Usage", "measure", "human_bytes"]

_log = logging.getLogger(__name__)

# A bot in a dozen busy servers keeps a few hundred files of a few KB (a culture note and
# channel notes per server, a profile per regular): 2,000 files and folders and 32 MiB leave
# five to ten times that, yet bound what one runaway conversation can write and what sync
# commits and pushes for each bot.
DEFAULT_MAX_FILES = 2000
DEFAULT_MAX_TOTAL_BYTES = 32 * 1024 * 1024


def human_bytes(n: int) -> str:
    """``512 bytes``, ``4.0 KiB``, ``31.5 MiB``."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


@dataclass(frozen=True)
class Usage:
    """Items (files, folders and anything else, the root not included) and bytes of regular files."""

    items: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Caps:
    max_files: int = DEFAULT_MAX_FILES
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES

    def __post_init__(self) -> None:
        if self.max_files < 1 or self.max_total_bytes < 1:
            raise ValueError("memory caps must be positive")

    def check(self, root_fd: int, folder: Parts, *, new_items: int, new_bytes: int) -> None:
        """Refuse (ToolError) a write adding ``new_items`` and ``new_bytes`` that would pass a cap.

        ``folder`` is the conversation's own folder, the only place the model can make room.
        """
        if new_items <= 0 and new_bytes <= 0:
            return
        total, own = measure(root_fd, folder)
        over_items = new_items > 0 and total.items + new_items > self.max_files
        over_bytes = new_bytes > 0 and total.bytes + new_bytes > self.max_total_bytes
        if not (over_items or over_bytes):
            return
        # The operator hears of it too: a full memory usually means a model stuck in a loop, or caps set too low.
        _log.warning(
            "memory cap reached: %d items, %d bytes in use (caps %d, %d); a write in %s was refused",
            total.items, total.bytes, self.max_files, self.max_total_bytes, virtual_path(folder),
        )
        which = " and ".join(
            name for name, over in (("number of files and folders", over_items), ("total size", over_bytes)) if over
        )
        raise ToolError(
            f"Refused: this would take the bot's memory past its cap on the {which}. "
            f"Caps: {self.max_files:,} files and folders, {human_bytes(self.max_total_bytes)} in all; "
            f"in use: {total.items:,} files and folders, {human_bytes(total.bytes)} "
            f"(of which {own.items:,} and {human_bytes(own.bytes)} in {virtual_path(folder)}); "
            f"this write would add {new_items:,} and {human_bytes(max(new_bytes, 0))}. "
            f"Make room first: delete files you no longer need and consolidate small notes into fewer, "
            f"shorter files in {virtual_path(folder)}, then try again."
        )


def measure(root_fd: int, folder: Parts) -> tuple[Usage, Usage]:
    """The usage of the whole tree below ``root_fd`` and of ``folder`` within it.

    Links are counted as items and never followed; temp files of writes in flight are not
    counted (each write is counted once, as the file it becomes).
    """
    items = size = own_items = own_size = 0
    own_prefix = "./" + "/".join(folder)
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=root_fd):
        inside = dirpath == own_prefix or dirpath.startswith(own_prefix + "/")
        names = [name for name in filenames if not is_temp_name(name)]
        count = len(dirnames) + len(names)
        added = 0
        for name in names:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                added += info.st_size
        items += count
        size += added
        if inside:
            own_items += count
            own_size += added
    return Usage(items, size), Usage(own_items, own_size)
