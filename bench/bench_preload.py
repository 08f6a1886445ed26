"""Preloaded, forked bot processes against bare discord.py+anthropic bots, in the same run.

    .venv/bin/python bench/bench_preload.py [--rounds N] [--idle S] [--with-exec] [--json PATH]

The baseline is ``bench/bare_client.py`` with a model URL: a fresh interpreter that imports
discord.py and the anthropic SDK, builds an ``AsyncAnthropic`` client and a discord.py client
(``guild_ready_timeout`` 0.05 s, as the framework uses on a loopback server), connects and
writes a ready file from ``on_ready``. Measured, medians of the rounds:

* spawn to ready: ``bot_manager spawn alpha`` until it returns (the bot is connected), with
  the project's zygote already running (warm) and with none (cold: the first bot of a
  project starts the zygote, which preloads), against the bare bot's start to ``on_ready``;
* kill -9 to running again: SIGKILL to the bot process until its state file says
  ``running`` with a new pid (the keeper's restart, backoff 0), against the same baseline;
* PSS of one bot and its keeper (and with the zygote) against one bare bot;
* PSS of ten bots, all connected and idle (sum of ``/proc/<pid>/smaps_rollup`` Pss), and with
  the zygote and the ten keepers, against ten bare bots.

Cold is measured twice a round: first with the project's module record removed (its
zygote searches for every module and reads every bytecode cache, as the first zygote of a
project does, or the first after an upgrade; its helper then records them), then with the
record in ``run/zygote.modules``, as every later cold start finds it. The report says how
each zygote started (from its log).

``--with-exec`` also measures the same with ``BOT_PRELOAD=0`` (a fresh interpreter per bot).
Everything is offline: the sandbox Discord server and the Anthropic stub run in this process.
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
from typing import Callable

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from framework.sandbox import SandboxThread  # noqa: E402
from tests.stubs.anthropic import AnthropicStub  # noqa: E402

BOT_YAML = """\
bot_id: {bot}
name: "Bench {bot}"
discord:
  token_env_var: "{var}"
personality:
  base_prompt: "You are a benchmark bot."
supervisor:
  ready_timeout_seconds: 120
  stopwaitsecs: 10
  backoff_initial_seconds: 0
  startsecs: 1
"""


def pss(pid: int) -> int:
    """Proportional set size in bytes: shared pages divided among the processes sharing them."""
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss for pid {pid}")


def wait_until(condition: Callable[[], object], what: str, timeout: float = 120.0) -> object:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.002)
    return value


class Project:
    """A project folder with bots, driven through the real CLI."""

    def __init__(self, home: Path, sandbox: SandboxThread, stub: AnthropicStub, preload: bool) -> None:
        self.home = home
        self.sandbox = sandbox
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "BOT_"))}
        self.env.update(
            DISCORD_API_BASE=sandbox.api_base, DISCORD_GATEWAY_URL=sandbox.gateway_url,
            ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=stub.base_url,
            BOT_PRELOAD="1" if preload else "0",
        )

    def add_bot(self, bot: str) -> None:
        var = f"{bot.upper()}_BOT_TOKEN"
        token = f"bench.{self.home.name}.{bot}.token-0123456789"
        self.sandbox.add_bot(token, bot)
        self.env[var] = token
        (self.home / "bots").mkdir(parents=True, exist_ok=True)
        (self.home / "bots" / f"{bot}.yaml").write_text(BOT_YAML.format(bot=bot, var=var))

    def cli(self, *args: str) -> float:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(REPO / "bot_manager.py"), "--home", str(self.home), *args],
            env=self.env, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"bot_manager {' '.join(args)} failed: {result.stdout}{result.stderr}")
        return time.perf_counter() - start

    def state(self, bot: str) -> dict[str, object]:
        try:
            data = json.loads((self.home / "run" / f"{bot}.state.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def bot_pid(self, bot: str) -> int:
        return int(self.state(bot)["child_pid"])  # type: ignore[arg-type]

    def keeper_pid(self, bot: str) -> int:
        return int(json.loads((self.home / "run" / f"{bot}.pid").read_text())["pid"])

    @property
    def record(self) -> Path:
        return self.home / "run" / "zygote.modules"

    def zygote_pid(self) -> int | None:
        for proc in psutil.process_iter(["cmdline", "cwd"]):
            try:
                if proc.info["cwd"] == str(self.home) and "framework.supervisor.zygote" in (proc.info["cmdline"] or []):
                    return proc.pid
            except psutil.Error:
                continue
        return None

    def stop_zygote(self) -> None:
        pid = self.zygote_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            psutil.Process(pid).wait(10)

    def restart_after_kill(self, bot: str) -> float:
        old = self.bot_pid(bot)
        start = time.perf_counter()
        os.kill(old, signal.SIGKILL)

        def running_again() -> bool:
            state = self.state(bot)
            return state.get("state") == "running" and state.get("child_pid") not in (None, old)

        wait_until(running_again, f"{bot} running again")
        return time.perf_counter() - start


class BareBots:
    """Bare discord.py+anthropic bots, each a fresh interpreter."""

    def __init__(self, home: Path, sandbox: SandboxThread, stub: AnthropicStub) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_"))}
        self.env.update(DISCORD_API_BASE=sandbox.api_base, DISCORD_GATEWAY_URL=sandbox.gateway_url,
                        ANTHROPIC_BASE_URL=stub.base_url)
        self.tokens = [f"bench.bare{i}.token-0123456789" for i in range(10)]
        for i, token in enumerate(self.tokens):
            sandbox.add_bot(token, f"bare{i}")
        home.mkdir(parents=True, exist_ok=True)

    def start(self, index: int) -> tuple[subprocess.Popen[bytes], Path, float]:
        ready = self.home / f"bare{index}.ready"
        ready.unlink(missing_ok=True)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "bare_client.py"), str(ready)],
                                env={**self.env, "BARE_TOKEN": self.tokens[index]})
        return proc, ready, start

    def start_to_ready(self) -> tuple[subprocess.Popen[bytes], float]:
        proc, ready, start = self.start(0)
        wait_until(ready.exists, "bare bot ready")
        return proc, time.perf_counter() - start

    @staticmethod
    def stop(procs: list[subprocess.Popen[bytes]]) -> None:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)


def measure_one(project: Project, bare: BareBots, rounds: int, idle: float, preload: bool) -> dict[str, list[float]]:
    project.add_bot("alpha")
    # Warm-up, not measured: the first start of each side pays for cold file caches.
    proc, _ = bare.start_to_ready()
    bare.stop([proc])
    project.cli("spawn", "alpha")
    project.cli("stop", "alpha")
    out: dict[str, list[float]] = {k: [] for k in ("bare_ready", "spawn_warm", "spawn_cold", "spawn_cold_unrecorded",
                                                   "restart", "bare_pss", "bot_keeper_pss", "bot_keeper_zygote_pss")}
    for _ in range(rounds):
        proc, elapsed = bare.start_to_ready()
        out["bare_ready"].append(elapsed)
        time.sleep(idle)  # a steady state to measure, not a wait for behaviour
        out["bare_pss"].append(pss(proc.pid))
        bare.stop([proc])

        if preload:
            # The first zygote of a project (or after an upgrade) has no module record yet:
            # it searches, and its helper records them for the next.
            project.stop_zygote()
            project.record.unlink(missing_ok=True)
            out["spawn_cold_unrecorded"].append(project.cli("spawn", "alpha"))
            project.cli("stop", "alpha")
            wait_until(project.record.exists, "the module record")
            project.stop_zygote()
            out["spawn_cold"].append(project.cli("spawn", "alpha"))
            project.cli("stop", "alpha")
        out["spawn_warm"].append(project.cli("spawn", "alpha"))
        out["restart"].append(project.restart_after_kill("alpha"))
        time.sleep(idle)
        one = pss(project.bot_pid("alpha")) + pss(project.keeper_pid("alpha"))
        out["bot_keeper_pss"].append(one)
        zygote = project.zygote_pid()
        out["bot_keeper_zygote_pss"].append(one + (pss(zygote) if zygote else 0))
        project.cli("stop", "alpha")
    return out


def zygote_starts(project: Project) -> list[str]:
    """How each zygote of the project started: its log's ``ready in`` lines, the time and
    what it did about the module record (searched and recorded, or found from it)."""
    log = project.home / "logs" / "zygote.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.partition("] ")[2] for line in lines if "] ready in " in line]


def measure_ten(project: Project, bare: BareBots, idle: float) -> dict[str, float]:
    procs = [bare.start(i) for i in range(10)]
    for _proc, ready, _start in procs:
        wait_until(ready.exists, "ten bare bots ready", timeout=300)
    time.sleep(idle)
    bare_total = sum(pss(proc.pid) for proc, _r, _s in procs)
    bare.stop([proc for proc, _r, _s in procs])

    bots = [f"bot{i}" for i in range(10)]
    (project.home / "bots" / "alpha.yaml").unlink()  # ten bots exactly: `spawn --all` starts every config
    for bot in bots:
        project.add_bot(bot)
    spawn_all = project.cli("spawn", "--all")
    time.sleep(idle)
    bots_total = sum(pss(project.bot_pid(bot)) for bot in bots)
    keepers_total = sum(pss(project.keeper_pid(bot)) for bot in bots)
    zygote = project.zygote_pid()
    zygote_pss = pss(zygote) if zygote else 0
    project.cli("stop", "--all")
    return {"bare_total": bare_total, "bots_total": bots_total, "keepers_total": keepers_total,
            "zygote": zygote_pss, "spawn_all_s": spawn_all}


def summarise(one: dict[str, list[float]], ten: dict[str, float]) -> dict[str, object]:
    med = statistics.median
    mb = 2**20
    bare_ready = med(one["bare_ready"])
    bare_pss = med(one["bare_pss"])
    result: dict[str, object] = {
        "bare_start_to_ready_s": bare_ready,
        "spawn_to_ready_warm_s": med(one["spawn_warm"]),
        "spawn_to_ready_warm_ratio": med(one["spawn_warm"]) / bare_ready,
        "kill9_to_running_s": med(one["restart"]),
        "kill9_to_running_ratio": med(one["restart"]) / bare_ready,
        "bare_pss_mb": bare_pss / mb,
        "bot_and_keeper_pss_mb": med(one["bot_keeper_pss"]) / mb,
        "bot_and_keeper_pss_ratio": med(one["bot_keeper_pss"]) / bare_pss,
        "bot_keeper_zygote_pss_mb": med(one["bot_keeper_zygote_pss"]) / mb,
        "bot_keeper_zygote_pss_ratio": med(one["bot_keeper_zygote_pss"]) / bare_pss,
        "ten_bare_pss_mb": ten["bare_total"] / mb,
        "ten_bots_pss_mb": ten["bots_total"] / mb,
        "ten_bots_pss_ratio": ten["bots_total"] / ten["bare_total"],
        "ten_bots_keepers_zygote_pss_mb": (ten["bots_total"] + ten["keepers_total"] + ten["zygote"]) / mb,
        "ten_bots_keepers_zygote_pss_ratio": (ten["bots_total"] + ten["keepers_total"] + ten["zygote"]) / ten["bare_total"],
        "ten_keepers_pss_mb": ten["keepers_total"] / mb,
        "zygote_pss_mb": ten["zygote"] / mb,
        "spawn_ten_s": ten["spawn_all_s"],
        "rounds": {k: v for k, v in one.items()},
    }
    if one["spawn_cold"]:
        result["spawn_to_ready_cold_s"] = med(one["spawn_cold"])
        result["spawn_to_ready_cold_ratio"] = med(one["spawn_cold"]) / bare_ready
        result["spawn_to_ready_cold_unrecorded_s"] = med(one["spawn_cold_unrecorded"])
        result["spawn_to_ready_cold_unrecorded_ratio"] = med(one["spawn_cold_unrecorded"]) / bare_ready
    return result


def report(name: str, res: dict[str, object]) -> None:
    rows = [
        ("spawn to ready, zygote warm", "spawn_to_ready_warm_s", "spawn_to_ready_warm_ratio", "1.0x"),
        ("spawn to ready, zygote cold", "spawn_to_ready_cold_s", "spawn_to_ready_cold_ratio", "1.0x"),
        ("  ... and no module record yet", "spawn_to_ready_cold_unrecorded_s", "spawn_to_ready_cold_unrecorded_ratio",
         "-"),
        ("kill -9 to running again", "kill9_to_running_s", "kill9_to_running_ratio", "0.5x"),
        ("one bot + keeper PSS", "bot_and_keeper_pss_mb", "bot_and_keeper_pss_ratio", "1.2x"),
        ("one bot + keeper + zygote PSS", "bot_keeper_zygote_pss_mb", "bot_keeper_zygote_pss_ratio", "-"),
        ("ten bots PSS", "ten_bots_pss_mb", "ten_bots_pss_ratio", "0.5x"),
        ("ten bots + keepers + zygote PSS", "ten_bots_keepers_zygote_pss_mb", "ten_bots_keepers_zygote_pss_ratio", "-"),
    ]
    print(f"\n{name}  (bare bot: start to on_ready {res['bare_start_to_ready_s']:.3f} s, PSS {res['bare_pss_mb']:.1f} MB; "
          f"ten bare bots {res['ten_bare_pss_mb']:.1f} MB)")
    print(f"{'measure':<34}{'value':>10}{'ratio':>9}{'target':>8}")
    for label, value_key, ratio_key, target in rows:
        if "spawn_to_ready_cold_s" not in res:  # exec: every start is the same, and there is no zygote
            label = label.replace(", zygote warm", "")
        if value_key in res:
            print(f"{label:<34}{res[value_key]:>10.3f}{res[ratio_key]:>8.2f}x{target:>8}")
    starts = res.get("zygote_starts") or []
    if starts:
        found = sum("found from" in line for line in starts)  # type: ignore[union-attr]
        print(f"zygote starts: {len(starts)}, {found} with the module record; the first: {starts[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds connected and idle before PSS is read")
    parser.add_argument("--with-exec", action="store_true", help="also measure BOT_PRELOAD=0")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp, SandboxThread() as sandbox:
        stub = AnthropicStub()
        sandbox.run(stub.start())
        bare = BareBots(Path(tmp) / "bare", sandbox, stub)
        modes = [("preload", True)] + ([("exec", False)] if args.with_exec else [])
        for name, preload in modes:
            project = Project(Path(tmp) / name, sandbox, stub, preload)
            one = measure_one(project, bare, args.rounds, args.idle, preload)
            ten = measure_ten(project, bare, args.idle)
            project.stop_zygote()
            results[name] = summarise(one, ten)
            results[name]["zygote_starts"] = zygote_starts(project)  # type: ignore[index]
            report(name, results[name])  # type: ignore[arg-type]
        sandbox.run(stub.stop())
    print(f"\n(medians of {args.rounds} rounds; PSS after {args.idle:g} s connected and idle)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
