"""Groq (real SDK) and OpenAI-compatible (aiohttp) providers over real HTTP against the
loopback chat-completions stub; error classification; text clean-up."""

from __future__ import annotations

import email.utils
import socket
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import pytest

from framework.domain import textclean
from framework.llm.errors import classify_status, message_from_body, model_unavailable, parse_retry_after
from framework.llm.groq_llm import GroqProvider
from tests.stubs.groq import ChatCompletionsStub
from framework.llm.openai_compat import OpenAICompatibleProvider
from framework.domain import ChatTurn, ConversationScope, ErrorKind, LLMRequest, ModelSettings, ProviderError, ToolError

SCOPE = ConversationScope(bot_id="alpha", guild_id="1", channel_id="2", user_id="3")
KIMI = ModelSettings("moonshotai/kimi-k2-instruct", max_tokens=80, temperature=0.88, top_p=0.92)


def ask(text: str = "hey alpha", **kwargs: Any) -> LLMRequest:
    return LLMRequest(system="You are Alpha.", turns=(ChatTurn("user", text),), scope=SCOPE, **kwargs)


@dataclass
class LookupTool:
    """A client tool that records its calls; 'forbidden' makes it refuse."""

    name: str = "lookup"
    calls: list[tuple[dict[str, Any], ConversationScope]] = field(default_factory=list)

    def anthropic_param(self) -> dict[str, Any]:
        return {"name": self.name, "description": "Look a word up.", "input_schema": self.function_schema()["parameters"]}

    def function_schema(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": "Look a word up.",
            "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
        }

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        self.calls.append((args, scope))
        if args.get("word") == "forbidden":
            raise ToolError("that word is off limits")
        return f"{args['word']} means 42"


@pytest.fixture
async def stub() -> AsyncIterator[ChatCompletionsStub]:
    server = ChatCompletionsStub()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def groq_provider(stub: ChatCompletionsStub) -> AsyncIterator[GroqProvider]:
    provider = GroqProvider(base_url=stub.base_url, names=("Alpha",), tools=[LookupTool()])
    yield provider
    await provider.close()


# -- Groq --------------------------------------------------------------------------------


async def test_groq_request_shape_settings_and_cleaned_reply(stub: ChatCompletionsStub, groq_provider: GroqProvider) -> None:
    stub.script.append(
        {"text": "<think>they said hey</think>\nAlpha: \"hey yourself\"", "usage": {"prompt_tokens": 50, "completion_tokens": 6}}
    )
    model = ModelSettings("qwen/qwen3-32b", max_tokens=65, temperature=0.82, top_p=0.9, extra_body={"reasoning_effort": "none"})
    request = LLMRequest(system="You are Alpha.", memory_context="[memory] likes tea", max_tokens=1024, use_tools=False,
                         turns=(ChatTurn("user", "hi"), ChatTurn("assistant", "yo"), ChatTurn("user", "hey alpha")))
    reply = await groq_provider.complete(request, model=model, api_key="gsk_test_key", timeout=5)
    assert reply.text == "hey yourself" and reply.provider == "groq" and reply.model == "qwen/qwen3-32b"
    assert reply.usage.input_tokens == 50 and reply.usage.output_tokens == 6 and reply.stop_reason == "stop"
    sent = stub.requests[0]
    assert sent["path"] == "/openai/v1/chat/completions" and sent["authorization"] == "Bearer gsk_test_key"
    body = sent["body"]
    assert body["messages"] == [
        {"role": "system", "content": "You are Alpha.\n\n[memory] likes tea"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
        {"role": "user", "content": "hey alpha"},
    ]
    assert body["max_completion_tokens"] == 65 and "max_tokens" not in body  # capped by the model
    assert body["temperature"] == 0.82 and body["top_p"] == 0.9 and body["reasoning_effort"] == "none"
    assert "tools" not in body  # use_tools=False


async def test_groq_tool_loop_runs_the_client_tool(stub: ChatCompletionsStub) -> None:
    tool = LookupTool()
    provider = GroqProvider(base_url=stub.base_url, tools=[tool])
    stub.script += [
        {"tool_calls": [{"id": "call_1", "name": "lookup", "arguments": {"word": "zorp"}},
                        {"id": "call_2", "name": "lookup", "arguments": {"word": "forbidden"}}]},
        {"text": "zorp means 42, apparently", "usage": {"prompt_tokens": 10, "completion_tokens": 5}},
    ]
    reply = await provider.complete(ask(), model=KIMI, api_key="k", timeout=5)
    await provider.close()
    assert reply.text == "zorp means 42, apparently"
    assert tool.calls == [({"word": "zorp"}, SCOPE), ({"word": "forbidden"}, SCOPE)]
    first, second = stub.requests[0]["body"], stub.requests[1]["body"]
    assert first["tools"] == [{"type": "function", "function": tool.function_schema()}] and first["tool_choice"] == "auto"
    assistant, result_1, result_2 = second["messages"][-3:]
    assert assistant["role"] == "assistant" and [c["id"] for c in assistant["tool_calls"]] == ["call_1", "call_2"]
    assert result_1 == {"role": "tool", "tool_call_id": "call_1", "content": "zorp means 42"}
    assert result_2 == {"role": "tool", "tool_call_id": "call_2", "content": "Error: that word is off limits"}
    assert reply.usage.output_tokens == 7 + 5  # both rounds counted


async def test_groq_tool_loop_last_round_forbids_tools(stub: ChatCompletionsStub) -> None:
    provider = GroqProvider(base_url=stub.base_url, tools=[LookupTool()], max_tool_iterations=2)
    stub.script += [{"tool_calls": [{"name": "lookup", "arguments": "not json"}]}, {"text": "fine"}]
    reply = await provider.complete(ask(), model=KIMI, api_key="k", timeout=5)
    await provider.close()
    assert reply.text == "fine"
    assert [r["body"]["tool_choice"] for r in stub.requests] == ["auto", "none"]
    assert stub.requests[1]["body"]["messages"][-1]["content"] == "Error: the arguments must be a JSON object"


async def test_groq_empty_or_json_only_reply_is_a_failed_attempt(stub: ChatCompletionsStub, groq_provider: GroqProvider) -> None:
    stub.script += [{"text": "<think>hmm"}, {"text": '{"message": "ok fine"}'}]
    with pytest.raises(ProviderError) as caught:
        await groq_provider.complete(ask(), model=KIMI, api_key="k", timeout=5)
    assert caught.value.kind is ErrorKind.SERVER
    assert (await groq_provider.complete(ask(), model=KIMI, api_key="k", timeout=5)).text == "ok fine"


async def test_groq_want_plan_gets_a_one_message_plan(stub: ChatCompletionsStub, groq_provider: GroqProvider) -> None:
    stub.script.append({"text": "sure, on it"})
    reply = await groq_provider.complete(ask(want_plan=True, owed=True), model=KIMI, api_key="k", timeout=5)
    assert reply.plan is not None and reply.plan.should_respond and reply.plan.messages == ["sure, on it"]


@pytest.mark.parametrize(
    ("entry", "kind", "retry_after"),
    [
        ({"status": 429, "headers": {"retry-after-ms": "1500", "retry-after": "9"}}, ErrorKind.RATE_LIMIT, 1.5),
        ({"status": 429, "headers": {"retry-after": "3"}}, ErrorKind.RATE_LIMIT, 3.0),
        ({"status": 401, "error": {"message": "Invalid API Key", "type": "invalid_request_error"}}, ErrorKind.AUTH, None),
        ({"status": 503}, ErrorKind.OVERLOADED, None),
        ({"status": 529}, ErrorKind.OVERLOADED, None),
        ({"status": 500}, ErrorKind.SERVER, None),
        ({"status": 400, "error": {"message": "Please reduce the length of the messages or completion.",
                                   "code": "context_length_exceeded"}}, ErrorKind.CONTEXT_TOO_LONG, None),
        ({"status": 413, "error": {"message": "Request too large for model on tokens per minute (TPM)"}},
         ErrorKind.RATE_LIMIT, None),
        ({"status": 400, "error": {"message": "'messages' must be an array"}}, ErrorKind.BAD_REQUEST, None),
    ],
)
async def test_groq_sdk_errors_are_classified(
    stub: ChatCompletionsStub, groq_provider: GroqProvider, entry: dict[str, Any], kind: ErrorKind, retry_after: float | None
) -> None:
    stub.script.append(entry)
    with pytest.raises(ProviderError) as caught:
        await groq_provider.complete(ask(), model=KIMI, api_key="k", timeout=5)
    assert caught.value.kind is kind and caught.value.status == entry["status"]
    assert caught.value.retry_after == retry_after
    assert len(stub.requests) == 1  # max_retries=0: the router is the only retry loop


async def test_groq_retired_model_is_model_unavailable(stub: ChatCompletionsStub, groq_provider: GroqProvider) -> None:
    stub.script += [
        {"status": 404, "error": {"message": "The model `x` does not exist", "code": "model_not_found"}},
        {"status": 400, "error": {"message": "The model `y` has been decommissioned", "code": "model_decommissioned"}},
    ]
    for _ in range(2):
        with pytest.raises(ProviderError) as caught:
            await groq_provider.complete(ask(), model=KIMI, api_key="k", timeout=5)
        assert caught.value.kind is ErrorKind.BAD_REQUEST and model_unavailable(caught.value)


async def test_groq_timeout_and_connection_refused(stub: ChatCompletionsStub, groq_provider: GroqProvider) -> None:
    stub.script.append({"delay": 1.0, "text": "too late"})
    with pytest.raises(ProviderError) as caught:
        await groq_provider.complete(ask(), model=KIMI, api_key="k", timeout=0.1)
    assert caught.value.kind is ErrorKind.TIMEOUT
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = GroqProvider(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
        with pytest.raises(ProviderError) as caught:
            await dead.complete(ask(), model=KIMI, api_key="k", timeout=2)
        await dead.close()
    assert caught.value.kind is ErrorKind.SERVER


# -- OpenAI-compatible -------------------------------------------------------------------


async def test_openai_compatible_request_and_tool_loop(stub: ChatCompletionsStub) -> None:
    tool = LookupTool()
    provider = OpenAICompatibleProvider("gemini", stub.base_url + "/v1/", tools=[tool], names=("Alpha",))
    stub.script += [{"tool_calls": [{"name": "lookup", "arguments": {"word": "blip"}}]}, {"text": "```\nblip is 42\n```"}]
    reply = await provider.complete(ask(max_tokens=300), model=KIMI, api_key="AIza-test", timeout=5)
    assert reply.text == "blip is 42" and reply.provider == "gemini" and tool.calls[0][0] == {"word": "blip"}
    body = stub.requests[0]["body"]
    assert stub.requests[0]["path"] == "/v1/chat/completions" and stub.requests[0]["authorization"] == "Bearer AIza-test"
    assert body["max_tokens"] == 80 and body["temperature"] == 0.88 and body["top_p"] == 0.92
    keyless = await provider.complete(ask(use_tools=False), model=KIMI, api_key="", timeout=5)
    await provider.close()
    assert keyless.text.startswith("stub reply from") and stub.requests[-1]["authorization"] is None


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ({"status": 429, "headers": {"Retry-After": "4"}}, ErrorKind.RATE_LIMIT),
        ({"status": 403}, ErrorKind.AUTH),
        ({"status": 502}, ErrorKind.SERVER),
        ({"status": 504}, ErrorKind.TIMEOUT),
        ({"raw": "<html>bad gateway</html>", "status": 200}, ErrorKind.SERVER),
        ({"raw": '{"error": {"message": "upstream overloaded", "code": 503}}', "status": 200}, ErrorKind.OVERLOADED),
        ({"delay": 1.0}, ErrorKind.TIMEOUT),
    ],
)
async def test_openai_compatible_errors(stub: ChatCompletionsStub, entry: dict[str, Any], kind: ErrorKind) -> None:
    provider = OpenAICompatibleProvider("openrouter", stub.base_url + "/v1")
    stub.script.append(entry)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask(), model=KIMI, api_key="k", timeout=0.2 if "delay" in entry else 5)
    await provider.close()
    assert caught.value.kind is kind and caught.value.provider == "openrouter"
    if kind is ErrorKind.RATE_LIMIT:
        assert caught.value.retry_after == 4.0


# -- helpers -----------------------------------------------------------------------------


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"Retry-After": "12"}) == 12.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=lambda: 1_000_000) == pytest.approx(30)
    assert parse_retry_after({"retry-after": "soon"}) is None and parse_retry_after(None) is None


def test_status_table_and_messages() -> None:
    assert classify_status("x", 400, "Your credit balance is too low").kind is ErrorKind.AUTH
    assert classify_status("x", 498).kind is ErrorKind.OVERLOADED
    assert classify_status("x", 408).kind is ErrorKind.TIMEOUT
    assert classify_status("x", 413, "request_too_large").kind is ErrorKind.CONTEXT_TOO_LONG
    assert classify_status("x", 404).kind is ErrorKind.BAD_REQUEST
    assert message_from_body(b'[{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}]') == "quota"
    assert message_from_body('{"error": "plain"}') == "plain"


# -- textclean ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<think>\nThe user greets me. I should be brief.\n</think>\n\nhey, what's up", "hey, what's up"),
        ("<think>Okay so the user wants", ""),  # thinking cut off by max tokens: nothing to say
        ("Alpha: lol same", "lol same"),
        ("**Alpha:** lol same", "lol same"),
        ("[Alpha]: nah", "nah"),
        ("Bot: sure thing", "sure thing"),
        ("Assistant: Alpha: hmm", "hmm"),
        ("[replying to @sam: \"you there?\"] yeah i'm here", "yeah i'm here"),
        ('"honestly no idea"', "honestly no idea"),
        ('Alpha: "honestly no idea"', "honestly no idea"),
        ("\u201cwait what\u201d", "wait what"),
        ('"she said "hi" to me"', '"she said "hi" to me"'),  # inner quotes: not a wrapper
        ("```\nok here you go\n```", "ok here you go"),
        ("```json\n{\"message\": \"fenced json\"}\n```", "fenced json"),
        ('{"message": "leaked json"}', "leaked json"),
        ('{"responses": [{"target": "sam", "message": "first"}, {"message": "second"}]}', "first\nsecond"),
        ('{"reply": "", "text": "second field"}', "second field"),
        ('{"message": "cut off mid', ""),  # broken JSON without a closed message field
        ('{"message": "rescued", "reasoning": "cut', "rescued"),
        ('{"should_respond": true}', ""),  # never raw JSON
        ('{"should_respond": false, "reasoning": "they are busy", "responses": []}', ""),  # silence, not reasoning
        ('{"reasoning": "internal", "note": "fine then"}', "fine then"),
        ('[{"target": "sam", "message": "yo sam"}]', "yo sam"),
        ("[laughs] fair enough", "[laughs] fair enough"),
        ("  too    many   spaces  \n\n\n\nnext   line  ", "too many spaces\n\nnext line"),
        ("Me: okay", "okay"),
        ("", ""),
    ],
)
def test_clean(raw: str, expected: str) -> None:
    assert textclean.clean(raw, names=["Alpha", "alpha"]) == expected


def test_truncate_prefers_a_sentence_end_then_a_word() -> None:
    text = "First sentence here. Second one is a bit longer than that. Third."
    assert textclean.truncate(text, 60) == "First sentence here. Second one is a bit longer than that."
    assert textclean.truncate("word " * 30, 40).endswith("\u2026") and len(textclean.truncate("word " * 30, 40)) <= 40
    assert textclean.clean("a" * 5000, max_chars=100) == "a" * 99 + "\u2026"
