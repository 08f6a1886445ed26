"""Real keeper processes supervising tests/fixtures/fake_bot.py (offline, a few seconds in all)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.paths import BotPaths
from framework.supervisor.control import SpawnRequest, SpawnResult, Supervisor
from framework.supervisor.pidfile import read_pidfile
from framework.supervisor.states import BotState, KeeperStatus, read_state
from tests.sandbox_helpers import wait_for

pytestmark = pytest.mark.slow

# Bots are forked from the project's zygote unless BOT_PRELOAD=0 (the suite runs both ways).
PRELOAD = os.environ.get("BOT_PRELOAD", "1") != "0"

FAKE_BOT = Path(__file__).parent / "fixtures" / "fake_bot.py"
TOKEN_VAR = "ALPHA_TOKEN"
TOKEN = "alpha-secret-token-value"
SUPERVISOR = (
    "supervisor: {startsecs: 5, startretries: 2, backoff_initial_seconds: 0.05, "
    "backoff_max_seconds: 0.2, stopwaitsecs: 0.5, ready_timeout_seconds: 10}\n"
)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Project:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.paths = BotPaths(home, "alpha")
        self.environ = {**os.environ, TOKEN_VAR: TOKEN, "ANTHROPIC_API_KEY": "test-key-123456"}
        (home / "bots").mkdir()
        self.paths.config.write_text(
            "bot_id: alpha\nname: Alpha\ndiscord: {token_env_var: ALPHA_TOKEN}\n"
            "personality: {base_prompt: 'be brief'}\n" + SUPERVISOR
        )
        self.keepers: list[int] = []

    def supervisor(self, *fake_args: str) -> Supervisor:
        cmd = lambda bot: [sys.executable, str(FAKE_BOT), bot, "--print-token", TOKEN_VAR, *fake_args]  # noqa: E731
        return Supervisor(self.home, self.environ, child_cmd=cmd)

    def spawn(self, *fake_args: str) -> SpawnResult:
        [result] = self.supervisor(*fake_args).spawn([SpawnRequest("alpha", 10, self.paths.log)])
        record = read_pidfile(self.paths.pidfile)
        if record is not None:
            self.keepers.append(record.pid)
        return result

    def state(self) -> KeeperStatus:
        status = read_state(self.paths.state_file)
        assert status is not None
        return status

    def log(self) -> str:
        return self.paths.log.read_text() if self.paths.log.exists() else ""

    def cli(self, *args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, list(args), obj=CliContext(home=self.home, environ=self.environ))


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = Project(tmp_path)
    yield proj
    # Whatever a failed test left behind: stop it, then make sure of it.
    proj.supervisor().stop([("alpha", 0.5)])
    for pid in proj.keepers:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_spawn_run_logs_stop_leaves_no_process(project: Project) -> None:
    result = project.spawn()
    assert result.ok, (result.message, result.log_tail)
    assert result.message == f"alpha running (pid {result.child_pid})"
    keeper = read_pidfile(project.paths.pidfile)
    assert keeper is not None and result.child_pid is not None
    assert psutil.Process(keeper.pid).create_time() == pytest.approx(keeper.create_time)
    if PRELOAD:  # forked by the zygote, in a session and group of its own
        assert os.getpgid(result.child_pid) == result.child_pid
        assert "framework.supervisor.zygote" in psutil.Process(result.child_pid).parent().cmdline()
    else:
        assert os.getpgid(result.child_pid) == keeper.pid  # the bot lives in the keeper's group
    wait_for(lambda: "fake bot alpha ready" in project.log(), what="the bot's output in the log")

    logs = project.cli("logs", "alpha", "-n", "20")
    assert logs.exit_code == 0
    assert f"started pid {result.child_pid}" in logs.stdout
    assert "supervised=1" in logs.stdout
    assert "token is [REDACTED:ALPHA_TOKEN]" in logs.stdout
    assert TOKEN not in project.log()

    [row] = json.loads(project.cli("status", "--json").stdout)
    assert (row["state"], row["pid"], row["keeper_pid"]) == ("running", result.child_pid, keeper.pid)
    assert row["rss_bytes"] > 0

    stop = project.cli("stop", "alpha")
    assert stop.exit_code == 0
    assert stop.stdout.startswith("alpha stopped (")
    assert gone(keeper.pid) and gone(result.child_pid)
    assert not project.paths.pidfile.exists()
    assert project.state().state is BotState.STOPPED
    assert "got SIGTERM, exiting" in project.log()
    again = project.cli("stop", "alpha")
    assert again.stdout.strip() == "alpha is not running"


def test_while_waiting_runs_once_between_starting_the_keeper_and_the_bot_being_ready(project: Project) -> None:
    # ``spawn`` loads Rich there, so the answer is printed the moment the bot is ready.
    seen: list[KeeperStatus | None] = []
    [result] = project.supervisor().spawn(
        [SpawnRequest("alpha", 10, project.paths.log)],
        while_waiting=lambda: seen.append(read_state(project.paths.state_file)),
    )
    record = read_pidfile(project.paths.pidfile)
    if record is not None:
        project.keepers.append(record.pid)
    assert result.ok, (result.message, result.log_tail)
    assert len(seen) == 1
    assert seen[0] is None or seen[0].state is not BotState.RUNNING
    assert project.state().state is BotState.RUNNING


def test_crash_loop_backs_off_then_goes_fatal(project: Project) -> None:
    result = project.spawn("--no-ready", "--crash-after-ms", "50")
    assert not result.ok
    assert "alpha crashed while starting" in result.message or "alpha could not start" in result.message
    assert result.log_tail, "a failed spawn shows the end of the log"
    wait_for(lambda: project.state().state is BotState.FATAL, what="state fatal")
    status = project.state()
    assert status.restarts == 2
    assert status.last_exit_code == 1
    assert status.last_error == "crashed 3 times within 5 s of starting; last error: RuntimeError: fake crash"
    wait_for(lambda: not project.paths.pidfile.exists(), what="the keeper to exit")
    log = project.log()
    assert log.count("restarting in") == 2
    assert "fatal: crashed 3 times" in log
    status_cli = project.cli("status")
    assert "fatal" in status_cli.stdout


def test_config_error_is_fatal_and_not_restarted(project: Project) -> None:
    result = project.spawn("--config-error")
    assert not result.ok
    assert result.message == "alpha could not start: configuration error: FAKE_TOKEN is not set"
    status = project.state()
    assert (status.state, status.last_exit_code, status.restarts) == (BotState.FATAL, 78, 0)
    wait_for(lambda: not project.paths.pidfile.exists(), what="the keeper to exit")
    assert project.log().count("started pid") == 1


def test_second_spawn_is_refused(project: Project) -> None:
    first = project.spawn()
    assert first.ok
    second = project.spawn()
    assert not second.ok
    assert second.message.startswith(f"alpha is already running (pid {first.child_pid})")
    cli = project.cli("spawn", "alpha")
    assert cli.exit_code == 1
    assert "already running" in cli.stderr
    assert project.state().state is BotState.RUNNING  # the first one is untouched


def test_child_ignoring_sigterm_is_killed_after_stopwaitsecs(project: Project) -> None:
    result = project.spawn("--ignore-term")
    assert result.ok and result.child_pid is not None
    started = time.monotonic()
    [stop] = project.supervisor().stop([("alpha", 0.5)])
    elapsed = time.monotonic() - started
    assert stop.ok
    assert 0.5 <= elapsed < 3.5
    assert gone(result.child_pid)
    log = project.log()
    assert "ignoring SIGTERM" in log
    assert "did not exit within 0.5 s of SIGTERM; sending SIGKILL" in log
    assert "killed by SIGKILL" in log
    assert project.state().state is BotState.STOPPED


def test_killed_keeper_is_crashed_and_stop_cleans_up_its_orphan(project: Project) -> None:
    result = project.spawn()
    assert result.ok and result.child_pid is not None
    keeper = read_pidfile(project.paths.pidfile)
    assert keeper is not None
    os.kill(keeper.pid, signal.SIGKILL)
    wait_for(lambda: gone(keeper.pid), what="the keeper to die")
    [row] = json.loads(project.cli("status", "--json").stdout)
    assert row["state"] == "crashed"
    if PRELOAD:
        # The zygote saw its keeper's connection close and stopped the bot itself.
        wait_for(lambda: gone(result.child_pid), what="the zygote to stop the keeperless bot")
        stop = project.cli("stop", "alpha")
        assert stop.exit_code == 0
        zygote_log = (project.home / "logs" / "zygote.log").read_text()
        assert f"keeper of pid {result.child_pid} is gone: stopping the bot" in zygote_log
        return
    assert not gone(result.child_pid), "the bot outlives a SIGKILLed keeper"
    stop = project.cli("stop", "alpha")
    assert stop.exit_code == 0
    assert "stopped processes left behind by keeper pid" in stop.stderr
    wait_for(lambda: gone(result.child_pid), what="the orphaned bot to stop")
    assert not project.paths.pidfile.exists()
