"""The Anthropic provider through the real SDK and real HTTP against the loopback stub:
tool loop, memory tool, caching, context editing, thinking, web search, plans, throttling."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from framework.config.models import ApiConfig
from framework.llm.anthropic_llm import AnthropicProvider, supports_structured_output, supports_thinking
from tests.stubs.anthropic import AnthropicStub
from framework.llm.throttle import Throttle
from framework.domain import ChatTurn, ConversationScope, ErrorKind, LLMRequest, ModelSettings, ProviderError, ToolError
from framework.llm.websearch import WebSearchBudget
from framework.memory import MemoryTool

from .fakes import FakeClock

SONNET = ModelSettings(model="claude-sonnet-4-6")
SCOPE = ConversationScope(bot_id="alpha", guild_id="111", channel_id="222", user_id="333")
PERSONA = "You are Alpha. " + "Dry wit, few words. " * 200  # long enough to be worth caching


def text(t: str, **kw: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": t}], **kw}


def tool_use(name: str, args: dict[str, Any], tid: str = "toolu_1") -> dict[str, Any]:
    return {"stop_reason": "tool_use", "content": [{"type": "tool_use", "id": tid, "name": name, "input": args}]}


class EchoTool:
    name = "echo"

    def anthropic_param(self) -> dict[str, Any]:
        return {"name": "echo", "description": "Echo.", "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}}}

    def function_schema(self) -> dict[str, Any]:
        return {"name": "echo", "description": "Echo.", "parameters": {"type": "object"}}

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        if args.get("x") == "bad":
            raise ToolError("echo refuses 'bad'")
        if args.get("x") == "boom":
            raise RuntimeError("bug in a tool")
        return f"echo:{args.get('x')}"


@pytest.fixture
async def stub() -> AnthropicStub:
    server = AnthropicStub()
    await server.start()
    yield server  # type: ignore[misc]
    await server.stop()


def provider(stub: AnthropicStub, api: ApiConfig | None = None, **kw: Any) -> AnthropicProvider:
    clock = kw.pop("clock", FakeClock())
    api = api or ApiConfig()
    return AnthropicProvider(api, base_url=stub.base_url, clock=clock, **kw)


def request(content: str = "hi", **kw: Any) -> LLMRequest:
    base: dict[str, Any] = dict(system=PERSONA, turns=(ChatTurn("user", content),), scope=SCOPE, memory_context="## Memory\n- dana likes tea")
    base.update(kw)
    return LLMRequest(**base)


async def test_cache_breakpoints_and_byte_identical_prefix(stub: AnthropicStub, tmp_path: Path) -> None:
    p = provider(stub, tools=[MemoryTool(tmp_path / "memories" / "alpha"), EchoTool()])
    stub.script += [text("one"), text("two")]
    await p.complete(request("first message"), model=SONNET, api_key="k", timeout=10)
    await p.complete(request("second, different message"), model=SONNET, api_key="k", timeout=10)
    await p.close()
    first, second = (r["body"] for r in stub.requests)
    # tools -> system is the cached prefix: the same bytes on both calls
    assert json.dumps(first["tools"], sort_keys=False) == json.dumps(second["tools"], sort_keys=False)
    assert json.dumps(first["system"]) == json.dumps(second["system"])
    assert [t.get("name") for t in first["tools"]] == ["echo", "memory"]
    assert [("cache_control" in t) for t in first["tools"]] == [False, True]
    assert [b["cache_control"] for b in first["system"]] == [{"type": "ephemeral"}] * 2
    assert first["system"][1]["text"] == "## Memory\n- dana likes tea"
    assert first["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    breakpoints = json.dumps(first).count('"cache_control"')
    assert breakpoints <= 4  # the API's maximum


async def test_context_editing_beta_and_memory_excluded(stub: AnthropicStub) -> None:
    p = provider(stub)
    stub.script.append(text("ok"))
    await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.close()
    sent = stub.requests[0]
    assert "context-management-2025-06-27" in sent["headers"].get("anthropic-beta", "")
    edit = sent["body"]["context_management"]["edits"][0]
    assert edit["type"] == "clear_tool_uses_20250919"
    assert edit["trigger"] == {"type": "input_tokens", "value": 100000}
    assert edit["keep"] == {"type": "tool_uses", "value": 3}
    assert edit["exclude_tools"] == ["memory"]


async def test_memory_tool_call_writes_in_the_bots_folder_and_loop_continues(stub: AnthropicStub, tmp_path: Path) -> None:
    root = tmp_path / "memories" / "alpha"
    p = provider(stub, tools=[MemoryTool(root)])
    stub.script += [
        tool_use("memory", {"command": "create", "path": "/memories/servers/111/users/333.md", "file_text": "- likes tea\n"}),
        text("noted, tea person"),
    ]
    reply = await p.complete(request("I like tea"), model=SONNET, api_key="k", timeout=10)
    await p.close()
    assert reply.text == "noted, tea person"
    assert (root / "servers" / "111" / "users" / "333.md").read_text() == "- likes tea\n"
    result = stub.requests[1]["body"]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_1" and not result.get("is_error")
    assert stub.requests[1]["body"]["messages"][-2]["role"] == "assistant"  # the tool call went back verbatim
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens == 24  # both round trips counted


async def test_traversal_goes_back_as_an_error_and_writes_nothing(stub: AnthropicStub, tmp_path: Path) -> None:
    root = tmp_path / "memories" / "alpha"
    p = provider(stub, tools=[MemoryTool(root)])
    stub.script += [
        tool_use("memory", {"command": "create", "path": "/memories/../../escape.md", "file_text": "x"}),
        tool_use("memory", {"command": "delete", "path": "/memories"}, tid="toolu_2"),
        text("fine"),
    ]
    reply = await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.close()
    assert reply.text == "fine"
    for i in (1, 2):
        result = stub.requests[i]["body"]["messages"][-1]["content"][0]
        assert result["is_error"] is True and result["content"].startswith("Error:")
    assert not (tmp_path / "escape.md").exists() and not (tmp_path / "memories" / "escape.md").exists()


async def test_tool_errors_unknown_tools_and_crashes_become_error_results(stub: AnthropicStub) -> None:
    p = provider(stub, tools=[EchoTool()])
    stub.script += [
        {"stop_reason": "tool_use", "content": [
            {"type": "tool_use", "id": "a", "name": "echo", "input": {"x": "bad"}},
            {"type": "tool_use", "id": "b", "name": "echo", "input": {"x": "boom"}},
            {"type": "tool_use", "id": "c", "name": "nope", "input": {}},
            {"type": "tool_use", "id": "d", "name": "echo", "input": {"x": "fine"}},
        ]},
        text("done"),
    ]
    reply = await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.close()
    results = stub.requests[1]["body"]["messages"][-1]["content"]
    assert [(r["tool_use_id"], bool(r.get("is_error"))) for r in results] == [("a", True), ("b", True), ("c", True), ("d", False)]
    assert results[0]["content"] == "Error: echo refuses 'bad'"
    assert results[2]["content"] == "Error: Tool 'nope' not found"
    assert results[3]["content"] == "echo:fine"
    assert reply.text == "done"


async def test_tool_loop_is_capped(stub: AnthropicStub) -> None:
    p = provider(stub, ApiConfig(tool_loop_max_iterations=3), tools=[EchoTool()])
    stub.script += [tool_use("echo", {"x": str(i)}, tid=f"t{i}") for i in range(5)]
    reply = await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.close()
    assert len(stub.requests) == 3 and reply.stop_reason == "tool_use"


async def test_a_turn_that_wants_ten_tool_rounds_still_answers(stub: AnthropicStub) -> None:
    # The model keeps asking for tools; at the cap (8) the last round takes the tools away
    # and says so, and the model's answer there is the reply (it used to be empty).
    p = provider(stub, ApiConfig(), tools=[EchoTool()])
    stub.script += [tool_use("echo", {"x": str(i)}, tid=f"t{i}") for i in range(7)]
    stub.script += [text("here is what I found so far")]
    reply = await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.close()
    bodies = [r["body"] for r in stub.requests]
    assert len(bodies) == 8 and reply.text == "here is what I found so far"
    assert all("tool_choice" not in b for b in bodies[:7])
    assert bodies[7]["tool_choice"] == {"type": "none"}
    final_user = bodies[7]["messages"][-1]["content"]
    assert final_user[0]["type"] == "tool_result" and "without calling a tool" in final_user[-1]["text"]


async def test_thinking_budget_sent_and_traces_only_logged(stub: AnthropicStub, caplog: pytest.LogCaptureFixture) -> None:
    p = provider(stub, ApiConfig(thinking={"enabled": True, "budget_tokens": 2048}))
    stub.script.append({"content": [
        {"type": "thinking", "thinking": "they want a short answer", "signature": "sig"},
        {"type": "text", "text": "short answer"},
    ]})
    with caplog.at_level(logging.DEBUG, logger="framework.llm.anthropic_llm"):
        reply = await p.complete(request(max_tokens=500), model=SONNET, api_key="k", timeout=10)
    await p.close()
    body = stub.requests[0]["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 500 + 2048
    assert reply.text == "short answer"
    assert "thinking: they want a short answer" in caplog.text


async def test_web_search_offered_within_the_daily_cap(stub: AnthropicStub) -> None:
    clock = FakeClock()
    budget = WebSearchBudget(clock, max_daily=4, max_per_request=3)
    p = provider(stub, clock=clock, web_search=budget)
    usage = {"input_tokens": 10, "output_tokens": 5, "server_tool_use": {"web_search_requests": 3}}
    stub.script += [text("searched", usage=usage), text("searched once more", usage=usage), text("no search")]
    r1 = await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.close()
    searches = [next((t for t in r["body"].get("tools", []) if t.get("name") == "web_search"), None) for r in stub.requests]
    assert searches[0]["max_uses"] == 3 and searches[0]["type"] == "web_search_20250305"
    assert searches[1]["max_uses"] == 1  # 4 a day, 3 used
    assert searches[2] is None  # cap reached: not offered
    assert r1.usage.web_searches == 3
    clock.advance(24 * 3600)
    assert budget.max_uses() == 3  # a new UTC day


async def test_structured_output_plan(stub: AnthropicStub) -> None:
    p = provider(stub)
    plan = {"should_respond": True, "response_strategy": "double", "reasoning": "asked twice",
            "conversation_momentum": "hot",
            "responses": [{"target": "dana", "message": "first", "delay": 2}, {"target": "dana", "message": "second", "delay": 1}]}
    stub.script.append(text(json.dumps(plan)))
    reply = await p.complete(request(want_plan=True), model=SONNET, api_key="k", timeout=10)
    await p.close()
    assert stub.requests[0]["body"]["output_config"]["format"]["type"] == "json_schema"
    assert reply.plan is not None and reply.plan.messages == ["first", "second"]
    assert reply.text == "first\nsecond"  # never the raw JSON


async def test_forced_tool_plan_on_a_model_without_structured_output(stub: AnthropicStub) -> None:
    old = ModelSettings(model="claude-haiku-4-0")
    assert not supports_structured_output(old.model)
    p = provider(stub)
    stub.script.append(tool_use("respond", {"should_respond": False, "reasoning": "not for me"}))
    reply = await p.complete(request(want_plan=True), model=old, api_key="k", timeout=10)
    await p.close()
    body = stub.requests[0]["body"]
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}
    assert "output_config" not in body
    assert reply.plan is not None and reply.plan.should_respond is False and reply.text == ""


async def test_malformed_plan_falls_back_to_text_and_never_leaks_json(stub: AnthropicStub) -> None:
    p = provider(stub)
    stub.script += [text('{"should_respond": true, "responses": [{"message": "ok then"'), text("just words")]
    broken = await p.complete(request(want_plan=True), model=SONNET, api_key="k", timeout=10)
    loose = await p.complete(request(want_plan=True), model=SONNET, api_key="k", timeout=10)
    await p.close()
    assert broken.plan is not None and broken.plan.should_respond is False and "{" not in broken.text
    assert loose.plan is not None and loose.plan.messages == ["just words"]


async def test_errors_are_classified(stub: AnthropicStub) -> None:
    p = provider(stub)
    stub.script.append({"status": 529, "error": {"type": "overloaded_error", "message": "Overloaded"}})
    with pytest.raises(ProviderError) as info:
        await p.complete(request(), model=SONNET, api_key="k", timeout=10)
    await p.close()
    assert info.value.kind is ErrorKind.OVERLOADED


async def test_throttle_spaces_request_starts() -> None:
    clock = FakeClock()
    throttle = Throttle(clock, min_delay_seconds=1.5, max_concurrent=2)
    starts = []
    for _ in range(3):
        async with throttle.slot():
            starts.append(clock.monotonic())
    assert [b - a for a, b in zip(starts, starts[1:])] == [1.5, 1.5]


def test_model_capabilities() -> None:
    assert supports_structured_output("claude-sonnet-4-6") and supports_structured_output("claude-opus-4-1")
    assert not supports_structured_output("claude-sonnet-4-20250514")
    assert supports_thinking("claude-sonnet-4-6") and supports_thinking("claude-3-7-sonnet-20250219")
    assert not supports_thinking("claude-3-5-haiku-20241022")


async def test_request_basics_auth_and_temperature(stub: AnthropicStub) -> None:
    stub.script += [text("a"), text("b")]
    plain = provider(stub)
    await plain.complete(request(max_tokens=300), model=SONNET, api_key="test-key-123", timeout=10)
    await plain.close()
    cool = provider(stub, ApiConfig(temperature=0.3))
    await cool.complete(request(), model=SONNET, api_key="k", timeout=10)
    await cool.close()
    first, second = stub.requests
    assert first["authorization"] == "Bearer test-key-123"
    assert first["body"]["max_tokens"] == 300 and first["body"]["model"] == "claude-sonnet-4-6"
    assert "temperature" not in first["body"]  # 1.0 is the API default: not sent
    assert second["body"]["temperature"] == 0.3


async def test_standin_says_what_it_is(stub: AnthropicStub) -> None:
    from framework.sandbox.anthropic_standin import STANDIN_PREFIX

    p = provider(stub)
    prompt = "Recent conversation...\n\nyou is talking to you: tell me a joke\nReply to them."
    reply = await p.complete(request(prompt, use_tools=False), model=SONNET, api_key="k", timeout=10)
    await p.close()
    assert reply.text.startswith(STANDIN_PREFIX) and "tell me a joke" in reply.text


async def test_image_slot_reaches_the_last_user_turn(stub: AnthropicStub) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    p = provider(stub)
    stub.script.append(text("a cat"))
    await p.complete(request("what is this?", images=(image,)), model=SONNET, api_key="k", timeout=10)
    await p.close()
    content = stub.requests[0]["body"]["messages"][-1]["content"]
    assert content[0]["type"] == "image" and content[1]["text"] == "what is this?"
