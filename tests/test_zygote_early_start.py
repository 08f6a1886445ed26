"""``spawn`` launches the zygote first thing, and whoever launches it hands it the start lock.

All real: the zygote process preloading, the flock on ``run/zygote.start.lock``, the
keeper side's ``ZygoteConnection`` and the CLI's ``bot_manager spawn`` in a subprocess.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from framework.cli.early_zygote import start_zygote_early
from framework.supervisor.zygote_launch import keeper_environ, start_zygote
from framework.supervisor.zygote_client import ZygoteConnection
from framework.supervisor.zygote import Zygote, _listen
from framework.supervisor.zygote_protocol import ZygotePaths
from tests.sandbox_helpers import kill_zygotes_of, wait_for, zygotes_of

from .conftest import write_bot

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def lock_is_held(home: Path) -> bool:
    with open(ZygotePaths(home).start_lock, "a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


@pytest.fixture
def environ(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env["BOT_ZYGOTE_IDLE_SECONDS"] = "0.5"
    yield keeper_environ(tmp_path, env)
    kill_zygotes_of(tmp_path)  # one a failed test left behind


def test_the_launched_zygote_holds_the_start_lock_until_it_listens_and_a_keeper_waits_for_it(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    assert start_zygote(tmp_path, environ) is True
    [zygote] = zygotes_of(tmp_path)
    # Preloading takes seconds: the lock is the zygote's now, not ours (we returned at once).
    assert lock_is_held(tmp_path) and not ZygotePaths(tmp_path).socket.exists()
    assert start_zygote(tmp_path, environ) is False  # being started: not a second one
    assert psutil.Process(zygote).ppid() != os.getpid()  # nobody's child: a CLI leaves no zombie

    connection = ZygoteConnection(tmp_path, environ)  # what a keeper does: wait on the lock, connect
    try:
        connection._connected()
        assert connection.zygote_pid == zygote
        assert zygotes_of(tmp_path) == [zygote]
        assert not lock_is_held(tmp_path)  # released once it listens
        assert start_zygote(tmp_path, environ) is False  # running: nothing to launch
        assert not any(link.endswith("zygote.start.lock") for link in _open_files(zygote))
    finally:
        connection.close()
    wait_for(lambda: not psutil.pid_exists(zygote) or psutil.Process(zygote).status() == psutil.STATUS_ZOMBIE,
             "the idle zygote to exit")


def test_a_connected_keeper_keeps_the_zygote_even_before_it_asks(tmp_path: Path) -> None:
    """The zygote's idle clock, injected: it runs only while no keeper is connected."""
    now = [100.0]
    path = ZygotePaths(tmp_path).socket
    zygote = Zygote(_listen(path), path, started_at=0.0, idle_seconds=30.0, monotonic=lambda: now[0])
    keeper = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        keeper.connect(str(path))
        zygote._accept()
        now[0] += 3600
        assert not zygote._finished()  # connected, though it has asked for nothing
        keeper.close()
        [conn] = zygote._keepers.values()
        zygote._from_keeper(conn)  # end of stream: the keeper is gone
        now[0] += 29
        assert not zygote._finished()
        now[0] += 1
        assert zygote._finished()
    finally:
        keeper.close()
        for conn in list(zygote._keepers.values()):
            conn.close()
        zygote._retire()


def _open_files(pid: int) -> list[str]:
    fd_dir = Path(f"/proc/{pid}/fd")
    out = []
    for fd in fd_dir.iterdir():
        try:
            out.append(os.readlink(fd))
        except OSError:
            continue
    return out


def test_the_lock_is_handed_over_even_by_a_launcher_started_with_stdin_closed(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    """With fd 0 closed the lock file opens as fd 0, where the zygote's own stdin would go."""
    code = (
        "import os, sys; from pathlib import Path; os.close(0)\n"
        "from framework.supervisor.zygote_launch import start_zygote\n"
        "print(start_zygote(Path(sys.argv[1]), os.environ))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=environ, cwd=REPO,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.stdout.strip() == "True", result.stderr
    [zygote] = zygotes_of(tmp_path)
    assert lock_is_held(tmp_path)  # by the preloading zygote: the launcher has exited
    wait_for(lambda: not lock_is_held(tmp_path), "the zygote to listen and let go of the lock")
    assert ZygotePaths(tmp_path).socket.exists() and zygotes_of(tmp_path) == [zygote]


def test_a_zygote_that_dies_while_preloading_releases_the_lock(tmp_path: Path, environ: dict[str, str]) -> None:
    assert start_zygote(tmp_path, environ) is True
    [zygote] = zygotes_of(tmp_path)
    psutil.Process(zygote).kill()
    wait_for(lambda: not lock_is_held(tmp_path), "the lock to be released with the dead zygote")
    connection = ZygoteConnection(tmp_path, environ)  # the keeper then starts one itself
    try:
        connection._connected()
        assert connection.zygote_pid not in (None, zygote)
    finally:
        connection.close()


@pytest.mark.parametrize(("config", "verb_args", "switch", "launched"), [
    ("", ["alpha"], None, True),
    ("", ["--all"], None, True),
    ("", ["alpha"], "0", False),  # BOT_PRELOAD=0: every bot is exec'd
    ("supervisor: {preload: false}\n", ["alpha"], None, False),
    ("", ["nobody"], None, False),  # spawn will refuse an unknown bot
    ("", ["alpha", "--all"], None, False),  # and a bot together with --all
    ("", [], None, False),
    ("", ["alpha", "--help"], None, False),  # help or a usage error: nothing will be spawned
    ("", ["alpha", "beta"], None, False),
])
def test_spawn_launches_the_zygote_only_for_a_bot_it_will_fork(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, verb_args: list[str], switch: str | None,
    launched: bool,
) -> None:
    write_bot(tmp_path, "alpha", "ALPHA_BOT_TOKEN", extra=config)
    monkeypatch.setenv("BOT_ZYGOTE_IDLE_SECONDS", "0.5")
    if switch is None:
        monkeypatch.delenv("BOT_PRELOAD", raising=False)
    else:
        monkeypatch.setenv("BOT_PRELOAD", switch)
    try:
        assert start_zygote_early(["--home", str(tmp_path)], verb_args) is launched
        assert len(zygotes_of(tmp_path)) == (1 if launched else 0)
    finally:
        kill_zygotes_of(tmp_path)


def test_the_last_home_option_is_the_project_folder_as_for_click(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for home in (first, second):
        write_bot(home, "alpha", "ALPHA_BOT_TOKEN")
    monkeypatch.setenv("BOT_ZYGOTE_IDLE_SECONDS", "0.5")
    monkeypatch.delenv("BOT_PRELOAD", raising=False)
    try:
        assert start_zygote_early(["--home", str(first), f"--home={second}"], ["alpha"]) is True
        assert (zygotes_of(first), len(zygotes_of(second))) == ([], 1)
        assert not (first / "run").exists()
    finally:
        kill_zygotes_of(second)


def test_bot_manager_spawn_starts_the_zygote_before_the_keeper_asks(tmp_path: Path, environ: dict[str, str]) -> None:
    """An invalid token variable makes ``spawn`` fail validation (exit 78) after the zygote
    is already on its way: the launch comes before anything else, and nothing waits for it."""
    write_bot(tmp_path, "alpha", "ALPHA_BOT_TOKEN")
    env = {k: v for k, v in environ.items() if k != "ALPHA_BOT_TOKEN"}
    result = subprocess.run([sys.executable, str(REPO / "bot_manager.py"), "--home", str(tmp_path), "spawn", "alpha"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 78, result.stderr
    assert len(zygotes_of(tmp_path)) == 1  # launched, though no keeper ever started
    [zygote] = zygotes_of(tmp_path)
    assert psutil.Process(zygote).ppid() != os.getpid()
    wait_for(lambda: not psutil.pid_exists(zygote) or psutil.Process(zygote).status() == psutil.STATUS_ZOMBIE,
             "the unused zygote to exit when idle", timeout=60)

