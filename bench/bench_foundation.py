"""Foundation benchmarks, each a ratio against a baseline measured in the same run.

    .venv/bin/python bench/bench_foundation.py [--rounds N] [--json PATH]

* spawn-to-ready: `bot_manager spawn` (returns when the bot is connected) against a bare
  discord.py client started as a process until its on_ready, both on the same sandbox;
* stop: `bot_manager stop` against SIGTERM-to-exit of the bare client;
* idle RSS: a framework bot process against the bare client, both connected and idle;
* status: `bot_manager status` wall time with 10 bots running, against the 300 ms budget
  and against `status` with no bot running.

Everything runs offline: the sandbox Discord server and the Anthropic stand-in are on
loopback in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.stubs.anthropic import AnthropicStub  # noqa: E402
from framework.sandbox import SandboxThread  # noqa: E402

BOT_YAML = """\
bot_id: {bot}
name: "Bench {bot}"
discord:
  token_env_var: "{var}"
personality:
  base_prompt: "You are a benchmark bot."
supervisor:
  ready_timeout_seconds: 60
  stopwaitsecs: 10
"""


def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.005)


class Bench:
    def __init__(self, home: Path, sandbox: SandboxThread, stub: AnthropicStub) -> None:
        self.home = home
        self.sandbox = sandbox
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_"))}
        self.env.update(
            DISCORD_API_BASE=sandbox.api_base,
            DISCORD_GATEWAY_URL=sandbox.gateway_url,
            ANTHROPIC_API_KEY="bench-key",
            ANTHROPIC_BASE_URL=stub.base_url,
        )

    def add_bot(self, bot: str) -> None:
        var = f"{bot.upper()}_BOT_TOKEN"
        token = f"bench.{bot}.token-0123456789"
        self.sandbox.add_bot(token, bot)
        self.env[var] = token
        (self.home / "bots").mkdir(exist_ok=True)
        (self.home / "bots" / f"{bot}.yaml").write_text(BOT_YAML.format(bot=bot, var=var))

    def cli(self, *args: str) -> float:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(REPO / "bot_manager.py"), "--home", str(self.home), *args],
            env=self.env, capture_output=True, text=True,
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"bot_manager {' '.join(args)} failed: {result.stdout}{result.stderr}")
        return elapsed

    def bot_pid(self, bot: str) -> int:
        out = subprocess.run(
            [sys.executable, str(REPO / "bot_manager.py"), "--home", str(self.home), "status", bot, "--json"],
            env=self.env, capture_output=True, text=True, check=True,
        ).stdout
        return int(json.loads(out)[0]["pid"])

    def bare_start(self) -> tuple[subprocess.Popen[bytes], float]:
        ready = self.home / "bare.ready"
        ready.unlink(missing_ok=True)
        # A bare discord.py client: no model SDK (bare_client.py loads it only with a model URL).
        env = {k: v for k, v in self.env.items() if k != "ANTHROPIC_BASE_URL"}
        env["BARE_TOKEN"] = "bench.bare.token-0123456789"
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "bare_client.py"), str(ready)], env=env)
        wait_for_file(ready)
        return proc, time.perf_counter() - start

    @staticmethod
    def bare_stop(proc: subprocess.Popen[bytes]) -> float:
        start = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        return time.perf_counter() - start


def rss_after_idle(pid: int, idle_seconds: float) -> int:
    time.sleep(idle_seconds)  # a benchmark measures a steady state; this is not a test
    return psutil.Process(pid).memory_info().rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idling before RSS is read")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, SandboxThread() as sandbox:
        stub = AnthropicStub()
        sandbox.run(stub.start())
        sandbox.add_bot("bench.bare.token-0123456789", "bare")
        bench = Bench(Path(tmp), sandbox, stub)
        bench.add_bot("alpha")

        spawn, stop, bare_ready, bare_stop, rss, bare_rss = [], [], [], [], [], []
        for _ in range(args.rounds):
            proc, elapsed = bench.bare_start()
            bare_ready.append(elapsed)
            bare_rss.append(rss_after_idle(proc.pid, args.idle))
            bare_stop.append(bench.bare_stop(proc))

            spawn.append(bench.cli("spawn", "alpha"))
            rss.append(rss_after_idle(bench.bot_pid("alpha"), args.idle))
            stop.append(bench.cli("stop", "alpha"))

        status_empty = [bench.cli("status") for _ in range(5)]
        for i in range(10):
            bench.add_bot(f"bot{i}")
        bench.cli("spawn", "--all")
        status_ten = [bench.cli("status") for _ in range(5)]
        bench.cli("stop", "--all")
        sandbox.run(stub.stop())

    med = statistics.median
    results = {
        "spawn_to_ready_s": {"framework": med(spawn), "bare_discord_py": med(bare_ready)},
        "stop_s": {"framework": med(stop), "bare_discord_py": med(bare_stop)},
        "idle_rss_mb": {"framework": med(rss) / 2**20, "bare_discord_py": med(bare_rss) / 2**20},
        "status_s": {"ten_bots": med(status_ten), "no_bots": med(status_empty), "budget": 0.300},
    }
    rows = [
        ("spawn to ready", "s", results["spawn_to_ready_s"]["framework"], results["spawn_to_ready_s"]["bare_discord_py"], "bare discord.py process start to on_ready"),
        ("stop", "s", results["stop_s"]["framework"], results["stop_s"]["bare_discord_py"], "bare client SIGTERM to exit"),
        ("idle RSS", "MB", results["idle_rss_mb"]["framework"], results["idle_rss_mb"]["bare_discord_py"], "bare discord.py client, connected"),
        ("status, 10 bots", "s", results["status_s"]["ten_bots"], results["status_s"]["budget"], "300 ms budget"),
        ("status, 10 bots", "s", results["status_s"]["ten_bots"], results["status_s"]["no_bots"], "status with no bot running"),
    ]
    print(f"{'measure':<18}{'framework':>12}{'baseline':>12}{'ratio':>8}  baseline")
    for name, unit, value, base, what in rows:
        print(f"{name:<18}{value:>10.3f} {unit:<2}{base:>9.3f} {unit:<2}{value / base:>7.2f}x  {what}")
    print(f"(median of {args.rounds} rounds; status median of 5 runs; RSS after {args.idle:.0f} s idle)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
