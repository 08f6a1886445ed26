"""What the keeper and the zygote say to each other, and where the zygote lives.

One zygote per project folder listens on ``run/zygote.sock``, a ``SOCK_SEQPACKET`` unix
socket: every message is one JSON object in one packet (no framing to get wrong), and a
file descriptor travels with a message as ``SCM_RIGHTS`` ancillary data.

Keeper -> zygote (one connection per keeper, kept for the keeper's life)::

    {"op": "spawn", "argv": [...], "cwd": "...", "env": {...}, "grace": 10.0}  + the output pipe's write end

Zygote -> keeper::

    {"pid": 1234}                      the bot is forked (answer to a spawn)
    {"error": "..."}                   not forked; "stale" means the zygote runs older code
    {"exit": -9, "pid": 1234}          the bot exited (Popen's returncode: negative for a signal)

Imports only the standard library, so neither side pays for the other's.
"""

from __future__ import annotations

import array
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "START_LOCK_FD_VAR", "STALE", "ZygotePaths", "preload_switched_off", "send_message", "receive_message",
    "python_command", "MAX_MESSAGE",
]

STALE = "stale"
# The descriptor of the held ``run/zygote.start.lock`` a launcher hands the zygote, which
# closes it (releasing the lock) once it listens.
START_LOCK_FD_VAR = "BOT_ZYGOTE_START_LOCK_FD"
# The environment travels in the spawn request; 1 MiB is far above any real one.
MAX_MESSAGE = 1 << 20


def preload_switched_off(environ: Mapping[str, str]) -> bool:
    """``BOT_PRELOAD=0`` (or false, no, off): every bot is exec'd, whatever its config says."""
    return environ.get("BOT_PRELOAD", "").strip().lower() in ("0", "false", "no", "off")


class ZygotePaths:
    """The zygote's files under the project folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.socket = home / "run" / "zygote.sock"
        self.start_lock = home / "run" / "zygote.start.lock"  # held from a zygote's launch until it listens
        self.log = home / "logs" / "zygote.log"
        self.module_index = home / "run" / "zygote.modules"  # where the preload's modules live


def send_message(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive_message(sock: socket.socket, *, with_fds: bool = False) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; ``(None, [])`` at end of stream.

    A message that is not a JSON object is treated as the end of the conversation: the
    other side is not speaking this protocol.
    """
    if with_fds:
        data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 4)
    else:
        data, fds = sock.recv(MAX_MESSAGE), []
    if not data:
        _close_all(fds)
        return None, []
    try:
        message = json.loads(data)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        _close_all(fds)
        return None, []
    return message, list(fds)


def _close_all(fds: list[int] | array.array[int]) -> None:
    for fd in fds:
        os.close(fd)


def python_command(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """``("module", name, args)`` or ``("path", script, args)`` when ``argv`` runs this very
    interpreter on a module or a script, else None (the zygote can only run those).

    Flags are accepted when they change nothing a forked interpreter could not match:
    ``-u`` (the child writes through) and ``-B``/``-E``/``-s``/``-S`` are not, so only ``-u``.
    """
    # Not realpath: a virtualenv's python is a symlink to the system one, but the venv
    # (its packages) is what must match.
    if not argv or os.path.abspath(argv[0]) != os.path.abspath(sys.executable):
        return None
    rest = argv[1:]
    while rest and rest[0] == "-u":
        rest = rest[1:]
    if len(rest) >= 2 and rest[0] == "-m":
        return "module", rest[1], rest[2:]
    if rest and not rest[0].startswith("-"):
        return "path", rest[0], rest[1:]
    return None
