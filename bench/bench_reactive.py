"""Reactive-path benchmarks, each against a bare discord.py bot in the same run.

    .venv/bin/python bench/bench_reactive.py [--mentions 30] [--messages 3000] [--json PATH]

1. Overhead from the gateway event to the model request: the time from the sandbox
   dispatching a mention to the loopback Anthropic stub receiving the request that asks
   it, for a framework bot (store, engine, context, router, provider) and for
   bench/bare_client.py (store, read 20 back, typing, one SDK call), both connected at
   once and mentioned in turn. Median over N mentions of each.
2. Sustained ingest of non-mention messages: messages per second from the first
   dispatch until the bot has stored them all in SQLite (both bots store every message),
   and the framework bot's RSS before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub  # noqa: E402
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread  # noqa: E402

BOT_YAML = """\
bot_id: alpha
name: Alpha
discord: {token_env_var: ALPHA_BOT_TOKEN}
personality: {base_prompt: "You are a benchmark bot."}
reactive:
  check_interval_seconds: 3600          # the periodic check stays out of the way
  max_typing_seconds: 0
  cooldowns: {per_user: 0, single_message: 0, multi_message: 0, heavy_activity: 0}
rate_limiting:
  windows: {short: {duration_minutes: 5, max_responses: 100000}, long: {duration_minutes: 60, max_responses: 100000}}
api:
  throttling: {min_delay_seconds: 0}
  context_editing: {enabled: false}
  web_search: {enabled: false}
"""


class StampingStub(AnthropicStub):
    """The stub, noting when each model request arrived and what it asked (same process as
    the injector), so each mention is matched to the request that carries it."""

    arrivals: list[tuple[float, str]]

    async def _messages(self, request):  # type: ignore[no-untyped-def]
        arrived = time.perf_counter()
        body = await request.json()  # aiohttp keeps the body: the stub reads it again
        if body.get("model") not in BACKGROUND_REPLIES:  # profile extraction is not the answer
            self.arrivals.append((arrived, json.dumps(body.get("messages", []))))
        return await super()._messages(request)

    def arrival_of(self, marker: str, since: int) -> float | None:
        """When the first request since index ``since`` asking about ``marker`` arrived (the
        newest "question N?" in a request is the one it answers; older ones are history)."""
        for arrived, messages in self.arrivals[since:]:
            if messages[messages.rfind("question "):].startswith(marker):
                return arrived
        return None


def wait_until(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(0.01)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure_one(sandbox: SandboxThread, stub: StampingStub, bot_id: str, marker: str) -> float:
    """Seconds from the sandbox dispatching a mention of ``bot_id`` to its model request."""
    before = len(stub.arrivals)
    mark = len(sandbox.events())
    sent_at = time.perf_counter()
    sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot_id}> {marker}")
    wait_until(lambda: stub.arrival_of(marker, before) is not None)
    latency = stub.arrival_of(marker, before) - sent_at  # type: ignore[operator]
    sandbox.wait_for_event(lambda e: e["type"] == "message" and e["author_id"] == bot_id, timeout=30, since=mark)
    return latency


def measure_interleaved(sandbox: SandboxThread, stub: StampingStub, bots: dict[str, str], n: int) -> dict[str, list[float]]:
    """``n`` mentions of each bot, taking turns, so a busy machine slows both alike."""
    latencies: dict[str, list[float]] = {name: [] for name in bots}
    for i in range(n):
        for name, bot_id in bots.items():
            latencies[name].append(measure_one(sandbox, stub, bot_id, f"question {i}-{name}?"))
    return {name: values[3:] for name, values in latencies.items()}  # the first calls warm connections and caches


def stop_bare(bare: subprocess.Popen[bytes]) -> None:
    bare.send_signal(signal.SIGTERM)
    try:
        bare.wait(30)
    except subprocess.TimeoutExpired:  # a baseline that hangs must not outlive the benchmark
        bare.kill()
        bare.wait(30)


def ingest(sandbox: SandboxThread, n: int, stored: callable) -> float:  # type: ignore[valid-type]
    start_count = stored()
    start = time.perf_counter()
    for i in range(n):
        sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"just chatting, message {i} of the flood")
    wait_until(lambda: stored() >= start_count + n, timeout=300)
    return n / (time.perf_counter() - start)


def db_count(path: Path, query: str = "SELECT COUNT(*) FROM messages") -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05) as db:
            return int(db.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=30)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, SandboxThread() as sandbox:
        home = Path(tmp)
        (home / "bots").mkdir()
        (home / "bots" / "alpha.yaml").write_text(BOT_YAML)
        stub = StampingStub(model_replies=dict(BACKGROUND_REPLIES))
        stub.arrivals = []
        sandbox.run(stub.start())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_"))}
        env.update(DISCORD_API_BASE=sandbox.api_base, DISCORD_GATEWAY_URL=sandbox.gateway_url,
                   ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=stub.base_url)

        # --- both bots connected; the mentions take turns
        bare_id = sandbox.add_bot("bench.bare.token-0123456789", "bare")
        ready = home / "bare.ready"
        bare = subprocess.Popen([sys.executable, str(REPO / "bench" / "bare_client.py"), str(ready)],
                                env=dict(env, BARE_TOKEN="bench.bare.token-0123456789"))
        wait_until(ready.exists)
        bot_id = sandbox.add_bot("bench.alpha.token-0123456789", "alpha")
        env["ALPHA_BOT_TOKEN"] = "bench.alpha.token-0123456789"
        cli = [sys.executable, str(REPO / "bot_manager.py"), "--home", str(home)]
        subprocess.run([*cli, "spawn", "alpha"], env=env, check=True, capture_output=True)
        try:
            progress("both bots ready; mentions, taking turns")
            latency = measure_interleaved(sandbox, stub, {"bare": bare_id, "framework": bot_id}, args.mentions)
            bare_latency, framework_latency = latency["bare"], latency["framework"]
            stop_bare(bare)

            # --- ingest, one bot at a time: the framework bot (warm), then the bare one again
            pid = json.loads(subprocess.run([*cli, "status", "alpha", "--json"], env=env, capture_output=True,
                                            text=True, check=True).stdout)[0]["pid"]
            db = home / "persistence" / "alpha" / "messages.db"
            rss_before = psutil.Process(pid).memory_info().rss
            progress("framework bot: ingest")
            framework_rate = ingest(sandbox, args.messages, lambda: db_count(db))
            rss_after = psutil.Process(pid).memory_info().rss
        finally:
            subprocess.run([*cli, "stop", "alpha"], env=env, capture_output=True)
        ready.unlink()
        bare = subprocess.Popen([sys.executable, str(REPO / "bench" / "bare_client.py"), str(ready)],
                                env=dict(env, BARE_TOKEN="bench.bare.token-0123456789"))
        wait_until(ready.exists)
        progress("bare client: ingest")
        bare_db = Path(str(ready) + ".db")
        bare_rate = ingest(sandbox, args.messages, lambda: db_count(bare_db, "SELECT COUNT(*) FROM m"))
        stop_bare(bare)
        sandbox.run(stub.stop())
    med = statistics.median
    results = {
        "event_to_model_request_ms": {"framework": med(framework_latency) * 1000, "bare_discord_py": med(bare_latency) * 1000},
        "ingest_messages_per_s": {"framework": framework_rate, "bare_discord_py": bare_rate},
        "framework_rss_mb": {"before_ingest": rss_before / 2**20, "after_ingest": rss_after / 2**20},
    }
    lat, rate = results["event_to_model_request_ms"], results["ingest_messages_per_s"]
    print(f"gateway event -> model request (median of {len(framework_latency)}): framework {lat['framework']:.1f} ms, "
          f"bare discord.py {lat['bare_discord_py']:.1f} ms, ratio {lat['framework'] / lat['bare_discord_py']:.2f}x")
    print(f"ingest of {args.messages} non-mention messages: framework {rate['framework']:.0f} msg/s (stored in SQLite), "
          f"bare discord.py {rate['bare_discord_py']:.0f} msg/s (stored), ratio {rate['framework'] / rate['bare_discord_py']:.2f}x")
    rss = results["framework_rss_mb"]
    print(f"framework bot RSS: {rss['before_ingest']:.1f} MB before, {rss['after_ingest']:.1f} MB after the flood")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
