"""The process verbs through Typer's CliRunner: help, status, logs, list, refusals, stale pidfiles."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.config.models import DEFAULT_PRICES
from framework.domain import Usage, UsageRecord
from framework.paths import BotPaths
from framework.storage.ledger import UsageLedger
from framework.supervisor.status_table import render_status_text
from framework.supervisor.statusview import StatusRow, collect_status

TOKEN_VAR = "ALPHA_TOKEN"
STATUS_FIELDS = {"name", "state", "pid", "uptime_s", "restarts", "cpu_percent", "rss_bytes", "last_exit_code", "last_error"}


def write_bot(home: Path, bot_id: str, extra: str = "") -> None:
    (home / "bots").mkdir(parents=True, exist_ok=True)
    (home / "bots" / f"{bot_id}.yaml").write_text(
        f"bot_id: {bot_id}\nname: Bot {bot_id}\ndescription: the {bot_id} test bot\n"
        f"discord: {{token_env_var: {TOKEN_VAR}}}\npersonality: {{base_prompt: 'be brief'}}\n{extra}"
    )


def write_run_files(home: Path, bot_id: str, *, pid: dict[str, float] | None, state: dict[str, object] | None) -> None:
    run = home / "run"
    run.mkdir(exist_ok=True)
    if pid is not None:
        (run / f"{bot_id}.pid").write_text(json.dumps(pid))
    if state is not None:
        (run / f"{bot_id}.state.json").write_text(json.dumps(state))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    write_bot(tmp_path, "alpha")
    return tmp_path


def invoke(home: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    context = CliContext(home=home, environ={TOKEN_VAR: "token-value-123456", "ANTHROPIC_API_KEY": "test-key-123456"} if env is None else env)
    return CliRunner().invoke(app, list(args), obj=context)


def me() -> dict[str, float]:
    proc = psutil.Process()
    return {"pid": proc.pid, "create_time": proc.create_time()}


@pytest.mark.parametrize(
    ("verb", "text"),
    [
        ("spawn", "waits until the bot reports"),
        ("stop", "SIGTERM to its keeper"),
        ("restart", "Stop a bot, then spawn it again"),
        ("status", "crashed (its keeper is gone"),
        ("logs", "across log rotation"),
        ("list", "listed as invalid with its first error"),
    ],
)
def test_help(verb: str, text: str, tmp_path: Path) -> None:
    result = invoke(tmp_path, verb, "--help")
    assert result.exit_code == 0
    assert text in " ".join(result.output.split())


def test_render_status_is_plain_text_without_colour() -> None:
    rows = [
        StatusRow("alpha", "running", pid=4321, uptime_s=3725, restarts=2, cpu_percent=12.5, rss_bytes=1_572_864),
        StatusRow("beta", "fatal", last_exit_code=78, last_error="configuration error: bots/beta.yaml:3: name"),
        StatusRow("gamma", "crashed", note="keeper exited without a clean stop"),
    ]
    text = render_status_text(rows, 160)
    for expected in ("alpha", "running", "4321", "1h 02m", "12.5%", "1.5 MiB", "beta", "fatal", "78", "gamma", "crashed"):
        assert expected in text
    assert "configuration error: bots/beta.yaml:3: name" in text
    assert "keeper exited without a clean stop" in text
    assert "\x1b[" not in text


def test_status_json_has_the_stable_fields(home: Path) -> None:
    write_bot(home, "beta")
    now = time.time()
    write_run_files(
        home,
        "alpha",
        pid=me(),  # this test process stands in for a live keeper and bot
        state={"state": "running", "child_pid": me()["pid"], "started_at": now - 90, "restarts": 1,
               "last_exit_code": 1, "last_error": "RuntimeError: once", "updated_at": now},
    )
    result = invoke(home, "status", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"alpha", "beta"}
    assert STATUS_FIELDS <= set(rows["alpha"])
    alpha = rows["alpha"]
    assert (alpha["state"], alpha["pid"], alpha["restarts"], alpha["last_exit_code"]) == ("running", me()["pid"], 1, 1)
    assert 89 <= alpha["uptime_s"] < 120
    assert alpha["rss_bytes"] > 0 and alpha["cpu_percent"] >= 0
    assert rows["beta"]["state"] == "stopped" and rows["beta"]["pid"] is None


def test_render_status_shows_usage_today() -> None:
    rows = [
        StatusRow("alpha", "running", pid=4321, tokens_today=1_234_567, cost_today_usd=3.2),
        StatusRow("beta", "stopped", tokens_today=950, cost_today_usd=0.004),
        StatusRow("gamma", "stopped", tokens_today=12_345, cost_today_usd=None),  # no priced call
        StatusRow("delta", "stopped"),  # no ledger yet
    ]
    text = render_status_text(rows, 160)
    header, *lines = text.splitlines()
    assert header.split() == ["BOT", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "MEM", "TODAY", "EXIT", "LAST", "ERROR"]
    today = header.index("TODAY")
    by_bot = {line.split()[0]: line[today:].split("  ")[0] for line in lines}
    assert by_bot == {"alpha": "1.23M $3.20", "beta": "950 <$0.01", "gamma": "12.3k -", "delta": "-"}


def test_render_status_colours_the_state_only_when_asked() -> None:
    rows = [StatusRow("alpha", "running", pid=1), StatusRow("beta", "fatal"), StatusRow("gamma", "weird")]
    plain = render_status_text(rows, 80)
    coloured = render_status_text(rows, 80, colour=True)
    assert "\x1b[" not in plain
    assert "\x1b[32mrunning\x1b[0m" in coloured and "\x1b[1;31mfatal\x1b[0m" in coloured
    assert coloured.count("\x1b[0m") == 2  # an unknown state stays plain
    strip = {"\x1b[32m": "", "\x1b[1;31m": "", "\x1b[0m": ""}
    for code, gone in strip.items():
        coloured = coloured.replace(code, gone)
    assert coloured == plain  # colour never moves a column


def test_render_status_keeps_one_line_per_process_whatever_the_error_holds() -> None:
    rows = [StatusRow("alpha", "fatal", last_error="Traceback:\n  line 1\x1b[2J\tdone")]
    header, line = render_status_text(rows, 120).splitlines()
    assert line.endswith("Traceback:   line 1 [2J done") and "\x1b" not in line


async def write_ledger(home: Path, bot_id: str, when: datetime, calls: list[tuple[str, Usage]]) -> None:
    clock = SimpleNamespace(now=lambda: when)
    ledger = await UsageLedger.open(BotPaths(home, bot_id).database, DEFAULT_PRICES, clock)
    for model, usage in calls:
        await ledger.record(UsageRecord(bot_id, "anthropic", model, "ANTHROPIC_API_KEY", "reply", usage, 0.5, True))
    await ledger.close()


async def test_collect_status_reads_the_day_of_now(home: Path) -> None:
    noon = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
    await write_ledger(home, "alpha", noon - timedelta(days=1), [("claude-sonnet-4-6", Usage(5, 5))])
    await write_ledger(home, "alpha", noon, [("claude-sonnet-4-6", Usage(1_000_000, 0, cache_read_tokens=200_000))])
    [row] = collect_status(home, ["alpha"], now=noon.timestamp())
    assert (row.tokens_today, row.cost_today_usd) == (1_200_000, 3.06)  # $3 input + 200k reads at $0.30/M
    [row] = collect_status(home, ["alpha"], now=(noon + timedelta(days=1)).timestamp())
    assert (row.tokens_today, row.cost_today_usd) == (0, 0.0)


async def test_status_shows_tokens_and_cost_today(home: Path) -> None:
    write_bot(home, "beta")  # no database: nulls, and no file is created
    write_bot(home, "gamma")  # only unpriced calls: tokens but no cost
    day = datetime.now(timezone.utc)
    await write_ledger(home, "alpha", day, [("claude-sonnet-4-6", Usage(1_000_000, 100_000)), ("mystery", Usage(10, 0))])
    await write_ledger(home, "gamma", day, [("mystery", Usage(300, 0))])
    result = invoke(home, "status", "--json")
    table = invoke(home, "status")
    if datetime.now(timezone.utc).date() != day.date():
        pytest.skip("the UTC day changed during the test")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert STATUS_FIELDS | {"tokens_today", "cost_today_usd"} <= set(rows["alpha"])
    assert (rows["alpha"]["tokens_today"], rows["alpha"]["cost_today_usd"]) == (1_100_010, 4.5)
    assert (rows["beta"]["tokens_today"], rows["beta"]["cost_today_usd"]) == (None, None)
    assert (rows["gamma"]["tokens_today"], rows["gamma"]["cost_today_usd"]) == (300, None)
    assert not BotPaths(home, "beta").database.exists()
    assert table.exit_code == 0, table.output
    assert "1.10M" in table.stdout and "$4.50" in table.stdout


def test_status_of_an_active_bot_without_keeper_is_crashed(home: Path) -> None:
    write_run_files(home, "alpha", pid=None, state={"state": "running", "child_pid": 12345, "restarts": 0})
    result = invoke(home, "status", "alpha", "--json")
    [row] = json.loads(result.stdout)
    assert (row["state"], row["pid"]) == ("crashed", None)
    table = invoke(home, "status")
    assert "crashed" in table.stdout


def test_stale_pidfile_with_reused_pid_is_reported_and_never_signalled(home: Path) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        real = psutil.Process(bystander.pid).create_time()
        write_run_files(
            home,
            "alpha",
            pid={"pid": bystander.pid, "create_time": real - 1000},  # same pid, another program
            state={"state": "running", "child_pid": bystander.pid, "restarts": 0},
        )
        status = invoke(home, "status", "--json")
        [row] = json.loads(status.stdout)
        assert row["state"] == "crashed"
        assert row["pid"] is None
        assert "belongs to another program" in row["note"]

        result = invoke(home, "stop", "alpha")
        assert result.exit_code == 0, result.output
        assert "alpha is not running" in result.stdout
        assert "removed it without signalling it" in result.stderr
        assert not (home / "run" / "alpha.pid").exists()
        assert bystander.poll() is None, "stop must not signal a pid that belongs to another program"
        after = json.loads(invoke(home, "status", "--json").stdout)[0]
        assert after["state"] == "stopped"
    finally:
        bystander.kill()
        bystander.wait()


def test_stop_when_not_running(home: Path) -> None:
    result = invoke(home, "stop", "alpha")
    assert result.exit_code == 0
    assert result.stdout.strip() == "alpha is not running"


def test_spawn_refuses_a_second_instance(home: Path) -> None:
    write_run_files(home, "alpha", pid=me(), state={"state": "running", "child_pid": 777, "restarts": 0})
    result = invoke(home, "spawn", "alpha")
    assert result.exit_code == 1
    assert "alpha is already running (pid 777)" in result.stderr


def test_spawn_with_invalid_config_exits_78_before_starting_anything(home: Path) -> None:
    (home / "bots" / "alpha.yaml").write_text("bot_id: alpha\nname: A\ndiscord: {token_env_var: ALPHA_TOKEN}\n")
    result = invoke(home, "spawn", "alpha")
    assert result.exit_code == 78
    assert "personality: required field is missing" in result.stderr
    assert not (home / "run").exists()


def test_spawn_without_the_token_exits_78(home: Path) -> None:
    result = invoke(home, "spawn", "alpha", env={})
    assert result.exit_code == 78
    assert "ALPHA_TOKEN is not set" in result.stderr


def test_restart_with_invalid_config_stops_nothing(home: Path) -> None:
    write_run_files(home, "alpha", pid=me(), state={"state": "running", "child_pid": 777, "restarts": 0})
    (home / "bots" / "alpha.yaml").write_text("bot_id: alpha\n")
    result = invoke(home, "restart", "alpha")
    assert result.exit_code == 78
    assert "nothing was stopped" in result.stderr
    assert (home / "run" / "alpha.pid").exists()


def test_spawn_and_stop_usage_errors(home: Path) -> None:
    assert invoke(home, "spawn").exit_code == 2
    assert invoke(home, "stop", "alpha", "--all").exit_code == 2
    unknown = invoke(home, "stop", "nobody")
    assert unknown.exit_code == 1 and "no bot named 'nobody'" in unknown.stderr


def test_logs_prints_the_last_n_lines(home: Path) -> None:
    (home / "logs").mkdir()
    (home / "logs" / "alpha.log").write_text("".join(f"line {i}\n" for i in range(200)))
    result = invoke(home, "logs", "alpha", "-n", "3")
    assert result.exit_code == 0
    assert result.stdout == "line 197\nline 198\nline 199\n"
    assert len(invoke(home, "logs", "alpha").stdout.splitlines()) == 50


def test_logs_uses_the_configured_log_file(home: Path) -> None:
    write_bot(home, "alpha", "logging: {file: custom/alpha.txt}\n")
    (home / "custom").mkdir()
    (home / "custom" / "alpha.txt").write_text("custom line\n")
    assert invoke(home, "logs", "alpha", "-n", "1").stdout == "custom line\n"


def test_logs_without_a_log_file_fails_with_a_hint(home: Path) -> None:
    result = invoke(home, "logs", "alpha")
    assert result.exit_code == 1
    assert "has no log yet" in result.stderr and "bot_manager spawn alpha" in result.stderr


def test_logs_follow_ctrl_c_exits_cleanly(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "logs").mkdir()
    (home / "logs" / "alpha.log").write_text("hello\n")
    calls: list[int | None] = []

    def interrupted(path: Path, write: object, *, offset: int | None = None, **_: object) -> None:
        calls.append(offset)
        raise KeyboardInterrupt

    monkeypatch.setattr("framework.cli.supervise.follow", interrupted)
    result = invoke(home, "logs", "alpha", "-f")
    assert result.exit_code == 0
    assert result.stdout == "hello\n"
    assert calls == [len("hello\n")]  # follows from where the printed tail ended
    assert "Traceback" not in result.output


def test_list_shows_invalid_configs_without_crashing(home: Path) -> None:
    (home / "bots" / "broken.yaml").write_text("bot_id: broken\nname: B\n")
    result = invoke(home, "list")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "the alpha test bot" in text and "stopped" in text
    assert "invalid" in text and "broken.yaml" in text


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, framework.cli\n"
        "heavy = [m for m in ('discord', 'anthropic', 'aiohttp', 'groq', 'aiosqlite', 'pydantic') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
