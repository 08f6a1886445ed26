"""Hostile config files: each is refused with one line naming the file and exit 78, quickly.

A config may come from anywhere (pasted from a chat, synced from another machine), so the
loader must never hang, eat memory or end in a traceback, whatever the file holds.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.config import check_bot, load_bot_config
from framework.errors import ConfigError

from .conftest import MINIMAL_BOT, write_bot

ENV = {"ALPHA_BOT_TOKEN": "t" * 30, "ANTHROPIC_API_KEY": "k" * 20}
VALID = MINIMAL_BOT.format(bot_id="alpha", token_var="ALPHA_BOT_TOKEN")


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """"Billion laughs": each anchor is a list of ``width`` aliases of the one before."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "lol:\n" + "".join(f"  {line}\n" for line in lines)


def refused_line(path: Path, home: Path) -> str:
    """The one error line ``check_bot`` gives for ``path``."""
    result = check_bot(path, ENV, home)
    assert not result.ok
    assert len(result.errors) == 1, result.errors
    assert result.errors[0].startswith("bots/alpha.yaml"), result.errors[0]
    return result.errors[0]


def invoke(home: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), obj=CliContext(home=home, environ=dict(ENV)))


def assert_one_line_exit_78(result, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 78, (result.exit_code, result.output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: bots/alpha.yaml") and needle in errors[0], errors[0]


@pytest.mark.timeout(5)
def test_alias_bomb_is_refused_by_validate(project: Path) -> None:
    (project / "bots" / "alpha.yaml").write_text(VALID + alias_bomb())
    result = invoke(project, "validate", "alpha")
    assert_one_line_exit_78(result, "refused: more than 5000 values once aliases are expanded")


@pytest.mark.timeout(5)
def test_alias_bomb_is_refused_by_spawn_before_starting_anything(project: Path) -> None:
    (project / "bots" / "alpha.yaml").write_text(VALID + alias_bomb())
    result = invoke(project, "spawn", "alpha")
    assert_one_line_exit_78(result, "refused:")
    assert not (project / "run").exists()


@pytest.mark.timeout(5)
def test_alias_uses_are_bounded_even_when_small(project: Path) -> None:
    # 300 aliases of one short string expand to little, but no config needs so many
    refs = ", ".join(["*x"] * 300)
    path = write_bot(project, extra=f"lol:\n  x: &x hi\n  y: [{refs}]\n")
    assert "refused: more than 200 uses of *aliases" in refused_line(path, project)


@pytest.mark.timeout(5)
def test_a_recursive_alias_is_refused(project: Path) -> None:
    path = write_bot(project, extra="lol: &loop [1, *loop]\n")
    assert "refers to a value that contains it" in refused_line(path, project)


@pytest.mark.timeout(5)
def test_a_few_aliases_still_work(project: Path) -> None:
    path = write_bot(
        project,
        extra="""
        api:
          fallback:
            groq:
              models:
                - &small {model: llama-3.1-8b-instant, max_tokens: 70}
                - {<<: *small, model: qwen/qwen3-32b}
        """,
    )
    models = load_bot_config(path, project).api.fallback.groq.models
    assert [(m.model, m.max_tokens) for m in models] == [("llama-3.1-8b-instant", 70), ("qwen/qwen3-32b", 70)]


@pytest.mark.timeout(5)
def test_deep_nesting_is_refused_by_validate(project: Path) -> None:
    (project / "bots" / "alpha.yaml").write_text(VALID + "description: " + "[" * 1000 + "]" * 1000 + "\n")
    result = invoke(project, "validate", "alpha")
    assert_one_line_exit_78(result, "refused: values nested more than 64 levels deep")


@pytest.mark.timeout(5)
def test_deep_block_nesting_is_refused(project: Path) -> None:
    nested = "".join(f"{' ' * depth}k{depth}:\n" for depth in range(500)) + " " * 500 + "k: 1\n"
    (project / "bots" / "alpha.yaml").write_text(VALID + nested)
    assert "nested more than 64 levels deep" in refused_line(project / "bots" / "alpha.yaml", project)


@pytest.mark.timeout(5)
def test_binary_file_is_refused_by_validate(project: Path) -> None:
    (project / "bots" / "alpha.yaml").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    result = invoke(project, "validate", "alpha")
    assert_one_line_exit_78(result, "NUL byte: a binary file")


@pytest.mark.timeout(5)
def test_invalid_utf8_is_refused_with_its_line(project: Path) -> None:
    (project / "bots" / "alpha.yaml").write_bytes(VALID.encode() + b"description: caf\xe9\n")
    line = refused_line(project / "bots" / "alpha.yaml", project)
    offset = len(VALID.encode()) + len(b"description: caf")
    assert line == f"bots/alpha.yaml:7: not UTF-8 text (byte 0xe9 at offset {offset}); save it as UTF-8"


@pytest.mark.timeout(5)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_are_refused(project: Path, encoding: str) -> None:
    data = VALID.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    (project / "bots" / "alpha.yaml").write_bytes(data)
    result = invoke(project, "validate", "alpha")
    assert_one_line_exit_78(result, f"the file is {encoding[:6].upper()} text; save it as UTF-8")


@pytest.mark.timeout(5)
def test_utf16_without_a_byte_order_mark_is_refused(project: Path) -> None:
    (project / "bots" / "alpha.yaml").write_bytes(VALID.encode("utf-16-le"))
    assert "NUL byte" in refused_line(project / "bots" / "alpha.yaml", project)


@pytest.mark.timeout(5)
def test_utf8_with_a_byte_order_mark_is_read(project: Path) -> None:
    (project / "bots" / "alpha.yaml").write_bytes(codecs.BOM_UTF8 + VALID.encode())
    assert load_bot_config(project / "bots" / "alpha.yaml", project).bot_id == "alpha"


@pytest.mark.timeout(5)
def test_an_over_large_file_is_refused_before_parsing(project: Path) -> None:
    path = project / "bots" / "alpha.yaml"
    path.write_text(VALID + "description: '" + "x" * (512 * 1024) + "'\n")
    result = invoke(project, "validate", "alpha")
    assert_one_line_exit_78(result, "over the 512 KiB limit for a bot config")


@pytest.mark.timeout(5)
def test_a_fifo_is_refused_not_waited_on(project: Path) -> None:
    path = project / "bots" / "alpha.yaml"
    path.unlink()
    os.mkfifo(path)
    assert "not a regular file" in refused_line(path, project)


@pytest.mark.timeout(5)
def test_a_huge_integer_is_refused_not_a_traceback(project: Path) -> None:
    path = write_bot(project, extra=f"reactive:\n  context_window: {'9' * 5000}\n")
    assert "cannot read a value" in refused_line(path, project)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", "1e999"])
def test_infinite_interval_is_refused_by_validate(project: Path, value: str) -> None:
    write_bot(project, extra=f"reactive:\n  check_interval_seconds: {value}\n")
    result = invoke(project, "validate", "alpha")
    assert_one_line_exit_78(result, "bots/alpha.yaml:8: reactive.check_interval_seconds: got ")
    assert "expected a finite number" in result.stderr


@pytest.mark.timeout(5)
def test_non_finite_numbers_are_refused_anywhere(project: Path) -> None:
    # extra_body is free-form: only a document-wide rule catches it
    path = write_bot(
        project,
        extra="""
        api:
          fallback:
            groq:
              models:
                - {model: llama-3.1-8b-instant, extra_body: {penalty: .nan}}
        """,
    )
    line = refused_line(path, project)
    assert line == "bots/alpha.yaml:12: api.fallback.groq.models.0.extra_body.penalty: got .nan, expected a finite number"


@pytest.mark.timeout(5)
@pytest.mark.parametrize("log_file", ["../../../tmp/x.log", "/tmp/x.log", "logs/../../x.log", "..\\\\x.log", "C:/x.log", "~/x.log"])
def test_log_file_outside_the_project_is_refused(project: Path, log_file: str) -> None:
    write_bot(project, extra=f'logging:\n  file: "{log_file}"\n')
    result = invoke(project, "validate", "alpha")
    assert_one_line_exit_78(result, "logging.file: ")
    assert "points outside the project folder; give a path inside it, such as logs/bot.log" in result.stderr


@pytest.mark.timeout(5)
def test_escaping_log_file_is_refused_by_spawn(project: Path) -> None:
    write_bot(project, extra="logging:\n  file: ../../../tmp/x.log\n")
    result = invoke(project, "spawn", "alpha")
    assert_one_line_exit_78(result, "bots/alpha.yaml:8: logging.file: '../../../tmp/x.log' points outside")
    assert not (project / "run").exists()


def test_a_log_file_inside_the_project_is_kept(project: Path) -> None:
    path = write_bot(project, extra="logging:\n  file: logs/custom/alpha.log\n")
    assert load_bot_config(path, project).log_file == "logs/custom/alpha.log"


@pytest.mark.timeout(5)
def test_config_error_is_one_line_even_through_load_bot_config(project: Path) -> None:
    (project / "bots" / "alpha.yaml").write_text(VALID + alias_bomb())
    with pytest.raises(ConfigError) as info:
        load_bot_config(project / "bots" / "alpha.yaml", project)
    assert "\n" not in str(info.value)
