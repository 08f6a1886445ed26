"""Launching a project's zygote, for whoever finds none running: ``spawn`` first thing, or
a keeper.

Kept apart from :mod:`.zygote_client` (a keeper's conversation with the zygote) because
``spawn`` runs this before anything else, while the zygote's preload has not begun: so it
imports nothing a launch does not need (no psutil, no logging).

The launcher holds ``run/zygote.start.lock`` and hands it to the zygote it starts (an
inherited descriptor, ``BOT_ZYGOTE_START_LOCK_FD``); the zygote releases it once it
listens. A keeper that finds the lock held waits for that zygote instead of starting a
second one.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Mapping

import framework

from .zygote_protocol import START_LOCK_FD_VAR, ZygotePaths

__all__ = ["connect_zygote", "keeper_environ", "launch_zygote", "reap_launched", "start_zygote", "zygote_environ"]

# Zygotes this process started: kept so each is reaped (polled) once it exits, even after
# the connection that started it is gone; dropping a running Popen makes Python warn.
_STARTED: list[subprocess.Popen[bytes]] = []
# What the zygote inherits from the keeper: where to find Python and the project, never a secret.
_ZYGOTE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
               "BOT_HOME", "BOT_ZYGOTE_IDLE_SECONDS")


def keeper_environ(home: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a keeper (and a zygote ``spawn`` starts) runs with."""
    env = {**environ, "BOT_HOME": str(home)}
    # The keeper and the runtime run `-m framework...` from the project folder; make
    # this framework importable there even when it is not installed.
    source_root = str(Path(framework.__file__).resolve().parent.parent)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = source_root + (os.pathsep + existing if existing else "")
    return env


def zygote_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The zygote's environment: the keeper's minus everything but the paths it needs.

    A bot's secrets reach only that bot, in its own spawn request.
    """
    return {name: environ[name] for name in _ZYGOTE_ENV if name in environ}


def start_zygote(home: Path, environ: Mapping[str, str]) -> bool:
    """Launch the project's zygote unless it runs or is being started; never wait for it.

    True when this call launched it. ``environ`` is the keepers' environment (the zygote
    keeps only its paths). The start lock goes to the new zygote, which releases it once
    it listens: a keeper that asks meanwhile waits for this zygote instead of launching one.
    """
    paths = ZygotePaths(home)
    paths.start_lock.parent.mkdir(parents=True, exist_ok=True)
    with open(paths.start_lock, "a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a keeper or a zygote holds it: one is being started
        running = connect_zygote(paths.socket)
        if running is not None:
            running.close()
            return False
        paths.socket.unlink(missing_ok=True)  # stale: its zygote is gone
        _launch_detached(paths, zygote_environ({**environ, "BOT_HOME": str(home)}), lock.fileno())
        return True  # closing our copy of the lock leaves it held by the zygote's


def connect_zygote(path: Path) -> socket.socket | None:
    """A connection to the zygote at ``path``; None when nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(str(path))
    except OSError:  # no socket yet, or a stale one nobody listens on
        sock.close()
        return None
    return sock


def launch_zygote(paths: ZygotePaths, environ: Mapping[str, str], lock_fd: int) -> subprocess.Popen[bytes]:
    """Start ``python -m framework.supervisor.zygote``, handing it the held start lock."""
    paths.log.parent.mkdir(parents=True, exist_ok=True)
    # At 3 or above: a launcher started with stdin (or stdout) closed can hold the lock on
    # fd 0, which the child's own stdin would replace, freeing the lock while it preloads.
    handed = fcntl.fcntl(lock_fd, fcntl.F_DUPFD_CLOEXEC, 3)
    try:
        with open(paths.log, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "framework.supervisor.zygote"],
                cwd=paths.home, env={**environ, START_LOCK_FD_VAR: str(handed)}, stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, pass_fds=(handed,),
                start_new_session=True,  # not in the keeper's group: stopping one bot must not stop it
            )
    finally:
        os.close(handed)
    _STARTED.append(proc)
    return proc


def reap_launched() -> None:
    """Reap the zygotes this process launched that have exited (and forget them)."""
    _STARTED[:] = [proc for proc in _STARTED if proc.poll() is None]


def _launch_detached(paths: ZygotePaths, environ: Mapping[str, str], lock_fd: int) -> None:
    """:func:`launch_zygote` from a child that exits at once: the zygote is nobody's child here.

    For a short-lived launcher (the CLI): it neither waits for the zygote nor reaps it, so
    holding it as a child would leave a zombie (and a warning about a running process) if
    the zygote exited first."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            launch_zygote(paths, environ, lock_fd)
            code = 0
        finally:
            os._exit(code)  # no cleanup of the parent's state in the child
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(f"could not launch the zygote (see {paths.log})")
