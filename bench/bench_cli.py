"""CLI start-up: `bot_manager status` with ten bots running, against baselines measured in the same run.

    .venv/bin/python bench/bench_cli.py [--runs 30] [--with-pm2] [--json PATH]

Ten framework bots are spawned against the loopback sandbox (and the Anthropic stand-in),
so ``status`` reads ten state files, ten usage ledgers and ten live processes. Measured,
as wall time of the whole command from fork to exit (median of ``--runs``, runs of every
command interleaved so a busy machine slows all of them alike):

* ``bot_manager status`` (the table, stdout piped), ``status --json``, ``list``,
  ``logs BOT`` and ``stop`` of a bot that is not running;
* ``status`` right after every config was edited (the config facts are recomputed once);
* baselines: ``python -c pass`` (the interpreter alone, the floor of any Python CLI), the
  300 ms budget, and with ``--with-pm2`` ``pm2 status`` with ten processes: PM2 is
  installed from the npm registry into a temporary folder (``npm install --prefix``), with
  its own ``PM2_HOME``, and ten ``sleep`` processes are started under it.

The commands run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed), as on
any installed machine, and one warm-up run each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.stubs.anthropic import AnthropicStub  # noqa: E402
from framework.sandbox import SandboxThread  # noqa: E402

BOTS = 10
BOT_YAML = """\
bot_id: {bot}
name: "Bench {bot}"
description: "one of ten benchmark bots"
discord:
  token_env_var: "{var}"
personality:
  base_prompt: "You are a benchmark bot."
reactive:
  check_interval_seconds: 3600
supervisor:
  ready_timeout_seconds: 120
"""


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bot_manager(from_checkout: bool = False) -> list[str]:
    """The installed console script, as people run it; or this checkout's bot_manager.py
    (``--from-checkout``: two checkouts compared with one virtualenv)."""
    script = Path(sys.executable).parent / "bot_manager"
    if script.exists() and not from_checkout:
        return [str(script)]
    return [sys.executable, str(REPO / "bot_manager.py")]


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
    return elapsed


class Pm2:
    """PM2 from the npm registry in a throwaway folder, its daemon there too."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = dict(os.environ, PM2_HOME=str(folder / "home"))
        self.bin = folder / "node_modules" / ".bin" / "pm2"

    def install(self) -> None:
        if shutil.which("npm") is None:
            raise SystemExit("--with-pm2 needs npm (and node) on the PATH")
        progress("installing pm2 from the npm registry")
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(self.folder), "pm2"],
                       check=True, stdout=subprocess.DEVNULL)

    def start(self, count: int) -> None:
        for i in range(count):
            subprocess.run([str(self.bin), "start", "/bin/sleep", "--name", f"sleeper{i}", "--", "100000"],
                           env=self.env, check=True, stdout=subprocess.DEVNULL)

    def status_cmd(self) -> list[str]:
        return [str(self.bin), "status"]

    def kill(self) -> None:
        subprocess.run([str(self.bin), "kill"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def interleaved(commands: dict[str, Callable[[], float]], runs: int) -> dict[str, float]:
    """Median seconds of each command, one run of each per round."""
    for run in commands.values():
        run()  # warm-up: bytecode caches, the config facts, the page cache
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, run in commands.items():
            samples[name].append(run())
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--with-pm2", action="store_true", help="install PM2 with npm and compare with `pm2 status`")
    parser.add_argument("--from-checkout", action="store_true",
                        help="run this checkout's bot_manager.py instead of the installed console script")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cli = bot_manager(args.from_checkout)
    with tempfile.TemporaryDirectory() as tmp, SandboxThread() as sandbox:
        home = Path(tmp) / "home"
        (home / "bots").mkdir(parents=True)
        stub = AnthropicStub()
        sandbox.run(stub.start())
        env.update(DISCORD_API_BASE=sandbox.api_base, DISCORD_GATEWAY_URL=sandbox.gateway_url,
                   ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=stub.base_url)
        bots = [f"bot{i}" for i in range(BOTS)]
        for bot in bots:
            var = f"{bot.upper()}_BOT_TOKEN"
            env[var] = f"bench.{bot}.token-0123456789"
            sandbox.add_bot(env[var], bot)
            (home / "bots" / f"{bot}.yaml").write_text(BOT_YAML.format(bot=bot, var=var))
        pm2 = Pm2(Path(tmp) / "pm2") if args.with_pm2 else None
        try:
            if pm2 is not None:
                pm2.install()
                pm2.start(BOTS)
            progress(f"spawning {BOTS} bots")
            subprocess.run([*cli, "--home", str(home), "spawn", "--all"], env=env, check=True, capture_output=True)
            # An eleventh bot, configured and stopped: what `stop` of a bot that is not running reads.
            (home / "bots" / "idle.yaml").write_text(BOT_YAML.format(bot="idle", var="IDLE_BOT_TOKEN"))
            base = [*cli, "--home", str(home)]
            commands: dict[str, Callable[[], float]] = {
                "python -c pass": lambda: timed([sys.executable, "-c", "pass"], env),
                "status": lambda: timed([*base, "status"], env),
                "status --json": lambda: timed([*base, "status", "--json"], env),
                "list": lambda: timed([*base, "list"], env),
                "logs bot0": lambda: timed([*base, "logs", "bot0"], env),
                "stop idle (not running)": lambda: timed([*base, "stop", "idle"], env),
            }
            if pm2 is not None:
                commands["pm2 status"] = lambda: timed(pm2.status_cmd(), pm2.env)
            progress(f"measuring ({args.runs} runs of each, interleaved)")
            medians = interleaved(commands, args.runs)

            def edited_status() -> float:
                for bot in bots:  # a new version of every config: the facts are recomputed
                    path = home / "bots" / f"{bot}.yaml"
                    path.write_text(path.read_text() + "# edited\n")
                return timed([*base, "status"], env)

            medians["status after editing every config"] = statistics.median(edited_status() for _ in range(5))
        finally:
            subprocess.run([*cli, "--home", str(home), "stop", "--all"], env=env, capture_output=True)
            if pm2 is not None:
                pm2.kill()
            sandbox.run(stub.stop())

    status = medians["status"]
    results: dict[str, object] = {
        "median_s": medians,
        "runs": args.runs,
        "bots_running": BOTS,
        "status_vs_budget_300ms": status / 0.300,
        "status_vs_python_pass": status / medians["python -c pass"],
    }
    print(f"{'command (10 bots running)':<36}{'median':>10}")
    for name, value in medians.items():
        print(f"{name:<36}{value * 1000:>8.1f} ms")
    print(f"status: {status / 0.300:.2f}x the 300 ms budget, {status / medians['python -c pass']:.2f}x `python -c pass`")
    if "pm2 status" in medians:
        results["status_vs_pm2_status"] = status / medians["pm2 status"]
        print(f"status: {status / medians['pm2 status']:.2f}x `pm2 status` with {BOTS} processes (target: at most 0.6x)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
