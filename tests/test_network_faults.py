"""Network faults are not configuration faults: a Discord (or DNS) that cannot be reached
makes the runtime exit 75 with one line; the keeper retries with capped backoff for as
long as it lasts, never going `fatal`; `spawn` prints one line per attempt; `status` says why."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import socket
from pathlib import Path

import aiohttp
import discord
import pytest

from framework import exitcodes
from framework.discord.network import unreachable_reason
from framework.paths import BotPaths
from framework.supervisor.control import SpawnRequest, Supervisor
from framework.supervisor.states import BotState, KeeperStatus, read_state, write_state
from framework.supervisor.statusview import collect_status

from .conftest import write_bot
from .test_supervisor_keeper import Script, make_rig

DNS = "cannot reach discord.com (DNS)"


def _delays(events: list[str]) -> list[float]:
    return [float(m.group(1)) for e in events if (m := re.search(r"; restarting in ([0-9.]+) s$", e))]


def test_unreachable_is_retried_past_startretries_with_capped_backoff_then_connects(tmp_path: Path) -> None:
    down = Script(exit_code=exitcodes.UNREACHABLE, exit_after=0.3, ready_after=None, exit_error=DNS)
    scripts = [down] * 12 + [Script()]
    rig = make_rig(tmp_path, scripts, startretries=2, backoff_max_seconds=8)
    seen: list[KeeperStatus] = []
    rig.clock.call_at(5.0, lambda: seen.append(read_state(rig.paths.state_file)))  # type: ignore[arg-type]
    rig.clock.call_at(200.0, rig.keeper.request_stop)
    assert rig.keeper.run() == 0
    # twelve failed attempts (startretries is 2), then the thirteenth connected
    assert len(rig.ops.children) == 13
    assert "ready (pid 1012)" in rig.sink.events
    assert _delays(rig.sink.events) == [1, 2, 4] + [8] * 9
    assert sum("cannot reach discord.com (DNS); restarting in" in e for e in rig.sink.events) == 12
    status = seen[0]
    assert status.state is BotState.BACKOFF
    assert (status.last_exit_code, status.last_error) == (75, DNS)
    assert status.retry_at is not None and status.retry_at > status.updated_at  # type: ignore[operator]


def test_unreachable_attempts_neither_count_nor_forgive_fast_crashes(tmp_path: Path) -> None:
    crash = Script(exit_code=1, exit_error="RuntimeError: boom")
    down = Script(exit_code=exitcodes.UNREACHABLE, ready_after=None, exit_error=DNS)
    rig = make_rig(tmp_path, [crash, crash, down, down, down, down, crash], startretries=2, backoff_max_seconds=2)
    assert rig.keeper.run() == 1
    status = read_state(rig.paths.state_file)
    assert status is not None and status.state is BotState.FATAL
    assert status.last_error == "crashed 3 times within 10 s of starting; last error: RuntimeError: boom"
    assert len(rig.ops.children) == 7


def test_a_network_down_for_days_never_overflows_the_delay(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, [Script()], backoff_initial_seconds=1, backoff_max_seconds=60)
    # a minute apart for a day (1440 attempts): 2**1440 would not fit a float
    delays = [rig.keeper._next_delay() for _ in range(1440)]
    assert delays[:7] == [1, 2, 4, 8, 16, 32, 60] and set(delays[6:]) == {60}


def test_status_says_backoff_and_why(tmp_path: Path) -> None:
    paths = BotPaths(tmp_path, "alpha")
    paths.run_dir.mkdir(parents=True)
    write_state(paths.state_file, KeeperStatus(BotState.BACKOFF, restarts=4, last_exit_code=75, last_error=DNS))
    (row,) = collect_status(tmp_path, ["alpha"])
    # no keeper behind the state file here, so the CLI calls it crashed; the reason stays
    assert row.last_error == DNS and row.last_exit_code == 75


class _FakeKeeper:
    pid = 4242

    def poll(self) -> int | None:
        return None


class _ScriptedOps:
    """Starts no keeper: the test writes the keeper's state file itself."""

    def spawn_detached(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> _FakeKeeper:
        return _FakeKeeper()


def test_spawn_prints_one_line_per_attempt_and_no_traceback(tmp_path: Path) -> None:
    paths = BotPaths(tmp_path, "alpha")
    now = [0.0]
    # The keeper's story, one state per poll of `spawn`: two failed attempts, then ready.
    story = [
        KeeperStatus(BotState.STARTING, child_pid=1),
        KeeperStatus(BotState.BACKOFF, restarts=0, last_exit_code=75, last_error=DNS, updated_at=10.0, retry_at=11.0),
        KeeperStatus(BotState.BACKOFF, restarts=0, last_exit_code=75, last_error=DNS, updated_at=10.0, retry_at=11.0),
        KeeperStatus(BotState.STARTING, child_pid=2, restarts=1, last_exit_code=75, last_error=DNS),
        KeeperStatus(BotState.BACKOFF, restarts=1, last_exit_code=75, last_error=DNS, updated_at=12.0, retry_at=14.0),
        KeeperStatus(BotState.RUNNING, child_pid=3, restarts=2, last_exit_code=75, last_error=DNS),
    ]

    def sleep(_: float) -> None:
        now[0] += 1
        write_state(paths.state_file, story[min(int(now[0]), len(story) - 1)])

    supervisor = Supervisor(tmp_path, {}, ops=_ScriptedOps(), monotonic=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]
    paths.run_dir.mkdir(parents=True)
    lines: list[tuple[str, str]] = []
    (result,) = supervisor.spawn([SpawnRequest("alpha", 60, tmp_path / "logs" / "alpha.log")], on_progress=lambda b, l: lines.append((b, l)))
    assert result.ok and result.message == "alpha running (pid 3)"
    assert lines == [
        ("alpha", f"attempt 1: {DNS}; retrying in 1.0 s"),
        ("alpha", f"attempt 2: {DNS}; retrying in 2.0 s"),
    ]


def test_spawn_gives_up_waiting_with_one_line_while_the_keeper_keeps_trying(tmp_path: Path) -> None:
    paths = BotPaths(tmp_path, "alpha")
    paths.run_dir.mkdir(parents=True)
    paths.log.parent.mkdir(parents=True)
    paths.log.write_text("Traceback (most recent call last):\n  aiohttp.ClientConnectorDNSError\n")
    now = [0.0]

    def sleep(_: float) -> None:
        now[0] += 1
        write_state(paths.state_file, KeeperStatus(
            BotState.BACKOFF, restarts=int(now[0]), last_exit_code=75, last_error=DNS, updated_at=0.0, retry_at=60.0,
        ))

    supervisor = Supervisor(tmp_path, {}, ops=_ScriptedOps(), monotonic=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]
    (result,) = supervisor.spawn([SpawnRequest("alpha", 5, paths.log)])
    assert not result.ok
    assert result.message.startswith(f"alpha is not connected after 5 s: {DNS}; the keeper keeps retrying")
    assert result.log_tail == ()  # the traceback stays in the log


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (aiohttp.ClientConnectorDNSError(
            aiohttp.client_reqrep.ConnectionKey("discord.com", 443, True, True, None, None, None, None),
            socket.gaierror(-2, "Name or service not known")), "cannot reach discord.com (DNS)"),
        (aiohttp.ClientConnectorError(
            aiohttp.client_reqrep.ConnectionKey("discord.com", 443, True, True, None, None, None, None),
            OSError(errno.ENETUNREACH, "Network is unreachable")), "cannot reach discord.com (network unreachable)"),
        (asyncio.TimeoutError(), "cannot reach discord.com (timed out)"),
        (ValueError("a bug"), None),
    ],
)
def test_unreachable_reason_in_one_line(error: BaseException, reason: str | None) -> None:
    assert unreachable_reason(error) == reason


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runtime_exits_75_with_one_line_when_discord_refuses_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from framework.runtime.__main__ import main

    write_bot(tmp_path)
    port = _closed_port()
    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_", "BOT_MANAGER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BOT_HOME", str(tmp_path))
    monkeypatch.setenv("ALPHA_BOT_TOKEN", "sandbox.alpha.token-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DISCORD_API_BASE", f"http://127.0.0.1:{port}/api/v10")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    route_base = discord.http.Route.BASE
    try:
        code = main(["alpha"])
    finally:
        discord.http.Route.BASE = route_base
        for handler in list(root.handlers):
            root.removeHandler(handler)
            if handler not in handlers:
                handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    assert code == exitcodes.UNREACHABLE == 75
    paths = BotPaths(tmp_path, "alpha")
    report = (paths.exit_file).read_text()
    assert f'"error": "cannot reach 127.0.0.1 (connection refused)"' in report
    terminal = capfd.readouterr().err
    assert "cannot reach 127.0.0.1 (connection refused); exiting with code 75" in terminal
    assert "Traceback" not in terminal  # the terminal gets one line ...
    log = (tmp_path / "logs" / "alpha.log").read_text()
    assert "Traceback" in log and "ConnectionRefusedError" in log  # ... the log file the whole story
