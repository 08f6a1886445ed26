"""LLM-layer benchmarks, each against a baseline measured in the same run.

    .venv/bin/python bench/bench_brain.py [--calls 200] [--json PATH]

1. Billed input tokens per 100 channel messages of a scripted conversation (cache-aware:
   uncached input + 1.25 x cache writes + 0.1 x cache reads, Anthropic's 5-minute
   multipliers), for
   * the baseline: one call per message, no prompt caching;
   * the framework: one call per check window (10 messages a window, as the 30 s periodic
     check batches them), with its cache breakpoints;
   * (and, to separate the two effects, one call per message with caching).
   Requests are built by the real AnthropicProvider and sent over HTTP to the loopback
   stub, whose prompt-cache emulator applies the API's prefix rule to the exact bytes sent
   (tokens estimated as characters / 4).
2. Router overhead per call: Router -> AnthropicProvider -> SDK, against a bare SDK
   ``messages.create`` to the same stub.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import anthropic  # noqa: E402

from framework.config.models import ApiConfig  # noqa: E402
from framework.domain import StoredMessage  # noqa: E402
from framework.engines.context import format_transcript  # noqa: E402
from framework.llm.anthropic_llm import AnthropicProvider  # noqa: E402
from framework.llm.keypool import KeyPool  # noqa: E402
from framework.sandbox.prompt_cache import PromptCacheEmulator  # noqa: E402
from framework.llm.router import ChainLink, Router  # noqa: E402
from tests.stubs.anthropic import AnthropicStub  # noqa: E402
from framework.domain import ChatTurn, ConversationScope, LLMRequest, ModelSettings  # noqa: E402

PERSONA = (REPO / "bots" / "alpha.yaml").read_text().split("base_prompt: |", 1)[1].split("\n\n  response_style")[0]
# A memory digest of the size issue 5 will build: server culture, a channel, four profiles.
MEMORY = "\n".join(
    [
        "## Server culture\n- tech-focused gaming community, casual humour, helpful\n- 'skill issue' is ironic praise",
        "## #general\n- game design debates, hardware talk, LFG posts\n- proactive messages land well in the evening",
    ]
    + [
        f"## {name}\n- timezone PST, active 7-11pm\n- works on {topic}; likes being challenged\n"
        f"- recent: GPU prices, {topic} deadlines, a game jam\n- follow-up: ask how the {topic} demo went"
        for name, topic in [("dana", "ML infra"), ("sam", "shaders"), ("lee", "netcode"), ("kim", "tools")]
    ]
) * 6
PEOPLE = ["dana", "sam", "lee", "kim"]
SCOPE = ConversationScope(bot_id="alpha", guild_id="1", channel_id="2", user_id="3")
MODEL = ModelSettings(model="claude-sonnet-4-6")
T0 = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)


def conversation(n: int = 100) -> list[StoredMessage]:
    return [
        StoredMessage(
            message_id=str(1000 + i), channel_id="2", guild_id="1", author_id=PEOPLE[i % 4], author_name=PEOPLE[i % 4],
            content=f"message {i}: what do you all think about topic {i // 7}? " + "words " * (5 + i % 9),
            timestamp=T0 + timedelta(seconds=20 * i), is_bot=False, has_attachments=False,
        )
        for i in range(n)
    ]


def billed(usage: dict[str, int]) -> float:
    return usage["input_tokens"] + 1.25 * usage["cache_creation_input_tokens"] + 0.1 * usage["cache_read_input_tokens"]


async def run_scenario(window: int, cached: bool, messages: list[StoredMessage]) -> tuple[float, int]:
    """Billed input tokens for the conversation, one call per ``window`` messages."""
    stub = AnthropicStub(cache=PromptCacheEmulator())
    await stub.start()
    api = ApiConfig(cache={"enabled": cached}, context_editing={"enabled": False}, web_search={"enabled": False},
                    throttling={"min_delay_seconds": 0})
    provider = AnthropicProvider(api, base_url=stub.base_url)
    calls = 0
    for end in range(window, len(messages) + 1, window):
        recent = messages[max(0, end - 20):end]
        prompt = f"Recent conversation in #general:\n{format_transcript(recent, {})}\n\nDecide whether to say something."
        request = LLMRequest(system=PERSONA, turns=(ChatTurn("user", prompt),), scope=SCOPE,
                             memory_context=MEMORY, want_plan=window > 1, use_tools=False)
        await provider.complete(request, model=MODEL, api_key="bench", timeout=30)
        calls += 1
    await provider.close()
    await stub.stop()
    usages = [r["body"] for r in stub.requests]
    emulator = PromptCacheEmulator()  # replay the exact bodies sent to count what was billed
    return sum(billed(emulator.usage(body)) for body in usages), calls


async def router_overhead(n: int) -> tuple[float, float]:
    stub = AnthropicStub()
    await stub.start()
    request = LLMRequest(system="You are brief.", turns=(ChatTurn("user", "hi"),), scope=SCOPE, use_tools=False)
    api = ApiConfig(context_editing={"enabled": False}, web_search={"enabled": False}, throttling={"min_delay_seconds": 0})
    provider = AnthropicProvider(api, base_url=stub.base_url)
    pool = KeyPool.from_env("ANTHROPIC", {"ANTHROPIC_API_KEY": "bench-key"})
    router = Router([ChainLink(provider, [MODEL], pool, premium=True)], bot_id="bench")
    bare = anthropic.AsyncAnthropic(api_key="bench-key", base_url=stub.base_url, max_retries=0)
    for _ in range(20):  # warm both paths (connections, imports)
        await router.complete(request)
        await bare.messages.create(model=MODEL.model, max_tokens=1024, system="You are brief.",
                                   messages=[{"role": "user", "content": "hi"}])
    framework_times, bare_times = [], []
    for _ in range(n):  # interleaved, so drift hits both sides alike
        start = time.perf_counter()
        await router.complete(request)
        framework_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        await bare.messages.create(model=MODEL.model, max_tokens=1024, system="You are brief.",
                                   messages=[{"role": "user", "content": "hi"}])
        bare_times.append(time.perf_counter() - start)
    await bare.close()
    await provider.close()
    await stub.stop()
    return statistics.median(framework_times), statistics.median(bare_times)


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    messages = conversation(100)
    baseline, baseline_calls = await run_scenario(1, False, messages)
    per_message_cached, _ = await run_scenario(1, True, messages)
    framework, framework_calls = await run_scenario(10, True, messages)
    router_s, bare_s = await router_overhead(args.calls)
    return {
        "billed_input_tokens_per_100_messages": {
            "baseline_call_per_message_uncached": round(baseline),
            "call_per_message_cached": round(per_message_cached),
            "framework_per_window_cached": round(framework),
            "calls": {"baseline": baseline_calls, "framework": framework_calls},
        },
        "router_call_s": {"framework": router_s, "bare_sdk": bare_s},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the stand-in answers are not plans: expected, not news
    results = asyncio.run(main_async(args))
    tokens = results["billed_input_tokens_per_100_messages"]
    base = tokens["baseline_call_per_message_uncached"]  # type: ignore[index]
    print(f"{'billed input tokens / 100 messages':<44}{'tokens':>10}{'vs baseline':>13}")
    for label, key in [
        ("baseline: call per message, no cache", "baseline_call_per_message_uncached"),
        ("call per message, cached prefix", "call_per_message_cached"),
        ("framework: call per check window, cached", "framework_per_window_cached"),
    ]:
        value = tokens[key]  # type: ignore[index]
        print(f"{label:<44}{value:>10}{value / base:>12.1%}")
    router_s, bare_s = results["router_call_s"]["framework"], results["router_call_s"]["bare_sdk"]  # type: ignore[index]
    print(f"\nper call (median of {args.calls}): router {router_s * 1000:.2f} ms, bare SDK {bare_s * 1000:.2f} ms, "
          f"ratio {router_s / bare_s:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
