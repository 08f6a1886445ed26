"""The health endpoint's cost: one bot with ``health`` and ``/metrics`` on, against off.

    .venv/bin/python bench/bench_health.py [--mentions 25] [--idle 3] [--json PATH]

For each variant the framework bot runs as a real process under its keeper against the
loopback sandbox and the Anthropic stub (the same bot config as bench_reactive.py):

1. event -> reply: from the sandbox dispatching a mention to the bot's reply reaching the
   sandbox, median over N mentions (the first three left out: warm-up). Four runs, off,
   on, on, off: in the first "on" run ``/metrics`` is scraped after every mention, as
   Prometheus would between them; each side's figure is the mean of its two runs.
2. idle RSS: the bot process's resident memory after ``--idle`` seconds idle once ready.

Ratios are on/off: 1.00 means the endpoint costs nothing measurable.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_reactive import BOT_YAML, progress, wait_until  # noqa: E402
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread  # noqa: E402
from tests.stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_variant(sandbox: SandboxThread, env: dict[str, str], home: Path, bot_id: str, port: int | None,
                mentions: int, idle: float, scrape: bool = True) -> dict[str, float]:
    yaml = BOT_YAML + (f"health: {{port: {port}}}\n" if port else "")
    (home / "bots" / "alpha.yaml").write_text(yaml)
    cli = [sys.executable, str(REPO / "bot_manager.py"), "--home", str(home)]
    subprocess.run([*cli, "spawn", "alpha"], env=env, check=True, capture_output=True)
    try:
        pid = json.loads(subprocess.run([*cli, "status", "alpha", "--json"], env=env, capture_output=True,
                                        text=True, check=True).stdout)[0]["pid"]
        time.sleep(idle)  # idle: nothing to do; the memory it settles at
        rss = psutil.Process(pid).memory_info().rss
        latencies = []
        for i in range(mentions):
            mark = len(sandbox.events())
            sent_at = time.perf_counter()
            sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{bot_id}> question {i}?")
            sandbox.wait_for_event(lambda e: e["type"] == "message" and e["author_id"] == bot_id, timeout=30, since=mark)
            latencies.append(time.perf_counter() - sent_at)
            if port and scrape:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    response.read()
        scrape_ms = None
        if port:
            started = time.perf_counter()
            for _ in range(50):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    response.read()
            scrape_ms = (time.perf_counter() - started) / 50 * 1000
    finally:
        subprocess.run([*cli, "stop", "alpha"], env=env, capture_output=True)
    result = {"event_to_reply_ms": statistics.median(latencies[3:]) * 1000, "idle_rss_mb": rss / 2**20}
    if scrape_ms is not None:
        result["metrics_scrape_ms"] = scrape_ms
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=25)
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SandboxThread() as sandbox:
        home = Path(tmp)
        (home / "bots").mkdir()
        stub = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES))
        sandbox.run(stub.start())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_"))}
        env.update(DISCORD_API_BASE=sandbox.api_base, DISCORD_GATEWAY_URL=sandbox.gateway_url,
                   ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=stub.base_url,
                   ALPHA_BOT_TOKEN="bench.alpha.token-0123456789")
        bot_id = sandbox.add_bot("bench.alpha.token-0123456789", "alpha")
        try:
            progress("health off")
            off = run_variant(sandbox, env, home, bot_id, None, args.mentions, args.idle)
            progress("health and metrics on")
            on = run_variant(sandbox, env, home, bot_id, free_port(), args.mentions, args.idle)
            progress("on, not scraped between mentions")
            quiet = run_variant(sandbox, env, home, bot_id, free_port(), args.mentions, args.idle, scrape=False)
            progress("off again (order effects)")
            off2 = run_variant(sandbox, env, home, bot_id, None, args.mentions, args.idle)
        finally:
            sandbox.run(stub.stop())
    # Two runs of each, interleaved (off, on, on, off): on two shared cores one run's median
    # moves by several ms from run to run, so each side is the mean of its two runs.
    def mean(key: str, *runs: dict[str, float]) -> float:
        return statistics.fmean(run[key] for run in runs)

    results = {
        "off": off, "on": on, "on_unscraped": quiet, "off_again": off2,
        "ratios_on_over_off": {
            "event_to_reply": mean("event_to_reply_ms", on, quiet) / mean("event_to_reply_ms", off, off2),
            "idle_rss": mean("idle_rss_mb", on, quiet) / mean("idle_rss_mb", off, off2),
        },
    }
    ratios = results["ratios_on_over_off"]
    print(f"event -> reply (median of {args.mentions - 3} each): off {off['event_to_reply_ms']:.1f} / "
          f"{off2['event_to_reply_ms']:.1f} ms, on {on['event_to_reply_ms']:.1f} ms (a /metrics scrape after each) / "
          f"{quiet['event_to_reply_ms']:.1f} ms (not scraped); ratio of the means {ratios['event_to_reply']:.2f}x")
    print(f"idle RSS: off {mean('idle_rss_mb', off, off2):.1f} MB, on {mean('idle_rss_mb', on, quiet):.1f} MB, "
          f"ratio {ratios['idle_rss']:.2f}x")
    print(f"GET /metrics over loopback: {on['metrics_scrape_ms']:.2f} ms each (mean of 50)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
