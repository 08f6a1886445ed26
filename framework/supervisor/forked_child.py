"""A bot forked by the zygote, as the keeper sees it: the second ``ChildHandle``.

``poll()`` returns the exit status the zygote reports over the keeper's connection, with
Popen's meaning (negative for a signal), so the keeper's state machine treats a forked bot
and an exec'd one alike. The bot's output arrives on a pipe whose write end the zygote
handed to the bot; it is copied into the log by the same pump as an exec'd child's.

If the zygote dies while the bot runs, nobody can report that bot's exit status any more:
the handle stops the bot itself (SIGTERM, SIGKILL to its group after the grace period,
through a pidfd so a reused pid is never signalled) and reports ``EXIT_ZYGOTE_LOST``, a
crash like any other, so the keeper restarts it from a new zygote after the backoff.
"""

from __future__ import annotations

import os
import select
import signal
import time
from typing import Protocol

from .process_ops import OutputCallback, pump_output

__all__ = ["EXIT_ZYGOTE_LOST", "ForkedChild", "ZygoteLink"]

EXIT_ZYGOTE_LOST = 70  # EX_SOFTWARE: the bot was stopped because its zygote went away


class ZygoteLink(Protocol):
    """What the handle needs of the keeper's connection to the zygote."""

    zygote_pid: int | None
    lost: bool

    def exit_code(self, pid: int) -> int | None: ...

    def close(self) -> None: ...


class ForkedChild:
    """A bot forked by the zygote: its pid, and its exit status once it has exited."""

    def __init__(self, pid: int, zygote: ZygoteLink, output_fd: int, on_output: OutputCallback, grace: float) -> None:
        self._pid = pid
        self._zygote = zygote
        self._on_output = on_output
        self._grace = grace
        self._code: int | None = None
        self._orphan_kill_at: float | None = None
        try:  # a handle on this very process, immune to pid reuse
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # already exited and reaped: the zygote reports it
            self._pidfd = None
        self._pump = pump_output(os.fdopen(output_fd, "rb"), on_output, name=f"output-{pid}")

    @property
    def pid(self) -> int:
        return self._pid

    def poll(self) -> int | None:
        if self._code is None:
            self._code = self._zygote.exit_code(self._pid)
            if self._code is None and (self._orphan_kill_at is not None or self._zygote.lost):
                self._code = self._poll_orphan()
            if self._code is not None:
                self._pump.join(timeout=1.0)  # the last lines (often the traceback) first
                self._close_pidfd()
        return self._code

    def send_signal(self, sig: int) -> bool:
        """Signal the bot (SIGKILL: its whole group); False when it has already exited."""
        if self._code is not None or not self._alive():
            return False
        try:
            if sig == signal.SIGKILL:
                os.killpg(self._pid, sig)  # its own group (setsid after the fork): what it started too
            elif self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, sig)
            else:
                return False
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _poll_orphan(self) -> int | None:
        """The zygote is gone: stop the bot ourselves, and report it once it has exited."""
        now = time.monotonic()
        if self._orphan_kill_at is None:
            self._on_output(
                f"[keeper] the zygote (pid {self._zygote.zygote_pid}) went away; stopping this bot "
                f"to restart it from a new one"
            )
            self._zygote.close()
            self._orphan_kill_at = now + self._grace
            self.send_signal(signal.SIGTERM)
        if not self._alive():
            return EXIT_ZYGOTE_LOST
        if now >= self._orphan_kill_at:
            self.send_signal(signal.SIGKILL)
        return None

    def _alive(self) -> bool:
        if self._pidfd is None:
            return False
        return not select.select([self._pidfd], [], [], 0)[0]  # readable once it has exited

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
