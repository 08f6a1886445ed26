"""``/settings`` without Discord: the router's model override, the command logic over a
real router and key pools, the settings file, and the model lists falling back offline."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from framework.config import load_bot_config
from framework.domain import ChatTurn, ErrorKind, LLMReply, LLMRequest, ModelSettings
from framework.engines.settings_commands import MODEL_SETTING, SettingsCommands, StampedSettings, restore_model
from framework.llm.keypool import KeyPool
from framework.llm.model_admin import ModelAdmin
from framework.llm.router import ChainLink, Router
from framework.storage.settings_file import JsonSettings

from .conftest import write_bot

CLAUDE_KEY = "sk-ant-test-SECRET-claude-value-0001"
GROQ_KEY = "gsk_test_SECRET_groq_value_0002"


@dataclass
class FakeProvider:
    name: str
    calls: list[str] = field(default_factory=list)

    async def complete(self, request: LLMRequest, *, model: ModelSettings, api_key: str, timeout: float) -> LLMReply:
        self.calls.append(model.model)
        return LLMReply(text="ok", model=model.model, provider=self.name)


def _request() -> LLMRequest:
    return LLMRequest(system="s", turns=(ChatTurn("user", "hi"),), owed=True)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def world(tmp_path: Path) -> tuple[SettingsCommands, Router, FakeProvider, FakeProvider, ModelAdmin, Path]:
    config = load_bot_config(write_bot(tmp_path, extra="""
        api:
          model: claude-sonnet-4-6
          fallback:
            groq:
              models:
                - model: llama-3.1-8b-instant
            openai_compatible:
              - name: openai
                base_url: "http://127.0.0.1:%d/v1"
                models:
                  - model: gpt-4o
        """ % _closed_port()), tmp_path)
    claude, groq = FakeProvider("anthropic"), FakeProvider("groq")
    chain = [
        ChainLink(claude, [ModelSettings("claude-sonnet-4-6")], KeyPool([("ANTHROPIC_API_KEY", CLAUDE_KEY)]), premium=True),
        ChainLink(groq, [ModelSettings("llama-3.1-8b-instant", temperature=0.8)], KeyPool([("GROQ_API_KEY", GROQ_KEY)])),
    ]
    router = Router(chain)
    admin = ModelAdmin(config, router, {}, anthropic_base_url=f"http://127.0.0.1:{_closed_port()}", list_timeout=1.0)
    path = tmp_path / "persistence" / "alpha" / "settings.json"
    return SettingsCommands(admin, JsonSettings(path)), router, claude, groq, admin, path


async def test_override_puts_the_chosen_model_first_and_resets(world) -> None:  # type: ignore[no-untyped-def]
    _commands, router, claude, groq, _admin, _path = world
    router.override_model("groq", "llama-3.1-8b-instant")
    assert (await router.complete(_request())).provider == "groq"
    router.override_model("anthropic", "claude-opus-4-6")
    assert (await router.complete(_request())).model == "claude-opus-4-6"
    router.override_model(None)
    assert (await router.complete(_request())).model == "claude-sonnet-4-6"
    assert claude.calls == ["claude-opus-4-6", "claude-sonnet-4-6"] and groq.calls == ["llama-3.1-8b-instant"]
    with pytest.raises(LookupError):
        router.override_model("mistral", "large")


async def test_model_is_validated_persisted_and_applied(world) -> None:  # type: ignore[no-untyped-def]
    commands, router, _claude, groq, _admin, path = world
    refused = await commands.model("claude-sonet-4-6")
    assert "Unknown model" in refused and "`claude-sonnet-4-6`" in refused
    assert "Unknown provider" not in (await commands.model("groq/llama-3.1-8b-instnt"))
    assert "`groq/llama-3.1-8b-instant`" in await commands.model("groq/llama-3.1-8b-instnt")
    assert "no API key" in await commands.model("openai/gpt-4o")  # configured, but no key: not in the chain
    assert not path.exists()

    answer = await commands.model("groq/llama-3.1-8b-instant")
    assert "Model set to `groq/llama-3.1-8b-instant`" in answer
    assert json.loads(path.read_text()) == {MODEL_SETTING: "groq/llama-3.1-8b-instant"}
    await router.complete(_request())
    assert groq.calls == ["llama-3.1-8b-instant"]

    # A restart: a new router and store read the choice back.
    router.override_model(None)
    assert await restore_model(world[4], JsonSettings(path)) == "groq/llama-3.1-8b-instant"
    assert router.model_override == ("groq", "llama-3.1-8b-instant")
    assert "Back to the configured model: `claude-sonnet-4-6`" in await commands.model("default")
    assert json.loads(path.read_text()) == {}


async def test_status_shows_states_and_aliases_never_a_key(world) -> None:  # type: ignore[no-untyped-def]
    commands, router, _claude, _groq, _admin, _path = world
    await router.complete(_request())
    claude_pool = router.chain[0].pool
    groq_pool = router.chain[1].pool
    assert claude_pool is not None and groq_pool is not None
    groq_pool.report_failure(groq_pool.choose(), ErrorKind.RATE_LIMIT, model="llama-3.1-8b-instant", retry_after=30)
    status = await commands.status()
    assert "**Model:** `claude-sonnet-4-6`" in status
    assert "`ANTHROPIC_API_KEY`: healthy, 1 today, 1 in all" in status
    assert "`GROQ_API_KEY`: cooling (30 s left)" in status
    assert "**openai** (inactive: no key)" in status
    assert CLAUDE_KEY not in status and GROQ_KEY not in status and "SECRET" not in status
    claude_pool.report_failure(claude_pool.choose(), ErrorKind.AUTH)
    assert "`ANTHROPIC_API_KEY`: locked (300 s left)" in await commands.status()


async def test_models_fall_back_to_the_configured_ones_offline(world) -> None:  # type: ignore[no-untyped-def]
    commands, _router, _claude, _groq, _admin, _path = world
    text = await commands.models("anthropic")
    assert "**anthropic** (configured (model list unavailable))" in text
    assert "- `claude-sonnet-4-6` (current)" in text and "- `claude-haiku-4-5`" in text
    everything = await commands.models()
    assert "**groq**" in everything and "- `openai/gpt-4o`" in everything and "inactive: no key" in everything
    assert "Unknown provider `mistral`" in await commands.models("mistral")


async def test_models_from_an_openai_compatible_model_list(tmp_path: Path) -> None:
    from aiohttp import web

    app = web.Application()
    seen: list[str | None] = []

    async def models(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"object": "list", "data": [{"id": "gpt-4o"}, {"id": "gpt-4o-mini"}]})

    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = load_bot_config(write_bot(tmp_path, extra=f"""
            api:
              fallback:
                openai_compatible:
                  - name: openai
                    base_url: "http://127.0.0.1:{port}/v1"
                    models:
                      - model: gpt-4o
            """), tmp_path)
        router = Router([ChainLink(FakeProvider("openai"), [ModelSettings("gpt-4o")], KeyPool([("OPENAI_API_KEY", "k-1")]))])
        commands = SettingsCommands(ModelAdmin(config, router, {}), JsonSettings(tmp_path / "s.json"))
        text = await commands.models("openai")
        assert "(from its API)" in text and "- `openai/gpt-4o-mini`" in text
        assert seen == ["Bearer k-1"]
        # Not configured, but the provider lists it: accepted.
        assert "Model set to `openai/gpt-4o-mini`" in await commands.model("openai/gpt-4o-mini")
    finally:
        await runner.cleanup()


async def test_a_corrupt_settings_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    store = JsonSettings(path)
    assert await store.get_setting(MODEL_SETTING) is None
    assert (tmp_path / "settings.json.corrupt-1").read_text() == "{not json"
    await store.set_setting(MODEL_SETTING, "claude-opus-4-6")
    assert await JsonSettings(path).get_setting(MODEL_SETTING) == "claude-opus-4-6"


async def test_the_assistant_settings_table_as_the_store(tmp_path: Path) -> None:
    from framework.storage.assistant import AssistantStore, read_setting

    from .fakes import FakeClock

    store = await AssistantStore.open(tmp_path / "messages.db")
    try:
        settings = StampedSettings(store, FakeClock())
        assert await settings.get_setting(MODEL_SETTING) is None
        await settings.set_setting(MODEL_SETTING, "groq/llama-3.1-8b-instant")
        assert read_setting(tmp_path / "messages.db", MODEL_SETTING) == "groq/llama-3.1-8b-instant"
        await settings.set_setting(MODEL_SETTING, None)  # back to the config's model
        assert await settings.get_setting(MODEL_SETTING) is None
    finally:
        await store.close()
