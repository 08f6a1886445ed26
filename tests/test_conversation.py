"""The conversation cache: DMs as real turns, a sliding TTL, compaction from reported usage,
files that survive a crash and a corrupt file set aside. The model is the real Anthropic
SDK against the loopback stub (scripted replies and usage, the Models API's context limit);
the engine, the gates, the store and the files are real."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from framework.config.models import ApiConfig, EngagementConfig, RateLimitingConfig, ReactiveConfig
from framework.domain import ChatTurn, IncomingMessage, LLMReply, LLMRequest, ModelSettings, Usage
from framework.engines.context import ContextBuilder, ContextRequest
from framework.engines.conversation import SUMMARY_HEADING, ConversationCache, ConversationSettings
from framework.engines.executor import PlanExecutor
from framework.engines.gates import Gates
from framework.engines.reactive import ReactiveEngine
from framework.errors import LLMError
from framework.llm.anthropic_llm import AnthropicProvider
from framework.llm.context_limits import ModelsApiLimits
from framework.llm.keypool import KeyPool
from framework.llm.openai_compat import OpenAICompatibleProvider
from framework.llm.router import ChainLink, Router
from framework.storage import MessageStore
from tests.stubs.anthropic import AnthropicStub
from tests.stubs.groq import ChatCompletionsStub

from .fakes import FakeChat, FakeClock, RecordingDecisions

MODEL = "claude-sonnet-4-6"
DM = "7770001"
MASTER = "111111111111111111"


def said(text: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    entry["usage"] = usage or {"input_tokens": 300, "output_tokens": 20}
    return entry


@dataclass
class DMWorld:
    engine: ReactiveEngine
    cache: ConversationCache
    store: MessageStore
    stub: AnthropicStub
    chat: FakeChat
    clock: FakeClock
    limits: ModelsApiLimits
    context: ContextBuilder
    seq: int = 0

    async def dm(self, content: str) -> None:
        self.seq += 1
        self.clock.advance(30)
        message = IncomingMessage(
            message_id=str(20_000 + self.seq), channel_id=DM, guild_id=None, author_id=MASTER,
            author_name="dana", content=content, timestamp=self.clock.now(),
        )
        await self.store.add(message)
        await self.engine.on_message(message)
        await self.engine.idle()

    def sent(self) -> list[str]:
        return [e[1] for e in self.chat.events if e[0] == "send"]

    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.stub.requests]


@pytest.fixture
async def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    stub = AnthropicStub()
    await stub.start()
    clock = FakeClock()
    store = await MessageStore.open(tmp_path / "messages.db")
    api = ApiConfig(model=MODEL)
    provider = AnthropicProvider(api, base_url=stub.base_url, clock=clock)
    keys = KeyPool.from_env("ANTHROPIC", {"ANTHROPIC_API_KEY": "sk-ant-test"}, clock=clock.monotonic)
    router = Router([ChainLink(provider, [ModelSettings(MODEL)], keys, premium=True)], clock=clock)
    limits = ModelsApiLimits("sk-ant-test", base_url=stub.base_url, monotonic=clock.monotonic)
    cache = ConversationCache(
        tmp_path / "conversations", clock=clock, llm=router, limits=limits,
        settings=ConversationSettings(ttl_seconds=1800, token_threshold=0.8, keep_recent=3),
    )
    rng = random.Random(3)
    gates = Gates.from_config(
        rate_limiting=RateLimitingConfig(), reactive=ReactiveConfig(), engagement=EngagementConfig(), clock=clock, rng=rng,
    )
    chat = FakeChat()
    context = ContextBuilder(
        bot_id="cortana", bot_name="Cortana", persona_prompt="You are Cortana.", store=store, clock=clock,
        conversation=cache,
    )
    engine = ReactiveEngine(
        context=context, store=store, llm=router, executor=PlanExecutor(chat=chat, clock=clock, gates=gates),
        decisions=RecordingDecisions(), gates=gates, rng=rng,
    )
    yield DMWorld(engine, cache, store, stub, chat, clock, limits, context)
    await engine.stop()
    await router.close()
    await store.close()
    await stub.stop()


def reply(text: str = "ok", tokens: int = 100, model: str = MODEL) -> LLMReply:
    return LLMReply(text=text, model=model, usage=Usage(input_tokens=tokens))


class NoModel:
    """A model port that must not be called (no compaction expected)."""

    async def complete(self, request: LLMRequest) -> LLMReply:
        raise AssertionError(f"unexpected model call: {request.purpose}")


class FailingModel:
    calls = 0

    async def complete(self, request: LLMRequest) -> LLMReply:
        self.calls += 1
        raise LLMError("every provider failed")


# -- through the engine, the SDK and the stub ----------------------------------------------


async def test_dm_turns_are_real_user_and_assistant_turns_in_the_request_body(world: DMWorld) -> None:
    world.stub.script = [said("Hi Dana."), said("Tea, as always.")]
    await world.dm("hello")
    await world.dm("what do I drink?")
    assert world.sent() == ["Hi Dana.", "Tea, as always."]
    messages = world.bodies()[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    texts = [" ".join(b["text"] for b in m["content"]) for m in messages]
    assert "dana is talking to you: hello" in texts[0] and texts[1] == "Hi Dana."
    assert "dana is talking to you: what do I drink?" in texts[2]
    assert "Recent conversation" not in texts[2]  # the turns replace the digest
    # The first request's messages are the second's prefix, byte for byte (the prompt cache reads it).
    first = world.bodies()[0]["messages"][0]["content"][0]["text"]
    assert messages[0]["content"][0]["text"] == first


async def test_compaction_is_triggered_by_the_usage_the_api_reports(world: DMWorld) -> None:
    world.stub.model_limits = {MODEL: 10_000}
    near_limit = {"input_tokens": 200, "output_tokens": 20, "cache_read_input_tokens": 7000, "cache_creation_input_tokens": 1000}
    world.stub.script = [said(f"answer {i}") for i in range(1, 5)] + [
        said("answer 5", near_limit),  # 8,200 of 10,000 input tokens: past 0.8
        said("Dana drinks tea; her sister is called Mia."),  # the compaction's summary
        said("answer 6"),
    ]
    for i in range(1, 6):
        await world.dm(f"question {i}")
    compaction = world.bodies()[5]
    assert "summarise" in compaction["system"][0]["text"] and "tools" not in compaction
    asked = compaction["messages"][0]["content"][0]["text"]
    assert "question 1" in asked and "answer 2" in asked and "question 3" not in asked
    conversation = world.cache.get(DM)
    assert conversation is not None and conversation.summary.startswith("Dana drinks tea")
    assert len(conversation.turns) == 6 and "question 3" in conversation.turns[0].content  # 3 exchanges kept

    await world.dm("question 6")
    messages = world.bodies()[6]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3 + ["user"]
    opening = messages[0]["content"][0]["text"]
    assert opening.startswith(f"{SUMMARY_HEADING}\nDana drinks tea") and "question 3" in opening
    assert "question 1" not in json.dumps(messages)
    assert world.sent()[-1] == "answer 6"
    assert world.stub.model_lookups == 1 and world.limits.lookups == 1  # the limit is asked once


async def test_below_the_threshold_nothing_is_compacted(world: DMWorld) -> None:
    world.stub.model_limits = {MODEL: 10_000}
    world.stub.script = [said(f"a{i}", {"input_tokens": 7900, "output_tokens": 5}) for i in range(5)]
    for i in range(5):
        await world.dm(f"q{i}")
    conversation = world.cache.get(DM)
    assert conversation is not None and not conversation.summary and len(conversation.turns) == 10
    assert len(world.stub.requests) == 5


async def test_a_new_cache_on_the_same_files_resumes_after_a_crash(world: DMWorld, tmp_path: Path) -> None:
    world.stub.script = [said("Noted: dentist on Friday."), said("Friday at 10.")]
    await world.dm("dentist friday 10am")
    # A crash: nothing is closed or flushed; a new process opens the same folder.
    reborn = ConversationCache(tmp_path / "conversations", clock=world.clock, llm=NoModel())
    turns = reborn.history(DM)
    assert [t.role for t in turns] == ["user", "assistant"] and turns[1].content == "Noted: dentist on Friday."
    world.context.conversation = reborn  # the restarted bot's builder
    await world.dm("when was it?")
    messages = world.bodies()[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["text"] == "Noted: dentist on Friday."


async def test_a_channel_mention_still_gets_the_digest(world: DMWorld) -> None:
    message = IncomingMessage(
        message_id="30001", channel_id="4440001", guild_id="5550001", author_id=MASTER, author_name="dana",
        content="hey", timestamp=world.clock.now(), mentions_self=True,
    )
    await world.store.add(message)
    request = await world.context.build(ContextRequest("4440001", "#general", [message], message, urgent=True))
    assert len(request.turns) == 1 and "Recent conversation in #general" in request.turns[0].content


# -- the cache on its own, with a fake clock ----------------------------------------------


async def test_ttl_slides_with_each_exchange_and_expiry_starts_afresh(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = ConversationCache(tmp_path, clock=clock, llm=NoModel(), settings=ConversationSettings(ttl_seconds=1800))
    await cache.record(DM, "q1", "a1", reply())
    clock.advance(1799)
    assert len(cache.history(DM)) == 2
    await cache.record(DM, "q2", "a2", reply())  # resets the timer
    clock.advance(1799)  # 3,598 s after the first exchange, 1,799 after the last
    assert [t.content for t in cache.history(DM)] == ["q1", "a1", "q2", "a2"]
    clock.advance(2)
    assert cache.history(DM) == [] and not (tmp_path / f"{DM}.json").exists()
    # A fresh start also after a restart: the expired file is not resurrected.
    await cache.record(DM, "q3", "a3", reply())
    clock.advance(1801)
    assert ConversationCache(tmp_path, clock=clock, llm=NoModel()).history(DM) == []


async def test_a_corrupt_file_is_set_aside_never_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    (tmp_path / f"{DM}.json").write_text('{"version": 1, "turns": [{"role": "user"', encoding="utf-8")
    (tmp_path / "7770002.json").write_text(json.dumps({"version": 1, "channel_id": "7770002", "turns": "x"}))
    cache = ConversationCache(tmp_path, clock=clock, llm=NoModel())
    with caplog.at_level(logging.WARNING, logger="framework.engines.conversation"):
        assert cache.history(DM) == [] and cache.history("7770002") == []
    aside = sorted(p.name for p in tmp_path.iterdir())
    assert aside == [f"{DM}.json.corrupt-20261122T120000Z", "7770002.json.corrupt-20261122T120000Z"]
    assert sum("corrupt" in r.getMessage() and "set aside" in r.getMessage() for r in caplog.records) == 2
    await cache.record(DM, "q", "a", reply())  # and the conversation goes on in a new file
    assert ConversationCache(tmp_path, clock=clock, llm=NoModel()).history(DM)[1].content == "a"


async def test_a_failed_compaction_keeps_the_conversation_whole(tmp_path: Path) -> None:
    clock = FakeClock()
    model = FailingModel()
    cache = ConversationCache(
        tmp_path, clock=clock, llm=model, settings=ConversationSettings(keep_recent=1, context_limit_fallback=1000),
    )
    await cache.record(DM, "q1", "a1", reply(tokens=100))
    await cache.record(DM, "q2", "a2", reply(tokens=900))  # past 0.8 of the fallback limit
    assert model.calls == 1 and len(cache.history(DM)) == 4
    await cache.record(DM, "q3", "a3", reply(tokens=900))  # tried again on the next exchange
    assert model.calls == 2 and len(cache.history(DM)) == 6


async def test_everything_compacted_still_alternates(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = ConversationCache(tmp_path, clock=clock, llm=NoModel())
    conversation_file = tmp_path / f"{DM}.json"
    await cache.record(DM, "q", "a", reply())
    data = json.loads(conversation_file.read_text())
    data.update(summary="All settled.", turns=[])
    conversation_file.write_text(json.dumps(data))
    turns = ConversationCache(tmp_path, clock=clock, llm=NoModel()).history(DM)
    assert turns == [ChatTurn("user", f"{SUMMARY_HEADING}\nAll settled."), ChatTurn("assistant", "Understood.")]


async def test_the_context_limit_falls_back_for_other_providers_and_offline() -> None:
    clock = FakeClock()
    offline = ModelsApiLimits("sk-ant-test", base_url="http://127.0.0.1:9", monotonic=clock.monotonic, timeout=2)
    assert await offline.max_input_tokens("llama-3.1-8b-instant", "groq") is None and offline.lookups == 0
    assert await offline.max_input_tokens(MODEL, "anthropic") is None and offline.lookups == 1
    assert await offline.max_input_tokens(MODEL, "anthropic") is None and offline.lookups == 1  # not asked again soon
    clock.advance(3601)
    assert await offline.max_input_tokens(MODEL, "anthropic") is None and offline.lookups == 2
    cache = ConversationCache(Path("/nonexistent"), clock=clock, llm=NoModel(), limits=offline,
                              settings=ConversationSettings(context_limit_fallback=128_000))
    assert await cache.limit_for("llama-3.1-8b-instant", "groq") == 128_000


async def test_a_fallback_provider_compacts_on_the_client_side(tmp_path: Path) -> None:
    """An OpenAI-compatible provider (no Models API, no server-side compaction): its reported
    prompt tokens trigger the same compaction, which it runs itself; the limit is the fallback."""
    stub = ChatCompletionsStub()
    await stub.start()
    clock = FakeClock()
    provider = OpenAICompatibleProvider("openrouter", stub.base_url + "/v1")
    router = Router([ChainLink(provider, [ModelSettings("llama-3.1-8b-instant")], None)], clock=clock)
    limits = ModelsApiLimits("sk-ant-test", base_url=stub.base_url, monotonic=clock.monotonic)
    cache = ConversationCache(
        tmp_path, clock=clock, llm=router, limits=limits,
        settings=ConversationSettings(keep_recent=1, context_limit_fallback=10_000),
    )
    stub.script += [
        {"text": "a0"}, {"text": "a1", "usage": {"prompt_tokens": 9000, "completion_tokens": 5}},
        {"text": "Dana asked q0."},  # the summary
        {"text": "a2"},
    ]
    try:
        for i in range(3):
            request = LLMRequest(system="You are Cortana.", turns=(*cache.history(DM), ChatTurn("user", f"q{i}")), owed=True)
            answer = await router.complete(request)
            await cache.record(DM, f"q{i}", answer.text, answer)
    finally:
        await router.close()
        await stub.stop()
    compaction = stub.requests[2]["body"]["messages"]
    assert compaction[0]["role"] == "system" and "summarise" in compaction[0]["content"]
    assert "Person: q0" in compaction[1]["content"] and "q1" not in compaction[1]["content"]
    third = stub.requests[3]["body"]["messages"]
    assert [m["role"] for m in third] == ["system", "user", "assistant", "user"]
    assert third[1]["content"] == f"{SUMMARY_HEADING}\nDana asked q0.\n\nq1" and third[3]["content"] == "q2"
    assert limits.lookups == 0  # never asked the Models API about another provider's model


async def test_a_request_refused_as_too_long_trims_the_conversation(world: DMWorld) -> None:
    """The model refuses the DM's request as too long: a static line goes out (the reply is
    owed) and the conversation keeps only its last keep_recent exchanges, so the next fits."""
    world.stub.script = [said(f"a{i}") for i in range(5)] + [
        {"status": 400, "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}},
        said("back on track"),
    ]
    for i in range(5):
        await world.dm(f"q{i}")
    await world.dm("one more")
    assert world.sent()[-1] == "brain's buffering, give me a minute"  # the engine's static line
    conversation = world.cache.get(DM)
    assert conversation is not None and len(conversation.turns) == 6 and "q2" in conversation.turns[0].content
    await world.dm("and now?")
    messages = world.bodies()[-1]["messages"]
    assert len(messages) == 7 and world.sent()[-1] == "back on track"


async def test_failed_compaction_near_the_limit_and_static_lines_trim(tmp_path: Path) -> None:
    clock = FakeClock()
    model = FailingModel()
    settings = ConversationSettings(keep_recent=1, context_limit_fallback=1000)
    cache = ConversationCache(tmp_path, clock=clock, llm=model, settings=settings)
    await cache.record(DM, "q1", "a1", reply(tokens=100))
    await cache.record(DM, "q2", "a2", reply(tokens=960))  # 96%: compaction fails, so the older turns go
    assert model.calls == 1 and [t.content for t in cache.history(DM)] == ["q2", "a2"]

    static = LLMReply(text="brain's buffering", model="static", provider="static", static=True)
    await cache.record(DM, "q3", "a3", reply(tokens=500))
    await cache.record(DM, "q4", "brain's buffering", static)  # under the threshold: nothing happens
    assert [t.content for t in cache.history(DM)] == ["q2", "a2", "q3", "a3"]  # a static line is no turn
    await cache.record(DM, "q4", "a4", reply(tokens=850))  # past 0.8, compaction fails, under 95%: kept
    assert model.calls == 2 and len(cache.history(DM)) == 6
    await cache.record(DM, "q5", "brain's buffering", static)  # past the threshold and nothing answers
    assert [t.content for t in cache.history(DM)] == ["q4", "a4"]


def test_conversation_config_defaults_and_a_bad_value_is_one_line(tmp_path: Path) -> None:
    from framework.config import load_bot_config
    from framework.config.conversation import ConversationConfig
    from framework.errors import ConfigError

    assert ConversationConfig() == ConversationConfig(
        enabled=False, ttl_seconds=1800, token_threshold=0.8, keep_recent=3, context_limit_fallback=200_000
    )
    shipped = (Path(__file__).resolve().parent.parent / "bots" / "cortana.yaml").read_text()
    (tmp_path / "bots").mkdir()
    config = tmp_path / "bots" / "cortana.yaml"
    config.write_text(shipped)
    assert load_bot_config(config, tmp_path).conversation.enabled  # on for Cortana
    config.write_text(shipped.replace("token_threshold: 0.8", "token_threshold: 1.5"))
    with pytest.raises(ConfigError) as caught:
        load_bot_config(config, tmp_path)
    assert "conversation.token_threshold" in str(caught.value) and "\n" not in str(caught.value)
