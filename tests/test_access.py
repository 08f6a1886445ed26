"""Access control (the config's ``access`` section): the policy, validation, and the shipped Cortana."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.config import check_bot, load_bot_config
from framework.config.access import AccessConfig, master_user_id
from framework.domain import IncomingMessage
from framework.engines.access import DM_ONLY_REFUSAL, OPEN, UNAUTHORIZED_REFUSAL, AccessPolicy
from framework.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
MASTER = "111111111111111111"
STRANGER = "222222222222222222"
CORTANA_ENV = {"CORTANA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20, "MASTER_USER_ID": MASTER}


def copy_cortana(home: Path) -> None:
    """The shipped config, and its prompt files when it has them (they are part of who she is)."""
    (home / "bots").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "bots" / "cortana.yaml", home / "bots" / "cortana.yaml")
    prompt = REPO / "memories" / "cortana" / "prompt"
    if prompt.is_dir():
        shutil.copytree(prompt, home / "memories" / "cortana" / "prompt")


def msg(author: str, *, guild: str | None, is_self: bool = False) -> IncomingMessage:
    return IncomingMessage(
        message_id="9", channel_id="5", guild_id=guild, author_id=author, author_name="x", content="hi",
        timestamp=datetime(2026, 12, 2, tzinfo=timezone.utc), is_self=is_self,
    )


# -- the policy ------------------------------------------------------------------------------


def test_open_allows_everything() -> None:
    assert OPEN.allows(msg(STRANGER, guild="7")) and OPEN.allows(msg(STRANGER, guild=None))
    assert OPEN.allows_command(STRANGER, in_dm=False) is None
    assert OPEN.allows_unprompted(guild_id="7", user_id=STRANGER)


def test_master_dm_follows_the_behaviour_table() -> None:
    policy = AccessPolicy("master_dm", MASTER)
    assert policy.allows(msg(MASTER, guild=None))  # master's DM: answered
    assert "not the master" in (policy.refusal(msg(STRANGER, guild=None)) or "")  # stranger's DM: ignored
    assert "channel" in (policy.refusal(msg(MASTER, guild="7")) or "")  # channel: ignored, even the master
    assert not policy.allows(msg(STRANGER, guild="7"))
    assert policy.allows(msg("999", guild="7", is_self=True))  # the bot's own words are history


def test_allows_command_four_cases() -> None:
    policy = AccessPolicy("master_dm", MASTER)
    assert policy.allows_command(MASTER, in_dm=False) == DM_ONLY_REFUSAL == "this command only works in DMs"
    assert policy.allows_command(STRANGER, in_dm=False) == DM_ONLY_REFUSAL
    assert policy.allows_command(MASTER, in_dm=True) is None
    assert policy.allows_command(STRANGER, in_dm=True) == UNAUTHORIZED_REFUSAL == "unauthorized"


def test_unprompted_talk_only_in_the_masters_dm() -> None:
    policy = AccessPolicy("master_dm", MASTER)
    assert not policy.allows_unprompted(guild_id="7", user_id=MASTER)
    assert not policy.allows_unprompted(guild_id=None, user_id=STRANGER)
    assert policy.allows_unprompted(guild_id=None, user_id=MASTER)


def test_a_restricted_policy_needs_its_master() -> None:
    with pytest.raises(ValueError):
        AccessPolicy("master_dm", None)


# -- config and validation ---------------------------------------------------------------------


def test_access_defaults_to_open() -> None:
    config = load_bot_config(REPO / "bots" / "alpha.yaml", REPO)
    assert config.access == AccessConfig() and config.access.mode == "open"
    assert master_user_id(config.access, {}) is None  # open needs no variable


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "is not set"), ("", "is not set"), ("12345", "is not a Discord user id"), ("me@example.com", "is not a Discord user id"),
     ("1" * 21, "is not a Discord user id")],
)
def test_master_user_id_must_be_a_snowflake(value: str | None, expected: str) -> None:
    env = {} if value is None else {"MASTER_USER_ID": value}
    with pytest.raises(ConfigError) as info:
        master_user_id(AccessConfig(mode="master_dm"), env)
    message = str(info.value)
    assert "\n" not in message and "MASTER_USER_ID" in message and expected in message
    assert master_user_id(AccessConfig(mode="master_dm"), {"MASTER_USER_ID": f" {MASTER} "}) == MASTER


def test_shipped_cortana_is_valid_and_private() -> None:
    config = load_bot_config(REPO / "bots" / "cortana.yaml", REPO)
    assert (config.bot_id, config.name, config.discord.token_env_var) == ("cortana", "Cortana", "CORTANA_BOT_TOKEN")
    assert config.access == AccessConfig(mode="master_dm", master_user_env="MASTER_USER_ID")
    assert not config.reactive.enabled  # no periodic-check (ambient) replies
    assert not config.agentic.proactive.enabled and config.agentic.proactive.allowed_channels == []
    # The persona: inline, or in prompt files kept in her memory folder.
    assert "Cortana" in config.personality.base_prompt or getattr(config.personality, "prompt_files", None)
    result = check_bot(REPO / "bots" / "cortana.yaml", CORTANA_ENV, REPO)
    assert result.ok, result.errors


def test_env_example_names_cortanas_variables() -> None:
    names = {line.split("=", 1)[0].strip("# ") for line in (REPO / ".env.example").read_text().splitlines() if "=" in line}
    assert {"CORTANA_BOT_TOKEN", "MASTER_USER_ID"} <= names


@pytest.mark.parametrize(("value", "expected"), [(None, "is not set"), ("not-an-id", "is not a Discord user id")])
def test_validate_exits_78_with_one_line_naming_the_variable(tmp_path: Path, value: str | None, expected: str) -> None:
    copy_cortana(tmp_path)
    env = {k: v for k, v in CORTANA_ENV.items() if k != "MASTER_USER_ID"}
    if value is not None:
        env["MASTER_USER_ID"] = value
    result = CliRunner().invoke(app, ["validate", "cortana"], obj=CliContext(home=tmp_path, environ=env))
    assert result.exit_code == 78, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "MASTER_USER_ID" in errors[0] and expected in errors[0], result.output
    ok = CliRunner().invoke(app, ["validate", "cortana"], obj=CliContext(home=tmp_path, environ=CORTANA_ENV))
    assert ok.exit_code == 0 and "ok cortana" in ok.output, ok.output
