"""Reading the end of a bot's log: last N lines, offset-based tails, and ``tail -F`` follow.

Logs can reach ``logging.max_size_mb`` (50 MB by default), so nothing here reads a whole
file: :func:`last_lines` walks backwards from the end in blocks, :func:`tail` reads from
an offset (supervisord's ``tailFile(filename, offset, length)``), and :class:`Follower`
keeps a file handle open so lines written just before a rotation are still read from
the renamed file before it moves on to the new one.
"""

from __future__ import annotations

import codecs
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

__all__ = ["TailChunk", "tail", "last_lines", "last_log_lines", "Follower", "follow"]

_BLOCK = 8192
_READ_LIMIT = 1024 * 1024  # per follow step: a huge backlog is printed in pieces, not loaded whole


@dataclass(frozen=True)
class TailChunk:
    data: bytes
    offset: int  # where the next call should start
    overflow: bool  # more than ``limit`` bytes were waiting; the oldest were skipped


def tail(path: Path, offset: int, limit: int) -> TailChunk:
    """What was appended to ``path`` since ``offset``: at most ``limit`` bytes, the newest.

    A file now shorter than ``offset`` was truncated or replaced, so reading starts
    again from its beginning. A missing file is an empty chunk at offset 0.
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if offset > size:
                offset = 0
            overflow = size - offset > limit
            start = size - limit if overflow else offset
            fh.seek(start)
            data = fh.read(size - start)
    except FileNotFoundError:
        return TailChunk(b"", 0, False)
    return TailChunk(data, start + len(data), overflow)


def last_lines(path: Path, n: int, end: int | None = None) -> list[str]:
    """The last ``n`` lines of ``path`` (before byte ``end``), reading backwards in blocks."""
    if n <= 0:
        return []
    try:
        with open(path, "rb") as fh:
            pos = os.fstat(fh.fileno()).st_size if end is None else end
            buf = b""
            # n newlines bound n-1 complete lines plus the last one; one more finds the
            # start of the first line we want.
            while pos > 0 and buf.count(b"\n") <= n:
                step = min(_BLOCK, pos)
                pos -= step
                fh.seek(pos)
                buf = fh.read(step) + buf
    except FileNotFoundError:
        return []
    lines = buf.decode("utf-8", errors="replace").splitlines()
    if pos > 0 and lines:
        lines = lines[1:]  # the first line may have been cut in the middle
    return lines[-n:]


def last_log_lines(path: Path, n: int, end: int | None = None) -> list[str]:
    """Like :func:`last_lines`, continuing into ``<path>.1`` when a rotation just happened."""
    lines = last_lines(path, n, end)
    if len(lines) < n:
        older = last_lines(path.with_name(path.name + ".1"), n - len(lines))
        lines = older + lines
    return lines


class Follower:
    """Returns what is appended to a file across rotation (rename + new file) and truncation."""

    def __init__(self, path: Path, offset: int | None = None) -> None:
        """Start at byte ``offset`` (None: the current end of the file, 0 if there is none yet)."""
        self.path = path
        if offset is None:
            try:
                offset = path.stat().st_size
            except FileNotFoundError:
                offset = 0
        self._offset = offset
        self._fh: IO[bytes] | None = None

    def read(self, limit: int = _READ_LIMIT) -> bytes:
        """Everything new since the last call, up to ``limit`` bytes (call again for more)."""
        if self._fh is None and not self._open():
            return b""
        fh = self._fh
        if fh is None:  # narrowed for the type checker; _open() set it
            return b""
        data = fh.read(limit)
        if data:
            return data
        # At the end of what we hold: has the path moved on?
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return b""  # rotated away and not recreated yet; keep the old handle for now
        held = os.fstat(fh.fileno())
        if (st.st_ino, st.st_dev) != (held.st_ino, held.st_dev):
            # Rotated. Lines may have reached the old file between our empty read and the
            # stat: drain it once more before switching to the new one.
            tail = fh.read(limit)
            if tail:
                return tail
            fh.close()
            self._fh = None
            self._offset = 0
            return self.read(limit) if self._open() else b""
        if st.st_size < fh.tell():
            fh.seek(0)  # truncated in place (copytruncate rotation)
            return fh.read(limit)
        return b""

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return False
        size = os.fstat(fh.fileno()).st_size
        fh.seek(self._offset if self._offset <= size else 0)
        self._fh = fh
        return True


def follow(
    path: Path,
    write: Callable[[str], None],
    *,
    offset: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    interval: float = 0.25,
) -> None:
    """Pass new text of ``path`` to ``write`` until ``should_stop()``, like ``tail -F``."""
    follower = Follower(path, offset)
    # Incremental: a multi-byte character split across two reads is decoded whole.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        while not should_stop():
            data = follower.read()
            if data:
                write(decoder.decode(data))
            else:
                sleep(interval)
    finally:
        follower.close()
