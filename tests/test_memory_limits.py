"""The memory tool's limits against a runaway or hostile writer: caps, paged listings, links swapped mid-operation."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from framework.config.models import MemoryConfig
from framework.domain import ConversationScope, ToolError
from framework.memory import MemoryManager, MemoryTool, browse
from framework.memory.listing import PAGE_CHARS, PAGE_ENTRIES

G1 = ConversationScope(bot_id="alpha", guild_id="G1", channel_id="C1", user_id="U1")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "memories" / "alpha"


async def run(tool: MemoryTool, **args: Any) -> str:
    return await tool.run(args, G1)


def put(base: Path, rel: str, text: str) -> Path:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def items_on_disk(root: Path) -> int:
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(root))


def tree(base: Path) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(base)): (None if path.is_dir() or path.is_symlink() else path.read_bytes())
        for path in sorted(base.rglob("*"))
    }


# -- caps ------------------------------------------------------------------------------------


def test_default_caps_are_the_configs() -> None:
    tool = MemoryTool(Path("unused"))
    config = MemoryConfig()
    assert (tool.caps.max_files, tool.caps.max_total_bytes) == (config.max_files, config.max_total_bytes)
    assert (config.max_files, config.max_total_bytes) == (2000, 32 * 1024 * 1024)


async def test_the_file_count_cap_refuses_creates_and_renames_and_says_what_to_do(root: Path) -> None:
    tool = MemoryTool(root, max_files=5)
    # servers/, servers/G1/ and the file: three items; two more files reach the cap of five.
    for name in ("a", "b", "c"):
        await run(tool, command="create", path=f"/memories/servers/G1/{name}.md", file_text="note\n")
    with pytest.raises(ToolError) as info:
        await run(tool, command="create", path="/memories/servers/G1/d.md", file_text="note\n")
    message = str(info.value)
    assert "number of files and folders" in message
    assert "Caps: 5 files and folders" in message and "in use: 5 files and folders" in message
    assert "(of which 3 and 15 bytes in /memories/servers/G1)" in message
    assert "delete" in message and "consolidate" in message
    assert str(root) not in message
    # A rename into a new folder makes an item too.
    with pytest.raises(ToolError, match="past its cap"):
        await run(tool, command="rename", old_path="/memories/servers/G1/a.md", new_path="/memories/servers/G1/x/a.md")
    assert items_on_disk(root) == 5
    # Edits that do not add items still pass, and deleting makes room.
    await run(tool, command="str_replace", path="/memories/servers/G1/a.md", old_str="note", new_str="a longer note")
    await run(tool, command="rename", old_path="/memories/servers/G1/a.md", new_path="/memories/servers/G1/z.md")
    await run(tool, command="delete", path="/memories/servers/G1/b.md")
    await run(tool, command="create", path="/memories/servers/G1/d.md", file_text="note\n")
    assert items_on_disk(root) == 5


async def test_the_byte_cap_refuses_growth_but_never_shrinking(root: Path) -> None:
    tool = MemoryTool(root, max_file_bytes=64 * 1024, max_total_bytes=100_000)
    await run(tool, command="create", path="/memories/servers/G1/big.md", file_text="x" * 60_000 + "\nEND\n")
    with pytest.raises(ToolError) as info:
        await run(tool, command="create", path="/memories/servers/G1/more.md", file_text="y" * 50_000)
    message = str(info.value)
    assert "total size" in message and "97.7 KiB in all" in message
    assert "in use: 3 files and folders, 58.6 KiB" in message
    assert "consolidate" in message
    await run(tool, command="create", path="/memories/servers/G1/more.md", file_text="y" * 38_000)
    with pytest.raises(ToolError, match="total size"):
        await run(tool, command="str_replace", path="/memories/servers/G1/big.md", old_str="END", new_str="E" * 5_000)
    with pytest.raises(ToolError, match="total size"):
        await run(tool, command="insert", path="/memories/servers/G1/more.md", insert_line=0, insert_text="z" * 5_000)
    await run(tool, command="str_replace", path="/memories/servers/G1/big.md", old_str="x\nEND", new_str="")
    await run(tool, command="insert", path="/memories/servers/G1/more.md", insert_line=0, insert_text="z" * 500)
    sizes = sum(path.stat().st_size for path in root.rglob("*.md"))
    assert sizes <= 100_000


async def test_files_written_behind_the_tools_back_count_too(root: Path) -> None:
    tool = MemoryTool(root, max_files=50)
    for n in range(60):
        put(root, f"servers/G2/pulled-{n}.md", "from another machine\n")
    with pytest.raises(ToolError, match=r"in use: 62 files and folders"):
        await run(tool, command="create", path="/memories/servers/G1/a.md", file_text="x")


# -- a large folder's view --------------------------------------------------------------------


async def test_a_large_folder_is_summarised_and_paged(root: Path) -> None:
    tool = MemoryTool(root)
    names = {f"{n:04d}-{'w' * 40}.md" for n in range(300)}
    for name in names:
        put(root, f"servers/G1/users/{name}", "profile\n")
    put(root, "servers/G1/culture.md", "vibe\n")

    top = await run(tool, command="view", path="/memories/servers/G1")
    assert len(top) < PAGE_CHARS + 500
    assert "/memories/servers/G1/users/  (300 items)" in top
    assert "/memories/servers/G1/culture.md" in top and "0000-" not in top

    seen: set[str] = set()
    page = await run(tool, command="view", path="/memories/servers/G1/users")
    pages = 1
    while True:
        assert len(page) < PAGE_CHARS + 500
        lines = page.splitlines()
        listed = [line.split("\t")[1].rsplit("/", 1)[1] for line in lines[2:] if "\t" in line]
        assert 0 < len(listed) <= PAGE_ENTRIES
        seen.update(listed)
        if "more items not shown" not in lines[-1]:
            break
        assert "or view one of its folders" in lines[-1]
        start = int(lines[-1].split("view_range [")[1].split(",")[0])
        page = await run(tool, command="view", path="/memories/servers/G1/users", view_range=[start, -1])
        pages += 1
    assert seen == names and pages >= 300 // PAGE_ENTRIES
    with pytest.raises(ToolError, match="view_range"):
        await run(tool, command="view", path="/memories/servers/G1/users", view_range=[301, -1])


async def test_a_small_folder_still_lists_two_levels(root: Path) -> None:
    tool = MemoryTool(root)
    put(root, "servers/G1/users/U1.md", "hi\n")
    out = await run(tool, command="view", path="/memories/servers/G1")
    assert out.splitlines()[0].startswith("Here're the files and directories up to 2 levels deep")
    assert out.splitlines()[-1] == "3B\t/memories/servers/G1/users/U1.md"


# -- links ------------------------------------------------------------------------------------


def _exchange() -> Any:
    """``exchange(a, b)``: swap two names atomically (Linux renameat2 RENAME_EXCHANGE), or None."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return None
    at_fdcwd, rename_exchange = -100, 2

    def exchange(a: Path, b: Path) -> None:
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    return exchange


async def test_a_folder_swapped_for_a_link_mid_operation_is_never_followed(root: Path, tmp_path: Path) -> None:
    exchange = _exchange()
    if exchange is None:
        pytest.skip("needs renameat2(RENAME_EXCHANGE) to swap a folder and a link atomically")
    tool = MemoryTool(root)
    outside = tmp_path / "outside"
    put(outside, "a.md", "OUTSIDE SECRET\n")
    put(root, "servers/G1/notes/a.md", "inside\n")
    link = root / "servers" / "G1" / ".link"
    os.symlink(outside, link)
    notes = root / "servers" / "G1" / "notes"
    before = tree(outside)

    stop = threading.Event()
    swaps = 0

    def swapper() -> None:
        nonlocal swaps
        while not stop.is_set():
            exchange(notes, link)  # notes is now the link to outside ...
            exchange(notes, link)  # ... and the real folder again
            swaps += 1

    # Switch threads far more often than the default 5 ms, so the swap lands between every two steps.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    outcomes = {"done": 0, "refused": 0}
    try:
        for n in range(400):
            for args in (
                {"command": "view", "path": "/memories/servers/G1/notes/a.md"},
                {"command": "create", "path": f"/memories/servers/G1/notes/new-{n}.md", "file_text": "mine\n"},
                {"command": "insert", "path": "/memories/servers/G1/notes/a.md", "insert_line": 0, "insert_text": "x"},
            ):
                try:
                    out = await run(tool, **args)
                except ToolError as err:
                    assert "OUTSIDE" not in str(err) and str(tmp_path) not in str(err)
                    outcomes["refused"] += 1
                else:
                    assert "OUTSIDE" not in out
                    outcomes["done"] += 1
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert tree(outside) == before  # nothing read through, nothing written there
    assert swaps > 100 and outcomes["refused"] > 0 and outcomes["done"] > 0, (swaps, outcomes)
    assert (notes / "a.md").read_text().endswith("inside\n")


async def test_hard_links_are_refused_for_reading_and_writing(root: Path, tmp_path: Path) -> None:
    tool = MemoryTool(root)
    secret = put(tmp_path / "outside", "secret.md", "outside secret\n")
    put(root, "servers/G1/mine.md", "mine\n")
    linked = root / "servers" / "G1" / "linked.md"
    os.link(secret, linked)
    for args in (
        {"command": "view", "path": "/memories/servers/G1/linked.md"},
        {"command": "view", "path": "/memories/servers/G1/linked.md", "view_range": [1, 1]},
        {"command": "str_replace", "path": "/memories/servers/G1/linked.md", "old_str": "outside", "new_str": "x"},
        {"command": "insert", "path": "/memories/servers/G1/linked.md", "insert_line": 0, "insert_text": "x"},
        {"command": "rename", "old_path": "/memories/servers/G1/linked.md", "new_path": "/memories/servers/G1/r.md"},
    ):
        with pytest.raises(ToolError, match="hard links") as info:
            await run(tool, **args)
        assert "outside secret" not in str(info.value) and str(tmp_path) not in str(info.value)
    assert secret.read_text() == "outside secret\n"
    # The bot's other readers and the operator's browser refuse it as well.
    os.link(secret, root / "servers" / "G1" / "culture.md")
    assert MemoryManager("alpha", root).build_memory_context("G1", "C1", ["U1"]) == ""
    with pytest.raises(browse.BrowseError, match="hard links"):
        browse.read_bytes(root, ("servers", "G1", "linked.md"))
    # Deleting it removes this name only: the way to get rid of it.
    await run(tool, command="delete", path="/memories/servers/G1/linked.md")
    assert not linked.exists() and secret.read_text() == "outside secret\n"


async def test_every_command_still_works_through_descriptors(root: Path) -> None:
    """The fd-based primitives keep the commands' outcomes (a smoke test over the whole surface)."""
    tool = MemoryTool(root)
    await run(tool, command="create", path="/memories/servers/G1/a/b/c.md", file_text="one\n")
    await run(tool, command="insert", path="/memories/servers/G1/a/b/c.md", insert_line=1, insert_text="two")
    await run(tool, command="rename", old_path="/memories/servers/G1/a", new_path="/memories/servers/G1/z/y")
    assert (root / "servers/G1/z/y/b/c.md").read_text() == "one\ntwo\n"
    await run(tool, command="delete", path="/memories/servers/G1/z")
    assert list((root / "servers" / "G1").iterdir()) == []
