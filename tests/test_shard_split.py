"""A bot split into shard processes (``discord.shards.processes``): how the shards are
split, which process a process is, its files, what its keeper hands it, what ``status``
lists, and the locks that keep a whole copy of the bot away from its shard processes."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext

from framework.config.shards import ShardPlan, ShardsConfig, shard_plan, shard_process_index
from framework.domain.shards import EVERY_SHARD, ShardScope
from framework.errors import ConfigError
from framework.paths import BotPaths, shard_process_file, split_process_name
from framework.runtime.__main__ import _single_instance_lock
from framework.shard_split import process_shard_ids
from framework.supervisor.shares import SHARE_VARS, process_names, shard_process_env, started_process_names
from framework.supervisor.statusview import collect_status

from .conftest import write_bot

# -- the split ------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "processes"), [(2, 2), (5, 2), (16, 3), (7, 7), (64, 5)])
def test_the_blocks_cover_every_shard_once_and_are_as_even_as_can_be(count: int, processes: int) -> None:
    blocks = [process_shard_ids(count, processes, k) for k in range(processes)]
    assert [s for block in blocks for s in block] == list(range(count))
    sizes = {len(block) for block in blocks}
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_process_k_runs_its_block_whatever_started_it() -> None:
    shards = ShardsConfig(count=5, processes=2)
    assert shard_plan(shards, {"BOT_SHARD_PROCESS": "0"}) == ShardPlan(5, (0, 1))
    assert shard_plan(shards, {"BOT_SHARD_PROCESS": "1"}) == ShardPlan(5, (2, 3, 4))
    # The keeper spells the share out too; the same values are accepted.
    env = {"BOT_SHARD_PROCESS": "1", "DISCORD_SHARD_COUNT": "5", "DISCORD_SHARD_IDS": "2,3,4"}
    assert shard_plan(shards, env) == ShardPlan(5, (2, 3, 4))


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, ["discord.shards.processes is 2", "BOT_SHARD_PROCESS", "run BOT@0"]),
        ({"BOT_SHARD_PROCESS": "2"}, ["BOT_SHARD_PROCESS='2'", "0 to 1"]),
        ({"BOT_SHARD_PROCESS": "one"}, ["BOT_SHARD_PROCESS='one'"]),
        ({"BOT_SHARD_PROCESS": "0", "DISCORD_SHARD_COUNT": "8"}, ["DISCORD_SHARD_COUNT='8'", "discord.shards.count (4)"]),
        ({"BOT_SHARD_PROCESS": "0", "DISCORD_SHARD_IDS": "2,3"}, ["DISCORD_SHARD_IDS='2,3'", "shard process 0 (0,1)"]),
    ],
)
def test_a_shard_process_that_does_not_know_its_share_stops_with_one_line(env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        shard_plan(ShardsConfig(count=4, processes=2), env)
    message = str(caught.value)
    assert "\n" not in message
    for name in names:
        assert name in message


def test_an_unsplit_bot_refuses_a_shard_process_index() -> None:
    assert shard_process_index(ShardsConfig(count=2), {"BOT_SHARD_PROCESS": "0"}) is None
    with pytest.raises(ConfigError, match="processes is 1; unset BOT_SHARD_PROCESS"):
        shard_process_index(ShardsConfig(count=2), {"BOT_SHARD_PROCESS": "1"})


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"count": "auto", "processes": 2}, "needs a numeric discord.shards.count"),
        ({"processes": 2}, "needs a numeric discord.shards.count"),
        ({"count": 2, "processes": 3}, "more than discord.shards.count (2)"),
        ({"count": 4, "ids": [0], "processes": 2}, "keep one of them"),
    ],
)
def test_the_config_refuses_a_split_that_cannot_work(fields: dict[str, object], text: str) -> None:
    with pytest.raises(ValidationError, match=text.replace("(", r"\(").replace(")", r"\)")):
        ShardsConfig(**fields)  # type: ignore[arg-type]


def test_a_process_owns_the_guilds_of_its_shards_and_dms_only_with_shard_0() -> None:
    guild_on_0, guild_on_1 = str(2 << 22), str(3 << 22)
    first, second = ShardScope(2, (0,)), ShardScope(2, (1,))
    assert first.owns_guild(guild_on_0) and not first.owns_guild(guild_on_1)
    assert second.owns_guild(guild_on_1) and not second.owns_guild(guild_on_0)
    assert first.owns_direct_messages and first.owns_guild(None)
    assert not second.owns_direct_messages and not second.owns_guild(None)
    assert EVERY_SHARD.owns_guild(guild_on_1) and EVERY_SHARD.owns_direct_messages


# -- names and files ------------------------------------------------------------------


def test_a_shard_process_has_its_own_run_files_and_logs_and_shares_the_bots_data(tmp_path: Path) -> None:
    bot, share = BotPaths(tmp_path, "alpha"), BotPaths.for_process(tmp_path, "alpha@1")
    assert (share.bot_id, share.shard_process, share.name) == ("alpha", 1, "alpha@1")
    assert share.pidfile.name == "alpha@1.pid" and share.state_file.name == "alpha@1.state.json"
    assert share.ready_file.name == "alpha@1.ready" and share.keeper_lock.name == "alpha@1.lock"
    assert share.conversation_log.name == "alpha@1.conversation.jsonl"
    assert share.log_file("logs/alpha.log") == tmp_path / "logs" / "alpha@1.log"
    assert (share.database, share.memories, share.config) == (bot.database, bot.memories, bot.config)
    assert share.bot_runtime_lock == bot.runtime_lock
    assert shard_process_file("logs/custom.name.log", 0) == "logs/custom.name@0.log"
    assert split_process_name("alpha@01") is None and split_process_name("Alpha") is None


def test_the_keeper_hands_each_process_its_share_and_port() -> None:
    config = SimpleNamespace(
        bot_id="alpha",
        discord=SimpleNamespace(shards=ShardsConfig(count=4, processes=2)),
        health=SimpleNamespace(port=9100),
    )
    assert process_names("alpha", 2) == ["alpha@0", "alpha@1"] and process_names("alpha", 1) == ["alpha"]
    assert shard_process_env(config, 1) == {
        "BOT_SHARD_PROCESS": "1", "DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "2,3", "BOT_HEALTH_PORT": "9101",
    }
    assert set(shard_process_env(config, 0)) == set(SHARE_VARS)
    with pytest.raises(ConfigError, match="alpha@2 is not a shard process of alpha"):
        shard_process_env(config, 2)
    with pytest.raises(ConfigError, match="runs as alpha@0, alpha@1, not as one process"):
        shard_process_env(config, None)


# -- status -----------------------------------------------------------------------------


def _keeper_files(home: Path, name: str, state: str = "stopped") -> None:
    run = home / "run"
    run.mkdir(exist_ok=True)
    (run / f"{name}.state.json").write_text(json.dumps({"state": state, "restarts": 0}))


def test_status_lists_each_shard_process_with_its_shards_and_health_url(tmp_path: Path) -> None:
    write_bot(tmp_path)
    config = tmp_path / "bots" / "alpha.yaml"
    config.write_text(
        config.read_text().replace("discord:\n", "discord:\n  shards: {count: 5, processes: 2}\n")
        + "health: {port: 9300}\n"
    )
    for name in ("alpha@0", "alpha@1"):
        _keeper_files(tmp_path, name)
    rows = collect_status(tmp_path, ["alpha"])
    assert [(r.name, r.bot, r.shard_process, r.shard_ids) for r in rows] == [
        ("alpha@0", "alpha", 0, (0, 1)), ("alpha@1", "alpha", 1, (2, 3, 4)),
    ]
    assert [r.health_url for r in rows] == ["http://127.0.0.1:9300/", "http://127.0.0.1:9301/"]
    assert rows[1].to_json()["shard_ids"] == (2, 3, 4) and json.loads(json.dumps(rows[1].to_json()))["shard_ids"] == [2, 3, 4]


def test_a_process_started_under_an_older_split_is_still_found(tmp_path: Path) -> None:
    write_bot(tmp_path)  # no longer split
    run = tmp_path / "run"
    run.mkdir()
    (run / "alpha@1.pid").write_text("1 0\n")
    (run / "alphabet@0.pid").write_text("1 0\n")  # another bot's process
    assert started_process_names(run, "alpha") == ["alpha@1"]
    assert [r.name for r in collect_status(tmp_path, ["alpha"])] == ["alpha", "alpha@1"]


# -- one copy of each process, and never a whole copy beside the shards ------------------


def test_the_locks_keep_a_whole_copy_and_its_shard_processes_apart(tmp_path: Path) -> None:
    first = _single_instance_lock(BotPaths(tmp_path, "alpha", 0))
    assert first is not None
    try:
        second = _single_instance_lock(BotPaths(tmp_path, "alpha", 1))
        assert second is not None  # a sibling share: both hold the bot's lock shared
        assert _single_instance_lock(BotPaths(tmp_path, "alpha", 1)) is None  # a second copy of share 1
        assert _single_instance_lock(BotPaths(tmp_path, "alpha")) is None  # the whole bot beside them
        for fd in second:
            os.close(fd)
    finally:
        for fd in first:
            os.close(fd)
    whole = _single_instance_lock(BotPaths(tmp_path, "alpha"))
    assert whole is not None
    try:
        assert _single_instance_lock(BotPaths(tmp_path, "alpha", 0)) is None
    finally:
        for fd in whole:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def test_spawn_refuses_while_processes_of_an_earlier_split_run(tmp_path: Path) -> None:
    """alpha ran as one process; its config now splits it in two. Starting alpha@0 and alpha@1
    beside the old process would answer every message twice: refused, nothing started."""
    import psutil

    write_bot(tmp_path)
    config = tmp_path / "bots" / "alpha.yaml"
    config.write_text(config.read_text().replace("discord:\n", "discord:\n  shards: {count: 2, processes: 2}\n"))
    (tmp_path / "run").mkdir()
    me = psutil.Process()  # stands in for the old keeper: alive, and its create time matches
    (tmp_path / "run" / "alpha.pid").write_text(json.dumps({"pid": me.pid, "create_time": me.create_time()}))
    context = CliContext(home=tmp_path, environ={"ALPHA_BOT_TOKEN": "token-value-123456", "ANTHROPIC_API_KEY": "k-123456"})
    result = CliRunner().invoke(app, ["spawn", "alpha"], obj=context)
    assert result.exit_code == 1
    assert "alpha still runs as alpha (started before discord.shards.processes changed)" in result.output
    assert "bot_manager restart alpha" in result.output
    assert not list((tmp_path / "run").glob("alpha@*"))


def _split_alpha(home: Path) -> CliContext:
    write_bot(home)
    config = home / "bots" / "alpha.yaml"
    config.write_text(config.read_text().replace("discord:\n", "discord:\n  shards: {count: 2, processes: 2}\n"))
    return CliContext(home=home, environ={"ALPHA_BOT_TOKEN": "token-value-123456", "ANTHROPIC_API_KEY": "k-123456"})


def test_list_shows_the_states_of_a_split_bots_processes_once_each(tmp_path: Path) -> None:
    context = _split_alpha(tmp_path)
    _keeper_files(tmp_path, "alpha@0", "stopped")
    _keeper_files(tmp_path, "alpha@1", "fatal")
    result = CliRunner().invoke(app, ["list", "--json"], obj=context)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["state"] == "stopped, fatal"


def test_the_sandbox_refuses_a_split_bot_with_the_fix(tmp_path: Path) -> None:
    context = _split_alpha(tmp_path)
    result = CliRunner().invoke(app, ["sandbox", "alpha", "--say", "hi"], obj=context)
    assert result.exit_code == 78
    assert "split into 2 shard processes" in result.output and "processes to 1" in result.output
    assert not (tmp_path / "run").exists()  # nothing was started
