"""One look at each process for a ``status`` run.

``status`` asks three things about a bot's processes: is the keeper in the pidfile still
that process (its start time), is the bot process alive, and how much CPU and memory it
uses. Asked one by one through :class:`ProcessOps`, that is three or four ``psutil``
handles and as many reads of ``/proc/<pid>/stat`` per process. :class:`ReadOnceOps`
answers all of them from a single read of each pid, taken the first time it is asked
about and kept for the rest of the run (a status run lasts milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from .process_ops import ProcessOps

__all__ = ["ProcessReading", "ReadOnceOps"]


@dataclass(frozen=True)
class ProcessReading:
    """What the kernel said about one process, in one read."""

    zombie: bool
    create_time: float
    cpu_seconds: float  # user + system since it started
    rss_bytes: int


_DENIED = "denied"  # another user's process: alive, but nothing more can be read


class ReadOnceOps(ProcessOps):
    """The real :class:`ProcessOps`, reading each pid once; the rest is the base class's."""

    def __init__(self) -> None:
        self._readings: dict[int, ProcessReading | str | None] = {}

    def reading(self, pid: int) -> ProcessReading | None:
        """The process's figures, or None when it is gone or cannot be read."""
        found = self._read(pid)
        return found if isinstance(found, ProcessReading) else None

    def create_time(self, pid: int, *, include_zombies: bool = False) -> float | None:
        found = self._read(pid)
        if found == _DENIED:
            return -1.0  # as ProcessOps says for a process it may not inspect
        if not isinstance(found, ProcessReading) or (found.zombie and not include_zombies):
            return None
        return found.create_time

    def _read(self, pid: int) -> ProcessReading | str | None:
        if pid not in self._readings:
            self._readings[pid] = _read_process(pid)
        return self._readings[pid]


def _read_process(pid: int) -> ProcessReading | str | None:
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():  # one read of /proc/<pid>/stat serves all of these
            zombie = proc.status() == psutil.STATUS_ZOMBIE
            created = proc.create_time()
            if zombie:  # exited: its start time still tells whose pid it is, nothing else counts
                return ProcessReading(zombie=True, create_time=created, cpu_seconds=0.0, rss_bytes=0)
            times = proc.cpu_times()
            return ProcessReading(
                zombie=False, create_time=created, cpu_seconds=times.user + times.system, rss_bytes=proc.memory_info().rss
            )
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return _DENIED
