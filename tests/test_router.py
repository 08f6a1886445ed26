"""The router over real SDKs and real HTTP: Claude (anthropic SDK -> Anthropic stub), Groq
(groq SDK -> chat-completions stub), with a fake clock (no real waits) and seeded keys."""

from __future__ import annotations

import logging
import random
import socket
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import anthropic
import pytest

from framework.config.models import ANA_GROQ_MODELS, BotConfig
from framework.errors import LLMError
from framework.llm.errors import classify_anthropic
from framework.llm.groq_llm import GroqProvider
from tests.stubs.groq import ChatCompletionsStub
from framework.llm.keypool import KeyPool
from framework.llm.router import ChainLink, Router, build_router
from tests.stubs.anthropic import AnthropicStub
from framework.domain import (
    ChatTurn,
    ErrorKind,
    LLMReply,
    LLMRequest,
    ModelSettings,
    ProviderError,
    Usage,
    UsageRecord,
)

CLAUDE = ModelSettings("claude-sonnet-4-6", max_tokens=1024)
GROQ_MODELS = [ModelSettings(m.model, m.max_tokens, m.temperature, m.top_p) for m in ANA_GROQ_MODELS]
STATIC = ["brain's buffering", "ask me again in a bit"]
OK = {"content": [{"type": "text", "text": "claude here"}]}


def claude_key(i: int) -> str:
    return f"sk-ant-api03-SECRET-claude-{i}-abcdefgh"


def groq_key(i: int) -> str:
    return f"gsk_SECRETgroq{i}abcdefghijklmnop"


def ask(**kwargs: Any) -> LLMRequest:
    return LLMRequest(system="You are Alpha.", turns=(ChatTurn("user", "hey alpha"),), **kwargs)


class FakeTimer:
    """Monotonic time that moves only on sleep() or advance(); sleeps are recorded."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Sink:
    records: list[UsageRecord] = field(default_factory=list)

    async def record(self, record: UsageRecord) -> None:
        self.records.append(record)

    def summary(self) -> list[tuple[str, str, str | None, str | None]]:
        return [(r.provider, r.model, r.key_alias, r.error_kind) for r in self.records]


class MiniClaude:
    """A minimal Claude provider (the real one is being rewritten): SDK + classify_anthropic."""

    name = "anthropic"

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._clients: dict[str, anthropic.AsyncAnthropic] = {}
        self._http: Any = None

    async def complete(self, request: LLMRequest, *, model: ModelSettings, api_key: str, timeout: float) -> LLMReply:
        client = self._clients.get(api_key)
        if client is None:
            self._http = self._http or anthropic.DefaultAsyncHttpxClient()  # one pool for every key
            client = self._clients[api_key] = anthropic.AsyncAnthropic(
                api_key=api_key, base_url=self._base_url, max_retries=0, http_client=self._http
            )
        try:
            response = await client.messages.create(
                model=model.model,
                max_tokens=min(request.max_tokens, model.max_tokens or request.max_tokens),
                system=request.system,
                messages=[{"role": t.role, "content": t.content} for t in request.turns],
                timeout=timeout,
            )
        except anthropic.AnthropicError as exc:
            raise classify_anthropic(exc, self.name) from exc
        text = "".join(b.text for b in response.content if b.type == "text")
        usage = Usage(input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens)
        return LLMReply(text=text, model=response.model, provider=self.name, usage=usage, stop_reason=response.stop_reason)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


@dataclass
class Rig:
    claude: AnthropicStub
    groq: ChatCompletionsStub
    timer: FakeTimer = field(default_factory=FakeTimer)
    sink: Sink = field(default_factory=Sink)
    routers: list[Router] = field(default_factory=list)
    pools: dict[str, KeyPool] = field(default_factory=dict)

    def router(
        self, claude_keys: int = 1, groq_keys: int = 1, seed: int = 42, claude_timeout: float | None = None, **kwargs: Any
    ) -> Router:
        rng = random.Random(seed)
        self.pools["claude"] = KeyPool(
            [(f"ANTHROPIC_API_KEY_{i}", claude_key(i)) for i in range(1, claude_keys + 1)], clock=self.timer.monotonic, rng=rng
        )
        self.pools["groq"] = KeyPool(
            [(f"GROQ_API_KEY_{i}", groq_key(i)) for i in range(1, groq_keys + 1)], clock=self.timer.monotonic, rng=rng
        )
        chain = [
            ChainLink(MiniClaude(self.claude.base_url), [CLAUDE], self.pools["claude"], premium=True,
                      attempt_timeout=claude_timeout),
            ChainLink(GroqProvider(base_url=self.groq.base_url, names=("Alpha",)), GROQ_MODELS, self.pools["groq"]),
        ]
        kwargs.setdefault("static_lines", STATIC)
        router = Router(chain, bot_id="alpha", usage_sink=self.sink, clock=self.timer, rng=rng, **kwargs)
        self.routers.append(router)
        return router

    def claude_auths(self) -> list[str | None]:
        return [r["authorization"] for r in self.claude.requests]

    def status(self, pool: str, model: str) -> dict[str, Any]:
        return {s.alias: s for s in self.pools[pool].status(model)}


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    claude, groq = AnthropicStub(), ChatCompletionsStub()
    await claude.start()
    await groq.start()
    rig = Rig(claude, groq)
    yield rig
    for router in rig.routers:
        await router.close()
    await claude.stop()
    await groq.stop()


def error(status: int, message: str = "stub error", kind: str = "api_error", **headers: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": status, "error": {"type": kind, "message": message}}
    if headers:
        entry["headers"] = {k.replace("_", "-"): v for k, v in headers.items()}
    return entry


# -- Claude's errors -----------------------------------------------------------------------


async def test_429_with_small_retry_after_waits_and_retries_the_same_key(rig: Rig) -> None:
    rig.claude.script += [error(429, "slow down", "rate_limit_error", retry_after="2"), OK]
    router = rig.router(claude_keys=2)
    reply = await router.complete(ask())
    assert reply.text == "claude here" and reply.provider == "anthropic"
    assert rig.timer.sleeps == [2.0]
    first, second = rig.claude_auths()
    assert first == second and reply.key_alias is not None and first == f"Bearer {claude_key(int(reply.key_alias[-1]))}"
    assert rig.sink.summary() == [
        ("anthropic", "claude-sonnet-4-6", reply.key_alias, "rate_limit"),
        ("anthropic", "claude-sonnet-4-6", reply.key_alias, None),
    ]
    assert rig.groq.requests == []


async def test_429_with_large_retry_after_fails_over_without_waiting(rig: Rig) -> None:
    rig.claude.script.append(error(429, "slow down", "rate_limit_error", retry_after="60"))
    router = rig.router(claude_keys=1)
    reply = await router.complete(ask())
    assert reply.provider == "groq" and reply.key_alias == "GROQ_API_KEY_1"
    assert rig.timer.sleeps == []
    assert rig.status("claude", CLAUDE.model)["ANTHROPIC_API_KEY_1"].cooldown_remaining == 60


async def test_529_tries_the_next_key_then_groq(rig: Rig) -> None:
    rig.claude.script += [error(529, "Overloaded", "overloaded_error")] * 2
    router = rig.router(claude_keys=2)
    reply = await router.complete(ask())
    first, second = rig.claude_auths()
    assert first != second  # two different keys, at most two per model
    assert reply.provider == "groq" and reply.model == "moonshotai/kimi-k2-instruct" and reply.text.startswith("stub reply")
    assert [r[3] for r in rig.sink.summary()] == ["overloaded", "overloaded", None]


async def test_500_fails_over_and_cools_the_key(rig: Rig) -> None:
    rig.claude.script.append(error(500, "Internal server error"))
    router = rig.router(claude_keys=1)
    reply = await router.complete(ask())
    assert reply.provider == "groq"
    assert rig.status("claude", CLAUDE.model)["ANTHROPIC_API_KEY_1"].cooldown_remaining == 10
    # The cooled key is skipped on the next request: straight to Groq.
    assert (await router.complete(ask())).provider == "groq" and len(rig.claude.requests) == 1


async def test_timeout_fails_over(rig: Rig) -> None:
    rig.claude.delay_seconds = 0.3
    router = rig.router(claude_keys=1, claude_timeout=0.1)  # Groq keeps the default cap
    reply = await router.complete(ask())
    assert reply.provider == "groq"
    assert rig.sink.summary()[0] == ("anthropic", "claude-sonnet-4-6", "ANTHROPIC_API_KEY_1", "timeout")


async def test_401_locks_the_key_out_and_the_next_request_avoids_it(rig: Rig) -> None:
    rig.claude.script += [error(401, "invalid x-api-key", "authentication_error"), OK, OK]
    router = rig.router(claude_keys=2)
    first = await router.complete(ask())
    second = await router.complete(ask())
    bad, good, again = rig.claude_auths()
    assert bad != good and good == again
    assert first.provider == second.provider == "anthropic" and first.key_alias == second.key_alias
    locked = [s for s in rig.pools["claude"].status() if s.locked_remaining > 0]
    assert len(locked) == 1 and locked[0].locked_remaining == 300 and locked[0].alias != first.key_alias


async def test_400_is_not_failed_over(rig: Rig) -> None:
    rig.claude.script.append(error(400, "messages.0.content: Field required", "invalid_request_error"))
    router = rig.router()
    with pytest.raises(ProviderError) as caught:
        await router.complete(ask())
    assert caught.value.kind is ErrorKind.BAD_REQUEST and caught.value.status == 400
    assert rig.groq.requests == []
    assert rig.status("claude", CLAUDE.model)["ANTHROPIC_API_KEY_1"].available  # not the key's fault


async def test_400_when_owed_says_the_static_line(rig: Rig) -> None:
    rig.claude.script.append(error(400, "prompt is too long: 250000 tokens > 200000 maximum", "invalid_request_error"))
    reply = await rig.router().complete(ask(owed=True))
    assert reply.static and reply.text in STATIC and reply.provider == "static"
    assert rig.groq.requests == [] and rig.sink.summary()[0][3] == "context_too_long"


async def test_everything_down_and_owed_gives_a_static_line(rig: Rig) -> None:
    rig.claude.script.append(error(500))
    rig.groq.script += [{"status": 500}] * 3
    reply = await rig.router(seed=3).complete(ask(owed=True))
    assert reply.static and reply.text in STATIC
    assert rig.groq.models() == [m.model for m in GROQ_MODELS]  # the whole waterfall was tried
    assert len(rig.sink.records) == 4 and not any(r.ok for r in rig.sink.records)


async def test_everything_down_and_not_owed_raises(rig: Rig) -> None:
    rig.claude.script.append(error(529, "Overloaded", "overloaded_error"))
    rig.groq.script += [{"status": 503}] * 3
    with pytest.raises(LLMError, match="every provider failed") as caught:
        await rig.router().complete(ask())
    message = str(caught.value)
    assert "ANTHROPIC_API_KEY_1" in message and "groq/qwen/qwen3-32b [GROQ_API_KEY_1]: overloaded" in message
    assert "SECRET" not in message


# -- Groq's waterfall --------------------------------------------------------------------


async def test_groq_waterfall_order_and_per_model_settings(rig: Rig) -> None:
    rig.claude.script.append(error(500))
    rig.groq.script += [{"status": 503}, {"status": 500}, {"text": "Alpha: qwen made it"}]
    reply = await rig.router().complete(ask(max_tokens=1024))
    assert reply.text == "qwen made it" and reply.model == "qwen/qwen3-32b" and reply.key_alias == "GROQ_API_KEY_1"
    bodies = [r["body"] for r in rig.groq.requests]
    assert [b["model"] for b in bodies] == ["moonshotai/kimi-k2-instruct", "llama-3.1-8b-instant", "qwen/qwen3-32b"]
    assert [b["max_completion_tokens"] for b in bodies] == [80, 70, 65]
    assert [b["temperature"] for b in bodies] == [0.88, 0.86, 0.82]
    assert [b["top_p"] for b in bodies] == [0.92, 0.90, 0.90]
    assert set(rig.groq.auths()) == {f"Bearer {groq_key(1)}"}  # one key, per-model cooldowns


async def test_a_retired_model_is_skipped_not_fatal(rig: Rig) -> None:
    rig.groq.script += [{"status": 404, "error": {"message": "The model does not exist", "code": "model_not_found"}}]
    reply = await rig.router().complete(ask(), cheap=True)
    assert reply.model == "llama-3.1-8b-instant"


async def test_cheap_skips_claude(rig: Rig) -> None:
    router = rig.router()
    reply = await router.complete(ask(owed=True), cheap=True)
    assert reply.provider == "groq" and rig.claude.requests == []


async def test_ambient_plans_stay_on_claude_unless_owed(rig: Rig) -> None:
    rig.claude.script += [error(500), error(500)]
    router = rig.router(claude_keys=1)
    with pytest.raises(LLMError):
        await router.complete(ask(want_plan=True))
    assert rig.groq.requests == []
    rig.timer.advance(60)  # the key's cooldown is over
    reply = await router.complete(ask(want_plan=True, owed=True))
    assert reply.provider == "groq" and reply.plan is not None and reply.plan.messages == [reply.text]


# -- deadline ------------------------------------------------------------------------------


@dataclass
class Slow:
    """A provider that takes ``cost`` fake seconds and then fails with ``kind``."""

    name: str
    timer: FakeTimer
    cost: float
    kind: ErrorKind = ErrorKind.SERVER
    retry_after: float | None = None
    timeouts: list[float] = field(default_factory=list)

    async def complete(self, request: LLMRequest, *, model: ModelSettings, api_key: str, timeout: float) -> LLMReply:
        self.timeouts.append(timeout)
        self.timer.advance(self.cost)
        raise ProviderError(self.name, self.kind, "nope", retry_after=self.retry_after)


async def test_the_deadline_bounds_every_attempt() -> None:
    timer, rng = FakeTimer(), random.Random(1)
    first, second = Slow("one", timer, 12), Slow("two", timer, 12)
    keys = KeyPool([("ONE_API_KEY_1", "v1"), ("ONE_API_KEY_2", "v2")], clock=timer.monotonic, rng=rng)
    router = Router(
        [ChainLink(first, [ModelSettings("a")], keys), ChainLink(second, [ModelSettings("b"), ModelSettings("c")], None)],
        clock=timer, rng=rng, request_deadline_seconds=30, attempt_timeout_seconds=20,
    )
    with pytest.raises(LLMError, match="deadline of 30 s reached"):
        await router.complete(ask())
    assert first.timeouts == [20, 18] and second.timeouts == [6]  # model "c" never started


async def test_no_wait_that_would_overrun_the_deadline() -> None:
    timer = FakeTimer()
    limited = Slow("one", timer, 25, ErrorKind.RATE_LIMIT, retry_after=8)
    router = Router([ChainLink(limited, [ModelSettings("a")])], clock=timer, request_deadline_seconds=30,
                    static_lines=["x"], rng=random.Random(0))
    assert (await router.complete(ask(owed=True))).static
    assert timer.sleeps == [] and len(limited.timeouts) == 1


async def test_a_failing_usage_sink_costs_no_reply(rig: Rig) -> None:
    class Broken:
        async def record(self, record: UsageRecord) -> None:
            raise RuntimeError("disk full")

    router = rig.router()
    router._sink = Broken()  # type: ignore[assignment]
    rig.claude.script.append(OK)
    assert (await router.complete(ask())).text == "claude here"


# -- secrets -------------------------------------------------------------------------------


async def test_key_values_never_reach_logs_or_errors(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rig.claude.script.append(error(401, f"invalid x-api-key {claude_key(1)}", "authentication_error"))
    rig.groq.script += [
        {"status": 429, "headers": {"retry-after": "1"}, "error": {"message": f"key {groq_key(1)} is limited"}},
        {"status": 500, "error": {"message": f"bad key {groq_key(1)}"}},
        {"status": 400, "error": {"message": f"your key {groq_key(1)} sent a bad request"}},
    ]
    router = rig.router()
    with pytest.raises(ProviderError) as caught:
        await router.complete(ask())
    assert rig.timer.sleeps == [1.0]
    texts = [str(caught.value), repr(caught.value), *router.describe(), repr(rig.pools["groq"])]
    texts += [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert any("GROQ_API_KEY_1" in t for t in texts)
    leaks = [t for t in texts if "SECRET" in t]
    assert leaks == []


# -- classify_anthropic over the real SDK ----------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "kind", "retry_after"),
    [
        (error(529, "Overloaded", "overloaded_error"), ErrorKind.OVERLOADED, None),
        (error(503, "unavailable"), ErrorKind.OVERLOADED, None),
        (error(429, "slow", "rate_limit_error", retry_after_ms="1500"), ErrorKind.RATE_LIMIT, 1.5),
        (error(401, "invalid x-api-key", "authentication_error"), ErrorKind.AUTH, None),
        (error(403, "not allowed", "permission_error"), ErrorKind.AUTH, None),
        (error(400, "Your credit balance is too low to access the Anthropic API", "invalid_request_error"), ErrorKind.AUTH, None),
        (error(400, "prompt is too long: 210000 tokens > 200000 maximum", "invalid_request_error"), ErrorKind.CONTEXT_TOO_LONG, None),
        (error(413, "Request exceeds the maximum size", "request_too_large"), ErrorKind.CONTEXT_TOO_LONG, None),
        (error(404, "model: claude-nope", "not_found_error"), ErrorKind.BAD_REQUEST, None),
        (error(500, "Internal server error"), ErrorKind.SERVER, None),
    ],
)
async def test_classify_anthropic(rig: Rig, entry: dict[str, Any], kind: ErrorKind, retry_after: float | None) -> None:
    rig.claude.script.append(entry)
    provider = MiniClaude(rig.claude.base_url)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask(), model=CLAUDE, api_key="k", timeout=5)
    await provider.close()
    assert caught.value.kind is kind and caught.value.status == entry["status"] and caught.value.retry_after == retry_after


async def test_classify_anthropic_transport_failures(rig: Rig) -> None:
    rig.claude.delay_seconds = 0.3
    slow = MiniClaude(rig.claude.base_url)
    with pytest.raises(ProviderError) as caught:
        await slow.complete(ask(), model=CLAUDE, api_key="k", timeout=0.1)
    await slow.close()
    assert caught.value.kind is ErrorKind.TIMEOUT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = MiniClaude(f"http://127.0.0.1:{sock.getsockname()[1]}")
        with pytest.raises(ProviderError) as caught:
            await dead.complete(ask(), model=CLAUDE, api_key="k", timeout=2)
        await dead.close()
    assert caught.value.kind is ErrorKind.SERVER
    assert classify_anthropic(ValueError("odd")).kind is ErrorKind.SERVER


# -- build_router ----------------------------------------------------------------------------


def bot_config(**api: Any) -> BotConfig:
    return BotConfig.model_validate(
        {"bot_id": "alpha", "name": "Alpha", "discord": {"token_env_var": "ALPHA_TOKEN"},
         "personality": {"base_prompt": "x"}, "api": api}
    )


async def test_build_router_chain_from_config_and_env(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="framework.llm")
    config = bot_config(fallback={"openai_compatible": [
        {"name": "gemini", "base_url": rig.groq.base_url + "/v1", "models": [{"model": "gemini-2.5-flash-lite", "max_tokens": 100}]},
        {"name": "openrouter", "base_url": "https://openrouter.ai/api/v1", "models": [{"model": "x"}]},  # no key: left out
        {"name": "local", "base_url": rig.groq.base_url + "/v1", "models": [{"model": "llama3"}], "key_required": False},
    ]})
    env = {"ANTHROPIC_API_KEY": claude_key(1), "ANTHROPIC_API_KEY_2": claude_key(2), "GROQ_API_KEY": groq_key(1),
           "GROQ_BASE_URL": rig.groq.base_url, "GEMINI_API_KEY": "AIza-SECRET-gemini"}
    router = build_router(config, env, anthropic_provider=MiniClaude(rig.claude.base_url), usage_sink=rig.sink,
                          clock=rig.timer, rng=random.Random(0))
    rig.routers.append(router)
    assert [link.provider.name for link in router.chain] == ["anthropic", "groq", "gemini", "local", "anthropic"]
    assert [link.premium for link in router.chain] == [True, False, False, False, False]
    assert router.chain[3].pool is None and router.chain[1].models[0].max_tokens == 80
    assert [m.model for m in router.chain[4].models] == ["claude-haiku-4-5"]  # api.cheap_model, last resort
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "ANTHROPIC_API_KEY, ANTHROPIC_API_KEY_2" in logged and "openrouter fallback inactive" in logged
    assert "SECRET" not in logged
    # Claude and Groq down: Gemini's compatible endpoint answers, with its own key.
    rig.claude.script += [error(500)] * 2
    rig.groq.script += [{"status": 500}] * 3 + [{"text": "gemini here"}]
    reply = await router.complete(ask())
    assert (reply.provider, reply.text, reply.key_alias) == ("gemini", "gemini here", "GEMINI_API_KEY")
    assert rig.groq.requests[-1]["authorization"] == "Bearer AIza-SECRET-gemini"
    assert rig.groq.requests[-1]["body"]["max_tokens"] == 100


def test_cheap_chain_with_only_a_claude_key_uses_the_cheap_claude_model() -> None:
    env = {"ANTHROPIC_API_KEY": claude_key(1)}
    router = build_router(bot_config(), env, anthropic_provider=MiniClaude("http://127.0.0.1:9"), rng=random.Random(0))
    assert [(link.premium, link.models[0].model) for link in router.chain] == [
        (True, "claude-sonnet-4-6"), (False, "claude-haiku-4-5"),
    ]
    off = build_router(bot_config(cheap_model=None), env, anthropic_provider=MiniClaude("http://127.0.0.1:9"))
    assert [link.premium for link in off.chain] == [True]


def test_build_router_without_keys_has_only_the_static_line() -> None:
    router = build_router(bot_config(), {}, anthropic_provider=None, rng=random.Random(0))
    assert router.chain == ()
