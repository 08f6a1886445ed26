"""Shared fixtures: a temporary project folder with a valid bot config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

MINIMAL_BOT = """\
bot_id: {bot_id}
name: "Test {bot_id}"
discord:
  token_env_var: "{token_var}"
personality:
  base_prompt: "You are a terse test bot."
"""


def write_bot(home: Path, bot_id: str = "alpha", token_var: str = "ALPHA_BOT_TOKEN", extra: str = "") -> Path:
    path = home / "bots" / f"{bot_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MINIMAL_BOT.format(bot_id=bot_id, token_var=token_var) + textwrap.dedent(extra))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder with bots/alpha.yaml."""
    write_bot(tmp_path)
    return tmp_path
