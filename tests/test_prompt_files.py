"""Prompt files (``personality.prompt_files``): the system prompt built from files in the bot's
memory folder; the memory tool writes the writable ones and refuses the read-only ones; an
edit reaches the next request without a restart; the prefix stays byte-identical otherwise;
a missing read-only file stops ``validate`` and start-up with exit 78 and one line."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.config import check_bot, load_bot_config
from framework.config.models import ApiConfig, PersonalityConfig
from framework.domain import ConversationScope, IncomingMessage, ModelSettings, ToolError
from framework.engines.context import ContextBuilder, ContextRequest
from framework.errors import ConfigError
from framework.llm.anthropic_llm import AnthropicProvider
from framework.memory import MemoryTool
from framework.memory.contact import has_contact_details
from framework.memory.fileops import Jail
from framework.memory.guide import memory_guide
from framework.memory.prompt_files import PromptFiles
from framework.paths import BotPaths
from framework.runtime.app import BotRuntime
from framework.runtime.wiring import _build_prompt_files
from framework.storage import MessageStore
from tests.stubs.anthropic import AnthropicStub

from .fakes import FakeClock

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "memories" / "cortana" / "prompt"
MASTER = "123456789012345678"
DM = ConversationScope(bot_id="cortana", guild_id=None, channel_id="D1", user_id=MASTER)
ENV = {"CORTANA_BOT_TOKEN": "t", "ANTHROPIC_API_KEY": "k", "MASTER_USER_ID": MASTER}
READ_ONLY = ("IDENTITY.md", "TOOLS.md")
WRITABLE = ("SOUL.md", "USER.md")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A project folder holding Cortana as shipped: her config and her prompt files."""
    (tmp_path / "bots").mkdir()
    shutil.copy(REPO / "bots" / "cortana.yaml", tmp_path / "bots" / "cortana.yaml")
    shutil.copytree(SHIPPED, BotPaths(tmp_path, "cortana").memories / "prompt")
    return tmp_path


def tool_for(home: Path) -> MemoryTool:
    files = PromptFiles(BotPaths(home, "cortana").memories, read_only=READ_ONLY, writable=WRITABLE)
    return MemoryTool(BotPaths(home, "cortana").memories, prompt_files=files.rules)


def dm_message(text: str) -> IncomingMessage:
    return IncomingMessage(
        message_id="m1", channel_id="D1", guild_id=None, author_id=MASTER, author_name="Sam", content=text,
        timestamp=datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc),
    )


async def builder_for(home: Path, store: MessageStore) -> ContextBuilder:
    config = load_bot_config(home / "bots" / "cortana.yaml", home)
    return ContextBuilder(
        bot_id="cortana", bot_name="Cortana", persona_prompt=config.personality.base_prompt, store=store,
        memory_guide=memory_guide(prompt_files=config.personality.prompt_files.writable),
        prompt_files=_build_prompt_files(config, BotPaths(home, "cortana")), clock=FakeClock(),
    )


# -- the memory tool --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        {"command": "create", "path": "/memories/prompt/IDENTITY.md", "file_text": "You are a pirate."},
        {"command": "str_replace", "path": "/memories/prompt/IDENTITY.md", "old_str": "Loyalty", "new_str": "Mutiny"},
        {"command": "insert", "path": "/memories/prompt/TOOLS.md", "insert_line": 0, "insert_text": "Ignore times."},
        {"command": "delete", "path": "/memories/prompt/IDENTITY.md"},
        {"command": "rename", "old_path": "/memories/prompt/IDENTITY.md", "new_path": f"/memories/dms/{MASTER}/x.md"},
        {"command": "rename", "old_path": "/memories/prompt/SOUL.md", "new_path": "/memories/prompt/TOOLS.md"},
        {"command": "create", "path": "/memories/prompt/identity.md", "file_text": "case games"},
        {"command": "create", "path": "/memories/prompt/../prompt/IDENTITY.md", "file_text": "dot games"},
    ],
    ids=["create", "str_replace", "insert", "delete", "rename-from", "rename-onto", "case-folded", "dotdot"],
)
async def test_writes_to_read_only_prompt_files_are_refused(home: Path, args: dict[str, Any]) -> None:
    folder = BotPaths(home, "cortana").memories / "prompt"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ToolError, match="read-only") as refused:
        await tool_for(home).run(args, DM)
    # The refusal tells the model what it may edit instead.
    assert "/memories/prompt/SOUL.md" in str(refused.value) and "/memories/prompt/USER.md" in str(refused.value)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


async def test_the_model_may_view_prompt_files_but_nothing_else_lands_in_their_folder(home: Path) -> None:
    tool = tool_for(home)
    shown = await tool.run({"command": "view", "path": "/memories/prompt/IDENTITY.md"}, DM)
    assert "You are Cortana" in shown
    listing = await tool.run({"command": "view", "path": "/memories/prompt"}, DM)
    assert all(f"/memories/prompt/{name}" in listing for name in READ_ONLY + WRITABLE)
    with pytest.raises(ToolError, match="not one of your prompt files"):
        await tool.run({"command": "create", "path": "/memories/prompt/NOTES.md", "file_text": "x"}, DM)
    with pytest.raises(ToolError, match="itself"):
        await tool.run({"command": "delete", "path": "/memories/prompt"}, DM)
    # Without the rules (any other bot) the folder is out of reach like another scope's.
    plain = MemoryTool(BotPaths(home, "cortana").memories)
    with pytest.raises(ToolError, match="outside this conversation's memory folder"):
        await plain.run({"command": "str_replace", "path": "/memories/prompt/SOUL.md", "old_str": "Witty", "new_str": "x"}, DM)


async def test_writable_prompt_files_keep_the_profile_privacy_rule(home: Path) -> None:
    with pytest.raises(ToolError, match="contact details"):
        await tool_for(home).run(
            {"command": "insert", "path": "/memories/prompt/USER.md", "insert_line": 1, "insert_text": "Phone: +1 415 555 0100"},
            DM,
        )


# -- into the system prompt -------------------------------------------------------------------


async def test_a_soul_edit_through_the_memory_tool_is_in_the_next_requests_system_prompt(home: Path) -> None:
    store = await MessageStore.open(home / "db")
    builder = await builder_for(home, store)
    ask = ContextRequest("D1", "a direct message", [dm_message("less jokes please")], dm_message("less jokes please"), urgent=True)
    first = await builder.build(ask)
    assert "Witty, warm, dry" in first.system
    # The order is fixed: read-only files first, then the writable ones, each under a heading.
    order = [first.system.index(f"## {name}") for name in READ_ONLY + WRITABLE]
    assert order == sorted(order)
    assert "/memories/prompt/SOUL.md" in first.system and "/memories/prompt/USER.md" in first.system  # the guide

    reply = await tool_for(home).run(
        {
            "command": "str_replace",
            "path": "/memories/prompt/SOUL.md",
            "old_str": "- Witty, warm, dry.",
            "new_str": "- Warm and dry; jokes only when Sam starts them.",
        },
        DM,
    )
    assert "has been edited" in reply
    second = await builder.build(ask)
    assert "jokes only when Sam starts them" in second.system and "Witty, warm, dry" not in second.system
    await store.close()


async def test_a_missing_writable_file_is_empty_until_the_model_creates_it(home: Path) -> None:
    (BotPaths(home, "cortana").memories / "prompt" / "USER.md").unlink()
    store = await MessageStore.open(home / "db")
    builder = await builder_for(home, store)  # starts fine
    ask = ContextRequest("D1", "a direct message", [dm_message("hi")], dm_message("hi"), urgent=True)
    assert "## USER.md (/memories/prompt/USER.md, yours to edit)\n(empty: nothing written yet)" in (await builder.build(ask)).system
    await tool_for(home).run({"command": "create", "path": "/memories/prompt/USER.md", "file_text": "- Calls me Cortana\n"}, DM)
    assert "- Calls me Cortana" in (await builder.build(ask)).system
    await store.close()


async def test_the_system_prompt_is_byte_identical_while_no_file_changes(home: Path) -> None:
    """Sent through the real SDK to the stub: the system blocks of two requests are the same
    bytes, the files are not even re-read, and an edit changes them on the next request."""
    reads: list[tuple[str, ...]] = []
    original = Jail.read_bytes

    def counting(self: Jail, parts: tuple[str, ...], limit: int = 1 << 24) -> Any:
        reads.append(parts)
        return original(self, parts, limit)

    store = await MessageStore.open(home / "db")
    builder = await builder_for(home, store)
    stub = AnthropicStub()
    await stub.start()
    provider = AnthropicProvider(ApiConfig(), base_url=stub.base_url, clock=FakeClock())
    try:
        ask = ContextRequest("D1", "a direct message", [dm_message("hi")], dm_message("hi"), urgent=True)
        requests = [await builder.build(ask)]  # reads the files
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Jail, "read_bytes", counting)
            requests += [await builder.build(ask) for _ in range(2)]
        assert reads == []  # later requests only stat the files
        assert requests[0].system == requests[1].system == requests[2].system
        for request in requests[:2]:
            await provider.complete(request, model=ModelSettings(model="claude-sonnet-4-6"), api_key="k", timeout=10)
        first, second = (r["body"]["system"] for r in stub.requests)
        assert first == second and first[0]["cache_control"]

        soul = BotPaths(home, "cortana").memories / "prompt" / "SOUL.md"
        soul.write_text(soul.read_text() + "- Says 'boss' now and then.\n")
        os.utime(soul, ns=(soul.stat().st_atime_ns, soul.stat().st_mtime_ns + 1_000_000))  # a new signature, surely
        changed = await builder.build(ask)
        await provider.complete(changed, model=ModelSettings(model="claude-sonnet-4-6"), api_key="k", timeout=10)
        assert stub.requests[-1]["body"]["system"] != first and "'boss'" in stub.requests[-1]["body"]["system"][0]["text"]
    finally:
        await provider.close()
        await stub.stop()
        await store.close()


# -- config, validate and start-up ------------------------------------------------------------


def test_validate_exits_78_with_one_line_when_a_read_only_file_is_missing(home: Path) -> None:
    ok = CliRunner().invoke(app, ["validate", "cortana"], obj=CliContext(home=home, environ=ENV))
    assert ok.exit_code == 0, ok.output
    (BotPaths(home, "cortana").memories / "prompt" / "IDENTITY.md").unlink()
    result = CliRunner().invoke(app, ["validate", "cortana"], obj=CliContext(home=home, environ=ENV))
    assert result.exit_code == 78, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "memories/cortana/prompt/IDENTITY.md not found" in errors[0], result.output
    with pytest.raises(ConfigError, match="IDENTITY.md not found"):
        _build_prompt_files(load_bot_config(home / "bots" / "cortana.yaml", home), BotPaths(home, "cortana"))


def test_a_missing_writable_file_does_not_fail_validate(home: Path) -> None:
    (BotPaths(home, "cortana").memories / "prompt" / "SOUL.md").unlink()
    assert check_bot(home / "bots" / "cortana.yaml", ENV, home).ok


async def test_start_up_stops_with_a_one_line_config_error_when_a_read_only_file_is_missing(home: Path) -> None:
    """The runtime stops at wiring, before any connection; ``python -m framework.runtime`` turns
    a ConfigError into exit 78 with its first line in run/<bot>.exit.json."""
    (BotPaths(home, "cortana").memories / "prompt" / "TOOLS.md").unlink()
    paths = BotPaths(home, "cortana")
    # Nowhere to connect to: the bot must stop before it tries.
    environ = {**ENV, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    runtime = BotRuntime(load_bot_config(paths.config, home), paths, environ)
    with pytest.raises(ConfigError) as stopped:
        await asyncio.wait_for(runtime.run(), 30)
    assert "memories/cortana/prompt/TOOLS.md not found" in str(stopped.value) and "\n" not in str(stopped.value)


def test_prompt_files_config_rules() -> None:
    with pytest.raises(ValueError, match="named twice"):
        PersonalityConfig.model_validate({"prompt_files": {"read_only": ["SOUL.md"], "writable": ["soul.md"]}})
    with pytest.raises(ValueError, match="base_prompt: required"):
        PersonalityConfig.model_validate({})
    with pytest.raises(ValueError):
        PersonalityConfig.model_validate({"base_prompt": "x", "prompt_files": {"writable": ["../SOUL.md"]}})
    assert PersonalityConfig.model_validate({"base_prompt": "x"}).prompt_files.names == ()  # default: none


def test_cortana_ships_her_four_prompt_files() -> None:
    config = load_bot_config(REPO / "bots" / "cortana.yaml", REPO)
    assert config.personality.prompt_files.read_only == list(READ_ONLY)
    assert config.personality.prompt_files.writable == list(WRITABLE)
    for name in READ_ONLY + WRITABLE:
        text = (SHIPPED / name).read_text(encoding="utf-8")
        assert len(text.split()) > 150 and not has_contact_details(text), name
    tools = (SHIPPED / "TOOLS.md").read_text()
    assert "local time" in tools and "reminder tool" in tools and "never memory" in tools
