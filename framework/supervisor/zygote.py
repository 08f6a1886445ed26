"""The zygote: ``python -m framework.supervisor.zygote``, one per project folder.

It imports everything a bot process needs once (discord.py, the SDKs, pydantic and the
config models, the runtime), with the garbage collector off during the imports and its
objects frozen afterwards (``gc.freeze()``), so a collection in a bot never writes to the
pages it shares with the others. Then it forks a bot for each keeper that asks, over
``run/zygote.sock`` (see ``zygote_protocol``). Ten bots forked from it share one copy of
the libraries; a bot (re)starts in milliseconds instead of seconds of imports.

The zygote stays single-threaded, with no event loop and no client of any kind: a fork
copies only the calling thread, so a lock held by another thread, a loop or a connected
session would be copied broken into every bot. Bots are reaped here (they are our
children) through pidfds, and their exit status goes back to their keeper.

Life: ``spawn`` or the first keeper that needs it starts it (``zygote_launch``), handing
it the held start lock, which it releases once it listens. A keeper whose
connection closes (it was killed) takes its bot with it: SIGTERM, then SIGKILL to the
bot's group after the request's grace period, so a bot never outlives its keeper and
two copies of one bot never run. When no keeper has been connected and no bot has run
for ``BOT_ZYGOTE_IDLE_SECONDS`` (default 30) it exits. When a ``framework`` source file is
newer than the zygote, it answers the next spawn ``stale``, stops listening and exits once
its last bot has: the keeper then starts a zygote with the new code.
"""

from __future__ import annotations

import gc
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import module_index
from .zygote_protocol import START_LOCK_FD_VAR, STALE, ZygotePaths, python_command, receive_message, send_message

__all__ = ["main", "Zygote"]

DEFAULT_IDLE_SECONDS = 30.0


def _say(message: str) -> None:
    """One line in logs/zygote.log (our stderr). Never the contents of a request."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} zygote[{os.getpid()}] {message}", file=sys.stderr, flush=True)


@dataclass
class _Bot:
    owner: int | None  # the fd of the keeper's connection; None once the keeper is gone
    pidfd: int
    grace: float
    kill_at: float | None = None  # SIGKILL to its group at this monotonic time


class Zygote:
    """The fork server's loop: accept keepers, fork bots, reap them, report exits."""

    def __init__(
        self,
        listener: socket.socket,
        socket_path: Path,
        started_at: float,
        idle_seconds: float,
        *,
        helpers: list[int] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._listener: socket.socket | None = listener
        self._socket_path = socket_path
        self._socket_inode = os.stat(socket_path).st_ino
        self._started_at = started_at
        self._idle_seconds = idle_seconds
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, "accept")
        self._keepers: dict[int, socket.socket] = {}
        self._bots: dict[int, _Bot] = {}
        # Processes of our own (the module record's writer), reaped when they exit.
        self._helpers: dict[int, int] = {}
        for pid in helpers or []:
            self._helpers[pid] = os.pidfd_open(pid)
            self._selector.register(self._helpers[pid], selectors.EVENT_READ, ("helper", pid))
        self._idle_since: float | None = self._monotonic()
        self._source_root = Path(__file__).resolve().parent.parent

    def serve(self) -> int:
        while not self._finished():
            timeout = self._next_timeout()
            for key, _mask in self._selector.select(timeout):
                self._dispatch(key.data, key.fileobj)
            self._kill_overdue()
        _say("exiting")
        return 0

    # -- events -------------------------------------------------------------------

    def _dispatch(self, what: Any, fileobj: Any) -> None:
        if what == "accept":
            self._accept()
        elif isinstance(what, tuple) and what[0] == "keeper":
            self._from_keeper(fileobj)
        elif isinstance(what, tuple) and what[0] == "bot":
            self._reap(what[1])
        elif isinstance(what, tuple) and what[0] == "helper":
            self._reap_helper(what[1])

    def _accept(self) -> None:
        if self._listener is None:
            return
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        conn.settimeout(2.0)  # a keeper that stops reading must not stall every other bot
        self._keepers[conn.fileno()] = conn
        self._selector.register(conn, selectors.EVENT_READ, ("keeper", conn.fileno()))
        self._note_idle()  # a connected keeper keeps us, even before it asks for a bot

    def _from_keeper(self, conn: socket.socket) -> None:
        try:
            message, fds = receive_message(conn, with_fds=True)
        except OSError:
            message, fds = None, []
        if message is None:
            self._keeper_gone(conn)
            return
        try:
            self._spawn(conn, message, fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _spawn(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        problem = _request_problem(request, fds)
        command = python_command(request["argv"]) if problem is None else None
        if problem is None and command is None:
            problem = "not a python command this zygote can run"
        if problem is not None:
            self._reply(conn, {"error": problem})
            return
        if self._code_changed():
            _say("framework source changed since start: retiring; new bots go to a fresh zygote")
            self._retire()  # first: a keeper told "stale" must not reconnect to this listener
            self._reply(conn, {"error": STALE})
            return
        assert command is not None
        self._load_extras(request.get("extras") or [])
        inherited = [self._selector.fileno(), *self._keepers, *(bot.pidfd for bot in self._bots.values()),
                     *self._helpers.values()]
        if self._listener is not None:
            inherited.append(self._listener.fileno())
        pid = os.fork()
        if pid == 0:
            from .zygote_child import become_bot

            become_bot(request, command, fds[0], inherited)
        grace = request.get("grace")
        request.clear()  # the bot's environment (its secrets) lives on in the child only
        pidfd = os.pidfd_open(pid)
        self._bots[pid] = _Bot(conn.fileno(), pidfd, float(grace) if isinstance(grace, (int, float)) else 10.0)
        self._selector.register(pidfd, selectors.EVENT_READ, ("bot", pid))
        self._idle_since = None
        self._reply(conn, {"pid": pid})

    def _load_extras(self, names: list[str]) -> None:
        """Import what this bot needs beyond the common preload, before forking it: it and
        every later bot then share it. Frozen like the preload, so no bot's collections
        walk it. A failed import is the bot's to report: it imports the module itself."""
        from framework.runtime.extras import load_extras

        loaded = len(sys.modules)
        try:
            load_extras(names)
        except Exception as exc:  # noqa: BLE001  (the forked bot meets and reports the same error)
            _say(f"could not preload {', '.join(names)}: {type(exc).__name__}: {exc}")
        if len(sys.modules) != loaded:
            _say(f"preloaded {', '.join(names)} for the bots that use them")
            gc.freeze()

    def _reap(self, pid: int) -> None:
        bot = self._bots.pop(pid)
        self._selector.unregister(bot.pidfd)
        os.close(bot.pidfd)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        # What the bot started dies with it: its group id is its pid, which Linux does
        # not reuse while the group has members, so this reaches only those.
        _kill_group(pid, signal.SIGKILL)
        conn = self._keepers.get(bot.owner) if bot.owner is not None else None
        if conn is not None:
            self._reply(conn, {"exit": code, "pid": pid})
        self._note_idle()

    def _reap_helper(self, pid: int) -> None:
        pidfd = self._helpers.pop(pid)
        self._selector.unregister(pidfd)
        os.close(pidfd)
        os.waitpid(pid, 0)  # it says how it went in our log itself

    def _keeper_gone(self, conn: socket.socket) -> None:
        fd = conn.fileno()
        self._selector.unregister(conn)
        del self._keepers[fd]
        conn.close()
        now = self._monotonic()
        for pid, bot in self._bots.items():
            if bot.owner == fd:
                # Its keeper was killed: nobody would restart, stop or report this bot.
                _say(f"keeper of pid {pid} is gone: stopping the bot (SIGKILL in {bot.grace:g} s)")
                bot.owner = None
                bot.kill_at = now + bot.grace
                _kill(pid, signal.SIGTERM)
        self._note_idle()

    def _kill_overdue(self) -> None:
        now = self._monotonic()
        for pid, bot in self._bots.items():
            if bot.kill_at is not None and now >= bot.kill_at:
                bot.kill_at = None
                _kill_group(pid, signal.SIGKILL)

    # -- state --------------------------------------------------------------------

    def _reply(self, conn: socket.socket, message: dict[str, Any]) -> None:
        try:
            send_message(conn, message)
        except OSError:  # the keeper is going away; its EOF arrives next
            pass

    def _retire(self) -> None:
        if self._listener is None:
            return
        self._selector.unregister(self._listener)
        self._listener.close()
        self._listener = None
        try:  # only our own socket file: a newer zygote may already own the path
            if os.stat(self._socket_path).st_ino == self._socket_inode:
                self._socket_path.unlink()
        except FileNotFoundError:
            pass

    def _code_changed(self) -> bool:
        """Whether a framework source file is newer than this zygote (or has gone).

        Checked before every fork, so with ``os.scandir`` rather than ``Path.rglob``:
        0.8 ms instead of 4 ms for the framework's ~240 files."""
        folders = [str(self._source_root)]
        while folders:
            try:
                entries = os.scandir(folders.pop())
            except FileNotFoundError:  # a package removed
                return True
            with entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "__pycache__":
                            folders.append(entry.path)
                    elif entry.name.endswith(".py"):
                        try:
                            if entry.stat().st_mtime > self._started_at:
                                return True
                        except FileNotFoundError:
                            return True
        return False

    def _note_idle(self) -> None:
        if not self._bots and not self._keepers and self._idle_since is None:
            self._idle_since = self._monotonic()
        elif self._bots or self._keepers:
            self._idle_since = None

    def _finished(self) -> bool:
        if self._listener is None:
            return not self._bots  # retired: wait for the last bot to be reaped and reported
        return self._idle_since is not None and self._monotonic() - self._idle_since >= self._idle_seconds

    def _next_timeout(self) -> float:
        deadlines = [bot.kill_at for bot in self._bots.values() if bot.kill_at is not None]
        if self._idle_since is not None:
            deadlines.append(self._idle_since + self._idle_seconds)
        if not deadlines:
            return 60.0
        return max(0.0, min(deadlines) - self._monotonic())


def _request_problem(request: dict[str, Any], fds: list[int]) -> str | None:
    if request.get("op") != "spawn":
        return f"unknown op {request.get('op')!r}"
    if len(fds) != 1:
        return "a spawn request carries exactly one descriptor (the output pipe)"
    argv, env, cwd = request.get("argv"), request.get("env"), request.get("cwd")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        return "argv must be a list of strings"
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return "env must map strings to strings"
    if not isinstance(cwd, str) or not os.path.isdir(cwd):
        return f"cwd {cwd!r} is not a directory"
    from framework.runtime.extras import EXTRAS

    extras = request.get("extras", [])
    if not isinstance(extras, list) or not all(isinstance(e, str) and e in EXTRAS for e in extras):
        return f"extras must be a list of {sorted(EXTRAS)}"
    return None


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _listen(path: Path) -> socket.socket:
    """Bind under a temporary name, then rename: the path appears only once it accepts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(temporary))
    os.chmod(temporary, 0o600)  # only this user's keepers may ask for a bot
    listener.listen(64)
    listener.setblocking(False)
    os.replace(temporary, path)
    return listener


def _idle_seconds() -> float:
    raw = os.environ.get("BOT_ZYGOTE_IDLE_SECONDS", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_IDLE_SECONDS
    except ValueError:
        return DEFAULT_IDLE_SECONDS


def _release_start_lock() -> None:
    """Close the held start lock our launcher handed us (see ``zygote_launch``), if any."""
    raw = os.environ.pop(START_LOCK_FD_VAR, "")
    if raw.isdigit():
        try:
            os.close(int(raw))
        except OSError:
            pass


def main() -> int:
    started_at = time.time()
    home = Path(os.environ.get("BOT_HOME") or os.getcwd()).resolve()
    # Off while importing: the imports build ~200,000 long-lived objects, and collecting
    # them now would only scatter them. Frozen afterwards, a bot's collections skip them,
    # so the pages holding them stay shared instead of being copied into every bot. No
    # collection before the freeze: it would take ~0.2 s, all of it on the first bot's way
    # to ready, to free ~2,000 objects (about 0.5 MB, which the bots share instead).
    gc.disable()
    paths = ZygotePaths(home)
    finder = module_index.install(paths.module_index)  # no search, nor bytecode cache reads
    import framework.runtime.preload  # noqa: F401

    module_index.uninstall(finder)
    # Gathered before the freeze (its objects are freed before any fork), recorded by a
    # helper once we listen: the first bot does not wait for the record to be written.
    collected = module_index.collect(started_at) if finder is None else None
    gc.freeze()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # a library started a thread at import: forking now would copy it broken
        _say(f"refusing to fork bots: {threads} threads after preloading (expected 1)")
        return 1
    listener = _listen(paths.socket)
    _release_start_lock()  # keepers waiting on it now find the socket (and the helper never holds it)
    helpers = []
    if collected is not None:
        try:
            helpers.append(module_index.record_in_background(paths.module_index, collected))
        except OSError as exc:
            _say(f"could not start the module record's writer: {exc}")
        del collected
    if finder is not None:
        found = f"{finder.answered} modules found from {paths.module_index.name}, {finder.from_record} with their code"
    elif helpers:
        found = f"modules searched for; recording them in {paths.module_index.name}"
    else:
        found = "modules searched for"
    # Not gc.get_freeze_count(): it walks all ~200,000 frozen objects (26 ms measured), and
    # the first keeper is already waiting.
    _say(f"ready in {time.time() - started_at:.2f} s ({found})")
    return Zygote(listener, paths.socket, started_at, _idle_seconds(), helpers=helpers).serve()


if __name__ == "__main__":
    sys.exit(main())
