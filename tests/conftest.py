"""Shared fixtures: a temporary project folder with a valid bot config."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
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


# A zygote waits this long with no bot before it exits (30 s by default). Tests start
# zygotes in throwaway project folders; a short wait lets each one end soon after its test
# instead of outliving the suite. Subprocesses inherit it through os.environ.
os.environ.setdefault("BOT_ZYGOTE_IDLE_SECONDS", "3")


@pytest.fixture(scope="session", autouse=True)
def _no_zygote_outlives_the_suite() -> Iterator[None]:
    """Zygotes started by this pytest process itself are stopped when the suite ends, and
    the keepers it started (each test stops its own) are reaped."""
    yield
    from framework.supervisor import process_ops, zygote_launch

    for proc in zygote_launch._STARTED:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
    for proc in process_ops._DETACHED:
        proc.poll()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder with bots/alpha.yaml."""
    write_bot(tmp_path)
    return tmp_path
