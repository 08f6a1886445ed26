"""Starting and stopping keepers from the CLI: ``spawn``, ``stop`` (``restart`` is both).

The CLI process is short-lived and not the keeper's parent for long, so everything it
learns comes from ``run/`` files and signals: it starts a keeper and polls
``run/<bot>.state.json`` until the bot is ready or has clearly failed; it stops one by
SIGTERM to the keeper and, past the grace period, SIGKILL to the keeper's whole process
group. A pid is only ever signalled after its start time matched the pidfile.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from .. import exitcodes
from ..errors import SupervisorError
from ..paths import BotPaths
from .logtail import last_log_lines
from .pidfile import EXIT_LOCKED, PidCheck, PidStatus, check_pidfile, remove_pidfile
from .process_ops import ChildHandle, ProcessIdentity, ProcessOps, describe_exit
from .states import ACTIVE_STATES, BotState, KeeperStatus, read_state, write_state
from .zygote_launch import keeper_environ

__all__ = ["Supervisor", "SpawnRequest", "SpawnResult", "StopResult", "ChildCommand", "LOG_TAIL_LINES", "keeper_environ"]

_log = logging.getLogger(__name__)

ChildCommand = Callable[[str], list[str]]
# (bot_id, one line) for each failed attempt to reach Discord while `spawn` waits.
ProgressCallback = Callable[[str, str], None]
LOG_TAIL_LINES = 15
# The keeper itself waits stopwaitsecs before SIGKILLing the bot; give it this much more
# to notice the exit and clean up before we SIGKILL the whole group.
STOP_MARGIN_SECONDS = 3.0


@dataclass(frozen=True)
class SpawnRequest:
    bot_id: str
    ready_timeout: float
    log_path: Path


@dataclass(frozen=True)
class SpawnResult:
    bot_id: str
    ok: bool
    message: str
    child_pid: int | None = None
    log_tail: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopResult:
    bot_id: str
    ok: bool
    message: str
    notes: tuple[str, ...] = ()


@dataclass
class _Launch:
    request: SpawnRequest
    keeper: ChildHandle
    deadline: float
    notes: tuple[str, ...]
    attempts_reported: int = 0  # failed attempts to reach Discord already printed


@dataclass
class _Stopping:
    bot_id: str
    keeper: ProcessIdentity
    started: float
    deadline: float
    notes: list[str] = field(default_factory=list)


class Supervisor:
    """Spawns and stops bots of one project folder.

    ``child_cmd`` replaces the bot runtime command (``bot_id -> argv``) and exists for
    tests that run a fake bot; it reaches the keeper as its hidden ``--child-cmd``.
    """

    def __init__(
        self,
        home: Path,
        environ: Mapping[str, str],
        *,
        ops: ProcessOps | None = None,
        child_cmd: ChildCommand | None = None,
        poll_interval: float = 0.01,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.home = home
        self.environ = dict(environ)
        self.ops = ops or ProcessOps()
        self.child_cmd = child_cmd
        self.poll_interval = poll_interval
        self._monotonic = monotonic
        self._sleep = sleep

    # -- spawn ------------------------------------------------------------------

    def spawn(
        self,
        requests: list[SpawnRequest],
        on_progress: ProgressCallback | None = None,
        while_waiting: Callable[[], object] | None = None,
    ) -> list[SpawnResult]:
        """Start a keeper per request, then wait for all of them together.

        While Discord cannot be reached the keeper keeps retrying; ``on_progress`` hears
        one line per failed attempt, and the wait lasts until ready or the ready timeout.
        ``while_waiting`` runs once, after the keepers are started and before the wait.
        """
        results: dict[str, SpawnResult] = {}
        launches: list[_Launch] = []
        for req in requests:
            try:
                launches.append(self._launch(req))
            except SupervisorError as exc:
                results[req.bot_id] = SpawnResult(req.bot_id, False, str(exc))
        if while_waiting is not None:
            while_waiting()
        pending = {launch.request.bot_id: launch for launch in launches}
        while pending:
            for bot_id, launch in list(pending.items()):
                result = self._check_launch(launch, on_progress)
                if result is not None:
                    results[bot_id] = result
                    del pending[bot_id]
            if pending:
                self._sleep(self.poll_interval)
        return [results[req.bot_id] for req in requests]

    def _launch(self, req: SpawnRequest) -> _Launch:
        paths = BotPaths.for_process(self.home, req.bot_id)
        check = check_pidfile(paths.pidfile, self.ops)
        if check.alive and check.record is not None:
            status = read_state(paths.state_file)
            pid = status.child_pid if status and status.child_pid else check.record.pid
            raise SupervisorError(f"{req.bot_id} is already running (pid {pid}); use `bot_manager restart {paths.bot_id}`")
        notes: list[str] = []
        if check.stale:
            notes.append(f"{check.describe(paths.pidfile)}; removed it")
            # A keeper killed with -9 can leave its bot connected: never run two copies.
            notes.extend(self._stop_orphans(check, wait=10.0))
            paths.pidfile.unlink(missing_ok=True)
        # The keeper writes a fresh state file; deleting the old one means anything we
        # read from now on is about this start, not the last run.
        paths.state_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "framework.supervisor.keeper", req.bot_id]
        if self.child_cmd is not None:
            argv += ["--child-cmd", json.dumps(self.child_cmd(req.bot_id))]
        try:
            keeper = self.ops.spawn_detached(argv, cwd=self.home, env=self._keeper_env())
        except OSError as exc:
            raise SupervisorError(f"could not start the keeper for {req.bot_id}: {exc}") from exc
        _log.debug("started keeper pid %d for %s", keeper.pid, req.bot_id)
        return _Launch(req, keeper, self._monotonic() + req.ready_timeout, tuple(notes))

    def _keeper_env(self) -> dict[str, str]:
        return keeper_environ(self.home, self.environ)

    def _check_launch(self, launch: _Launch, on_progress: ProgressCallback | None = None) -> SpawnResult | None:
        req = launch.request
        paths = BotPaths.for_process(self.home, req.bot_id)
        status = read_state(paths.state_file)
        if status is not None and _unreachable(status) and launch.keeper.poll() is None:
            # Discord cannot be reached: not a crash. The keeper retries on its own; wait
            # for it (one line per attempt), and without a traceback if it never connects.
            self._report_attempt(launch, status, on_progress)
            if self._monotonic() < launch.deadline:
                return None
            return SpawnResult(
                req.bot_id, False,
                f"{req.bot_id} is not connected after {req.ready_timeout:g} s: {status.last_error}; the keeper "
                f"keeps retrying and connects once Discord is reachable (`bot_manager status {paths.bot_id}`; "
                f"`bot_manager stop {paths.bot_id}` gives up)",
                notes=launch.notes,
            )
        result = self._judge_state(launch, status)
        if result is not None:
            return result
        code = launch.keeper.poll()
        if code is not None:
            # The keeper may have written its last state just before exiting.
            result = self._judge_state(launch, read_state(paths.state_file))
            if result is not None:
                return result
            if code == EXIT_LOCKED:
                return self._failed(launch, f"{req.bot_id}: another keeper is already starting it")
            return self._failed(launch, f"the keeper for {req.bot_id} {describe_exit(code)} before the bot was ready")
        if self._monotonic() >= launch.deadline:
            return self._failed(
                launch,
                f"{req.bot_id} did not report ready within {req.ready_timeout:g} s; it is still starting "
                f"(`bot_manager stop {paths.bot_id}` to give up)",
            )
        return None

    @staticmethod
    def _report_attempt(launch: _Launch, status: KeeperStatus, on_progress: ProgressCallback | None) -> None:
        if status.state is not BotState.BACKOFF or status.restarts + 1 <= launch.attempts_reported:
            return
        launch.attempts_reported = status.restarts + 1
        wait = ""
        if status.retry_at is not None and status.updated_at is not None:
            delay = max(0.0, status.retry_at - status.updated_at)
            wait = f"; retrying in {delay:.1f} s" if delay < 10 else f"; retrying in {delay:.0f} s"
        if on_progress is not None:
            on_progress(launch.request.bot_id, f"attempt {launch.attempts_reported}: {status.last_error}{wait}")

    def _judge_state(self, launch: _Launch, status: KeeperStatus | None) -> SpawnResult | None:
        bot_id = launch.request.bot_id
        if status is None:
            return None
        if status.state is BotState.RUNNING:
            return SpawnResult(bot_id, True, f"{bot_id} running (pid {status.child_pid})", status.child_pid, notes=launch.notes)
        if status.state is BotState.FATAL:
            return self._failed(launch, f"{bot_id} could not start: {status.last_error or 'unknown error'}")
        crashed = status.state is BotState.BACKOFF or (status.state is BotState.STARTING and status.restarts > 0)
        if crashed:
            code = "" if status.last_exit_code is None else f" ({describe_exit(status.last_exit_code)})"
            return self._failed(
                launch,
                f"{bot_id} crashed while starting{code}: {status.last_error or 'no error reported'}; "
                f"the keeper retries with backoff (`bot_manager stop {bot_id.partition('@')[0]}` to give up)",
            )
        if status.state is BotState.STOPPED:
            return self._failed(launch, f"{bot_id} stopped before it was ready ({describe_exit(status.last_exit_code or 0)})")
        return None

    def _failed(self, launch: _Launch, message: str) -> SpawnResult:
        tail = tuple(last_log_lines(launch.request.log_path, LOG_TAIL_LINES))
        return SpawnResult(launch.request.bot_id, False, message, log_tail=tail, notes=launch.notes)

    # -- stop -------------------------------------------------------------------

    def stop(self, requests: list[tuple[str, float]]) -> list[StopResult]:
        """Stop ``(bot_id, stopwaitsecs)`` pairs: SIGTERM every keeper, then wait for all."""
        results: dict[str, StopResult] = {}
        stopping: list[_Stopping] = []
        for bot_id, stopwaitsecs in requests:
            paths = BotPaths.for_process(self.home, bot_id)
            check = check_pidfile(paths.pidfile, self.ops)
            if not check.alive or check.record is None:
                results[bot_id] = self._not_running(paths, check)
                continue
            now = self._monotonic()
            self.ops.kill(check.record.pid, signal.SIGTERM)
            stopping.append(_Stopping(bot_id, check.record, now, now + stopwaitsecs + STOP_MARGIN_SECONDS))
        while stopping:
            for item in list(stopping):
                result = self._check_stop(item)
                if result is not None:
                    results[item.bot_id] = result
                    stopping.remove(item)
            if stopping:
                self._sleep(self.poll_interval)
        return [results[bot_id] for bot_id, _ in requests]

    def _check_stop(self, item: _Stopping) -> StopResult | None:
        paths = BotPaths.for_process(self.home, item.bot_id)
        if self.ops.is_same_process(item.keeper):
            if self._monotonic() < item.deadline:
                return None
            # The keeper did not finish in time: SIGKILL its whole group (keeper, bot and
            # anything the bot started). Safe: the group id is the verified keeper pid.
            self.ops.killpg(item.keeper.pid, signal.SIGKILL)
            self.ops.wait(item.keeper.pid, timeout=2.0)
            item.notes.append(f"keeper pid {item.keeper.pid} did not exit in time; killed its process group")
            self._mark_stopped(paths, "killed by `bot_manager stop` after the grace period")
        # Leftovers in the group (a bot's own children) die with it. The keeper's pid
        # cannot be reused while its group still has members, so this hits only them.
        if self.ops.group_exists(item.keeper.pid):
            self.ops.killpg(item.keeper.pid, signal.SIGKILL)
        remove_pidfile(paths.pidfile, item.keeper)
        elapsed = self._monotonic() - item.started
        return StopResult(item.bot_id, True, f"{item.bot_id} stopped ({elapsed:.1f} s)", tuple(item.notes))

    def _not_running(self, paths: BotPaths, check: PidCheck) -> StopResult:
        bot_id = paths.name
        notes: list[str] = []
        if check.stale:
            notes.append(f"{check.describe(paths.pidfile)}; removed it without signalling it")
            if check.status is PidStatus.GONE:
                notes.extend(self._stop_orphans(check, wait=10.0))
            paths.pidfile.unlink(missing_ok=True)
        status = read_state(paths.state_file)
        if status is not None and status.state in ACTIVE_STATES:
            notes.append(f"its keeper was gone (last state: {status.state.value}); marked stopped")
            self._mark_stopped(paths, status.last_error)
        elif status is not None and status.state is BotState.FATAL:
            notes.append(f"it gave up earlier: {status.last_error or 'unknown error'}")
        return StopResult(bot_id, True, f"{bot_id} is not running", tuple(notes))

    def _stop_orphans(self, check: PidCheck, wait: float) -> list[str]:
        """Stop what is left of a dead keeper's process group (only for a GONE pidfile).

        The pid is gone, so Linux cannot have given it to a new process while the group
        still has members: the group is the old keeper's, and signalling it is safe.
        """
        if check.status is not PidStatus.GONE or check.record is None:
            return []
        pgid = check.record.pid
        if not self.ops.group_exists(pgid):
            return []
        self.ops.killpg(pgid, signal.SIGTERM)
        deadline = self._monotonic() + wait
        while self.ops.group_exists(pgid) and self._monotonic() < deadline:
            self._sleep(self.poll_interval)
        if self.ops.group_exists(pgid):
            self.ops.killpg(pgid, signal.SIGKILL)
        return [f"stopped processes left behind by keeper pid {pgid}"]

    @staticmethod
    def _mark_stopped(paths: BotPaths, last_error: str | None) -> None:
        status = read_state(paths.state_file) or KeeperStatus(BotState.STOPPED)
        status.state = BotState.STOPPED
        status.child_pid = None
        status.last_error = last_error
        status.updated_at = time.time()
        write_state(paths.state_file, status)


def _unreachable(status: KeeperStatus) -> bool:
    """The keeper is retrying because Discord (or DNS) could not be reached."""
    return (
        status.last_exit_code == exitcodes.UNREACHABLE
        and status.state in (BotState.BACKOFF, BotState.STARTING)
    )
