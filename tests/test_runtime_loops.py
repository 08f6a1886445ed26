"""The bot process's periodic loops survive a failing pass, and a loop that keeps failing
shows in `bot_manager status` (it used to end the periodic check for the life of the process)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psutil
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.config.loader import load_bot_config
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.runtime.loops import FAILING_AFTER, LoopHealth, check_loop, run_periodic

from .fakes import FakeClock


class SteppingClock(FakeClock):
    """A fake clock whose sleep advances time and yields; after ``steps`` sleeps it blocks,
    so a test runs an exact number of passes of an endless loop and then cancels it."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.parked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        if self.steps == 0:
            self.parked.set()
            await asyncio.Event().wait()
        self.steps -= 1
        self.advance(seconds)
        await asyncio.sleep(0)


class FlakyEngine:
    """A reactive engine whose check raises on the passes listed in ``fail_on``."""

    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on
        self.checks = 0

    def check(self) -> int:
        self.checks += 1
        if self.checks in self.fail_on:
            raise RuntimeError(f"check {self.checks} broke")
        return 0

    def sweep(self) -> None:
        pass


async def run_until_parked(clock: SteppingClock, coro: object) -> None:
    task = asyncio.create_task(coro)  # type: ignore[arg-type]
    await asyncio.wait({task, asyncio.create_task(clock.parked.wait())}, return_when=asyncio.FIRST_COMPLETED)
    assert not task.done(), task.exception() if task.done() else ""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def make_runtime(tmp_path: Path, clock: SteppingClock) -> BotRuntime:
    (tmp_path / "bots").mkdir()
    config_path = tmp_path / "bots" / "alpha.yaml"
    config_path.write_text(
        "bot_id: alpha\nname: Alpha\ndescription: test\ndiscord: {token_env_var: ALPHA_BOT_TOKEN}\n"
        "personality: {base_prompt: be brief}\n"
    )
    config = load_bot_config(config_path, tmp_path)
    return BotRuntime(config, BotPaths(tmp_path, "alpha"), {}, clock=clock)


async def test_a_check_loop_whose_engine_raises_once_keeps_checking(tmp_path: Path) -> None:
    clock = SteppingClock(steps=5)
    runtime = make_runtime(tmp_path, clock)  # the runtime's own health file and interval
    engine = FlakyEngine(fail_on={2})
    interval = runtime.config.reactive.check_interval_seconds
    await run_until_parked(clock, check_loop(engine, interval=interval, clock=clock, health=runtime._loop_health))
    assert engine.checks == 5  # the failure on pass 2 did not end the loop
    assert not runtime.paths.loops_file.exists()  # a single blip is cleared by the next good pass


async def test_a_loop_that_keeps_failing_is_recorded_and_cleared_when_it_recovers(tmp_path: Path) -> None:
    clock = SteppingClock(steps=FAILING_AFTER)
    health = LoopHealth(tmp_path / "run" / "alpha.loops.json", clock)
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise OSError("disk full")

    await run_until_parked(clock, run_periodic("agentic", broken, clock=clock, interval=3600, health=health))
    assert calls == FAILING_AFTER
    recorded = json.loads((tmp_path / "run" / "alpha.loops.json").read_text())
    assert recorded["agentic"]["failures"] == FAILING_AFTER
    assert recorded["agentic"]["last_error"] == "OSError: disk full"
    health.succeeded("agentic")
    assert not (tmp_path / "run" / "alpha.loops.json").exists()


def test_status_shows_a_running_bot_whose_loop_keeps_failing(tmp_path: Path) -> None:
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "alpha.yaml").write_text(
        "bot_id: alpha\nname: Alpha\ndescription: test\ndiscord: {token_env_var: ALPHA_BOT_TOKEN}\n"
        "personality: {base_prompt: be brief}\n"
    )
    run = tmp_path / "run"
    run.mkdir()
    me = psutil.Process()
    (run / "alpha.pid").write_text(json.dumps({"pid": me.pid, "create_time": me.create_time()}))
    (run / "alpha.state.json").write_text(json.dumps({"state": "running", "child_pid": me.pid, "restarts": 0}))
    failing = {"check": {"failures": 4, "last_error": "RuntimeError: check broke", "since": "x", "at": "y"}}
    (run / "alpha.loops.json").write_text(json.dumps(failing))
    context = CliContext(home=tmp_path, environ={"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20})
    result = CliRunner().invoke(app, ["status", "--json"], obj=context)
    [row] = json.loads(result.stdout)
    assert row["state"] == "running"
    assert "check loop failing (4 passes in a row): RuntimeError: check broke" in row["note"]
    table = CliRunner().invoke(app, ["status"], obj=context, env={"COLUMNS": "250"})
    assert "check loop failing" in table.stdout
