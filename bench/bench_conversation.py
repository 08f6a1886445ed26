"""The conversation cache against sending the whole history every turn, in the same run.

    .venv/bin/python bench/bench_conversation.py [--turns 30] [--context-limit 10000] [--json PATH]

A DM conversation of ``--turns`` exchanges (the person's message, the assistant's answer of
about 150 words). Each request is built by the real ContextBuilder with a real
ConversationCache (files in a temp folder), sent by the real AnthropicProvider over HTTP
to the loopback stub, whose prompt-cache emulator reports usage the way the API would
(tokens estimated as characters / 4); the cache decides on compaction from that usage and
from the context limit the stub's Models API reports. Three runs:

* baseline: the whole history every turn as real turns, no prompt caching (a naive client);
* the whole history every turn with the framework's cache breakpoints (to separate the
  prompt cache's share from compaction's);
* the framework: the conversation cache with compaction (``token_threshold`` 0.8,
  ``keep_recent`` 3) and the prompt cache; compaction requests are counted as calls and
  their input is billed.

Billed input tokens = uncached input + 1.25 x cache writes + 0.1 x cache reads (Anthropic's
5-minute multipliers). The context limit is scaled down (10,000 tokens by default, where
a real Sonnet has 200,000 or more) so that 30 short turns reach the threshold as a long
conversation would; the baseline's largest request stays under it, so it is a conversation
the baseline could still hold.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aiohttp import web  # noqa: E402

from framework.config.models import ApiConfig  # noqa: E402
from framework.domain import IncomingMessage, ModelSettings  # noqa: E402
from framework.engines.context import ContextBuilder, ContextRequest  # noqa: E402
from framework.engines.conversation import ConversationCache, ConversationSettings  # noqa: E402
from framework.llm.anthropic_llm import AnthropicProvider  # noqa: E402
from framework.llm.context_limits import ModelsApiLimits  # noqa: E402
from framework.llm.keypool import KeyPool  # noqa: E402
from framework.llm.router import ChainLink, Router  # noqa: E402
from framework.sandbox.prompt_cache import PromptCacheEmulator  # noqa: E402
from framework.storage import MessageStore  # noqa: E402
from tests.stubs.anthropic import AnthropicStub  # noqa: E402

MODEL = "claude-sonnet-4-6"
DM = "7770001"
MASTER = "111111111111111111"
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
PERSONA = (
    "You are Cortana, a personal assistant who works for exactly one person. You are witty, loyal and "
    "concise. You keep their life in order and tell them the truth. "
) * 20  # about 1,100 tokens: a persona plus tool guidance, long enough for the prompt cache
TOPICS = ["the dentist", "groceries", "the quarterly report", "Mia's birthday", "the flight to Lisbon",
          "the gym plan", "the car service", "a book list", "the tax return", "the team offsite"]


def question(i: int) -> str:
    return f"About {TOPICS[i % len(TOPICS)]}: can you remind me what we said, and what's next? (turn {i})"


def answer(i: int) -> str:
    return (f"Turn {i}: here is where {TOPICS[i % len(TOPICS)]} stands. " + "We agreed on the plan, the time "
            "and the place, and I noted what you still have to bring and whom to call first. " * 7).strip()


class ConversationStub(AnthropicStub):
    """Answers a conversation turn with a 150-word reply and a compaction with a summary."""

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"body": body})
        system = " ".join(b.get("text", "") for b in body.get("system") or [])
        if "summarise a conversation" in system:
            text = "Summary: " + "the person's plans, dates and open questions as agreed so far. " * 12
        else:
            last = body["messages"][-1]["content"][-1]["text"]
            turn = int(last.rsplit("(turn ", 1)[1].split(")")[0])
            text = answer(turn)
        return self.message_response(body, [{"type": "text", "text": text}], usage=None)


class BenchClock:
    def __init__(self) -> None:
        self._now = T0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - T0).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def billed(usage: dict[str, int]) -> float:
    return usage["input_tokens"] + 1.25 * usage["cache_creation_input_tokens"] + 0.1 * usage["cache_read_input_tokens"]


async def run(turns: int, *, prompt_cache: bool, compaction: bool, context_limit: int) -> dict[str, Any]:
    stub = ConversationStub(cache=PromptCacheEmulator(), model_limits={MODEL: context_limit})
    await stub.start()
    clock = BenchClock()
    api = ApiConfig(model=MODEL, cache={"enabled": prompt_cache}, context_editing={"enabled": False},
                    web_search={"enabled": False}, throttling={"min_delay_seconds": 0})
    provider = AnthropicProvider(api, base_url=stub.base_url, clock=clock)
    keys = KeyPool.from_env("ANTHROPIC", {"ANTHROPIC_API_KEY": "bench-key"}, clock=clock.monotonic)
    router = Router([ChainLink(provider, [ModelSettings(MODEL)], keys, premium=True)], clock=clock)
    limits = ModelsApiLimits("bench-key", base_url=stub.base_url, monotonic=clock.monotonic)
    # Without compaction: a threshold no request reaches, so every turn carries the whole history.
    settings = ConversationSettings(token_threshold=0.8 if compaction else 1.0,
                                    context_limit_fallback=context_limit if compaction else 10**9)
    with tempfile.TemporaryDirectory() as folder:
        store = await MessageStore.open(Path(folder) / "messages.db")
        cache = ConversationCache(Path(folder) / "conversations", clock=clock, llm=router, settings=settings,
                                  limits=limits if compaction else None)
        context = ContextBuilder(bot_id="cortana", bot_name="Cortana", persona_prompt=PERSONA, store=store,
                                 clock=clock, conversation=cache)
        model_calls = 0
        for i in range(turns):
            await clock.sleep(60)
            message = IncomingMessage(message_id=str(50_000 + i), channel_id=DM, guild_id=None, author_id=MASTER,
                                      author_name="dana", content=question(i), timestamp=clock.now())
            await store.add(message)
            request = await context.build(ContextRequest(DM, "a direct message", [message], message, urgent=True))
            reply = await router.complete(request)
            model_calls += 1
            # As the reactive engine does once the answer went out (compaction may follow).
            await cache.record(DM, request.turns[-1].content, reply.text, reply)
        await store.close()
    await router.close()
    await stub.stop()
    emulator = PromptCacheEmulator()  # replay the exact bodies sent to count what was billed
    usages = [emulator.usage(r["body"]) for r in stub.requests]
    sizes = [u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"] for u in usages]
    return {
        "model_calls": model_calls + cache.compactions,
        "compactions": cache.compactions,
        "billed_input_tokens": round(sum(billed(u) for u in usages)),
        "input_tokens_processed": sum(sizes),
        "largest_request_tokens": max(sizes),
        "last_request_tokens": sizes[-1],
        "requests_over_the_limit": sum(size > context_limit for size in sizes),  # the real API would refuse these
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    limit = args.context_limit
    return {
        "turns": args.turns,
        "context_limit_tokens": limit,
        "baseline_whole_history_uncached": await run(args.turns, prompt_cache=False, compaction=False, context_limit=limit),
        "whole_history_cached": await run(args.turns, prompt_cache=True, compaction=False, context_limit=limit),
        "framework_cache_and_compaction": await run(args.turns, prompt_cache=True, compaction=True, context_limit=limit),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--context-limit", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(main_async(args))
    base = results["baseline_whole_history_uncached"]
    print(f"{args.turns}-turn DM, context limit {args.context_limit} tokens (compaction at 80%)\n")
    print(f"{'':<44}{'calls':>6}{'billed input':>14}{'vs baseline':>13}{'largest req':>13}{'over limit':>12}")
    for label, key in [
        ("baseline: whole history, no prompt cache", "baseline_whole_history_uncached"),
        ("whole history, prompt cache", "whole_history_cached"),
        ("framework: conversation cache + compaction", "framework_cache_and_compaction"),
    ]:
        row = results[key]
        print(f"{label:<44}{row['model_calls']:>6}{row['billed_input_tokens']:>14}"
              f"{row['billed_input_tokens'] / base['billed_input_tokens']:>12.1%}{row['largest_request_tokens']:>13}"
              f"{row['requests_over_the_limit']:>12}")
    framework = results["framework_cache_and_compaction"]
    print(f"\ncompactions: {framework['compactions']}; model calls {framework['model_calls']} vs {base['model_calls']} "
          f"({framework['model_calls'] / base['model_calls']:.2f}x); billed input "
          f"{framework['billed_input_tokens'] / base['billed_input_tokens']:.2f}x the baseline")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
