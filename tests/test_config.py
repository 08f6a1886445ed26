"""Config loading: valid and invalid YAML, and error texts that name file, line, field and value."""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.config import BotConfig, check_bot, load_bot_config, load_settings
from framework.config.modelcatalog import known_ids, model_warning
from framework.errors import ConfigError

from .conftest import write_bot

REPO = Path(__file__).resolve().parent.parent


def error_of(path: Path, home: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_bot_config(path, home)
    return str(info.value)


def test_shipped_alpha_is_valid_and_uses_a_current_model() -> None:
    config = load_bot_config(REPO / "bots" / "alpha.yaml", REPO)
    assert config.bot_id == "alpha"
    assert config.discord.token_env_var == "ALPHA_BOT_TOKEN"
    assert config.reactive.cooldowns.per_user == 40
    assert config.rate_limiting.windows.short.max_responses == 20
    result = check_bot(REPO / "bots" / "alpha.yaml", {"ALPHA_BOT_TOKEN": "x" * 30, "ANTHROPIC_API_KEY": "k" * 20}, REPO)
    assert result.ok and result.warnings == []


def test_defaults_follow_the_spec(project: Path) -> None:
    config = load_bot_config(project / "bots" / "alpha.yaml", project)
    assert config.api.model == "claude-sonnet-4-6"
    assert config.api.max_tokens == 4096
    assert (config.reactive.check_interval_seconds, config.reactive.context_window) == (30, 20)
    assert config.agentic.proactive.quiet_hours == (0, 6)
    assert config.api.context_editing.exclude_tools == ["memory"]
    assert config.rate_limiting.ignore_threshold == 5
    assert config.images.compression_target == 0.73
    assert config.log_file == "logs/alpha.log"


def test_yaml_syntax_error_names_file_line_and_column(project: Path) -> None:
    path = project / "bots" / "alpha.yaml"
    path.write_text("bot_id: alpha\nname: [unclosed\ndiscord:\n  token_env_var: X\n")
    message = error_of(path, project)
    assert message.startswith("bots/alpha.yaml:")
    line, column = message.split(":")[1:3]
    assert line.isdigit() and column.isdigit()
    assert "YAML syntax error" in message


def test_schema_error_names_file_line_field_value_and_expectation(project: Path) -> None:
    path = write_bot(project, extra="reactive:\n  cooldowns:\n    per_user: soon\n")
    message = error_of(path, project)
    assert message == "bots/alpha.yaml:9: reactive.cooldowns.per_user: got 'soon', expected a number"


def test_out_of_range_and_choice_errors(project: Path) -> None:
    path = project / "bots" / "alpha.yaml"
    path.write_text(
        "bot_id: alpha\nname: A\ndiscord: {token_env_var: T}\n"
        "personality:\n  base_prompt: hi\n  response_style:\n    emoji_usage: always\n    formality: 3\n"
    )
    lines = sorted(error_of(path, project).splitlines())
    assert lines[0].startswith("bots/alpha.yaml:7: personality.response_style.emoji_usage: got 'always', expected one of")
    assert "'never'" in lines[0]
    assert lines[1] == "bots/alpha.yaml:8: personality.response_style.formality: got 3, expected a number <= 1.0"


def test_unknown_key_is_rejected_with_a_suggestion(project: Path) -> None:
    path = write_bot(project, extra="reactive:\n  check_interval_secs: 10\n")
    assert error_of(path, project) == (
        "bots/alpha.yaml:8: reactive.check_interval_secs: unknown key; did you mean 'check_interval_seconds'?"
    )


def test_missing_required_field(project: Path) -> None:
    path = project / "bots" / "alpha.yaml"
    path.write_text("bot_id: alpha\nname: A\ndiscord: {token_env_var: T}\n")
    assert error_of(path, project) == "bots/alpha.yaml: personality: required field is missing"


def test_bot_id_must_match_file_name(project: Path) -> None:
    path = write_bot(project, bot_id="beta")
    path.rename(project / "bots" / "gamma.yaml")
    message = error_of(project / "bots" / "gamma.yaml", project)
    assert message == "bots/gamma.yaml:1: bot_id: got 'beta', expected 'gamma' (the file name without .yaml)"


def test_snowflakes_written_as_numbers_are_kept_as_strings(project: Path) -> None:
    path = project / "bots" / "alpha.yaml"
    path.write_text(
        "bot_id: alpha\nname: A\ndiscord:\n  token_env_var: T\n  servers: [123456789012345678]\n"
        "personality: {base_prompt: hi}\n"
    )
    assert load_bot_config(path, project).discord.servers == ["123456789012345678"]


def test_provider_keys_are_checked_by_name(project: Path) -> None:
    path = project / "bots" / "alpha.yaml"
    none = check_bot(path, {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "  "}, project)
    assert any("no model provider has a key" in e for e in none.errors)
    groq_only = check_bot(path, {"ALPHA_BOT_TOKEN": "t" * 30, "GROQ_API_KEY_2": "gsk_x"}, project)
    assert groq_only.ok and "answers through Groq only" in groq_only.warnings[0]
    pooled = check_bot(path, {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY_1": "sk-ant-1"}, project)
    assert pooled.ok and pooled.warnings == []


def test_missing_token_is_named_never_valued(project: Path) -> None:
    result = check_bot(project / "bots" / "alpha.yaml", {"OTHER": "secret-value-123"}, project)
    assert not result.ok
    assert "ALPHA_BOT_TOKEN is not set" in result.errors[0]
    assert "secret-value-123" not in "".join(result.errors)


def test_deprecated_model_warns(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The catalogue is the framework's own: the check works even with no anthropic SDK importable.
    monkeypatch.setitem(sys.modules, "anthropic", None)
    path = write_bot(project, extra='api:\n  model: "claude-sonnet-4-5-20250929"\n')
    result = check_bot(path, {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20}, project)
    assert result.ok
    assert result.warnings == [
        "bots/alpha.yaml: api.model: model 'claude-sonnet-4-5-20250929' is deprecated "
        "(end of life November 30th, 2026); use 'claude-sonnet-4-6'"
    ]


def test_settings_hold_secrets_as_secret_types(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-from-dotenv-1234567890\nLOG_LEVEL=DEBUG\n")
    settings = load_settings(tmp_path, {"DISCORD_API_BASE": "http://127.0.0.1:1/api/v10"})
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-from-dotenv-1234567890"
    assert "sk-ant" not in repr(settings) and "sk-ant" not in str(settings.model_dump())
    assert settings.discord_api_base == "http://127.0.0.1:1/api/v10"
    assert settings.log_level == "DEBUG"
    # the real environment wins over .env
    assert load_settings(tmp_path, {"LOG_LEVEL": "ERROR"}).log_level == "ERROR"


def test_validate_command_exit_codes(project: Path) -> None:
    runner = CliRunner()
    env = {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20}
    ok = runner.invoke(app, ["validate"], obj=CliContext(home=project, environ=env))
    assert ok.exit_code == 0, ok.output
    assert "ok alpha" in ok.output
    write_bot(project, extra="rate_limiting:\n  ignore_threshold: 0\n")
    bad = runner.invoke(app, ["validate", "alpha"], obj=CliContext(home=project, environ=env))
    assert bad.exit_code == 78
    assert "rate_limiting.ignore_threshold: got 0, expected a number >= 1" in bad.output


def test_every_section_is_typed() -> None:
    sections = {"discord", "personality", "reactive", "agentic", "api", "rate_limiting", "images", "logging"}
    assert sections <= set(BotConfig.model_fields)


def test_help_texts_describe_arguments_and_options() -> None:
    runner = CliRunner()
    for verb in ("spawn", "stop", "restart", "run", "status", "logs", "list", "validate", "sandbox"):
        result = runner.invoke(app, [verb, "--help"], obj=CliContext(home=REPO))
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output
    spawn = runner.invoke(app, ["spawn", "--help"], obj=CliContext(home=REPO)).output
    assert "bots/<id>.yaml" in spawn  # argument help survives the click version
    assert "Act on every bot configured in bots/." in spawn


@pytest.mark.parametrize(
    ("model", "closest"),
    [("claude-ultra-9000", None), ("gpt-4o", "claude-sonnet-4-6"), ("claude-sonnet-4.6", "claude-sonnet-4-6")],
)
def test_unknown_model_id_warns_naming_the_closest_known_one(project: Path, model: str, closest: str | None) -> None:
    write_bot(project, extra=f'api:\n  model: "{model}"\n')
    env = {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20}
    result = CliRunner().invoke(app, ["validate"], obj=CliContext(home=project, environ=env))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"api.model: unknown Claude model id '{model}'; did you mean '" in warnings[0]
    suggested = warnings[0].split("did you mean '")[1].split("'")[0]
    assert suggested in known_ids()
    if closest:
        assert suggested == closest


@pytest.mark.parametrize(
    ("model", "warning"),
    [
        ("claude-sonnet-4-6", None),
        ("claude-sonnet-4-6-20260115", None),  # a dated snapshot of a known family
        ("claude-haiku-4-5-20251001", None),
        ("claude-opus-5", None),
        ("claude-opus-4-20250514", "deprecated (end of life June 15th, 2026); use 'claude-sonnet-4-6'"),
        ("claude-sonnet-4-0", "deprecated (end of life June 15th, 2026); use 'claude-sonnet-4-6'"),
        ("claude-sonnet-4-5", "deprecated (end of life November 30th, 2026); use 'claude-sonnet-4-6'"),
        ("claude-sonnet-4-6-20261340", "unknown Claude model id"),  # not a date
    ],
)
def test_model_catalogue_knows_families_and_dated_ids(model: str, warning: str | None) -> None:
    found = model_warning(model)
    assert (found is None) if warning is None else (found is not None and warning in found)


def test_cheap_model_is_checked_too(project: Path) -> None:
    path = write_bot(project, extra='api:\n  cheap_model: "claude-haiku-4.5"\n')
    result = check_bot(path, {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20}, project)
    assert result.ok
    assert len(result.warnings) == 1 and "api.cheap_model: unknown Claude model id 'claude-haiku-4.5'" in result.warnings[0]
    assert "did you mean 'claude-haiku-4-5'" in result.warnings[0]


class _ModelsApi(BaseHTTPRequestHandler):
    """``GET /v1/models/<id>`` as the Models API answers it, for two known ids."""

    seen: list[tuple[str, str]] = []
    MODELS = {
        "claude-sonnet-4-6": {"lifecycle": "active"},
        "claude-sonnet-4-5-20250929": {
            "lifecycle": "deprecated", "deprecated_at": "2025-12-01T00:00:00Z", "retires_at": "2026-11-30T00:00:00Z",
        },
    }

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        auth = self.headers.get("authorization") or self.headers.get("x-api-key") or ""
        self.seen.append((self.path, auth))
        model = self.path.removeprefix("/v1/models/")
        if model in self.MODELS:
            status, body = 200, {"id": model, "type": "model", "display_name": model,
                                 "created_at": "2025-01-01T00:00:00Z", **self.MODELS[model]}
        else:
            status, body = 404, {"type": "error", "error": {"type": "not_found_error", "message": f"model: {model}"}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def models_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelsApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _ModelsApi.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(30)
def test_validate_online_reports_deprecated_and_unknown_models(project: Path, models_api: str) -> None:
    write_bot(project, extra='api:\n  model: "claude-sonnet-4-5-20250929"\n  cheap_model: "claude-nope-1"\n')
    env = {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "sk-ant-online-test", "ANTHROPIC_BASE_URL": models_api}
    result = CliRunner().invoke(app, ["validate", "--online"], obj=CliContext(home=project, environ=env))
    assert result.exit_code == 0, result.output
    assert "the Models API says model 'claude-sonnet-4-5-20250929' is deprecated, retires 2026-11-30" in result.stderr
    assert "the Models API does not know model 'claude-nope-1': requests naming it will fail" in result.stderr
    assert sorted(path for path, _ in _ModelsApi.seen) == ["/v1/models/claude-nope-1", "/v1/models/claude-sonnet-4-5-20250929"]
    assert all("sk-ant-online-test" in auth for _, auth in _ModelsApi.seen)
    assert "sk-ant-online-test" not in result.output
    # without --online nothing is asked
    CliRunner().invoke(app, ["validate"], obj=CliContext(home=project, environ=env))
    assert len(_ModelsApi.seen) == 2


@pytest.mark.timeout(30)
def test_validate_online_when_the_api_is_unreachable_is_a_warning(project: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20, "ANTHROPIC_BASE_URL": dead}
    result = CliRunner().invoke(app, ["validate", "--online"], obj=CliContext(home=project, environ=env))
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "could not check model 'claude-sonnet-4-6' online (APIConnectionError); checked offline only" in result.stderr
    assert "ok alpha" in result.stdout


def test_validate_online_without_a_key_says_it_skipped(project: Path) -> None:
    env = {"ALPHA_BOT_TOKEN": "t" * 30, "GROQ_API_KEY": "gsk_x"}
    result = CliRunner().invoke(app, ["validate", "--online"], obj=CliContext(home=project, environ=env))
    assert result.exit_code == 0, result.output
    assert "--online skipped: ANTHROPIC_API_KEY is not set" in result.stderr
