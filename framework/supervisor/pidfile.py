"""``run/<bot>.pid``: the keeper's pid and start time, and what a reader may conclude from it.

A pid alone is not an identity: after a reboot or a long uptime the same number can
belong to an unrelated program. The pidfile therefore stores ``create_time`` too, and a
pid whose start time differs is *reused*: reported as stale and never signalled.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO

from ..errors import SupervisorError
from ..fsutil import atomic_write_json, read_json
from .process_ops import ProcessIdentity, ProcessOps

__all__ = [
    "PidStatus",
    "PidCheck",
    "read_pidfile",
    "write_pidfile",
    "remove_pidfile",
    "check_pidfile",
    "KeeperLock",
    "EXIT_LOCKED",
]

EXIT_LOCKED = 75  # EX_TEMPFAIL: the keeper's exit code when another keeper holds the lock


class PidStatus(str, Enum):
    MISSING = "missing"  # no pidfile (or unreadable)
    ALIVE = "alive"  # the keeper that wrote it is running
    GONE = "gone"  # no process has that pid any more
    REUSED = "reused"  # the pid belongs to another program now


@dataclass(frozen=True)
class PidCheck:
    status: PidStatus
    record: ProcessIdentity | None = None

    @property
    def alive(self) -> bool:
        return self.status is PidStatus.ALIVE

    @property
    def stale(self) -> bool:
        return self.status in (PidStatus.GONE, PidStatus.REUSED)

    def describe(self, path: Path) -> str:
        """Why a pidfile is stale, for a person reading the CLI output."""
        if self.record is None:
            return f"no pidfile at {path}"
        if self.status is PidStatus.REUSED:
            return f"stale pidfile {path}: pid {self.record.pid} now belongs to another program (start time differs)"
        if self.status is PidStatus.GONE:
            return f"stale pidfile {path}: keeper pid {self.record.pid} is gone"
        return f"keeper pid {self.record.pid} is running"


def read_pidfile(path: Path) -> ProcessIdentity | None:
    data = read_json(path)
    if not isinstance(data, dict):
        return None
    pid, created = data.get("pid"), data.get("create_time")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    if not isinstance(created, (int, float)) or isinstance(created, bool):
        return None
    return ProcessIdentity(pid, float(created))


def write_pidfile(path: Path, ident: ProcessIdentity) -> None:
    atomic_write_json(path, {"pid": ident.pid, "create_time": ident.create_time})


def remove_pidfile(path: Path, ident: ProcessIdentity | None = None) -> None:
    """Delete the pidfile; with ``ident``, only when it still names that process."""
    if ident is not None and read_pidfile(path) != ident:
        return
    path.unlink(missing_ok=True)


def check_pidfile(path: Path, ops: ProcessOps) -> PidCheck:
    record = read_pidfile(path)
    if record is None:
        return PidCheck(PidStatus.MISSING)
    if ops.create_time(record.pid) is None:
        # Exited. If a zombie still holds the pid it must be the keeper's own; a zombie
        # of some other program means the pid was reused, and its group is not ours.
        zombie_created = ops.create_time(record.pid, include_zombies=True)
        if zombie_created is not None and not ops.is_same_process(record, include_zombies=True):
            return PidCheck(PidStatus.REUSED, record)
        return PidCheck(PidStatus.GONE, record)
    if not ops.is_same_process(record):
        return PidCheck(PidStatus.REUSED, record)
    return PidCheck(PidStatus.ALIVE, record)


class KeeperLock:
    """An exclusive ``flock`` on ``run/<bot>.lock`` held for the keeper's lifetime.

    The pidfile check in ``spawn`` has a window between reading and starting; two
    ``spawn`` calls racing through it would start two keepers. The lock closes the
    window: the second keeper cannot take it and exits before touching any file. The
    kernel drops the lock when the keeper dies, so it never goes stale.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise SupervisorError(
                f"another keeper holds {self.path}; run `bot_manager status` to see it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the flock
            self._fh = None
