"""``tools.coding``: off by default, only for a master-DM bot (``validate`` exit 78 otherwise,
and the bot process refuses too), ``jail: none`` warned about, and a jail that cannot run
stops the start with one line naming the package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.coding import build_coding, jail_owner
from framework.config import load_bot_config
from framework.config.coding import CodingConfig
from framework.errors import ConfigError
from framework.paths import BotPaths
from framework.runtime.coding import open_coding
from framework.clock import SystemClock

from .test_access import CORTANA_ENV, MASTER, REPO, copy_cortana

ALPHA_ENV = {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20}


def with_coding(home: Path, bot: str, block: str) -> Path:
    """Copy the shipped ``bot`` config and append a ``tools.coding`` block to it."""
    (home / "bots").mkdir(parents=True, exist_ok=True)
    if bot == "cortana":
        copy_cortana(home)
    else:
        shutil.copy(REPO / "bots" / f"{bot}.yaml", home / "bots" / f"{bot}.yaml")
    path = home / "bots" / f"{bot}.yaml"
    path.write_text(path.read_text() + "\ntools:\n  coding:\n" + "".join(f"    {line}\n" for line in block.splitlines()))
    return path


def validate(home: Path, bot: str, env: dict[str, str]) -> tuple[int, list[str], list[str]]:
    result = CliRunner().invoke(app, ["validate", bot], obj=CliContext(home=home, environ=env))
    lines = result.output.splitlines()
    return result.exit_code, [x for x in lines if x.startswith("error:")], [x for x in lines if x.startswith("warning:")]


def test_everything_is_off_by_default_and_in_the_shipped_bots() -> None:
    default = CodingConfig()
    assert not (default.bash or default.files or default.skills or default.network or default.enabled)
    assert (default.jail, default.bash_timeout_seconds, default.output_max_lines, default.output_max_bytes,
            default.file_read_max_lines) == ("bubblewrap", 60, 500, 51_200, 1_000)
    for bot in ("alpha", "ana", "cortana"):
        assert not load_bot_config(REPO / "bots" / f"{bot}.yaml", REPO).tools.coding.enabled


@pytest.mark.parametrize("block", ["bash: true", "files: true", "files: true\nskills: true"])
def test_a_bot_open_to_everyone_may_not_enable_them(tmp_path: Path, block: str) -> None:
    with_coding(tmp_path, "alpha", block)
    code, errors, _ = validate(tmp_path, "alpha", ALPHA_ENV)
    assert code == 78
    assert len(errors) == 1 and "tools.coding." in errors[0] and "access.mode: master_dm" in errors[0], errors


def test_a_master_dm_bot_may(tmp_path: Path) -> None:
    with_coding(tmp_path, "cortana", "bash: true\nfiles: true\nskills: true")
    assert validate(tmp_path, "cortana", CORTANA_ENV) == (0, [], [])


def test_jail_none_is_allowed_but_warned_about_loudly(tmp_path: Path) -> None:
    with_coding(tmp_path, "cortana", "bash: true\njail: none")
    code, errors, warnings = validate(tmp_path, "cortana", CORTANA_ENV)
    assert code == 0 and errors == []
    assert len(warnings) == 1 and "UNCONFINED SHELL" in warnings[0] and "tools.coding.jail" in warnings[0]


@pytest.mark.parametrize(("block", "expected"), [
    ("skills: true", "skills: true needs files: true"),
    ("workspace: /srv/ws", "must be a folder inside the project folder"),
    ("workspace: ../elsewhere", "must be a folder inside the project folder"),
    ("workspace: memories/cortana", "inside the project's memories/ folder"),
    ("bash_timeout_seconds: 0", "tools.coding.bash_timeout_seconds"),
    ("shell: true", "unknown key"),
])
def test_bad_settings_are_one_line_errors(tmp_path: Path, block: str, expected: str) -> None:
    with_coding(tmp_path, "cortana", block)
    code, errors, _ = validate(tmp_path, "cortana", CORTANA_ENV)
    assert code == 78 and len(errors) == 1 and expected in errors[0], errors


async def test_the_bot_process_refuses_them_without_a_master(tmp_path: Path) -> None:
    path = with_coding(tmp_path, "alpha", "bash: true")
    config = load_bot_config(path, tmp_path)
    with pytest.raises(ConfigError, match="access.mode: master_dm"):
        await open_coding(config, BotPaths(tmp_path, "alpha"), None, None, SystemClock())  # type: ignore[arg-type]


def test_missing_bubblewrap_stops_the_start_naming_the_package(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_coding(CodingConfig(bash=True), tmp_path / "ws", master_id=MASTER, owner=jail_owner(),
                     bwrap=str(tmp_path / "no-bwrap"))
    assert "\n" not in str(caught.value) and "bubblewrap" in str(caught.value)


def test_a_jail_that_cannot_make_namespaces_stops_the_start(tmp_path: Path) -> None:
    # A stand-in bwrap that fails the way bwrap does where namespaces are not allowed.
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: nesting depth or "
                    "/proc/sys/user/max_*_namespaces exceeded (ENOSPC)' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(ConfigError) as caught:
        build_coding(CodingConfig(bash=True), tmp_path / "ws", master_id=MASTER, owner=jail_owner(), bwrap=str(fake))
    message = str(caught.value)
    assert "\n" not in message and "Creating new namespace failed" in message and "bubblewrap" in message
    assert "no unjailed fallback" in message


def test_file_tools_alone_need_no_bubblewrap(tmp_path: Path) -> None:
    parts = build_coding(CodingConfig(files=True), tmp_path / "ws", master_id=MASTER, owner=jail_owner(),
                         bwrap=str(tmp_path / "no-bwrap"))
    assert parts is not None and sorted(t.name for t in parts.tools) == ["edit_file", "read_file", "write_file"]
    assert build_coding(CodingConfig(), tmp_path / "ws", master_id=MASTER, owner=None) is None


def test_the_workspace_is_kept_out_of_git() -> None:
    assert "workspaces/" in (REPO / ".gitignore").read_text().splitlines()


def test_ci_installs_bubblewrap_before_the_venv() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert "command -v bwrap" in script and "apt-get install -y -qq bubblewrap" in script
    assert script.index("bubblewrap") < script.index("python3 -m venv")
