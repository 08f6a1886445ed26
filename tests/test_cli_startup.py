"""The quick verbs start quickly: only the invoked verb's module, no pydantic or ruamel
while a config is unchanged (its facts are cached by file version), Rich only to draw,
and each process read once per ``status``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import typer.main

from framework.cli import ALL_MODULES, COMMAND_MODULES, app, build_app, verb_of
from framework.config import facts as facts_module
from framework.config.facts import ConfigFacts, config_facts
from framework.paths import config_facts_file
from framework.supervisor import readings
from framework.supervisor.statusview import collect_status

REPO = Path(__file__).resolve().parent.parent


def write_bot(home: Path, bot_id: str = "alpha", extra: str = "") -> Path:
    (home / "bots").mkdir(parents=True, exist_ok=True)
    path = home / "bots" / f"{bot_id}.yaml"
    path.write_text(
        f"bot_id: {bot_id}\nname: Bot {bot_id}\ndescription: the {bot_id} bot\n"
        f"discord: {{token_env_var: {bot_id.upper()}_TOKEN}}\npersonality: {{base_prompt: 'be brief'}}\n{extra}"
    )
    return path


# -- the verb table ---------------------------------------------------------------------


def commands_of(app_: typer.Typer) -> set[str]:
    return set(typer.main.get_command(app_).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", ALL_MODULES)
def test_each_module_registers_exactly_the_verbs_the_table_gives_it(module: str) -> None:
    assert commands_of(build_app((module,))) == {verb for verb, home in COMMAND_MODULES.items() if home == module}


def test_the_full_app_has_every_verb_of_the_table() -> None:
    assert commands_of(app) == set(COMMAND_MODULES)


@pytest.mark.parametrize(
    ("argv", "verb"),
    [
        (["status"], "status"),
        (["status", "--json"], "status"),
        (["--home", "/srv/bots", "logs", "alpha", "-f"], "logs"),
        (["--home=/srv/bots", "stop", "--all"], "stop"),
        (["list", "--help"], "list"),
        ([], None),
        (["--help"], None),
        (["--version"], None),
        (["--home"], None),
        (["--install-completion"], None),
        (["statuz"], None),  # the full app says "No such command" and suggests status
    ],
)
def test_the_verb_is_read_from_the_command_line(argv: list[str], verb: str | None) -> None:
    assert verb_of(argv) == verb


# -- what a quick verb imports ----------------------------------------------------------

PROBE = """
import json, sys
sys.argv = ["bot_manager", *json.loads(sys.argv[1])]
from framework.cli import main
try:
    main()
except SystemExit:
    pass
with open({out!r}, "w") as fh:
    json.dump(sorted(sys.modules), fh)
"""

HEAVY = {"pydantic", "pydantic_settings", "ruamel", "yaml", "asyncio", "anthropic", "groq", "openai", "discord", "aiohttp",
         "aiosqlite", "PIL", "prometheus_client", "httpx", "httpx2"}
OTHER_VERBS = {f"framework.cli.{m}" for m in ALL_MODULES if m != "supervise"}


def modules_after(home: Path, tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k != "BOT_HOME"}
    subprocess.run([sys.executable, "-c", PROBE.format(out=str(out)), json.dumps(["--home", str(home), *args])],
                   env=env, cwd=REPO, check=True, capture_output=True, timeout=60)
    return set(json.loads(out.read_text()))


def roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.slow
def test_the_quick_verbs_import_only_what_they_need(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_bot(home)
    (home / "logs").mkdir()
    (home / "logs" / "alpha.log").write_text("2026-01-01 10:00:00 INFO started\n")
    first = modules_after(home, tmp_path, "status", "--json")
    assert "pydantic" in roots(first)  # the first look at a config runs the real loader once

    no_typer = {"typer", "click", "rich", "shellingham", "pygments", "markdown_it"}  # status runs without the Typer app
    cases = {
        ("status", "--json"): no_typer,
        ("status",): no_typer,  # the table is plain text
        ("status", "alpha", "--sample", "0"): no_typer,
        ("status", "nobody"): no_typer,  # the unknown-bot error too
        ("list", "--json"): {"rich"},
        ("logs", "alpha"): {"rich", "psutil", "sqlite3"},
        ("stop", "alpha"): set(),  # "alpha is not running", through the Rich console
    }
    for args, also_absent in cases.items():
        loaded = modules_after(home, tmp_path, *args)
        assert roots(loaded) & (HEAVY | also_absent) == set(), args
        assert loaded & OTHER_VERBS == set(), args
    # What the fast path does not read goes to the Typer app, whose help is Typer's.
    assert "typer" in roots(modules_after(home, tmp_path, "status", "--help"))


# -- the config facts -----------------------------------------------------------------


def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loads: list[str] = []
    compute = facts_module._compute

    def counting(home: Path, bot_id: str) -> ConfigFacts:
        loads.append(bot_id)
        return compute(home, bot_id)

    monkeypatch.setattr(facts_module, "_compute", counting)
    return loads


def test_facts_are_computed_once_per_version_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_bot(tmp_path, extra="health: {port: 9464}\nsupervisor: {stopwaitsecs: 4}\n")
    write_bot(tmp_path, "beta", extra="supervisor: {preload: false}\n")
    loads = count_loads(monkeypatch)
    first = config_facts(tmp_path, ["alpha", "beta"])
    assert first["alpha"] == ConfigFacts(log_file="logs/alpha.log", stopwaitsecs=4.0, name="Bot alpha",
                                         description="the alpha bot", health_urls=("http://127.0.0.1:9464/",))
    assert first["alpha"].preload and not first["beta"].preload  # beta: supervisor.preload false
    assert config_facts(tmp_path, ["alpha", "beta"]) == first
    assert sorted(loads) == ["alpha", "beta"]

    # Same size, and the modification time put back: the change time still tells.
    stat = path.stat()
    path.write_text(path.read_text().replace("9464", "9465"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert config_facts(tmp_path, ["alpha", "beta"])["alpha"].health_url() == "http://127.0.0.1:9465/"
    assert sorted(loads) == ["alpha", "alpha", "beta"]


def test_the_facts_of_a_bot_split_into_shard_processes(tmp_path: Path) -> None:
    split = "discord: {token_env_var: ALPHA_TOKEN, shards: {count: 4, processes: 2}}\n"
    path = write_bot(tmp_path, extra="health: {port: 9100}\n")
    path.write_text(path.read_text().replace("discord: {token_env_var: ALPHA_TOKEN}\n", split))
    facts = config_facts(tmp_path, ["alpha"])["alpha"]
    assert (facts.shard_processes, facts.shard_count) == (2, 4)
    assert [facts.health_url(k) for k in (0, 1, 2)] == ["http://127.0.0.1:9100/", "http://127.0.0.1:9101/", None]
    # Broken elsewhere, the split still reads from the YAML: the processes' logs are found.
    path.write_text(path.read_text() + "reactive: {nonsense: 1}\n")
    broken = config_facts(tmp_path, ["alpha"])["alpha"]
    assert not broken.valid and (broken.shard_processes, broken.shard_count) == (2, 4)


def test_a_config_that_stops_loading_and_is_fixed_is_seen_each_time(tmp_path: Path) -> None:
    path = write_bot(tmp_path)
    good = path.read_text()
    assert config_facts(tmp_path, ["alpha"])["alpha"].valid
    path.write_text(good + "reactive: {nonsense: 1}\n")
    broken = config_facts(tmp_path, ["alpha"])["alpha"]
    assert not broken.valid and "reactive.nonsense: unknown key" in (broken.error or "")
    # The verbs still know where its log is and how long a stop waits.
    assert (broken.log_file, broken.stopwaitsecs) == ("logs/alpha.log", 10.0)
    path.write_text(good)
    assert config_facts(tmp_path, ["alpha"])["alpha"].valid


def test_a_change_to_the_loader_recomputes_every_bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_bot(tmp_path)
    config_facts(tmp_path, ["alpha"])
    loads = count_loads(monkeypatch)
    monkeypatch.setattr(facts_module, "_loader_signature", lambda: "models.py:1:2")
    config_facts(tmp_path, ["alpha"])
    config_facts(tmp_path, ["alpha"])
    assert loads == ["alpha"]


@pytest.mark.parametrize("stored", ["not json", '{"format": 2, "loader": "x"}', '{"format": 1, "bots": {}}'])
def test_an_unreadable_or_old_cache_is_recomputed(tmp_path: Path, stored: str) -> None:
    write_bot(tmp_path)
    config_facts_file(tmp_path).parent.mkdir(parents=True)
    config_facts_file(tmp_path).write_text(stored)
    assert config_facts(tmp_path, ["alpha"])["alpha"].name == "Bot alpha"
    assert json.loads(config_facts_file(tmp_path).read_text())["format"] == 2


def test_a_cache_entry_of_another_shape_is_recomputed(tmp_path: Path) -> None:
    write_bot(tmp_path)
    config_facts(tmp_path, ["alpha"])
    data = json.loads(config_facts_file(tmp_path).read_text())
    del data["bots"]["alpha"]["facts"]["health_urls"]
    config_facts_file(tmp_path).write_text(json.dumps(data))
    assert config_facts(tmp_path, ["alpha"])["alpha"].health_url() is None
    assert "health_urls" in json.loads(config_facts_file(tmp_path).read_text())["bots"]["alpha"]["facts"]


def test_a_project_folder_that_cannot_be_written_still_gets_answers(tmp_path: Path) -> None:
    write_bot(tmp_path)
    (tmp_path / "run").write_text("a file where the run folder should be")
    assert config_facts(tmp_path, ["alpha"])["alpha"].name == "Bot alpha"
    assert config_facts(tmp_path, ["alpha"])["alpha"].name == "Bot alpha"


# -- one read of each process -----------------------------------------------------------


def test_status_reads_each_process_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_bot(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keeper = psutil.Process()
        run = tmp_path / "run"
        run.mkdir()
        (run / "alpha.pid").write_text(json.dumps({"pid": keeper.pid, "create_time": keeper.create_time()}))
        (run / "alpha.state.json").write_text(json.dumps({"state": "running", "child_pid": child.pid, "restarts": 0}))
        reads: list[int] = []
        read = readings._read_process

        def counting(pid: int):  # type: ignore[no-untyped-def]
            reads.append(pid)
            return read(pid)

        monkeypatch.setattr(readings, "_read_process", counting)
        [row] = collect_status(tmp_path, ["alpha"])
        assert (row.state, row.pid, row.keeper_pid) == ("running", child.pid, keeper.pid)
        assert row.rss_bytes is not None and row.rss_bytes > 0 and row.cpu_percent is not None
        assert sorted(reads) == sorted([keeper.pid, child.pid])
    finally:
        child.kill()
        child.wait()
