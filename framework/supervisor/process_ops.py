"""Every operating-system call the supervisor makes, behind one object.

The keeper's state machine and the CLI's control code call only :class:`ProcessOps`, so
tests swap in a fake that records signals and scripts child exits (as supervisord's
``DummyOptions`` does) and the logic runs without real processes or sleeps.

Signals are delivered with ``os.kill``/``os.killpg`` and ``ESRCH``/``EPERM`` are tolerated:
a process that is already gone is the outcome we wanted.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Protocol

import psutil

__all__ = ["ChildHandle", "ProcessOps", "ProcessIdentity", "OutputCallback", "describe_exit", "pump_output"]

_log = logging.getLogger(__name__)

OutputCallback = Callable[[str], None]

# Same process means same pid and same start time; psutil derives the start time from
# boot time plus clock ticks, so one process always reports the same value. The slack
# only absorbs float rounding through JSON.
_CREATE_TIME_SLACK = 0.01
_LINE_LIMIT = 64 * 1024  # a runaway line without newline is split, not buffered forever
_DETACHED: list[subprocess.Popen[bytes]] = []


def describe_exit(code: int) -> str:
    """``exited with code 1`` or ``killed by SIGKILL`` (Popen reports signals as -N)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid plus its start time: what makes a pidfile safe against pid reuse."""

    pid: int
    create_time: float


class ChildHandle(Protocol):
    """A started child: its pid, and its exit code once it has exited."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...


def pump_output(stream: IO[bytes], on_output: OutputCallback, *, name: str) -> threading.Thread:
    """Copy ``stream`` line by line to ``on_output`` on a daemon thread, until end of file."""

    def copy() -> None:
        with stream:
            for raw in iter(lambda: stream.readline(_LINE_LIMIT), b""):
                on_output(raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    thread = threading.Thread(target=copy, name=name, daemon=True)
    thread.start()
    return thread


class _PumpedChild:
    """A ``Popen`` whose merged stdout/stderr is copied line by line by a thread."""

    def __init__(self, proc: subprocess.Popen[bytes], stream: IO[bytes], on_output: OutputCallback) -> None:
        self._proc = proc
        self._pump = pump_output(stream, on_output, name=f"output-{proc.pid}")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll(self) -> int | None:
        code = self._proc.poll()
        if code is not None:
            # Let the last lines (often the traceback) reach the log before the keeper
            # writes "exited with code N". A grandchild holding the pipe would block the
            # pump forever, hence the bound.
            self._pump.join(timeout=1.0)
        return code



class _DetachedChild:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll(self) -> int | None:
        return self._proc.poll()


class ProcessOps:
    """The real operating system (POSIX, via ``subprocess``, ``os`` and ``psutil``)."""

    def spawn(self, argv: list[str], *, cwd: Path, env: dict[str, str], on_output: OutputCallback) -> ChildHandle:
        """Start a child in our process group, its stdout and stderr sent to ``on_output``."""
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        stream = proc.stdout
        if stream is None:  # cannot happen with stdout=PIPE; keeps the type checker honest
            proc.kill()
            raise OSError(f"no output pipe for pid {proc.pid}")
        return _PumpedChild(proc, stream, on_output)

    def spawn_detached(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> ChildHandle:
        """Start a process in a new session with no terminal, so it outlives us and our terminal."""
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Keep the handle: dropping a Popen whose process still runs makes Python warn,
        # and a long-lived caller (tests, `restart --all`) should reap keepers that exit.
        _DETACHED[:] = [p for p in _DETACHED if p.poll() is None]
        _DETACHED.append(proc)
        return _DetachedChild(proc)

    def identity(self, pid: int | None = None) -> ProcessIdentity:
        """Pid and start time of ``pid`` (default: this process)."""
        proc = psutil.Process(pid)
        return ProcessIdentity(proc.pid, proc.create_time())

    def create_time(self, pid: int, *, include_zombies: bool = False) -> float | None:
        """Start time of a live process, or None when it is gone.

        Zombies count as gone (they have exited) unless ``include_zombies``: a zombie
        still holds its pid, so its start time tells whose pid it is.
        """
        try:
            proc = psutil.Process(pid)
            if not include_zombies and proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc.create_time()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return None
        except psutil.AccessDenied:
            # Another user's process: alive, but its start time is unknown to us.
            return -1.0

    def is_same_process(self, ident: ProcessIdentity, *, include_zombies: bool = False) -> bool:
        """True when ``ident.pid`` is alive and still the process that started at ``ident.create_time``."""
        created = self.create_time(ident.pid, include_zombies=include_zombies)
        return created is not None and abs(created - ident.create_time) <= _CREATE_TIME_SLACK

    def kill(self, pid: int, sig: int) -> bool:
        """Send ``sig`` to ``pid``; False when there was no process to signal."""
        return self._signal(os.kill, pid, sig)

    def killpg(self, pgid: int, sig: int) -> bool:
        """Send ``sig`` to every process in group ``pgid``; False when the group is empty."""
        return self._signal(os.killpg, pgid, sig)

    def group_exists(self, pgid: int) -> bool:
        """True while a live (non-zombie) process is left in group ``pgid``."""
        if not self._signal(os.killpg, pgid, 0):  # signal 0 only checks; the common, cheap answer
            return False
        # killpg also succeeds for a group holding only zombies, which no signal can
        # stop; look closer so callers do not wait on them.
        for proc in psutil.process_iter(["status"]):
            try:
                if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                    return True
            except (ProcessLookupError, psutil.Error):
                continue
        return False

    def wait(self, pid: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``pid`` to exit; True when it is gone."""
        try:
            psutil.Process(pid).wait(timeout=timeout)
        except psutil.TimeoutExpired:
            return False
        except psutil.NoSuchProcess:
            pass
        return True

    @staticmethod
    def _signal(send: Callable[[int, int], None], target: int, sig: int) -> bool:
        try:
            send(target, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            # EPERM: the pid now belongs to someone else (or a zombie in a foreign group);
            # either way it is not ours to signal.
            _log.debug("not permitted to signal %d with %d", target, sig)
            return False
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return False
            raise
        return True
