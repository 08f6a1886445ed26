"""Which start-up failures are the network's, not the configuration's, and how to say so.

discord.py's login is a plain HTTP request: when the network is down it lets aiohttp's
connection errors through (a refused connection, a failed DNS lookup, a timeout), and a
Discord outage comes back as a 5xx. None of them is fixed by editing the config, and all
of them go away on their own, so they become :class:`~framework.errors.UnreachableError`
with one line a person can read: ``cannot reach discord.com (DNS)``.
"""

from __future__ import annotations

import asyncio
import errno
import socket

import aiohttp
import discord

__all__ = ["unreachable_reason"]

# errno values that mean "no route to the server right now" rather than a bug.
_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETDOWN: "network down",
    errno.ETIMEDOUT: "timed out",
}


def unreachable_reason(exc: BaseException, default_host: str = "discord.com") -> str | None:
    """``cannot reach HOST (WHY)`` when ``exc`` means the server could not be reached; else None."""
    if isinstance(exc, discord.DiscordServerError):
        return f"cannot reach {default_host} (Discord answered {exc.status}; it is having trouble)"
    host = getattr(exc, "host", None) or default_host
    why = _why(exc)
    return None if why is None else f"cannot reach {host} ({why})"


def _why(exc: BaseException) -> str | None:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "DNS"
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, socket.gaierror):
            return "DNS"
        return _ERRNO_WORDS.get(cause.errno or 0) or (cause.strerror or type(cause).__name__).lower()
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return "timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, socket.gaierror):
        return "DNS"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[exc.errno]
    return None
