"""Run one command line to its end or its deadline, whatever it does meanwhile.

The process starts in a session of its own, so on the deadline one ``killpg`` reaches it and
everything still in its group; in the jail, killing ``bwrap`` also tears down the PID
namespace (``--die-with-parent`` makes its init die with it), which takes every process
the command started, ``setsid`` or not. Output (stdout and stderr as one stream, in the
order written) is capped while it streams (:class:`~framework.coding.output.CappedOutput`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .output import CappedOutput

__all__ = ["CommandResult", "run_command"]

_CHUNK = 1 << 20  # big reads: a command printing 100 MB costs the bot ~100 loop wake-ups, not ~1,600


@dataclass(frozen=True)
class CommandResult:
    exit_code: int  # the command's, or -9 when killed by the deadline (like Popen: -signal)
    output: str  # capped, with a line saying what was cut
    timed_out: bool
    duration_s: float
    bytes_out: int  # everything the command printed, before the cap
    truncated: bool


async def _drain(stream: asyncio.StreamReader, sink: CappedOutput) -> None:
    while chunk := await stream.read(_CHUNK):
        sink.feed(chunk)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_command(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None, timeout: float, max_bytes: int, max_lines: int,
) -> CommandResult:
    """Run ``argv`` with ``env`` and at most ``timeout`` seconds; its output capped."""
    started = time.monotonic()
    sink = CappedOutput(max_bytes=max_bytes, max_lines=max_lines)
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=dict(env), cwd=cwd, start_new_session=True, limit=_CHUNK,
    )
    assert process.stdout is not None
    reading = asyncio.create_task(_drain(process.stdout, sink))
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except asyncio.TimeoutError:
        timed_out = True
    finally:
        # Also on success: a daemon the command left behind in its group goes with it. Linux
        # does not reuse a group's id while a member lives; an emptied group's id could only be
        # reused after the pid space wraps, not in the moment between the exit and this call.
        _kill_group(process.pid)
        if process.returncode is None:
            await process.wait()
    try:
        # The pipe closes when the last holder dies; a grandchild that escaped the group
        # cannot hold the call open past a short grace.
        await asyncio.wait_for(reading, 2.0)
    except asyncio.TimeoutError:
        reading.cancel()
    code = process.returncode if process.returncode is not None else -signal.SIGKILL
    return CommandResult(
        exit_code=-signal.SIGKILL if timed_out else code, output=sink.text(), timed_out=timed_out,
        duration_s=time.monotonic() - started, bytes_out=sink.total_bytes, truncated=sink.truncated,
    )
