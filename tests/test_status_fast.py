"""``bot_manager status`` without Typer: for every command line, the fast path prints what
the Typer app prints (stdout, stderr, exit code), and what it does not understand goes to
the Typer app."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

import framework.cli as cli
from framework.supervisor import statusview

Outcome = tuple[str, str, int]


def write_bot(home: Path, bot_id: str, extra: str = "") -> None:
    (home / "bots").mkdir(parents=True, exist_ok=True)
    (home / "bots" / f"{bot_id}.yaml").write_text(
        f"bot_id: {bot_id}\nname: Bot {bot_id}\ndiscord: {{token_env_var: {bot_id.upper()}_TOKEN}}\n"
        f"personality: {{base_prompt: 'be brief'}}\n{extra}"
    )


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A project with alpha running (this test process as its keeper, a sleeping child as
    the bot), beta fatal and gamma stopped with a health port; and an empty project."""
    home, empty = tmp_path / "home", tmp_path / "empty"
    empty.mkdir()
    write_bot(home, "alpha")
    write_bot(home, "beta")
    write_bot(home, "gamma", extra="health: {port: 9464}\n")
    child = subprocess.Popen(["sleep", "60"])
    keeper = psutil.Process()
    run = home / "run"
    run.mkdir()
    (run / "alpha.pid").write_text(json.dumps({"pid": keeper.pid, "create_time": keeper.create_time()}))
    now = time.time()
    (run / "alpha.state.json").write_text(json.dumps(
        {"state": "running", "child_pid": child.pid, "started_at": now - 3725, "restarts": 2, "updated_at": now}
    ))
    (run / "beta.state.json").write_text(json.dumps(
        {"state": "fatal", "restarts": 5, "last_exit_code": 78, "last_error": "configuration error: bots/beta.yaml:3"}
    ))
    # One clock for both runs of a command line, so uptime and average CPU agree.
    monkeypatch.setattr(statusview, "time", SimpleNamespace(time=lambda: now + 1, sleep=time.sleep))
    monkeypatch.delenv("BOT_HOME", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # the width when stdout is not a terminal (80 otherwise)
    yield SimpleNamespace(home=str(home), empty=str(empty))
    child.kill()
    child.wait()


def outcome(run, argv: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    try:
        run(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return captured.out, captured.err, code


def both_paths(argv: list[str], capsys, monkeypatch) -> tuple[Outcome, Outcome, bool]:  # type: ignore[no-untyped-def]
    """(main's outcome, the Typer app's outcome, whether main handed the line to Typer)."""
    typer_calls: list[list[str]] = []
    real = cli.run_typer

    def recording(args):  # type: ignore[no-untyped-def]
        typer_calls.append(list(args))
        real(args)

    monkeypatch.setattr(cli, "run_typer", recording)
    fast = outcome(cli.main, argv, capsys)
    monkeypatch.setattr(cli, "run_typer", real)
    return fast, outcome(real, argv, capsys), bool(typer_calls)


FAST = [
    (["--home", "{home}", "status"], 0, "alpha"),
    (["--home", "{home}", "status", "--json"], 0, '"name": "alpha"'),
    (["--home", "{home}", "status", "alpha"], 0, "running"),
    (["--home", "{home}", "status", "--json", "beta"], 0, '"last_exit_code": 78'),
    (["--home={home}", "status", "--sample", "0"], 0, "fatal"),
    (["--home", "{empty}", "--home", "{home}", "status", "--sample=0"], 0, "health http://127.0.0.1:9464/"),
    (["--home", "{home}", "status", ""], 0, "gamma"),  # an empty BOT means every bot, as in Typer
    (["--home", "{home}", "status", "-"], 1, "no bot named '-'"),
    (["--home", "{home}", "status", "nobody"], 1, "no bot named 'nobody'"),
    (["--home", "{empty}", "status"], 0, "no bots configured in"),
    (["--home", "{empty}", "status", "--json"], 0, "[]"),
]
TO_TYPER = [
    (["--home", "{home}", "status", "--sample", "-1"], 2, "Invalid value for '--sample'"),
    (["--home", "{home}", "status", "--sample", "soon"], 2, "Invalid value for '--sample'"),
    (["--home", "{home}", "status", "--help"], 0, "Show each bot's state"),
    (["--home", "{home}", "status", "-h"], 2, "No such option"),
    (["--home", "{home}", "status", "--bogus"], 2, "No such option"),
    (["--home", "{home}", "status", "--js"], 2, "No such option"),  # no abbreviations, as in Click
    (["--home", "{home}", "status", "--json=yes"], 2, "does not take a value"),
    (["--home", "{home}", "status", "alpha", "beta"], 2, "unexpected extra argument"),
    (["--home", "{home}", "status", "-1"], 2, "No such option"),  # argparse alone would take it for a bot
    (["status", "--home", "{home}"], 2, "No such option"),  # --home belongs before the verb
    (["--home", "{home}", "status", "--", "alpha"], 0, "running"),
]


def expand(argv: list[str], homes: SimpleNamespace) -> list[str]:
    return [word.format(home=homes.home, empty=homes.empty) for word in argv]


@pytest.mark.parametrize(("argv", "code", "text"), FAST + TO_TYPER)
def test_main_prints_what_the_typer_app_prints(homes, capsys, monkeypatch, argv, code, text) -> None:  # type: ignore[no-untyped-def]
    argv = expand(argv, homes)
    fast, typer_app, went_to_typer = both_paths(argv, capsys, monkeypatch)
    assert fast == typer_app
    out, err, exit_code = fast
    assert exit_code == code and text in " ".join((out + err).split()), fast
    assert went_to_typer == (argv not in [expand(a, homes) for a, _, _ in FAST])
    assert "Traceback" not in out + err


def test_the_home_comes_from_bot_home_then_the_current_directory(homes, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BOT_HOME", homes.home)
    monkeypatch.chdir(homes.empty)
    from_env = both_paths(["status"], capsys, monkeypatch)
    assert from_env[0] == from_env[1] and not from_env[2] and "alpha" in from_env[0][0]
    monkeypatch.delenv("BOT_HOME")
    monkeypatch.chdir(homes.home)
    from_cwd = both_paths(["status", "--json"], capsys, monkeypatch)
    assert from_cwd[0] == from_cwd[1] and not from_cwd[2] and '"name": "gamma"' in from_cwd[0][0]


def test_the_table_lines_of_a_running_and_a_fatal_bot(homes, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out, err, code = outcome(cli.main, ["--home", homes.home, "status"], capsys)
    header, alpha, beta, gamma = out.splitlines()
    assert header.split()[:9] == ["BOT", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "MEM", "TODAY", "EXIT"]
    assert alpha.split()[:6] == ["alpha", "running", str(json.loads(Path(homes.home, "run/alpha.state.json").read_text())["child_pid"]), "1h", "02m", "2"]
    assert "MiB" in alpha and "%" in alpha
    assert beta.split()[:5] == ["beta", "fatal", "-", "-", "5"] and beta.split()[-4:] == ["78", "configuration", "error:", "bots/beta.yaml:3"]
    assert gamma.split()[:2] == ["gamma", "stopped"] and gamma.endswith("health http://127.0.0.1:9464/")
    assert (err, code) == ("", 0)


@pytest.mark.slow
@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("1", False), ("", True)])
def test_the_state_is_coloured_on_a_terminal_unless_no_color(homes, no_color, coloured) -> None:  # type: ignore[no-untyped-def]
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "BOT_HOME")}
    if no_color is not None:
        env["NO_COLOR"] = no_color
    reader, terminal = os.openpty()
    try:
        code = "from framework.cli import main; main()"
        proc = subprocess.run([sys.executable, "-c", code, "--home", homes.home, "status"], stdout=terminal,
                              stderr=subprocess.PIPE, env=env, timeout=60)
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                chunk = os.read(reader, 65536)
            except OSError:  # the terminal's other end is closed: everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
        text = b"".join(chunks).decode()
    finally:
        os.close(reader)
        if terminal != -1:
            os.close(terminal)
    assert proc.returncode == 0, proc.stderr
    assert ("\x1b[31m" not in text) and ("\x1b[2mstopped\x1b[0m" in text) == coloured  # only the states are coloured
    assert ("\x1b[1;31mfatal\x1b[0m" in text) == coloured and "gamma" in text
