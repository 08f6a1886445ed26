"""Sync while a real bot runs against the loopback sandbox and messages keep arriving.

Machine A runs `alpha` (keeper + runtime, real discord.py client, sandbox server); a second
clone, machine B, pushes history of its own between A's syncs. Nothing may be lost: every
injected message reaches A's live database, each committed snapshot holds everything stored
before its sync began, B's messages reach the running bot's database through SQLite, and the
bot never restarts.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from framework.sandbox import GENERAL_CHANNEL_ID, HUMAN_USER_ID

from .test_e2e import World, world  # noqa: F401  (the fixture)
from .test_sync_machines import Machine, clean_env, git, integrity

pytestmark = pytest.mark.slow


def committed_snapshot_ids(home: Path, into: Path) -> set[str]:
    blob = subprocess.run(
        ["git", "show", "HEAD:persistence/alpha/snapshot.db"], cwd=home, capture_output=True, check=True
    ).stdout
    into.write_bytes(blob)
    assert integrity(into) == "ok"
    with sqlite3.connect(into) as db:
        found = {r[0] for r in db.execute("SELECT message_id FROM messages")}
    db.close()
    return found


def test_sync_while_the_bot_runs_loses_nothing(world: World, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = world.home
    remote = tmp_path_factory.mktemp("remote") / "remote.git"
    git(home, "init", "--quiet", "-b", "main")
    git(home, "add", "bots")
    git(home, "commit", "--quiet", "-m", "bots")
    git(home.parent, "init", "--quiet", "--bare", "-b", "main", str(remote))
    git(home, "remote", "add", "origin", str(remote))
    git(home, "push", "--quiet", "-u", "origin", "main")
    b_home = tmp_path_factory.mktemp("machine-b") / "b"
    git(b_home.parent, "clone", "--quiet", str(remote), str(b_home))
    bot_env = {k: v for k, v in world.env.items() if k.startswith(("ALPHA_", "DISCORD_", "ANTHROPIC_"))}
    a, b = Machine("machine-a", home, clean_env(**bot_env)), Machine("machine-b", b_home, clean_env())

    spawned = world.cli("spawn", "alpha")
    assert spawned.returncode == 0, spawned.stdout + spawned.stderr
    log_inode = (home / "logs" / "alpha.log").stat().st_ino

    injected: list[str] = []
    stop = threading.Event()

    def chatter() -> None:
        n = 0
        while not stop.is_set():
            injected.append(world.sandbox.inject_message(GENERAL_CHANNEL_ID, HUMAN_USER_ID, f"chatter {n}")["id"])
            n += 1
            stop.wait(0.02)  # pacing the sender, not waiting for the bot

    sender = threading.Thread(target=chatter, name="chatter", daemon=True)
    sender.start()
    from_b: set[str] = set()
    overlapped = 0
    try:
        for round_ in range(3):
            new = {f"b{round_}-{i}" for i in range(5)}
            b.add_messages(*sorted(new))
            b.synced()
            from_b |= new
            stored_before = a.message_ids()
            sent_before = len(injected)
            out = a.synced()
            overlapped += len(injected) > sent_before
            assert stored_before <= committed_snapshot_ids(home, home.parent / f"snap{round_}.db"), out
            assert from_b <= a.message_ids()  # merged into the running bot's database
    finally:
        stop.set()
        sender.join(timeout=10)

    assert overlapped == 3 and len(injected) > 20  # messages kept arriving during every sync
    deadline = time.monotonic() + 20
    while not set(injected) <= a.message_ids() and time.monotonic() < deadline:
        time.sleep(0.05)  # the bot is another process: poll its database
    assert set(injected) - a.message_ids() == set()
    assert integrity(a.live_db) == "ok"
    status = world.status()
    assert status["state"] == "running" and status["restarts"] == 0
    assert (home / "logs" / "alpha.log").stat().st_ino == log_inode  # the live log was never replaced
    assert "logs/synced/machine-a/alpha.log" in a.tracked()
    assert "persistence/alpha/messages.db" not in a.tracked()
    b.synced()
    assert a.message_ids() - {m for m in injected} <= b.message_ids()
