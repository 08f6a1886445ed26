"""The keeper's state machine: start the bot runtime, watch it, restart it with backoff.

:class:`Keeper` holds no OS calls of its own: processes go through a ``ProcessOps``, time
through a ``BlockingClock``, jitter through a ``random.Random`` and log lines through a sink. Tests
drive it with fakes and a clock whose ``sleep`` only advances a number::

    keeper = Keeper("alpha", paths, ["python", "-m", "framework.runtime", "alpha"],
                    ops=ProcessOps(), clock=SystemBlockingClock(), settings=KeeperSettings(), sink=sink, env=env)
    exit_code = keeper.run()   # returns once stopped (0) or fatal (1)

Restart policy (supervisord's names): a run shorter than ``startsecs`` is a fast crash;
more than ``startretries`` fast crashes in a row make the bot ``fatal``. Delays grow as
``backoff_initial_seconds * 2**n`` up to ``backoff_max_seconds``, plus up to ``jitter``
of themselves; a run of ``startsecs`` or longer resets both counters. Exit code 78 is a
configuration error and is never retried; exit code 0 is a clean shutdown the runtime
chose itself (it was signalled by someone else) and is not restarted either. Exit code
75 means Discord (or DNS) could not be reached: it is retried with the same capped
backoff for as long as it lasts and never counts as a fast crash, so a server whose
network comes up late after a reboot still gets its bot back.
"""

from __future__ import annotations

import logging
import random
import signal
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .. import exitcodes
from ..fsutil import read_json
from ..paths import BotPaths
from .pidfile import remove_pidfile, write_pidfile
from ..clock import BlockingClock
from .process_ops import ChildHandle, OutputCallback, ProcessIdentity, describe_exit
from .states import BotState, KeeperStatus, write_state

__all__ = ["Keeper", "KeeperSettings", "KeeperSink", "KeeperOps", "describe_exit"]

_log = logging.getLogger(__name__)


class KeeperOps(Protocol):
    """The part of ``ProcessOps`` the keeper uses."""

    def spawn(self, argv: list[str], *, cwd: Any, env: dict[str, str], on_output: OutputCallback) -> ChildHandle: ...

    def kill(self, pid: int, sig: int) -> bool: ...

    def identity(self, pid: int | None = None) -> ProcessIdentity: ...


class KeeperSink(Protocol):
    """Where the keeper's events and the child's output lines go (the bot's log file)."""

    def event(self, level: int, message: str) -> None: ...

    def output(self, line: str) -> None: ...


@dataclass(frozen=True)
class KeeperSettings:
    startsecs: float = 15.0
    startretries: int = 5
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    stopwaitsecs: float = 10.0
    jitter: float = 0.1  # fraction of the delay added at random
    poll_interval: float = 0.1  # how often the keeper looks at the child and the ready file
    # ... while the bot is starting: the ready file is what `spawn` and a restart wait for,
    # and a forked bot is ready in a few hundred milliseconds.
    starting_poll_interval: float = 0.005

    @classmethod
    def from_config(cls, supervisor: Any) -> KeeperSettings:
        """From a ``SupervisorConfig`` (duck-typed so this module never imports pydantic)."""
        return cls(
            startsecs=supervisor.startsecs,
            startretries=supervisor.startretries,
            backoff_initial_seconds=supervisor.backoff_initial_seconds,
            backoff_max_seconds=supervisor.backoff_max_seconds,
            stopwaitsecs=supervisor.stopwaitsecs,
        )


class Keeper:
    """Supervises one bot runtime process until it is stopped or gives up."""

    def __init__(
        self,
        bot_id: str,
        paths: BotPaths,
        command: list[str],
        *,
        ops: KeeperOps,
        clock: BlockingClock,
        settings: KeeperSettings,
        sink: KeeperSink,
        env: dict[str, str],
        rng: random.Random | None = None,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.bot_id = bot_id
        self.paths = paths
        self.command = list(command)
        self._ops = ops
        self._clock = clock
        self._settings = settings
        self._sink = sink
        self._env = env
        self._rng = rng or random.Random()
        self._redact = redact
        self.status = KeeperStatus(BotState.STOPPED)
        self._child: ChildHandle | None = None
        self._child_started = 0.0  # monotonic
        self._fast_crashes = 0
        self._backoff_step = 0
        self._restart_at = 0.0
        self._kill_at = 0.0
        self._killed = False
        self._stop_requested = False
        self._recent_output: deque[str] = deque(maxlen=5)
        self._identity: ProcessIdentity | None = None

    # -- public ---------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask for a clean stop. Only sets a flag, so it is safe in a signal handler."""
        self._stop_requested = True

    def run(self) -> int:
        """Write the pidfile, start the runtime and supervise it; 0 once stopped, 1 once fatal."""
        self._identity = self._ops.identity()
        write_pidfile(self.paths.pidfile, self._identity)
        try:
            self._start_child()
            while not self.finished:
                self.step()
                if not self.finished:
                    self._clock.sleep(self._poll_interval())
        finally:
            remove_pidfile(self.paths.pidfile, self._identity)
        return exitcodes.OK if self.status.state is BotState.STOPPED else exitcodes.FAILURE

    def _poll_interval(self) -> float:
        if self.status.state is BotState.STARTING:
            return min(self._settings.poll_interval, self._settings.starting_poll_interval)
        return self._settings.poll_interval

    @property
    def finished(self) -> bool:
        return self.status.state in (BotState.STOPPED, BotState.FATAL)

    def step(self) -> None:
        """Look at the stop flag, the child, the ready file and the timers once."""
        now = self._clock.monotonic()
        state = self.status.state
        if self._stop_requested and state in (BotState.STARTING, BotState.RUNNING, BotState.BACKOFF):
            self._begin_stop(now)
        if self._child is not None:
            code = self._child.poll()
            if code is not None:
                self._on_exit(code, now)
                return
            if self.status.state is BotState.STARTING and self.paths.ready_file.exists():
                # starting -> running: the runtime reported its Discord session ready
                self._set(BotState.RUNNING)
                self._event(logging.INFO, f"ready (pid {self._child.pid})")
            elif self.status.state is BotState.STOPPING and not self._killed and now >= self._kill_at:
                self._event(
                    logging.WARNING,
                    f"pid {self._child.pid} did not exit within {self._settings.stopwaitsecs:g} s of SIGTERM; sending SIGKILL",
                )
                self._ops.kill(self._child.pid, signal.SIGKILL)
                self._killed = True
        elif self.status.state is BotState.BACKOFF and now >= self._restart_at:
            # backoff -> starting: the delay has passed
            self.status.restarts += 1
            self._start_child()

    def abort(self, reason: str) -> None:
        """The keeper itself failed: kill the child so it is not orphaned, and record why."""
        if self._child is not None and self._child.poll() is None:
            self._ops.kill(self._child.pid, signal.SIGKILL)
        self._child = None
        self._event(logging.ERROR, f"fatal: {reason}")
        self._set(BotState.FATAL, child_pid=None, last_error=reason)

    # -- transitions ----------------------------------------------------------

    def _start_child(self) -> None:
        # Stale files from the previous run would make a fresh start look ready, or
        # lend it the previous run's error.
        self.paths.ready_file.unlink(missing_ok=True)
        self.paths.exit_file.unlink(missing_ok=True)
        self._recent_output.clear()
        self._killed = False
        try:
            child = self._ops.spawn(self.command, cwd=self.paths.home, env=self._env, on_output=self._on_output)
        except OSError as exc:
            # -> fatal: the command itself cannot run; retrying will not change that
            reason = f"could not start {self.command[0]}: {exc.strerror or exc}"
            self._event(logging.ERROR, f"fatal: {reason}")
            self._set(BotState.FATAL, child_pid=None, last_error=reason)
            return
        self._child = child
        self._child_started = self._clock.monotonic()
        self._set(BotState.STARTING, child_pid=child.pid, started_at=self._clock.time(), retry_at=None)
        self._event(logging.INFO, f"started pid {child.pid}")

    def _begin_stop(self, now: float) -> None:
        if self._child is None:
            # backoff -> stopped: nothing is running, cancel the pending restart
            self._event(logging.INFO, "stop requested during backoff; not restarting")
            self._set(BotState.STOPPED, child_pid=None)
            return
        # starting|running -> stopping
        self._event(logging.INFO, f"stopping: sent SIGTERM to pid {self._child.pid}")
        self._ops.kill(self._child.pid, signal.SIGTERM)
        self._kill_at = now + self._settings.stopwaitsecs
        self._set(BotState.STOPPING)

    def _on_exit(self, code: int, now: float) -> None:
        ran_for = now - self._child_started
        self._child = None
        self._event(logging.INFO if code == 0 else logging.WARNING, f"{describe_exit(code)} after {ran_for:.1f} s")
        if self.status.state is BotState.STOPPING:
            # stopping -> stopped: whatever the code, we asked for it
            self._set(BotState.STOPPED, child_pid=None, last_exit_code=code)
            self._event(logging.INFO, "stopped")
            return
        if code == exitcodes.OK:
            # -> stopped: the runtime shut down cleanly on its own (someone signalled it)
            self._set(BotState.STOPPED, child_pid=None, last_exit_code=code)
            self._event(logging.INFO, "clean shutdown; not restarting")
            return
        reason = self._exit_reason(code)
        if code == exitcodes.CONFIG:
            # -> fatal: a configuration error needs a person, never a retry
            self._fatal(code, reason)
            return
        if code == exitcodes.UNREACHABLE:
            # -> backoff, never fatal: the network is down, not the bot; it comes back on its own
            delay = self._next_delay()
            self._restart_at = now + delay
            self._set(
                BotState.BACKOFF, child_pid=None, last_exit_code=code, last_error=reason,
                retry_at=self._clock.time() + delay,
            )
            self._event(logging.WARNING, f"{reason}; restarting in {delay:.2f} s")
            return
        if ran_for >= self._settings.startsecs:
            # A run that got past startsecs was a good start: forget earlier crashes.
            self._fast_crashes = 0
            self._backoff_step = 0
        else:
            self._fast_crashes += 1
        if self._fast_crashes > self._settings.startretries:
            # -> fatal: it keeps dying right after starting; retrying forever only burns logins
            self._fatal(
                code,
                f"crashed {self._fast_crashes} times within {self._settings.startsecs:g} s of starting; "
                f"last error: {reason}",
            )
            return
        # -> backoff
        delay = self._next_delay()
        self._restart_at = now + delay
        self._set(BotState.BACKOFF, child_pid=None, last_exit_code=code, last_error=reason, retry_at=self._clock.time() + delay)
        self._event(logging.INFO, f"restarting in {delay:.2f} s")

    def _fatal(self, code: int, reason: str) -> None:
        self._set(BotState.FATAL, child_pid=None, last_exit_code=code, last_error=reason)
        self._event(logging.ERROR, f"fatal: {reason}")

    # -- helpers --------------------------------------------------------------

    def _next_delay(self) -> float:
        s = self._settings
        base = min(s.backoff_initial_seconds * 2**self._backoff_step, s.backoff_max_seconds)
        # Capped so that a network down for days never overflows the float.
        self._backoff_step = min(self._backoff_step + 1, 60)
        # Jitter keeps several bots that crashed together (say, network down) from
        # reconnecting in lockstep.
        return min(base * (1 + self._rng.uniform(0, s.jitter)), s.backoff_max_seconds)

    def _exit_reason(self, code: int) -> str:
        base = "configuration error" if code == exitcodes.CONFIG else describe_exit(code)
        report = read_json(self.paths.exit_file)
        if isinstance(report, dict) and isinstance(report.get("error"), str) and report["error"].strip():
            error = self._redact(report["error"].strip().splitlines()[0])
            if code == exitcodes.CONFIG and not error.lower().startswith("configuration error"):
                error = f"configuration error: {error}"
            return error
        if self._recent_output:
            return f"{base}; last output: {self._recent_output[-1]}"
        return base

    def _on_output(self, line: str) -> None:
        # Called from the output pump thread; deque.append and handler.handle are thread-safe.
        clean = self._redact(line)
        self._sink.output(clean)
        if clean.strip():
            self._recent_output.append(clean.strip()[:500])

    def _event(self, level: int, message: str) -> None:
        self._sink.event(level, self._redact(message))

    def _set(self, state: BotState, **fields: Any) -> None:
        self.status.state = state
        for name, value in fields.items():
            setattr(self.status, name, value)
        self.status.updated_at = self._clock.time()
        write_state(self.paths.state_file, self.status)
