"""Images and the fallback providers: an OpenAI-compatible provider configured with
``images: true`` receives them as ``image_url`` data URLs before the text; one without
(and Groq) gets a line saying images were attached that it cannot see, never an error.
The ledger counts the images of each call."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from framework.config.models import BotConfig
from framework.domain import ChatTurn, LLMRequest, ModelSettings, Usage, UsageRecord
from framework.llm.openai_compat import OpenAICompatibleProvider, chat_messages
from framework.storage.ledger import UsageLedger
from tests.stubs.groq import ChatCompletionsStub

BLOCK = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}


def request() -> LLMRequest:
    return LLMRequest(
        system="persona", turns=(ChatTurn("user", "Images attached, in order:\nImage 1: cat.png (3 KB)\nwhat is it?"),),
        images=(BLOCK,),
    )


def test_a_provider_that_sees_images_gets_them_before_the_text() -> None:
    last = chat_messages(request(), images=True)[-1]
    assert last["role"] == "user"
    assert last["content"][0] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert last["content"][1]["type"] == "text" and "Image 1: cat.png (3 KB)" in last["content"][1]["text"]


def test_a_provider_that_does_not_gets_a_note() -> None:
    last = chat_messages(request())[-1]
    assert isinstance(last["content"], str) and "Image 1: cat.png (3 KB)" in last["content"]
    assert "(1 image was attached as listed; you cannot see images" in last["content"]
    plain = chat_messages(LLMRequest(system="", turns=(ChatTurn("user", "hi"),)))
    assert plain == [{"role": "user", "content": "hi"}]  # no images: unchanged


def test_the_flag_is_per_openai_compatible_provider_and_off_by_default() -> None:
    config = BotConfig.model_validate({
        "bot_id": "alpha", "name": "Alpha", "discord": {"token_env_var": "ALPHA_TOKEN"},
        "personality": {"base_prompt": "x"},
        "api": {"fallback": {"openai_compatible": [
            {"name": "gemini", "base_url": "https://g.example/v1", "models": [{"model": "m"}], "images": True},
            {"name": "local", "base_url": "http://127.0.0.1:1/v1", "models": [{"model": "m"}]},
        ]}},
    })
    assert [p.images for p in config.api.fallback.openai_compatible] == [True, False]


async def test_the_provider_sends_image_parts_over_http() -> None:
    stub = ChatCompletionsStub()
    await stub.start()
    seeing = OpenAICompatibleProvider("gemini", stub.base_url + "/v1", images=True)
    blind = OpenAICompatibleProvider("local", stub.base_url + "/v1")
    try:
        for provider in (seeing, blind):
            await provider.complete(request(), model=ModelSettings("m"), api_key="k", timeout=5)
    finally:
        await seeing.close()
        await blind.close()
        await stub.stop()
    sent = [r["body"]["messages"][-1]["content"] for r in stub.requests]
    assert sent[0][0]["type"] == "image_url" and isinstance(sent[1], str) and "cannot see images" in sent[1]


async def test_the_ledger_counts_the_images_of_each_call(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    with closing(sqlite3.connect(path)) as db:  # a ledger from before calls counted images
        db.execute(
            "CREATE TABLE llm_calls (id INTEGER PRIMARY KEY, time TEXT NOT NULL, bot_id TEXT NOT NULL, "
            "provider TEXT NOT NULL, model TEXT NOT NULL, key_alias TEXT, purpose TEXT NOT NULL, "
            "input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, "
            "cache_write_tokens INTEGER NOT NULL, web_searches INTEGER NOT NULL, latency_ms INTEGER NOT NULL, "
            "ok BOOLEAN NOT NULL, error_kind TEXT, cost_usd REAL)"
        )
    ledger = await UsageLedger.open(path, {})
    await ledger.record(UsageRecord("alpha", "anthropic", "m", None, "reply", Usage(10, 2), 0.1, True, images=2))
    await ledger.record(UsageRecord("alpha", "anthropic", "m", None, "check", Usage(10, 2), 0.1, True))
    await ledger.close()
    with closing(sqlite3.connect(path)) as db:
        assert [row for row in db.execute("SELECT purpose, images FROM llm_calls ORDER BY id")] == [
            ("reply", 2), ("check", 0)
        ]
