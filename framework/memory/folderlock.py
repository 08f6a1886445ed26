"""One lock across processes over a bot's memory folder, for the bot's shard processes.

:class:`~framework.memory.locks.PathLocks` orders the writers of one process. A bot split
into shard processes has several processes writing one ``memories/<bot>/``; their servers
differ, but the writable prompt files are reachable from every conversation, and two
read-modify-write edits of one file from two processes could lose one of them. Each
memory-tool write therefore also holds an exclusive ``flock`` on the memory folder itself
(no lock file to sync or clean up). It is taken inside the worker thread doing the write,
so a wait blocks that thread, never the event loop, and it lasts as long as one write.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["under_folder_lock"]

_T = TypeVar("_T")


def under_folder_lock(folder: Path, func: Callable[..., _T], *args: Any) -> _T:
    """``func(*args)`` while holding the folder's exclusive ``flock`` (blocking; call it in a thread).
    A folder that does not exist yet has no other writer to wait for."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return func(*args)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return func(*args)
    finally:
        os.close(fd)  # closing the descriptor releases the lock
