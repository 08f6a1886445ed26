"""``bot_manager new`` and the settings two bots may not share (validate, spawn --all)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.config import load_bot_config
from framework.config.models import default_token_var

KEY = {"ANTHROPIC_API_KEY": "test-key-123456"}


def invoke(home: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), obj=CliContext(home=home, environ={**KEY, **(env or {})}))


def write_bot(home: Path, bot_id: str, discord: str = "{}", extra: str = "") -> None:
    (home / "bots").mkdir(parents=True, exist_ok=True)
    (home / "bots" / f"{bot_id}.yaml").write_text(
        f"bot_id: {bot_id}\nname: Bot {bot_id}\ndiscord: {discord}\npersonality: {{base_prompt: 'be brief'}}\n{extra}"
    )


def test_default_token_var_derives_from_bot_id() -> None:
    assert default_token_var("gamma") == "GAMMA_BOT_TOKEN"
    assert default_token_var("my-bot_2") == "MY_BOT_2_BOT_TOKEN"


def test_a_config_without_token_var_or_log_file_gets_its_own(tmp_path: Path) -> None:
    write_bot(tmp_path, "gamma")
    config = load_bot_config(tmp_path / "bots" / "gamma.yaml", tmp_path)
    assert config.discord.token_env_var == "GAMMA_BOT_TOKEN"
    assert config.log_file == "logs/gamma.log"


@pytest.mark.parametrize("source", ["alpha", "ana", "cortana"])
def test_new_then_validate_ok(tmp_path: Path, source: str) -> None:
    (tmp_path / ".env.example").write_text("ALPHA_BOT_TOKEN=\n")
    made = invoke(tmp_path, "new", "gamma", "--from", source)
    assert made.exit_code == 0, made.output
    assert "GAMMA_BOT_TOKEN" in made.output
    next_steps = [line.strip() for line in made.output.splitlines() if line.startswith("  bot_manager")]
    assert [s.split("#")[0].strip() for s in next_steps] == [
        "bot_manager sandbox gamma", "bot_manager validate gamma", "bot_manager spawn gamma"
    ]
    config = load_bot_config(tmp_path / "bots" / "gamma.yaml", tmp_path)
    assert (config.bot_id, config.name) == ("gamma", "Gamma")
    assert config.discord.token_env_var == "GAMMA_BOT_TOKEN"
    assert config.log_file == "logs/gamma.log"
    if source != "cortana":
        assert "You're Gamma" in config.personality.base_prompt
    else:
        assert sorted(p.name for p in (tmp_path / "memories" / "gamma" / "prompt").iterdir()) == [
            "IDENTITY.md", "SOUL.md", "TOOLS.md", "USER.md"
        ]
    assert (tmp_path / ".env.example").read_text().splitlines()[0] == "ALPHA_BOT_TOKEN="
    assert "GAMMA_BOT_TOKEN=" in (tmp_path / ".env.example").read_text().splitlines()
    assert "# GAMMA_BOT_TOKEN=" in (tmp_path / ".env").read_text().splitlines()
    env = {"GAMMA_BOT_TOKEN": "t" * 30, "MASTER_USER_ID": "123456789012345678"}
    checked = invoke(tmp_path, "validate", env=env)
    assert checked.exit_code == 0, checked.output
    assert "ok gamma" in checked.output


def test_new_refuses_an_existing_bot_and_a_bad_id(tmp_path: Path) -> None:
    write_bot(tmp_path, "gamma")
    before = (tmp_path / "bots" / "gamma.yaml").read_text()
    again = invoke(tmp_path, "new", "gamma")
    assert again.exit_code == 2
    assert "already exists" in again.output and len(again.output.strip().splitlines()) == 1
    assert (tmp_path / "bots" / "gamma.yaml").read_text() == before
    bad = invoke(tmp_path, "new", "Gamma!")
    assert bad.exit_code == 2
    assert "not a valid bot id" in bad.output
    assert not (tmp_path / "bots" / "Gamma!.yaml").exists()


def test_new_refuses_an_id_whose_token_var_is_taken(tmp_path: Path) -> None:
    write_bot(tmp_path, "my_bot")  # MY_BOT_BOT_TOKEN, as my-bot's would be
    result = invoke(tmp_path, "new", "my-bot")
    assert result.exit_code == 2
    assert "MY_BOT_BOT_TOKEN" in result.output
    assert not (tmp_path / "bots" / "my-bot.yaml").exists()


@pytest.mark.parametrize(
    ("beta_discord", "beta_extra", "shared"),
    [
        ("{token_env_var: ALPHA_BOT_TOKEN}", "", "ALPHA_BOT_TOKEN"),
        ("{}", "logging: {file: logs/alpha.log}\n", "logs/alpha.log"),
    ],
)
def test_two_bots_sharing_a_token_or_log_are_refused(tmp_path: Path, beta_discord: str, beta_extra: str, shared: str) -> None:
    write_bot(tmp_path, "alpha")
    write_bot(tmp_path, "beta", beta_discord, beta_extra)
    env = {"ALPHA_BOT_TOKEN": "a" * 30, "BETA_BOT_TOKEN": "b" * 30}
    result = invoke(tmp_path, "validate", env=env)
    assert result.exit_code == 78
    lines = [line for line in result.output.splitlines() if "share" in line]
    assert len(lines) == 1
    assert "bots/alpha.yaml" in lines[0] and "bots/beta.yaml" in lines[0] and shared in lines[0]
    assert "BETA_BOT_TOKEN for beta" in lines[0] or "logs/beta.log for beta" in lines[0]  # the fix, for the bot that needs it
    # One bot alone is refused too: the other one is still configured.
    assert invoke(tmp_path, "validate", "beta", env=env).exit_code == 78
    document = json.loads(invoke(tmp_path, "validate", "--json", env=env).stdout)
    assert document["ok"] is False
    assert document["conflicts"][0]["bots"] == ["alpha", "beta"] and document["conflicts"][0]["value"] == shared
    # spawn --all validates first and starts neither.
    spawned = invoke(tmp_path, "spawn", "--all", env=env)
    assert spawned.exit_code == 78
    assert shared in spawned.output
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").glob("*.pid"))


def test_validate_json_shape(tmp_path: Path) -> None:
    write_bot(tmp_path, "alpha")
    write_bot(tmp_path, "beta")
    result = invoke(tmp_path, "validate", "--json", env={"ALPHA_BOT_TOKEN": "a" * 30})
    assert result.exit_code == 78
    document = json.loads(result.stdout)
    assert set(document) == {"ok", "bots", "conflicts"}
    assert document["conflicts"] == []
    by_bot = {b["bot"]: b for b in document["bots"]}
    assert by_bot["alpha"] == {"bot": "alpha", "ok": True, "errors": [], "warnings": []}
    assert by_bot["beta"]["ok"] is False and "BETA_BOT_TOKEN" in by_bot["beta"]["errors"][0]


REPO = Path(__file__).resolve().parent.parent


def test_env_example_names_every_shipped_bots_token_variable() -> None:
    names = {line.split("=", 1)[0].strip("# ") for line in (REPO / ".env.example").read_text().splitlines() if "=" in line}
    for config_path in sorted((REPO / "bots").glob("*.yaml")):
        config = load_bot_config(config_path, REPO)
        assert config.discord.token_env_var in names, config_path.name


def test_shipped_bots_share_nothing() -> None:
    from framework.config.conflicts import shared_settings

    configs = {p.stem: load_bot_config(p, REPO) for p in sorted((REPO / "bots").glob("*.yaml"))}
    assert shared_settings(configs) == []


def test_readme_documents_the_new_verbs_and_flags() -> None:
    readme = (REPO / "README.md").read_text()
    for text in ("`new BOT", "--since", "--watch", "list [--json]", "[--online] [--json]", "--sample", "--say", "--reply-timeout",
                 "keeper_pid", "tokens_today", "cost_today_usd", "--version"):
        assert text in readme, text
