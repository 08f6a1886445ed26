"""The file tools on their own: line ranges capped at ``file_read_max_lines``, atomic writes,
exact-match edits that need exactly one match; and the output cap of ``execute_bash``."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.coding import CodingParts, build_coding
from framework.coding.output import CappedOutput
from framework.config.coding import CodingConfig
from framework.domain import ConversationScope, ToolError
from framework.memory.nofollow import is_temp_name

MASTER = "111111111111111111"
SCOPE = ConversationScope("cortana", None, "5", MASTER)


@pytest.fixture
def coding(tmp_path: Path) -> CodingParts:
    parts = build_coding(CodingConfig(files=True, file_read_max_lines=10), tmp_path / "ws", master_id=MASTER,
                         owner=None)
    assert parts is not None
    return parts


async def call(parts: CodingParts, name: str, **args: object) -> str:
    return await next(t for t in parts.tools if t.name == name).run(dict(args), SCOPE)


async def test_read_numbers_lines_and_pages_long_files(coding: CodingParts, tmp_path: Path) -> None:
    await call(coding, "write_file", path="notes/long.txt", content="".join(f"line {n}\n" for n in range(1, 26)))
    first = await call(coding, "read_file", path="notes/long.txt")
    assert first.splitlines()[0] == "     1\tline 1" and "    10\tline 10" in first and "line 11" not in first
    assert first.splitlines()[-1] == "[... lines 1-10 of 25; call again with start_line=11 for more ...]"
    middle = await call(coding, "read_file", path="/workspace/notes/long.txt", start_line=12, end_line=13)
    assert middle == "    12\tline 12\n    13\tline 13"
    with pytest.raises(ToolError, match="past the end"):
        await call(coding, "read_file", path="notes/long.txt", start_line=40)


async def test_write_is_atomic_and_leaves_no_temp_file(coding: CodingParts, tmp_path: Path) -> None:
    await call(coding, "write_file", path="a.txt", content="one")
    await call(coding, "write_file", path="a.txt", content="two")
    assert (tmp_path / "ws" / "a.txt").read_text() == "two"
    assert not [p for p in (tmp_path / "ws").iterdir() if is_temp_name(p.name)]


async def test_edit_needs_exactly_one_match(coding: CodingParts, tmp_path: Path) -> None:
    await call(coding, "write_file", path="s.py", content="x = 1\ny = 1\nx = 1\n")
    with pytest.raises(ToolError, match=r"occurs 2 times in /workspace/s.py \(lines 1, 3\)"):
        await call(coding, "edit_file", path="s.py", old_text="x = 1", new_text="x = 2")
    with pytest.raises(ToolError, match="does not occur"):
        await call(coding, "edit_file", path="s.py", old_text="z = 1", new_text="z = 2")
    assert await call(coding, "edit_file", path="s.py", old_text="y = 1\nx", new_text="y = 2\nx") == (
        "Edited /workspace/s.py: replaced 1 occurrence"
    )
    assert (tmp_path / "ws" / "s.py").read_text() == "x = 1\ny = 2\nx = 1\n"


async def test_unknown_arguments_are_refused(coding: CodingParts) -> None:
    with pytest.raises(ToolError, match="unknown: mode"):
        await call(coding, "write_file", path="a", content="b", mode="0777")


def test_small_output_is_whole_and_big_output_keeps_head_and_tail() -> None:
    small = CappedOutput(max_bytes=1000, max_lines=10)
    small.feed(b"a\nb")
    assert small.text() == "a\nb" and not small.truncated
    big = CappedOutput(max_bytes=1000, max_lines=10)
    for n in range(100):
        big.feed(f"line {n}\n".encode())
    lines = big.text().splitlines()
    assert lines[:5] == [f"line {n}" for n in range(5)] and lines[-5:] == [f"line {n}" for n in range(95, 100)]
    assert lines[5] == ("[... output cut: 90 lines (715 bytes) left out of 100 lines, 790 bytes; "
                        "the first 5 and the last 5 lines are shown ...]")


def test_one_endless_line_is_clipped_to_the_byte_cap() -> None:
    out = CappedOutput(max_bytes=2048, max_lines=500)
    for _ in range(1000):
        out.feed(b"x" * 4096)
    text = out.text()
    assert len(text) < 2 * 2048 + 200 and "4096000 bytes" in text
