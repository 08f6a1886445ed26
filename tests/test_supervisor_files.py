"""Log tailing, pidfile identity, the keeper lock and the state file record."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from framework.errors import SupervisorError
from framework.logfile import rotating_handler
from framework.supervisor.logtail import Follower, follow, last_lines, last_log_lines, tail
from framework.supervisor.pidfile import KeeperLock, PidStatus, check_pidfile, read_pidfile, remove_pidfile, write_pidfile
from framework.supervisor.process_ops import ProcessIdentity, ProcessOps
from framework.supervisor.states import BotState, KeeperStatus, read_state, write_state

# -- logtail ------------------------------------------------------------------


def test_tail_reads_from_offset_and_reports_overflow(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"0123456789")
    chunk = tail(log, 0, 4)
    assert (chunk.data, chunk.offset, chunk.overflow) == (b"6789", 10, True)
    assert tail(log, 8, 100) == type(chunk)(b"89", 10, False)
    # A file shorter than the offset was truncated: start again from the top.
    log.write_bytes(b"abc")
    assert tail(log, 10, 100).data == b"abc"
    assert tail(tmp_path / "missing.log", 5, 10) == type(chunk)(b"", 0, False)


def test_last_lines_reads_backwards_across_blocks(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    with open(log, "w", encoding="utf-8") as fh:
        for i in range(100_000):
            fh.write(f"line {i} {'x' * 40}\n")
    assert last_lines(log, 3) == [f"line {i} {'x' * 40}" for i in (99_997, 99_998, 99_999)]
    assert len(last_lines(log, 500)) == 500
    assert last_lines(log, 0) == []
    small = tmp_path / "small.log"
    small.write_text("one\ntwo")  # no trailing newline
    assert last_lines(small, 10) == ["one", "two"]
    assert last_lines(tmp_path / "none.log", 5) == []


def test_last_log_lines_continue_into_the_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    (tmp_path / "bot.log.1").write_text("old1\nold2\nold3\n")
    log.write_text("new1\n")
    assert last_log_lines(log, 3) == ["old2", "old3", "new1"]


def _write_lines(handler: logging.Handler, lines: list[str]) -> None:
    for text in lines:
        handler.handle(logging.LogRecord("t", logging.INFO, __file__, 0, text, None, None))


def test_follower_sees_every_line_across_size_rotation(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    handler = rotating_handler(log, max_size_mb=200 / (1024 * 1024), backup_count=3)  # rotates every ~200 bytes
    handler.setFormatter(logging.Formatter("%(message)s"))
    follower = Follower(log, offset=0)
    seen = b""
    try:
        expected = []
        for batch in range(6):
            lines = [f"batch {batch} line {i} ........" for i in range(5)]
            expected += lines
            _write_lines(handler, lines)  # several rotations may happen between reads
            while chunk := follower.read(limit=64):
                seen += chunk
    finally:
        handler.close()
        follower.close()
    assert (tmp_path / "bot.log.1").exists(), "the test should have rotated the log"
    assert seen.decode().splitlines() == expected


def test_follower_handles_truncation_and_late_creation(tmp_path: Path) -> None:
    log = tmp_path / "late.log"
    follower = Follower(log)  # no file yet: start from its beginning once it appears
    assert follower.read() == b""
    log.write_text("first\n")
    assert follower.read() == b"first\n"
    log.write_text("")  # truncated in place
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("x\n")
    assert follower.read() == b"x\n"
    follower.close()


def test_follow_loop_across_rename_rotation(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("before\n")

    def append(text: str) -> None:
        with log.open("a", encoding="utf-8") as fh:
            fh.write(text)

    steps = [
        lambda: append("one\n"),
        lambda: (append("two\n"), log.rename(tmp_path / "bot.log.1")),  # written, then rotated unread
        lambda: log.write_text("three\n"),
        lambda: append("four\n"),
    ]
    written: list[str] = []

    def fake_sleep(_: float) -> None:
        if steps:
            steps.pop(0)()

    follow(
        log,
        written.append,
        offset=len("before\n"),
        sleep=fake_sleep,
        should_stop=lambda: not steps and "four" in "".join(written),
    )
    assert "".join(written) == "one\ntwo\nthree\nfour\n"


# -- pidfile and lock ---------------------------------------------------------


def test_pidfile_roundtrip_and_checks(tmp_path: Path) -> None:
    ops = ProcessOps()
    path = tmp_path / "run" / "alpha.pid"
    assert check_pidfile(path, ops).status is PidStatus.MISSING
    me = ops.identity()
    write_pidfile(path, me)
    assert read_pidfile(path) == me
    assert check_pidfile(path, ops).status is PidStatus.ALIVE
    write_pidfile(path, ProcessIdentity(me.pid, me.create_time - 100))
    reused = check_pidfile(path, ops)
    assert reused.status is PidStatus.REUSED and reused.stale
    assert "belongs to another program" in reused.describe(path)
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    write_pidfile(path, ProcessIdentity(pid_max, 1.0))  # pids are always below pid_max
    assert check_pidfile(path, ops).status is PidStatus.GONE
    # Removing with an identity only removes the pidfile if it still names that process.
    remove_pidfile(path, me)
    assert path.exists()
    remove_pidfile(path)
    assert not path.exists()


@pytest.mark.parametrize("content", ["", "not json", '{"pid": "12"}', '{"pid": true, "create_time": 1}', "[1, 2]"])
def test_garbage_pidfile_is_missing(tmp_path: Path, content: str) -> None:
    path = tmp_path / "alpha.pid"
    path.write_text(content)
    assert read_pidfile(path) is None


def test_zombie_counts_as_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ops = ProcessOps()
    assert ops.wait(proc.pid, timeout=10)  # psutil reaps it here, as stop does
    assert ops.create_time(proc.pid) is None
    proc.wait()


def test_keeper_lock_is_exclusive(tmp_path: Path) -> None:
    first, second = KeeperLock(tmp_path / "alpha.lock"), KeeperLock(tmp_path / "alpha.lock")
    first.acquire()
    try:
        with pytest.raises(SupervisorError, match="another keeper holds"):
            second.acquire()
    finally:
        first.release()
    second.acquire()
    second.release()


# -- state file ---------------------------------------------------------------


def test_state_file_roundtrip_and_tolerance(tmp_path: Path) -> None:
    path = tmp_path / "alpha.state.json"
    status = KeeperStatus(BotState.BACKOFF, child_pid=None, started_at=1.5, restarts=2, last_exit_code=1, last_error="x")
    write_state(path, status)
    assert read_state(path) == status
    path.write_text('{"state": "dancing"}')
    assert read_state(path) is None
    path.write_text('{"state": "running", "child_pid": true, "restarts": "many", "started_at": "NaN"}')
    assert read_state(path) == KeeperStatus(BotState.RUNNING)
    os.unlink(path)
    assert read_state(path) is None


# -- keeper entry point ---------------------------------------------------------


def test_keeper_main_records_a_broken_config_as_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.supervisor import keeper

    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "alpha.yaml").write_text("bot_id: alpha\nname: A\n")
    monkeypatch.setenv("BOT_HOME", str(tmp_path))
    assert keeper.main(["alpha"]) == 78
    status = read_state(tmp_path / "run" / "alpha.state.json")
    assert status is not None and status.state is BotState.FATAL
    assert status.last_error is not None and "required field is missing" in status.last_error
    assert not (tmp_path / "run" / "alpha.pid").exists()


def test_keeper_main_leaves_a_locked_bot_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.supervisor import keeper

    monkeypatch.setenv("BOT_HOME", str(tmp_path))
    held = KeeperLock(tmp_path / "run" / "alpha.lock")
    held.acquire()
    try:
        assert keeper.main(["alpha"]) == keeper.EXIT_LOCKED
    finally:
        held.release()
    assert not (tmp_path / "run" / "alpha.state.json").exists()


@pytest.mark.parametrize("argv", [["Bad Id"], ["alpha", "--child-cmd", "python x.py"], ["alpha", "--child-cmd", "[]"]])
def test_keeper_rejects_bad_arguments(argv: list[str]) -> None:
    from framework.supervisor import keeper

    with pytest.raises(SystemExit) as exc:
        keeper.main(argv)
    assert exc.value.code == 2


def test_log_sink_copies_child_lines_verbatim_and_prefixes_events(tmp_path: Path) -> None:
    from framework.supervisor.keeper import LogSink

    log = tmp_path / "bot.log"
    sink = LogSink(rotating_handler(log, 1, 1))
    sink.output("100% done %s")
    sink.event(logging.WARNING, "exited with code 1")
    sink.close()
    first, second = log.read_text().splitlines()
    assert first == "100% done %s"
    assert second.endswith("WARNING supervisor: exited with code 1")


def test_a_zombie_holding_the_pid_decides_whether_it_is_ours(tmp_path: Path) -> None:
    ops = ProcessOps()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        created = ops.create_time(proc.pid)
        assert created is not None
        deadline = time.monotonic() + 10
        while ops.create_time(proc.pid) is not None:  # exited but not reaped: a zombie
            assert time.monotonic() < deadline
            time.sleep(0.01)
        path = tmp_path / "alpha.pid"
        write_pidfile(path, ProcessIdentity(proc.pid, created))
        assert check_pidfile(path, ops).status is PidStatus.GONE
        write_pidfile(path, ProcessIdentity(proc.pid, created - 50))
        assert check_pidfile(path, ops).status is PidStatus.REUSED
    finally:
        proc.wait()
