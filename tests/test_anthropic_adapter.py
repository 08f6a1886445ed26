"""The Anthropic adapter through the real SDK and real HTTP against the loopback stub."""

from __future__ import annotations

import pytest

from framework.llm.types import ChatTurn, LLMRequest
from framework.errors import LLMError
from framework.llm.anthropic_llm import AnthropicLLM
from framework.llm.stub_server import STANDIN_PREFIX, AnthropicStub


@pytest.fixture
async def stub() -> AnthropicStub:
    server = AnthropicStub()
    await server.start()
    yield server  # type: ignore[misc]
    await server.stop()


async def test_request_shape_and_reply(stub: AnthropicStub) -> None:
    stub.script.append({"content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]})
    llm = AnthropicLLM(api_key="test-key-123", base_url=stub.base_url, model="claude-sonnet-4-6", max_retries=0)
    reply = await llm.complete(LLMRequest(system="persona", turns=(ChatTurn("user", "hello"),), max_tokens=300))
    await llm.close()
    assert reply.text == "hi there" and reply.model == "claude-sonnet-4-6" and reply.stop_reason == "end_turn"
    sent = stub.requests[0]
    assert sent["authorization"] == "Bearer test-key-123"
    assert sent["body"]["system"] == "persona"
    assert sent["body"]["max_tokens"] == 300
    assert sent["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert "temperature" not in sent["body"]  # 1.0 is the API default: not sent


async def test_non_default_temperature_goes_in_the_body(stub: AnthropicStub) -> None:
    llm = AnthropicLLM(api_key="k", base_url=stub.base_url, model="m", temperature=0.3, max_retries=0)
    await llm.complete(LLMRequest(system="s", turns=(ChatTurn("user", "x"),)))
    await llm.close()
    assert stub.requests[0]["body"]["temperature"] == 0.3


async def test_api_errors_become_llm_errors(stub: AnthropicStub) -> None:
    stub.script.append({"status": 529, "error": {"type": "overloaded_error", "message": "Overloaded"}})
    llm = AnthropicLLM(api_key="k", base_url=stub.base_url, model="m", max_retries=0)
    with pytest.raises(LLMError, match="529"):
        await llm.complete(LLMRequest(system="s", turns=(ChatTurn("user", "x"),)))
    await llm.close()


async def test_standin_says_what_it_is(stub: AnthropicStub) -> None:
    llm = AnthropicLLM(api_key="k", base_url=stub.base_url, model="m", max_retries=0)
    prompt = "Recent conversation...\n\nyou is talking to you: tell me a joke\nReply to them."
    reply = await llm.complete(LLMRequest(system="s", turns=(ChatTurn("user", prompt),)))
    await llm.close()
    assert reply.text.startswith(STANDIN_PREFIX)
    assert "tell me a joke" in reply.text
