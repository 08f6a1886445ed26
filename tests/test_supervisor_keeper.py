"""The keeper's state machine against a fake OS and a fake clock: no processes, no sleeps."""

from __future__ import annotations

import json
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from framework.paths import BotPaths
from framework.redact import Redactor
from framework.supervisor.machine import Keeper, KeeperSettings, describe_exit
from framework.supervisor.process_ops import ProcessIdentity
from framework.supervisor.states import BotState, read_state

KEEPER_ID = ProcessIdentity(4242, 1_000.0)


class FakeClock:
    """Monotonic time that moves only when the keeper sleeps; timers fire on the way."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, Callable[[], None]]] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self._timers if t[0] <= self.now]
        self._timers = [t for t in self._timers if t[0] > self.now]
        for _, fn in sorted(due, key=lambda t: t[0]):
            fn()
        if self.now > 10_000:  # a keeper that never finishes is a test failure, not a hang
            raise RuntimeError("fake clock ran past 10000 s")

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        self._timers.append((when, fn))


@dataclass
class Script:
    """How one fake child behaves."""

    exit_code: int | None = None  # exits with this after exit_after seconds; None: runs until signalled
    exit_after: float = 0.5
    ready_after: float | None = 0.2  # writes the ready file (None: never)
    output: list[str] = field(default_factory=list)
    exit_error: str | None = None  # written to run/<bot>.exit.json at exit
    term_exit_code: int | None = 0  # exit code on SIGTERM; None ignores SIGTERM


class FakeChild:
    def __init__(self, pid: int, script: Script, clock: FakeClock, paths: BotPaths, on_output: Callable[[str], None]):
        self.pid = pid
        self.script = script
        self._clock = clock
        self._paths = paths
        self.started = clock.monotonic()
        self._exit_at = None if script.exit_code is None else self.started + script.exit_after
        self._code = script.exit_code
        self._ready_written = False
        for line in script.output:
            on_output(line)

    def exit(self, code: int) -> None:
        if self._exit_at is None or self._exit_at > self._clock.monotonic():
            self._exit_at = self._clock.monotonic()
            self._code = code

    def poll(self) -> int | None:
        now = self._clock.monotonic()
        exited = self._exit_at is not None and now >= self._exit_at
        ready = self.script.ready_after
        if not self._ready_written and ready is not None and now >= self.started + ready and not exited:
            self._paths.ready_file.parent.mkdir(parents=True, exist_ok=True)
            self._paths.ready_file.write_text(json.dumps({"pid": self.pid}))
            self._ready_written = True
        if exited:
            if self.script.exit_error is not None:
                self._paths.exit_file.write_text(json.dumps({"exit_code": self._code, "error": self.script.exit_error}))
            return self._code
        return None


class FakeProcessOps:
    """Records spawns and signals; children follow their scripts (the last one repeats)."""

    def __init__(self, clock: FakeClock, paths: BotPaths, scripts: list[Script], spawn_error: OSError | None = None):
        self.clock = clock
        self.paths = paths
        self.scripts = list(scripts)
        self.spawn_error = spawn_error
        self.children: list[FakeChild] = []
        self.signals: list[tuple[int, int, float]] = []

    def spawn(self, argv: list[str], *, cwd: Path, env: dict[str, str], on_output: Callable[[str], None]) -> FakeChild:
        if self.spawn_error is not None:
            raise self.spawn_error
        script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]
        child = FakeChild(1000 + len(self.children), script, self.clock, self.paths, on_output)
        self.children.append(child)
        return child

    def kill(self, pid: int, sig: int) -> bool:
        self.signals.append((pid, sig, self.clock.monotonic()))
        child = next(c for c in self.children if c.pid == pid)
        if sig == signal.SIGKILL:
            child.exit(-signal.SIGKILL)
        elif sig == signal.SIGTERM and child.script.term_exit_code is not None:
            child.exit(child.script.term_exit_code)
        return True

    def identity(self, pid: int | None = None) -> ProcessIdentity:
        return KEEPER_ID

    @property
    def start_times(self) -> list[float]:
        return [c.started for c in self.children]


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.lines: list[str] = []

    def event(self, level: int, message: str) -> None:
        self.events.append(message)

    def output(self, line: str) -> None:
        self.lines.append(line)


@dataclass
class Rig:
    keeper: Keeper
    ops: FakeProcessOps
    clock: FakeClock
    sink: RecordingSink
    paths: BotPaths

    def state(self) -> BotState:
        status = read_state(self.paths.state_file)
        assert status is not None
        return status.state

    def delays(self) -> list[float]:
        return [float(e.split()[2]) for e in self.sink.events if e.startswith("restarting in")]


def make_rig(
    tmp_path: Path,
    scripts: list[Script],
    *,
    rng: random.Random | None = None,
    redact: Callable[[str], str] = lambda s: s,
    spawn_error: OSError | None = None,
    **settings: float,
) -> Rig:
    paths = BotPaths(tmp_path, "alpha")
    clock = FakeClock()
    ops = FakeProcessOps(clock, paths, scripts, spawn_error)
    sink = RecordingSink()
    defaults: dict[str, float] = dict(
        startsecs=10, startretries=5, backoff_initial_seconds=1, backoff_max_seconds=60, stopwaitsecs=3, jitter=0
    )
    defaults.update(settings)
    keeper = Keeper(
        "alpha",
        paths,
        ["runtime", "alpha"],
        ops=ops,
        clock=clock,
        settings=KeeperSettings(**defaults),  # type: ignore[arg-type]
        sink=sink,
        env={"BOT_HOME": str(tmp_path)},
        rng=rng or random.Random(0),
        redact=redact,
    )
    return Rig(keeper, ops, clock, sink, paths)


def test_runs_until_stopped_then_sends_sigterm_and_cleans_up(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script()])
    seen: dict[str, object] = {}

    def look() -> None:
        seen["state"] = rig.state()
        seen["pidfile"] = json.loads(rig.paths.pidfile.read_text())
        rig.keeper.request_stop()

    rig.clock.call_at(1.0, look)
    assert rig.keeper.run() == 0
    assert seen["state"] is BotState.RUNNING
    assert seen["pidfile"] == {"pid": KEEPER_ID.pid, "create_time": KEEPER_ID.create_time}
    assert rig.state() is BotState.STOPPED
    assert not rig.paths.pidfile.exists()
    assert [(pid, sig) for pid, sig, _ in rig.ops.signals] == [(1000, signal.SIGTERM)]
    assert rig.sink.events[0] == "started pid 1000"
    assert "ready (pid 1000)" in rig.sink.events
    assert rig.sink.events[-1] == "stopped"
    status = read_state(rig.paths.state_file)
    assert status is not None and status.last_exit_code == 0 and status.child_pid is None


def test_stale_ready_file_is_removed_before_start(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(ready_after=None)])
    rig.paths.ready_file.parent.mkdir(parents=True)
    rig.paths.ready_file.write_text("{}")
    states: list[BotState] = []
    rig.clock.call_at(2.0, lambda: (states.append(rig.state()), rig.keeper.request_stop()))
    assert rig.keeper.run() == 0
    assert states == [BotState.STARTING]


def test_backoff_doubles_and_is_capped(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(exit_code=1)], backoff_max_seconds=4, startretries=5)
    assert rig.keeper.run() == 1
    assert rig.delays() == [1, 2, 4, 4, 4]
    # Each restart happens after its delay (to the keeper's 0.1 s poll interval).
    starts = rig.ops.start_times
    gaps = [b - a - 0.5 for a, b in zip(starts, starts[1:])]
    assert gaps == pytest.approx([1, 2, 4, 4, 4], abs=0.25)


def test_jitter_comes_from_the_injected_random(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(exit_code=1)], rng=random.Random(7), jitter=0.1, startretries=3)
    rig.keeper.run()
    expected_rng = random.Random(7)
    expected = [round(base * (1 + expected_rng.uniform(0, 0.1)), 2) for base in (1, 2, 4)]
    assert rig.delays() == expected
    assert all(d > base for d, base in zip(rig.delays(), (1, 2, 4)))


def test_fatal_after_more_than_startretries_fast_crashes(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(exit_code=1, exit_error="RuntimeError: boom")], startretries=3)
    assert rig.keeper.run() == 1
    assert len(rig.ops.children) == 4  # the first start plus three retries
    status = read_state(rig.paths.state_file)
    assert status is not None
    assert status.state is BotState.FATAL
    assert status.restarts == 3
    assert status.last_exit_code == 1
    assert status.last_error == "crashed 4 times within 10 s of starting; last error: RuntimeError: boom"
    assert rig.sink.events[-1].startswith("fatal: crashed 4 times")
    assert not rig.paths.pidfile.exists()


def test_a_run_longer_than_startsecs_resets_backoff_and_crash_count(tmp_path: Path) -> None:
    fast, slow = Script(exit_code=1, exit_after=0.5), Script(exit_code=1, exit_after=20)
    rig = make_rig(tmp_path, [fast, fast, slow, fast, fast, fast], startretries=2)
    assert rig.keeper.run() == 1
    # 1, 2; the long run resets the delay to 1; then 2, 4, and the third fast crash in a
    # row after the reset is fatal (without the reset, the second fast one would be).
    assert rig.delays() == [1, 2, 1, 2, 4]
    status = read_state(rig.paths.state_file)
    assert status is not None and status.state is BotState.FATAL
    assert status.last_error is not None and status.last_error.startswith("crashed 3 times within 10 s")


def test_config_error_78_is_fatal_and_never_retried(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(exit_code=78, exit_error="bots/alpha.yaml:3: name: required")])
    assert rig.keeper.run() == 1
    assert len(rig.ops.children) == 1
    status = read_state(rig.paths.state_file)
    assert status is not None
    assert (status.state, status.last_exit_code, status.restarts) == (BotState.FATAL, 78, 0)
    assert status.last_error == "configuration error: bots/alpha.yaml:3: name: required"


def test_config_error_without_exit_file_says_configuration_error(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(exit_code=78)])
    rig.keeper.run()
    status = read_state(rig.paths.state_file)
    assert status is not None and status.last_error == "configuration error"


def test_stop_during_backoff_cancels_the_restart(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(exit_code=1)], backoff_initial_seconds=5)
    states: list[BotState] = []
    rig.clock.call_at(2.0, lambda: (states.append(rig.state()), rig.keeper.request_stop()))
    assert rig.keeper.run() == 0
    assert states == [BotState.BACKOFF]
    assert len(rig.ops.children) == 1
    assert rig.ops.signals == []  # nothing was running to signal
    assert rig.state() is BotState.STOPPED
    assert rig.clock.now < 3


def test_child_ignoring_sigterm_is_killed_after_stopwaitsecs(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(term_exit_code=None)], stopwaitsecs=3)
    rig.clock.call_at(1.0, rig.keeper.request_stop)
    assert rig.keeper.run() == 0
    (pid1, sig1, t1), (pid2, sig2, t2) = rig.ops.signals
    assert (sig1, sig2) == (signal.SIGTERM, signal.SIGKILL)
    assert t2 - t1 == pytest.approx(3, abs=0.15)
    status = read_state(rig.paths.state_file)
    assert status is not None
    assert (status.state, status.last_exit_code) == (BotState.STOPPED, -signal.SIGKILL)
    assert any("sending SIGKILL" in e for e in rig.sink.events)
    assert any(e.startswith("killed by SIGKILL") for e in rig.sink.events)


def test_stop_while_starting_goes_straight_to_stopping(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(ready_after=None)])
    rig.clock.call_at(0.05, rig.keeper.request_stop)
    assert rig.keeper.run() == 0
    assert [sig for _, sig, _ in rig.ops.signals] == [signal.SIGTERM]


def test_clean_exit_on_its_own_is_not_restarted(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(exit_code=0, exit_after=2)])
    assert rig.keeper.run() == 0
    assert len(rig.ops.children) == 1
    assert rig.state() is BotState.STOPPED


def test_unstartable_command_is_fatal(tmp_path: Path) -> None:
    error = FileNotFoundError(2, "No such file or directory")
    rig = make_rig(tmp_path, [Script()], spawn_error=error)
    assert rig.keeper.run() == 1
    status = read_state(rig.paths.state_file)
    assert status is not None and status.state is BotState.FATAL
    assert status.last_error == "could not start runtime: No such file or directory"


def test_output_is_redacted_and_last_line_explains_a_crash(tmp_path: Path) -> None:
    secret = "sekrit-token-value"
    script = Script(exit_code=1, output=[f"connecting with {secret}", "ValueError: bad thing", ""])
    rig = make_rig(tmp_path, [script], startretries=0, redact=Redactor({secret: "ALPHA_TOKEN"}))
    rig.keeper.run()
    assert rig.sink.lines[0] == "connecting with [REDACTED:ALPHA_TOKEN]"
    assert all(secret not in e for e in rig.sink.events)
    status = read_state(rig.paths.state_file)
    assert status is not None
    assert status.last_error == (
        "crashed 1 times within 10 s of starting; last error: exited with code 1; last output: ValueError: bad thing"
    )


def test_restarts_are_counted_in_the_state_file(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script(exit_code=1), Script(exit_code=1), Script()])
    seen: list[tuple[BotState, int]] = []

    def look() -> None:
        status = read_state(rig.paths.state_file)
        assert status is not None
        seen.append((status.state, status.restarts))
        rig.keeper.request_stop()

    rig.clock.call_at(6.0, look)
    assert rig.keeper.run() == 0
    assert seen == [(BotState.RUNNING, 2)]


def test_describe_exit() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-200) == "killed by signal 200"
