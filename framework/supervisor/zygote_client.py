"""The keeper's side of the zygote: start bots by fork from the project's preloaded zygote.

:class:`ForkingOps` is the keeper's ``ProcessOps`` when preloading is on. Its ``spawn``
asks the zygote (``run/zygote.sock``, started on demand: the first keeper that finds no
zygote starts one, under ``run/zygote.start.lock`` so two keepers never start two) to fork
the bot, handing over the write end of a pipe that becomes the bot's stdout and stderr;
the keeper copies the read end into the log exactly as for an exec'd child. It returns a
:class:`ForkedChild`, the second ``ChildHandle``: ``poll()`` reads the exit status the
zygote reports, with Popen's meaning (negative for a signal), so the keeper's state
machine cannot tell the two apart.

Whoever launches the zygote hands it the locked ``run/zygote.start.lock``; the zygote
holds it until it listens. So ``spawn`` can launch it first thing (``zygote_launch.py``:
:func:`start_zygote`, before it even validates), letting the preload run on another core
while the CLI and the keeper start, and a keeper that comes later waits on the lock and
connects instead of launching a second one.

A command the zygote cannot run (not this interpreter) and a zygote that cannot be
started fall back to exec (``ProcessOps.spawn``), with a warning in the bot's log.

If the zygote dies while a bot runs, :class:`ForkedChild` (``forked_child.py``) stops
the bot and reports ``EXIT_ZYGOTE_LOST``, a crash: it is restarted from a new zygote.

This module must stay light: the keeper never imports the SDKs or the runtime.
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import struct
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .forked_child import EXIT_ZYGOTE_LOST, ForkedChild
from .process_ops import ChildHandle, OutputCallback, ProcessIdentity, ProcessOps
from .zygote_launch import connect_zygote, launch_zygote, reap_launched, zygote_environ
from .zygote_protocol import STALE, ZygotePaths, python_command, receive_message, send_message

__all__ = ["ForkingOps", "ForkedChild", "ZygoteConnection", "ZygoteUnavailable", "EXIT_ZYGOTE_LOST", "zygote_environ"]
START_TIMEOUT_SECONDS = 60.0  # preloading takes 2-3 s on a quiet machine; far more when busy
_POLL_SECONDS = 0.005  # a keeper waiting on a preloading zygote connects within this of it listening


class ZygoteUnavailable(Exception):
    """The zygote could not be reached or started; the message says why."""


class ZygoteConnection:
    """One keeper's connection to its project's zygote, (re)connected and started on demand."""

    def __init__(self, home: Path, environ: Mapping[str, str], *, start_timeout: float = START_TIMEOUT_SECONDS) -> None:
        self.paths = ZygotePaths(home)
        self._environ = zygote_environ(environ)
        self._start_timeout = start_timeout
        self._sock: socket.socket | None = None
        self.zygote_pid: int | None = None
        self._exits: dict[int, int] = {}
        self.lost = False  # the connection ended while we held it: the zygote is gone

    def spawn(
        self, argv: list[str], cwd: Path, env: Mapping[str, str], grace: float, output_fd: int,
        extras: Sequence[str] = (),
    ) -> int:
        """Ask the zygote to fork ``argv`` (after importing ``extras``, ``runtime/extras.py``);
        the bot's pid. Reconnects (and restarts a stale or dead zygote) twice before giving
        up with :class:`ZygoteUnavailable`."""
        request = {"op": "spawn", "argv": argv, "cwd": str(cwd), "env": dict(env), "grace": grace,
                   "extras": list(extras)}
        problem = "no answer"
        for _attempt in range(3):
            sock = self._connected()
            try:
                send_message(sock, request, [output_fd])
                reply = self._reply(sock)
            except OSError as exc:
                reply = {"error": f"connection failed: {exc.strerror or exc}"}
            if "pid" in reply and isinstance(reply["pid"], int):
                return reply["pid"]
            problem = str(reply.get("error"))
            self.close()  # stale or broken: the next attempt connects (or starts) afresh
            if problem != STALE and not problem.startswith("connection"):
                break
        raise ZygoteUnavailable(problem)

    def exit_code(self, pid: int) -> int | None:
        """The reported exit status of ``pid``, without blocking; None while it runs."""
        self._drain()
        return self._exits.pop(pid, None)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.lost = False
        reap_launched()

    # -- connecting ---------------------------------------------------------------

    def _connected(self) -> socket.socket:
        if self._sock is None:
            self._sock = self._try_connect() or self._start()
            self.zygote_pid = _peer_pid(self._sock)
            self.lost = False
        return self._sock

    def _try_connect(self) -> socket.socket | None:
        return connect_zygote(self.paths.socket)

    def _start(self) -> socket.socket:
        self.paths.start_lock.parent.mkdir(parents=True, exist_ok=True)
        with open(self.paths.start_lock, "a") as lock:
            self._lock(lock.fileno())
            sock = self._try_connect()  # another keeper may have started it while we waited
            if sock is not None:
                return sock
            self.paths.socket.unlink(missing_ok=True)  # stale: its zygote is gone
            return self._launch_and_connect(lock.fileno())

    def _lock(self, fd: int) -> None:
        deadline = time.monotonic() + self._start_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ZygoteUnavailable(f"{self.paths.start_lock} stayed locked for {self._start_timeout:g} s")
                time.sleep(_POLL_SECONDS)

    def _launch_and_connect(self, lock_fd: int) -> socket.socket:
        proc = launch_zygote(self.paths, self._environ, lock_fd)
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            sock = self._try_connect()
            if sock is not None:
                return sock
            if proc.poll() is not None:
                raise ZygoteUnavailable(f"the zygote exited with code {proc.returncode} while preloading (see {self.paths.log})")
            time.sleep(_POLL_SECONDS)
        raise ZygoteUnavailable(f"the zygote did not listen within {self._start_timeout:g} s (see {self.paths.log})")

    # -- reading --------------------------------------------------------------------

    def _reply(self, sock: socket.socket) -> dict[str, object]:
        """The answer to a spawn; exit reports that arrive first are kept for ``exit_code``."""
        sock.settimeout(self._start_timeout)
        try:
            while True:
                message, _ = receive_message(sock)
                if message is None:
                    return {"error": "connection closed by the zygote"}
                if not self._keep_exit(message):
                    return message
        finally:
            sock.settimeout(None)

    def _drain(self) -> None:
        sock = self._sock
        while sock is not None and not self.lost and select.select([sock], [], [], 0)[0]:
            try:
                message, _ = receive_message(sock)
            except OSError:
                message = None
            if message is None:
                self.lost = True
                return
            self._keep_exit(message)

    def _keep_exit(self, message: dict[str, object]) -> bool:
        pid, code = message.get("pid"), message.get("exit")
        if isinstance(pid, int) and isinstance(code, int):
            self._exits[pid] = code
            return True
        return False


def _peer_pid(sock: socket.socket) -> int | None:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    return struct.unpack("3i", creds)[0]


class ForkingOps:
    """The keeper's process operations with bots forked from the zygote (``KeeperOps``)."""

    def __init__(
        self,
        home: Path,
        environ: Mapping[str, str],
        *,
        grace: float,
        notify: Callable[[str], None],
        fallback: ProcessOps | None = None,
        start_timeout: float = START_TIMEOUT_SECONDS,
        extras: Sequence[str] = (),
    ) -> None:
        self.zygote = ZygoteConnection(home, {**environ, "BOT_HOME": str(home)}, start_timeout=start_timeout)
        self._grace = grace
        self._extras = tuple(extras)
        self._notify = notify
        self._fallback = fallback or ProcessOps()
        self._forked: dict[int, ForkedChild] = {}

    def spawn(self, argv: list[str], *, cwd: Path, env: dict[str, str], on_output: OutputCallback) -> ChildHandle:
        if python_command(argv) is None:
            return self._fallback.spawn(argv, cwd=cwd, env=env, on_output=on_output)
        read_fd, write_fd = os.pipe()
        try:
            pid = self.zygote.spawn(argv, cwd, env, self._grace, write_fd, self._extras)
        except ZygoteUnavailable as exc:
            os.close(read_fd)
            self._notify(f"preload unavailable ({exc}); starting the bot without it")
            return self._fallback.spawn(argv, cwd=cwd, env=env, on_output=on_output)
        finally:
            os.close(write_fd)  # the bot holds the only write end: its exit ends our reading
        child = ForkedChild(pid, self.zygote, read_fd, on_output, self._grace)
        self._forked = {p: c for p, c in self._forked.items() if c.poll() is None}
        self._forked[pid] = child
        return child

    def kill(self, pid: int, sig: int) -> bool:
        child = self._forked.get(pid)
        if child is not None:
            return child.send_signal(sig)
        return self._fallback.kill(pid, sig)

    def identity(self, pid: int | None = None) -> ProcessIdentity:
        return self._fallback.identity(pid)

    def close(self) -> None:
        self.zygote.close()
