"""CLI polish: --version, status at 80 columns and --watch, logs of every bot, --since, list --json."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from framework.cli import app, status_watch
from framework.cli.common import CliContext
from framework.supervisor.logmux import BotPrefix, interleave, parse_since
from framework.supervisor.status_table import render_status_text
from framework.supervisor.statusview import StatusRow

LONG_ERROR = "backoff: cannot reach discord.com (DNS); retrying in 60 s after 4 attempts"


def write_bot(home: Path, bot_id: str) -> None:
    (home / "bots").mkdir(parents=True, exist_ok=True)
    (home / "bots" / f"{bot_id}.yaml").write_text(
        f"bot_id: {bot_id}\nname: Bot {bot_id}\ndescription: the {bot_id} bot\ndiscord: {{}}\npersonality: {{base_prompt: 'be brief'}}\n"
    )


def invoke(home: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), obj=CliContext(home=home, environ={}))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for bot_id in ("alpha", "cortana-assistant"):
        write_bot(tmp_path, bot_id)
    return tmp_path


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("bot_manager ")
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).stdout


def busy_rows() -> list[StatusRow]:
    return [
        StatusRow(
            name="cortana-assistant", state="backoff", pid=123456, uptime_s=200_000, restarts=12, cpu_percent=12.5,
            rss_bytes=93_000_000, last_exit_code=1, last_error=LONG_ERROR, tokens_today=1_234_567, cost_today_usd=12.34,
        ),
        StatusRow(name="alpha", state="running", pid=99, uptime_s=5),
    ]


def test_status_at_80_columns_keeps_names_states_and_cuts_the_error() -> None:
    text = render_status_text(busy_rows(), 80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines) and len(lines) == 3  # header and one line per bot, never wrapped
    assert "cortana-assistant" in text and "backoff" in text and "running" in text
    assert "RESTARTS" not in text and "EXIT" not in text  # left out first
    assert "TODAY" not in text and "$12.34" not in text  # then usage
    assert "123456" in text and "2d" in text  # pid and uptime stay
    assert "backoff: cannot re" in lines[1] and lines[1].endswith("…") and "attempts" not in text  # the error is cut
    wide = render_status_text(busy_rows(), 200)
    assert "TODAY" in wide and "1.23M $12.34" in wide and LONG_ERROR in wide and "…" not in wide


def test_status_narrower_than_its_fixed_columns_cuts_each_line() -> None:
    lines = render_status_text(busy_rows(), 30).splitlines()
    assert [len(line) for line in lines] == [30, 30, 30]
    assert lines[1].startswith("cortana-assistant  backoff") and lines[1].endswith("…")


def test_status_piped_fits_80_columns(home: Path) -> None:
    result = invoke(home, "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert any("cortana-assistant" in line and "stopped" in line for line in lines)
    assert len(lines) == 3  # a header and one line per bot
    assert "\x1b[" not in result.stdout  # no colour when stdout is not a terminal


def test_status_watch_redraws_until_ctrl_c(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_watch, "time", SimpleNamespace(sleep=sleep))
    result = invoke(home, "status", "--watch", "--interval", "5")
    assert result.exit_code == 0, result.output
    assert naps == [5.0, 5.0, 5.0]
    assert "cortana-assistant" in result.stdout and "Traceback" not in result.output
    naps.clear()
    assert invoke(home, "status", "--watch").exit_code == 0
    assert naps == [2.0, 2.0, 2.0]  # every 2 s unless told


def write_logs(home: Path) -> None:
    (home / "logs").mkdir()
    (home / "logs" / "alpha.log").write_text(
        "2026-01-31 09:00:00 INFO    framework: alpha one\n"
        "2026-01-31 09:00:02 ERROR   framework: alpha two\nTraceback (most recent call last):\n"
    )
    (home / "logs" / "cortana-assistant.log").write_text(
        "2026-01-31 09:00:01 INFO    framework: cortana one\n2026-01-31 09:00:03 INFO    framework: cortana two\n"
    )


def test_logs_of_all_bots_interleaved_and_prefixed(home: Path) -> None:
    write_logs(home)
    result = invoke(home, "logs")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "alpha             | 2026-01-31 09:00:00 INFO    framework: alpha one",
        "cortana-assistant | 2026-01-31 09:00:01 INFO    framework: cortana one",
        "alpha             | 2026-01-31 09:00:02 ERROR   framework: alpha two",
        "alpha             | Traceback (most recent call last):",
        "cortana-assistant | 2026-01-31 09:00:03 INFO    framework: cortana two",
    ]
    assert invoke(home, "logs", "-n", "1").stdout.endswith("cortana two\n")


def test_logs_since_filters(home: Path) -> None:
    write_logs(home)
    result = invoke(home, "logs", "--since", "2026-01-31T09:00:02")
    assert [line.split("|")[1].strip()[-9:] for line in result.stdout.splitlines()] == ["alpha two", "ll last):", "rtana two"]
    one = invoke(home, "logs", "alpha", "--since", "2026-01-31 09:00:01")
    assert one.stdout == "2026-01-31 09:00:02 ERROR   framework: alpha two\nTraceback (most recent call last):\n"
    bad = invoke(home, "logs", "--since", "yesterday")
    assert bad.exit_code == 2 and "10m" in bad.output


def test_since_durations_and_colour() -> None:
    now = datetime(2026, 1, 31, 12, 0, 0)
    assert parse_since("10m", now) == datetime(2026, 1, 31, 11, 50)
    assert parse_since("1h", now) == datetime(2026, 1, 31, 11, 0)
    assert parse_since("2d", now) == datetime(2026, 1, 29, 12, 0)
    assert parse_since("2026-01-31T09:00", now) == datetime(2026, 1, 31, 9, 0)
    lines = interleave({"a": ["2026-01-31 09:00:00 x"], "bb": ["2026-01-31 08:00:00 y"]})
    assert [line.bot for line in lines] == ["bb", "a"]
    coloured = BotPrefix(["a", "bb"], colour=True)(lines[1])
    assert coloured.startswith("\x1b[") and "a  |" in coloured
    assert BotPrefix(["a", "bb"], colour=False)(lines[1]) == "a  | 2026-01-31 09:00:00 x\n"


def test_list_json_shape(home: Path) -> None:
    (home / "bots" / "broken.yaml").write_text("bot_id: broken\nname: B\n")
    result = invoke(home, "list", "--json")
    assert result.exit_code == 0, result.output
    entries = {e["bot"]: e for e in json.loads(result.stdout)}
    assert set(entries) == {"alpha", "broken", "cortana-assistant"}
    assert entries["alpha"] == {
        "bot": "alpha", "name": "Bot alpha", "state": "stopped", "description": "the alpha bot", "valid": True, "error": None
    }
    assert entries["broken"]["valid"] is False and "personality" in entries["broken"]["error"]


def test_status_help_names_the_ledger_path() -> None:
    result = CliRunner().invoke(app, ["status", "--help"], env={"COLUMNS": "200"})
    assert "persistence/<bot>/messages.db" in result.stdout


CITATIONS = ("ARCHITECTURE.md", "Appendix", "§", "seed 0", "the spec")


def test_configs_readme_and_help_cite_no_document_the_user_lacks() -> None:
    import typer.main

    repo = Path(__file__).resolve().parent.parent
    texts = {p.name: p.read_text() for p in [repo / "README.md", repo / ".env.example", *sorted((repo / "bots").glob("*.yaml"))]}
    group = typer.main.get_command(app)
    for name in ["", *group.commands]:  # type: ignore[attr-defined]
        texts[f"{name} --help"] = CliRunner().invoke(app, [name, "--help"] if name else ["--help"]).stdout
    for where, text in texts.items():
        for citation in CITATIONS:
            assert citation not in text, (where, citation)


def test_follow_many_prefixes_new_complete_lines_of_every_bot(tmp_path: Path) -> None:
    from framework.supervisor.logmux import follow_many

    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("old a\n")
    b.write_text("")
    got: list[tuple[str, str]] = []
    def append(path: Path, text: str) -> None:
        with path.open("a") as fh:
            fh.write(text)

    steps = iter([
        lambda: append(a, "a one\na tw"),
        lambda: append(b, "b one\n"),
        lambda: append(a, "o\n"),
    ])

    def sleep(_: float) -> None:
        next(steps)()

    def done() -> bool:
        return len(got) >= 3

    follow_many({"a": (a, a.stat().st_size), "b": (b, 0)}, lambda line: got.append((line.bot, line.text)), sleep=sleep, should_stop=done)
    assert got == [("a", "a one"), ("b", "b one"), ("a", "a two")]
