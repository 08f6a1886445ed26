"""Bots forked from the preloaded zygote, all real: keepers, the zygote, the bot runtime's
discord.py client against the loopback sandbox, the Anthropic SDK against its stub, signals.

Each test sets BOT_PRELOAD itself, so the fork path is tested whatever the suite's default.
"""

from __future__ import annotations

import importlib.util
import json
import re
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import framework
from framework.fsutil import read_json
from framework.paths import BotPaths
from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID, SandboxThread
from framework.supervisor.keeper_config import read_keeper_config
from framework.supervisor.zygote_client import ForkingOps
from tests.sandbox_helpers import kill_zygotes_of, wait_for
from tests.stubs.anthropic import BACKGROUND_REPLIES, AnthropicStub

from .conftest import write_bot

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SUPERVISOR = """\
supervisor:
  startsecs: 60
  startretries: 3
  backoff_initial_seconds: 0.05
  backoff_max_seconds: 0.1
  stopwaitsecs: 3
  ready_timeout_seconds: 60
"""
TOKENS = {"alpha": "sandbox.alpha.preload-token-0123", "beta": "sandbox.beta.preload-token-4567"}


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def is_zygote(pid: int) -> bool:
    return "framework.supervisor.zygote" in psutil.Process(pid).cmdline()


@dataclass
class World:
    home: Path
    sandbox: SandboxThread
    stub: AnthropicStub
    env: dict[str, str]
    bot_users: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(REPO / "bot_manager.py"), "--home", str(self.home), *args],
            env=self.env, capture_output=True, text=True, timeout=90, cwd=self.home,
        )

    def state(self, bot: str) -> dict[str, object]:
        data = read_json(self.home / "run" / f"{bot}.state.json")
        return data if isinstance(data, dict) else {}

    def running_pid(self, bot: str, restarts: int = 0) -> int | None:
        state = self.state(bot)
        if state.get("state") == "running" and state.get("restarts") == restarts:
            return int(state["child_pid"])  # type: ignore[arg-type]
        return None


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sandbox = SandboxThread().start()
    stub = AnthropicStub(model_replies=dict(BACKGROUND_REPLIES))
    sandbox.run(stub.start())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "GROQ_", "BOT_"))}
    env.update(
        DISCORD_API_BASE=sandbox.api_base, DISCORD_GATEWAY_URL=sandbox.gateway_url,
        ANTHROPIC_API_KEY="test-anthropic-key", ANTHROPIC_BASE_URL=stub.base_url,
        BOT_PRELOAD="1", BOT_ZYGOTE_IDLE_SECONDS="0.5",
    )
    users = {}
    for bot, token in TOKENS.items():
        write_bot(tmp_path, bot, f"{bot.upper()}_BOT_TOKEN", extra=SUPERVISOR)
        env[f"{bot.upper()}_BOT_TOKEN"] = token
        users[bot] = sandbox.add_bot(token, bot)
    world = World(tmp_path, sandbox, stub, env, users)
    try:
        yield world
    finally:
        world.cli("stop", "--all")
        kill_zygotes_of(tmp_path)  # one a failed test left behind
        sandbox.run(stub.stop())
        sandbox.stop()


def test_bots_fork_from_one_zygote_restart_by_fork_and_stop(world: World) -> None:
    world.stub.script.append({"content": [{"type": "text", "text": "pong from a forked bot"}]})
    spawned = world.cli("spawn", "--all")
    assert spawned.returncode == 0, spawned.stdout + spawned.stderr
    alpha, beta = (int(world.state(bot)["child_pid"]) for bot in ("alpha", "beta"))  # type: ignore[arg-type]
    zygote = psutil.Process(alpha).ppid()
    # Two keepers raced to start it: one zygote serves both bots, and it holds no thread.
    assert is_zygote(zygote) and psutil.Process(beta).ppid() == zygote
    assert os.listdir(f"/proc/{zygote}/task") == [str(zygote)]
    assert os.getpgid(alpha) == alpha and os.getsid(alpha) == alpha  # own session and group
    assert psutil.Process(alpha).cmdline() == psutil.Process(zygote).cmdline()  # forked, never exec'd

    # The forked bot is a whole bot: it answers a mention with the model's text.
    mark = len(world.sandbox.events())
    world.sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"<@{world.bot_users['alpha']}> ping?")
    reply = world.sandbox.wait_for_event(
        lambda e: e["type"] == "message" and e["author_id"] == world.bot_users["alpha"], timeout=20, since=mark
    )
    assert reply["content"] == "pong from a forked bot"

    [row] = [r for r in json.loads(world.cli("status", "--json").stdout) if r["name"] == "alpha"]
    assert (row["state"], row["pid"]) == ("running", alpha)
    # The keeper stays light: the config models were loaded in a fork of it, not in it.
    keeper_maps = Path(f"/proc/{row['keeper_pid']}/maps").read_text()
    assert "pydantic_core" not in keeper_maps and "pydantic_core" in Path(f"/proc/{alpha}/maps").read_text()
    assert row["rss_bytes"] > 0 and row["uptime_s"] is not None

    os.kill(alpha, signal.SIGKILL)
    again = wait_for(lambda: world.running_pid("alpha", restarts=1), "alpha running again after kill -9")
    assert again != alpha and psutil.Process(again).ppid() == zygote  # forked again, same zygote
    assert world.state("alpha")["last_exit_code"] == -signal.SIGKILL
    log = (world.home / "logs" / "alpha.log").read_text()
    assert "killed by SIGKILL" in log and log.count("alpha is ready") == 2

    stopped = world.cli("stop", "--all")
    assert stopped.returncode == 0, stopped.stderr
    assert gone(again) and gone(beta)
    assert world.state("alpha")["state"] == "stopped"
    assert "shutting down" in (world.home / "logs" / "alpha.log").read_text()  # SIGTERM: a clean shutdown
    wait_for(lambda: gone(zygote), "the idle zygote to exit")
    assert not (world.home / "run" / "zygote.sock").exists() or not _listening(world.home)


def _listening(home: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        try:
            sock.connect(str(home / "run" / "zygote.sock"))
        except OSError:
            return False
    return True


def test_a_killed_zygote_is_replaced_and_its_bot_restarted(world: World) -> None:
    spawned = world.cli("spawn", "alpha")
    assert spawned.returncode == 0, spawned.stdout + spawned.stderr
    first = world.running_pid("alpha")
    assert first is not None
    zygote = psutil.Process(first).ppid()
    os.kill(zygote, signal.SIGKILL)
    # The keeper stops the bot nobody can report on, and forks it from a new zygote.
    again = wait_for(lambda: world.running_pid("alpha", restarts=1), "alpha running from a new zygote", timeout=60)
    new_zygote = psutil.Process(again).ppid()  # type: ignore[arg-type]
    assert new_zygote != zygote and is_zygote(new_zygote)
    assert gone(first)
    log = (world.home / "logs" / "alpha.log").read_text()
    assert f"the zygote (pid {zygote}) went away" in log
    assert world.cli("stop", "alpha").returncode == 0


def test_preload_off_in_the_config_runs_a_fresh_interpreter(world: World) -> None:
    write_bot(world.home, "alpha", "ALPHA_BOT_TOKEN", extra=SUPERVISOR + "  preload: false\n")
    spawned = world.cli("spawn", "alpha")
    assert spawned.returncode == 0, spawned.stdout + spawned.stderr
    bot = world.running_pid("alpha")
    assert bot is not None
    keeper = psutil.Process(bot).ppid()
    assert "framework.supervisor.keeper" in psutil.Process(keeper).cmdline()
    assert psutil.Process(bot).cmdline()[-3:] == ["-m", "framework.runtime", "alpha"]
    assert os.getpgid(bot) == keeper  # the exec path: the bot lives in its keeper's group
    assert not (world.home / "run" / "zygote.sock").exists()
    assert world.cli("stop", "alpha").returncode == 0
    assert gone(bot)


PROBE = """\
import os, random, sys, threading
print(json.dumps({"random": random.random(), "urandom": os.urandom(8).hex(), "threads": threading.active_count(),
                  "preloaded": "anthropic" in sys.modules and "discord" in sys.modules,
                  "session_leader": os.getsid(0) == os.getpid(), "secret": os.environ.get("PROBE_SECRET"),
                  "cwd": os.getcwd(), "argv": sys.argv[1:]}), flush=True)
sys.exit(int(sys.argv[1]))
""".replace("import os", "import json, os")


def test_forked_children_get_their_own_rng_env_and_exit_codes(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BOT_")}, "BOT_ZYGOTE_IDLE_SECONDS": "0.5"}
    ops = ForkingOps(tmp_path, env, grace=1.0, notify=lambda line: pytest.fail(f"fell back to exec: {line}"))
    outputs: list[list[str]] = [[], []]
    try:
        children = [
            ops.spawn([sys.executable, "-u", str(probe), str(code)], cwd=tmp_path,
                      env={"PROBE_SECRET": f"s{code}", "PATH": os.environ["PATH"]}, on_output=outputs[code - 3].append)
            for code in (3, 4)
        ]
        for child in children:
            wait_for(lambda c=child: c.poll() is not None, "the probe to exit")
        codes = [child.poll() for child in children]
    finally:
        ops.close()
    assert codes == [3, 4]  # the zygote reports each child's own exit status
    first, second = (json.loads(out[0]) for out in outputs)
    assert first["random"] != second["random"] and first["urandom"] != second["urandom"]
    assert (first["threads"], first["preloaded"], first["session_leader"]) == (1, True, True)
    assert (first["secret"], second["secret"]) == ("s3", "s4")  # the environment of its own request only
    assert first["cwd"] == str(tmp_path) and first["argv"] == ["3"]
    zygote = ops.zygote.zygote_pid
    assert zygote is not None and os.listdir(f"/proc/{zygote}/task") == [str(zygote)]
    environ = psutil.Process(zygote).environ()
    assert "PROBE_SECRET" not in environ and not any("TOKEN" in name or "KEY" in name for name in environ)
    wait_for(lambda: gone(zygote), "the idle zygote to exit")


def test_the_zygote_imports_an_extra_when_the_first_bot_that_needs_it_asks(tmp_path: Path) -> None:
    """A bot without Groq keys or a health port is forked without waiting for those
    imports; the first that needs one has it imported before its fork, and it stays."""
    probe = tmp_path / "probe.py"
    probe.write_text("import sys\nprint('groq' in sys.modules, 'prometheus_client' in sys.modules)\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BOT_")}, "BOT_ZYGOTE_IDLE_SECONDS": "0.5"}
    seen = []
    for extras in ((), ("groq",), (), ("health",)):
        ops = ForkingOps(tmp_path, env, grace=1.0, notify=lambda line: pytest.fail(f"fell back to exec: {line}"),
                         extras=extras)
        output: list[str] = []
        try:
            child = ops.spawn([sys.executable, "-u", str(probe)], cwd=tmp_path, env={}, on_output=output.append)
            wait_for(lambda: child.poll() is not None, "the probe to exit")
        finally:
            ops.close()
        seen.append(output)
    assert seen == [["False False"], ["True False"], ["True False"], ["True True"]]
    assert "preloaded groq for the bots that use them" in (tmp_path / "logs" / "zygote.log").read_text()


@pytest.mark.parametrize(("yaml", "env", "extras"), [
    ("", {}, ()),
    ("", {"GROQ_API_KEY": "gsk-test-1"}, ("groq",)),
    ("", {"GROQ_API_KEY_2": "gsk-test-2"}, ("groq",)),
    ("", {"GROQ_API_KEY": " "}, ()),  # an empty key is no key, as for the router
    ("api: {fallback: {groq: {enabled: false}}}\n", {"GROQ_API_KEY": "gsk-test-1"}, ()),
    ("health: {port: 9109}\n", {}, ("health",)),
    ("", {"BOT_HEALTH_PORT": "9109"}, ("health",)),
    ("tools: {coding: {files: true}}\naccess: {mode: master_dm}\n", {}, ("coding",)),
])
def test_the_keeper_asks_for_the_extras_its_bot_will_import(
    tmp_path: Path, yaml: str, env: dict[str, str], extras: tuple[str, ...]
) -> None:
    write_bot(tmp_path, extra=yaml)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GROQ_", "BOT_HEALTH"))}
    config = read_keeper_config(BotPaths(tmp_path, "alpha"), tmp_path, {**base, "ALPHA_BOT_TOKEN": "x.y.z", **env})
    assert config.config_error is None
    assert config.extras == extras


def test_a_zygote_older_than_the_code_retires_and_a_fresh_one_forks(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BOT_")}, "BOT_ZYGOTE_IDLE_SECONDS": "0.5"}
    ops = ForkingOps(tmp_path, env, grace=1.0, notify=lambda line: pytest.fail(f"fell back to exec: {line}"))
    source = Path(framework.__file__).resolve().parent / "supervisor" / "zygote_protocol.py"
    before = source.stat()
    try:
        first = ops.spawn([sys.executable, str(probe), "0"], cwd=tmp_path, env={}, on_output=lambda line: None)
        wait_for(lambda: first.poll() is not None, "the first probe to exit")
        old_zygote = ops.zygote.zygote_pid
        os.utime(source, (time.time(), time.time()))  # what `git pull` does to a changed file
        second = ops.spawn([sys.executable, str(probe), "0"], cwd=tmp_path, env={}, on_output=lambda line: None)
        wait_for(lambda: second.poll() is not None, "the second probe to exit")
        assert second.poll() == 0
        new_zygote = ops.zygote.zygote_pid
        assert old_zygote is not None and new_zygote not in (None, old_zygote)
        wait_for(lambda: gone(old_zygote), "the stale zygote to retire")
        log = (tmp_path / "logs" / "zygote.log").read_text()
        assert f"zygote[{old_zygote}] framework source changed since start: retiring" in log
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
        ops.close()
    wait_for(lambda: gone(new_zygote), "the new zygote to exit when idle")  # type: ignore[arg-type]


def test_the_zygote_preloads_every_module_the_bot_process_imports() -> None:
    """What the bot's entry module imports is already loaded in the zygote: a module it
    lacked would be imported by every bot on its way to ready, each its own copy."""
    code = (
        "import importlib, sys, framework.runtime.preload\n"
        "before = set(sys.modules)\n"
        "importlib.import_module('framework.runtime.__main__')\n"
        "print(sorted(set(sys.modules) - before - {'framework.runtime.__main__'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_the_keeper_stays_light() -> None:
    """The keeper imports no SDK, discord.py, aiohttp or config models: the bots' libraries
    live in the zygote, and the config is read in a short-lived fork of the keeper."""
    code = (
        "import sys, framework.supervisor.keeper, framework.supervisor.zygote_client\n"
        "print(sorted(m for m in ('discord', 'anthropic', 'groq', 'openai', 'aiohttp', 'PIL', 'pydantic', 'ruamel')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("preload", "switch", "forks"), [
    (True, None, True), (True, "0", False), (True, "off", False), (True, "1", True), (False, None, False),
])
def test_preload_follows_the_config_and_the_environment_switch(
    tmp_path: Path, preload: bool, switch: str | None, forks: bool
) -> None:
    from framework.supervisor.keeper import LogSink, _process_ops
    from framework.supervisor.keeper_config import KeeperConfig
    from framework.supervisor.machine import KeeperSettings
    import logging

    environ = {} if switch is None else {"BOT_PRELOAD": switch}
    config = KeeperConfig(preload=preload)
    ops = _process_ops(tmp_path, environ, config, KeeperSettings(), LogSink(logging.NullHandler()))
    assert isinstance(ops, ForkingOps) is forks


def test_the_keeper_reads_its_config_in_a_fork(tmp_path: Path) -> None:

    write_bot(tmp_path, "alpha", "ALPHA_BOT_TOKEN", extra="supervisor: {stopwaitsecs: 4, preload: false}\n")
    paths = BotPaths(tmp_path, "alpha")
    config = read_keeper_config(paths, tmp_path, {"ALPHA_BOT_TOKEN": "token-value-0123456789"})
    assert config.config_error is None and config.settings is not None
    assert (config.settings.stopwaitsecs, config.preload, config.share) == (4.0, False, {})
    assert config.log_path == str(tmp_path / "logs" / "alpha.log")
    assert config.secrets == {"token-value-0123456789": "ALPHA_BOT_TOKEN"}

    paths.config.write_text("bot_id: alpha\nname: Alpha\n")  # no discord section
    broken = read_keeper_config(paths, tmp_path, {})
    assert broken.settings is None and broken.config_error == "bots/alpha.yaml: personality: required field is missing"


def test_the_next_zygote_finds_its_modules_where_the_first_recorded_them(tmp_path: Path) -> None:
    """The first zygote of a settled project has where its modules live and their code
    recorded; the next imports them from there, and the bots it forks run the same code."""
    probe = tmp_path / "probe.py"
    files = [importlib.util.find_spec(name).origin for name in ("discord", "anthropic")]  # type: ignore[union-attr]
    probe.write_text("import anthropic, discord\nprint(discord.__file__ == %r, anthropic.__file__ == %r)\n" % tuple(files))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BOT_")}, "BOT_ZYGOTE_IDLE_SECONDS": "0.2"}
    for folder in ("run", "logs"):
        (tmp_path / folder).mkdir()
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path, (an_hour_ago, an_hour_ago))  # the project folder is on the zygote's path
    log = tmp_path / "logs" / "zygote.log"
    seen = []
    for _ in range(2):
        ops = ForkingOps(tmp_path, env, grace=1.0, notify=lambda line: pytest.fail(f"fell back to exec: {line}"))
        output: list[str] = []
        try:
            child = ops.spawn([sys.executable, "-u", str(probe)], cwd=tmp_path, env={}, on_output=output.append)
            wait_for(lambda: child.poll() is not None, "the probe to exit")
            zygote = ops.zygote.zygote_pid
        finally:
            ops.close()
        wait_for(lambda: gone(zygote), "the idle zygote to exit")
        wait_for(lambda: "modules recorded in zygote.modules" in log.read_text(), "the record to be written")
        seen.append(output)
    assert seen == [["True True"], ["True True"]]
    first, second = [line for line in log.read_text().splitlines() if "ready in" in line]
    assert first.endswith("(modules searched for; recording them in zygote.modules)")
    found = re.search(r"\((\d+) modules found from zygote.modules, (\d+) with their code\)$", second)
    assert found is not None and int(found.group(1)) > 3000 and int(found.group(2)) > 3000, second

