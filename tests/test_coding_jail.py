"""The escape battery: every attempt goes through the real tool entry points (``execute_bash``,
``read_file``, ``write_file``) with the real bubblewrap, real processes and a real loopback
listener, and must be refused or contained; the tools keep working afterwards.

Where an attempt could pass unnoticed (a listener nobody connects to, a secret nobody
prints) a control shows the same probe succeeding when the barrier is lifted.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import psutil
import pytest

from framework.coding import CodingParts, ToolCall, build_coding, jail_owner
from framework.config.coding import CodingConfig
from framework.domain import ConversationScope, ToolError
from tests.sandbox_helpers import wait_for

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (.ci/run installs it)")

MASTER = "111111111111111111"
SCOPE = ConversationScope("cortana", None, "900000000000000001", MASTER)
SECRET = "sk-ant-api03-" + "s" * 40


def build(home: Path, calls: list[ToolCall], **settings: Any) -> CodingParts:
    config = CodingConfig(**{"bash": True, "files": True, "skills": True, "bash_timeout_seconds": 2, **settings})
    parts = build_coding(config, home / "workspaces" / "cortana", master_id=MASTER, owner=jail_owner(),
                         sink=calls.append)
    assert parts is not None
    return parts


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".env").write_text(f"ANTHROPIC_API_KEY={SECRET}\n")
    (tmp_path / "memories" / "cortana").mkdir(parents=True)
    (tmp_path / "memories" / "cortana" / "USER.md").write_text("private notes\n")
    return tmp_path


@pytest.fixture
def calls() -> list[ToolCall]:
    return []


@pytest.fixture
def coding(home: Path, calls: list[ToolCall]) -> CodingParts:
    return build(home, calls)


def tool(parts: CodingParts, name: str) -> Any:
    return next(t for t in parts.tools if t.name == name)


async def bash(parts: CodingParts, command: str) -> str:
    return await tool(parts, "execute_bash").run({"command": command}, SCOPE)


def exit_code(result: str) -> int | None:
    match = re.match(r"Exit code: (-?\d+)", result)
    return int(match.group(1)) if match else None


async def test_the_shadow_file_and_the_project_stay_unreadable(home: Path, coding: CodingParts) -> None:
    assert "root:" in Path("/etc/shadow").read_text() if os.geteuid() == 0 else True  # readable to the bot itself
    result = await bash(coding, f"cat /etc/shadow; cat {home}/.env; cat ../.env ../../.env; "
                                f"cat {home}/memories/cortana/USER.md; ls /root {home}")
    assert exit_code(result) != 0
    assert "root:" not in result and SECRET not in result and "private notes" not in result
    assert "Permission denied" in result or "No such file" in result
    listing = await bash(coding, "ls /")
    assert sorted(listing.split("\n", 1)[1].split()) == ["bin", "dev", "etc", "lib", "lib64", "proc", "sbin", "tmp",
                                                         "usr", "workspace"]


async def test_writes_land_only_in_the_workspace(home: Path, coding: CodingParts) -> None:
    result = await bash(coding, f"echo x > /etc/owned; echo x > /usr/owned; echo x > {home}/owned; "
                                "touch /tmp/scratch; echo kept > /workspace/kept.txt; mount -t tmpfs x /usr")
    assert exit_code(result) != 0 and "Read-only file system" in result
    assert not (home / "owned").exists() and not Path("/etc/owned").exists() and not Path("/usr/owned").exists()
    assert (home / "workspaces" / "cortana" / "kept.txt").read_text() == "kept\n"
    assert "scratch" not in await bash(coding, "ls /tmp")  # a private /tmp, emptied between calls


async def test_no_network_unless_enabled(home: Path, calls: list[ToolCall]) -> None:
    connections: list[int] = []

    async def seen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    server = await asyncio.start_server(seen, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = f"echo hello > /dev/tcp/127.0.0.1/{port} && echo CONNECTED"
    try:
        result = await bash(build(home, calls), probe)
        assert "CONNECTED" not in result and "Connection refused" in result and connections == []
        open_result = await bash(build(home, calls, network=True), probe)  # the control: the probe works
        assert "CONNECTED" in open_result and connections == [1]
    finally:
        server.close()
        await server.wait_closed()


async def test_the_bots_environment_is_not_visible(coding: CodingParts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTANA_BOT_TOKEN", "tok-" + "t" * 40)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    result = await bash(coding, "env; cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'")
    assert SECRET not in result and "tok-" not in result
    names = {line.split("=", 1)[0] for line in result.splitlines()[1:] if "=" in line}
    assert names <= {"PATH", "HOME", "LANG", "PWD", "SHLVL", "_"}


def jailed_processes() -> list[psutil.Process]:
    """Live processes the jail's user runs (nobody for a root bot); a zombie has ended."""
    owner = jail_owner()
    found = []
    for process in psutil.process_iter(["uids", "cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        uids = process.info["uids"]
        if owner is not None and uids is not None and uids.real == owner[0]:
            found.append(process)
        elif owner is None and "sleep 300" in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def none_left_running() -> None:
    """Every process the jail ran ends: SIGKILL is at once, but the kernel tears a killed
    pid namespace down (and its parent reaps) a moment later, so look for a few seconds."""
    wait_for(lambda: not jailed_processes(), "every jailed process to end", timeout=10)


async def test_a_fork_bomb_is_contained(home: Path, calls: list[ToolCall]) -> None:
    coding = build(home, calls, max_processes=32)
    result = await bash(coding, ":(){ :|:& };:; sleep 1")
    assert "Resource temporarily unavailable" in result or "Timed out" in result
    none_left_running()  # the pid namespace went with the jail
    assert await bash(coding, "echo alive") == "Exit code: 0\nalive\n"


async def test_the_timeout_kills_every_process_it_started(coding: CodingParts, calls: list[ToolCall]) -> None:
    result = await bash(coding, "(setsid sleep 300 &); (nohup sleep 300 &); sleep 300")
    assert result.startswith("Timed out after 2 s")
    none_left_running()
    assert calls[-1].note == "timed out" and calls[-1].exit_code == -9 and 2 <= calls[-1].duration_s < 10


async def test_memory_and_cpu_limits(home: Path, calls: list[ToolCall]) -> None:
    coding = build(home, calls, max_memory_mb=256, max_cpu_seconds=1, bash_timeout_seconds=30)
    hog = await bash(coding, "python3 -c 'bytearray(600 * 1024 * 1024)'")
    assert exit_code(hog) == 1 and "MemoryError" in hog
    spin = await bash(coding, "python3 -c 'while True: pass'")
    assert exit_code(spin) == 128 + 9  # SIGKILL at the CPU limit (soft = hard), not the 30 s timeout


async def test_a_hundred_megabytes_of_output_is_capped(home: Path, calls: list[ToolCall]) -> None:
    coding = build(home, calls, bash_timeout_seconds=30)  # the cap is under test, not the clock: room on a busy machine
    result = await bash(coding, "yes | head -c 100000000")
    assert exit_code(result) == 0
    assert len(result.encode()) < 2 * 51_200
    assert "output cut" in result and "100000000 bytes" in result
    assert len(result.splitlines()) <= 500 + 2
    assert calls[-1].bytes_out == 100_000_000 and calls[-1].note == "output cut"


async def test_links_in_the_workspace_are_never_followed(home: Path, coding: CodingParts) -> None:
    made = await bash(coding, f"ln -s /etc/passwd passwd; ln -s {home} project; ln -s / root; mkfifo pipe; "
                              "mkdir -p skills; ln -s /etc skills/etc")
    assert exit_code(made) == 0
    read, write = tool(coding, "read_file"), tool(coding, "write_file")
    for path in ("passwd", "project/.env", "root/etc/passwd", "/workspace/project/memories/cortana/USER.md"):
        with pytest.raises(ToolError, match="symbolic link"):
            await read.run({"path": path}, SCOPE)
    with pytest.raises(ToolError, match="symbolic link"):
        await write.run({"path": "project/owned.txt", "content": "x"}, SCOPE)
    with pytest.raises(ToolError, match="symbolic link"):
        await write.run({"path": "passwd", "content": "x"}, SCOPE)
    with pytest.raises(ToolError, match="not a regular file"):
        await read.run({"path": "pipe"}, SCOPE)
    assert not (home / "owned.txt").exists() and Path("/etc/passwd").read_text().startswith("root:")
    assert "skills/etc" in coding.prompt.render()  # reported as a problem, not followed


@pytest.mark.parametrize("path", ["../.env", "/etc/passwd", "../../memories/cortana/USER.md", "/workspace/../x",
                                  "~/x", "a\\..\\b"])
async def test_paths_out_of_the_workspace_are_refused(coding: CodingParts, path: str) -> None:
    with pytest.raises(ToolError):
        await tool(coding, "read_file").run({"path": path}, SCOPE)
    with pytest.raises(ToolError):
        await tool(coding, "write_file").run({"path": path, "content": "x"}, SCOPE)


async def test_only_the_master_in_the_dm_may_call_them(coding: CodingParts) -> None:
    for scope in (ConversationScope("cortana", None, "5", "222222222222222222"),
                  ConversationScope("cortana", "7", "5", MASTER)):
        for name, args in (("execute_bash", {"command": "true"}), ("read_file", {"path": "x"})):
            with pytest.raises(ToolError, match="master's direct messages"):
                await tool(coding, name).run(args, scope)


async def test_every_call_is_recorded_without_its_output(coding: CodingParts, calls: list[ToolCall]) -> None:
    await tool(coding, "write_file").run({"path": "s.sh", "content": "echo the-output\n"}, SCOPE)
    await bash(coding, "bash s.sh; exit 3")
    with pytest.raises(ToolError):
        await tool(coding, "edit_file").run({"path": "s.sh", "old_text": "absent", "new_text": "x"}, SCOPE)
    assert [(c.tool, c.target, c.ok, c.exit_code) for c in calls] == [
        ("write_file", "s.sh", True, None), ("execute_bash", "bash s.sh; exit 3", False, 3),
        ("edit_file", "s.sh", False, None),
    ]
    assert calls[1].bytes_out == len("the-output\n") and "the-output" not in str(calls[1].fields())
    assert "does not occur" in calls[2].note
