"""A bot process imports only what its config uses: no SDK of a provider without a key,
no Pillow with images off, no prometheus_client without a health port (the runtime
makes the metrics only then), and never the CLI's libraries (typer, click, rich). Each case builds the real bot (``build_bot``) in a
fresh interpreter and reads its ``sys.modules``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

BUILD = """
import asyncio, json, sys
from contextlib import AsyncExitStack
from pathlib import Path
from framework.clock import SystemClock
from framework.config import load_bot_config, load_settings
from framework.paths import BotPaths
from framework.runtime.wiring import build_bot

home, environ, out = Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]

async def main():
    paths = BotPaths(home, "alpha")
    config = load_bot_config(paths.config, home)
    async with AsyncExitStack() as resources:
        await build_bot(config, paths, environ, load_settings(home, environ), clock=SystemClock(), resources=resources)

asyncio.run(main())
with open(out, "w") as fh:
    json.dump(sorted({name.split(".")[0] for name in sys.modules}), fh)
"""

BASE = """\
bot_id: alpha
name: Alpha
discord: {token_env_var: ALPHA_TOKEN}
personality: {base_prompt: "be brief"}
"""
GROQ = """\
api:
  fallback:
    groq: {enabled: true, models: [{model: llama-3.1-8b-instant}]}
"""
OPENAI = """\
api:
  fallback:
    openai_compatible: [{name: local, base_url: "http://127.0.0.1:9/v1", key_required: false, models: [{model: m}]}]
"""
CLI_LIBRARIES = {"typer", "click", "rich"}


def loaded_by(tmp_path: Path, config: str, keys: dict[str, str]) -> set[str]:
    home = tmp_path / "home"
    (home / "bots").mkdir(parents=True)
    (home / "bots" / "alpha.yaml").write_text(config)
    environ = {"ALPHA_TOKEN": "token-123456789", "ANTHROPIC_API_KEY": "sk-test-123456", **keys}
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "GROQ_", "BOT_HOME"))}
    subprocess.run([sys.executable, "-c", BUILD, str(home), json.dumps(environ), str(out)],
                   env=env, cwd=REPO, check=True, capture_output=True, timeout=120)
    return set(json.loads(out.read_text()))


@pytest.mark.slow
def test_a_plain_bot_loads_no_fallback_sdk_no_pillow_and_nothing_of_the_cli(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, BASE + "images: {enabled: false}\n", {})
    assert {"discord", "anthropic", "aiosqlite"} <= loaded
    assert loaded & ({"groq", "openai", "httpx", "PIL", "prometheus_client"} | CLI_LIBRARIES) == set()


@pytest.mark.slow
def test_groq_configured_without_a_key_is_not_imported(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, BASE + GROQ, {})
    assert "groq" not in loaded and "PIL" in loaded  # images are on by default
    assert loaded & CLI_LIBRARIES == set()


@pytest.mark.slow
def test_groq_with_a_key_is_imported_without_httpx_s_command_line(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, BASE + GROQ, {"GROQ_API_KEY": "gsk-test-123456"})
    assert {"groq", "httpx"} <= loaded and loaded & CLI_LIBRARIES == set()


@pytest.mark.slow
def test_an_openai_compatible_provider_needs_no_sdk(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, BASE + OPENAI, {})
    assert loaded & ({"groq", "openai", "httpx"} | CLI_LIBRARIES) == set()
