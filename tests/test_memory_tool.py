"""The client-side memory tool: command semantics, the /memories jail, scope privacy, concurrency."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from framework.domain import ConversationScope, ToolError
from framework.memory import COMMANDS, MemoryTool, parse_memory_path, scope_folder

G1 = ConversationScope(bot_id="alpha", guild_id="G1", channel_id="C1", user_id="U1")
G2 = ConversationScope(bot_id="alpha", guild_id="G2", channel_id="C2", user_id="U1")
DM_U1 = ConversationScope(bot_id="alpha", guild_id=None, channel_id="D1", user_id="U1")
DM_U2 = ConversationScope(bot_id="alpha", guild_id=None, channel_id="D2", user_id="U2")

F = "/memories/servers/G1/notes.md"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "memories" / "alpha"


@pytest.fixture
def tool(root: Path) -> MemoryTool:
    return MemoryTool(root)


async def run(tool: MemoryTool, scope: ConversationScope = G1, **args: Any) -> str:
    return await tool.run(args, scope)


def put(root: Path, rel: str, text: str) -> Path:
    """Write a file behind the tool's back (another scope's or another bot's memories)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(base: Path) -> dict[str, tuple[str, bytes | str | None]]:
    """Every entry under ``base`` with its kind and content (files) or link target."""
    result: dict[str, tuple[str, bytes | str | None]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(base))
            if path.is_symlink():
                result[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                result[rel] = ("dir", None)
            else:
                result[rel] = ("file", path.read_bytes())
    return result


# -- protocol surface ------------------------------------------------------------------


def test_anthropic_param(tool: MemoryTool) -> None:
    assert tool.name == "memory"
    assert tool.anthropic_param() == {"type": "memory_20250818", "name": "memory"}


def test_function_schema_declares_every_command_and_field(tool: MemoryTool) -> None:
    schema = tool.function_schema()
    json.dumps(schema)  # serialisable as a provider would send it
    assert schema["name"] == "memory" and schema["description"]
    params = schema["parameters"]
    assert params["type"] == "object" and params["required"] == ["command"]
    props = params["properties"]
    assert set(props["command"]["enum"]) == set(COMMANDS) == {
        "view", "create", "str_replace", "insert", "delete", "rename"
    }
    fields = {"command", "path", "view_range", "file_text", "old_str", "new_str", "insert_line",
              "insert_text", "old_path", "new_path"}
    assert set(props) == fields
    for name, prop in props.items():
        assert prop["type"] in {"string", "integer", "array"}, name
        assert prop["description"], name
    assert props["view_range"]["items"] == {"type": "integer"}
    schema["parameters"]["properties"].clear()
    assert tool.function_schema()["parameters"]["properties"]  # a fresh copy each call


def test_parse_memory_path_normalises() -> None:
    assert parse_memory_path("/memories") == ()
    assert parse_memory_path("/memories/") == ()
    assert parse_memory_path("/memories/./servers//G1/a/../b.md") == ("servers", "G1", "b.md")
    assert parse_memory_path("/memories/%2e%2e/x") == ("%2e%2e", "x")  # a literal name
    assert scope_folder(G1) == "/memories/servers/G1" and scope_folder(DM_U2) == "/memories/dms/U2"


# -- command semantics -----------------------------------------------------------------


async def test_create_then_view_with_line_numbers(tool: MemoryTool, root: Path) -> None:
    assert await run(tool, command="create", path=F, file_text="one\ntwo\nthree\n") == (
        f"File created successfully at: {F}"
    )
    out = await run(tool, command="view", path=F)
    assert out == f"Here's the content of {F} with line numbers:\n     1\tone\n     2\ttwo\n     3\tthree"
    file = root / "servers" / "G1" / "notes.md"
    assert file.read_text() == "one\ntwo\nthree\n"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    for folder in (root / "servers", root / "servers" / "G1"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not [p for p in file.parent.iterdir() if p.name.startswith(".")]  # no temp file left


async def test_create_refuses_an_existing_file(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path=F, file_text="original\n")
    with pytest.raises(ToolError, match="already exists"):
        await run(tool, command="create", path=F, file_text="clobbered\n")
    assert (root / "servers/G1/notes.md").read_text() == "original\n"
    await run(tool, command="create", path="/memories/servers/G1/sub/x.md", file_text="x")
    with pytest.raises(ToolError, match="is a directory"):
        await run(tool, command="create", path="/memories/servers/G1/sub", file_text="x")


async def test_create_under_a_file_is_refused(tool: MemoryTool, tmp_path: Path) -> None:
    await run(tool, command="create", path=F, file_text="x\n")
    with pytest.raises(ToolError, match="is a file, not a directory") as info:
        await run(tool, command="create", path=F + "/inner.md", file_text="y")
    assert str(tmp_path) not in str(info.value)


async def test_view_range(tool: MemoryTool) -> None:
    await run(tool, command="create", path=F, file_text="a\nb\nc\nd\n")
    out = await run(tool, command="view", path=F, view_range=[2, 3])
    assert out.splitlines()[1:] == ["     2\tb", "     3\tc"]
    out = await run(tool, command="view", path=F, view_range=[3, -1])
    assert out.splitlines()[1:] == ["     3\tc", "     4\td"]
    out = await run(tool, command="view", path=F, view_range=[4, 4])
    assert out.splitlines()[1:] == ["     4\td"]
    for bad in ([0, 2], [5, -1], [3, 2], [1, 5], [2, -2]):
        with pytest.raises(ToolError, match="view_range"):
            await run(tool, command="view", path=F, view_range=bad)
    for malformed in ("1-2", [1], [1, 2, 3], [True, 2], [1.0, 2]):
        with pytest.raises(ToolError, match="view_range"):
            await run(tool, command="view", path=F, view_range=malformed)


async def test_view_directory_two_levels_hidden_skipped(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path="/memories/servers/G1/culture.md", file_text="vibe\n")
    await run(tool, command="create", path="/memories/servers/G1/users/U1.md", file_text="hi\n")
    await run(tool, command="create", path="/memories/servers/G1/users/deep/deeper.md", file_text="x")
    put(root, "servers/G1/.hidden.md", "secret")
    out = await run(tool, command="view", path="/memories/servers/G1")
    lines = out.splitlines()
    assert lines[0] == (
        "Here're the files and directories up to 2 levels deep in /memories/servers/G1, excluding hidden items:"
    )
    paths = [line.split("\t")[1] for line in lines[1:]]
    assert paths == [
        "/memories/servers/G1",
        "/memories/servers/G1/culture.md",
        "/memories/servers/G1/users/",
        "/memories/servers/G1/users/U1.md",
        "/memories/servers/G1/users/deep/",
    ]
    assert lines[2] == "5B\t/memories/servers/G1/culture.md"
    with pytest.raises(ToolError, match="does not exist"):
        await run(tool, command="view", path="/memories/servers/G1/missing.md")


async def test_str_replace_none_one_several(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path=F, file_text="cat\ndog\ncat\nbird\n")
    with pytest.raises(ToolError, match="did not appear verbatim"):
        await run(tool, command="str_replace", path=F, old_str="fish", new_str="x")
    with pytest.raises(ToolError, match=r"Multiple occurrences .* in lines: 1, 3"):
        await run(tool, command="str_replace", path=F, old_str="cat", new_str="x")
    with pytest.raises(ToolError, match="must not be empty"):
        await run(tool, command="str_replace", path=F, old_str="", new_str="x")
    assert (root / "servers/G1/notes.md").read_text() == "cat\ndog\ncat\nbird\n"
    out = await run(tool, command="str_replace", path=F, old_str="dog", new_str="wolf")
    assert out.startswith("The memory file has been edited.")
    assert "     2\twolf" in out
    assert (root / "servers/G1/notes.md").read_text() == "cat\nwolf\ncat\nbird\n"
    with pytest.raises(ToolError, match="does not exist"):
        await run(tool, command="str_replace", path="/memories/servers/G1/nope.md", old_str="a", new_str="b")


async def test_insert_top_middle_append_and_range(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path=F, file_text="b\nc")
    await run(tool, command="insert", path=F, insert_line=0, insert_text="a\n")
    await run(tool, command="insert", path=F, insert_line=3, insert_text="d")
    assert await run(tool, command="insert", path=F, insert_line=2, insert_text="b2") == (
        f"The file {F} has been edited."
    )
    assert (root / "servers/G1/notes.md").read_text() == "a\nb\nb2\nc\nd\n"
    for bad in (-1, 6):
        with pytest.raises(ToolError, match=r"insert_line.*\[0, 5\]"):
            await run(tool, command="insert", path=F, insert_line=bad, insert_text="x")
    with pytest.raises(ToolError, match="integer"):
        await run(tool, command="insert", path=F, insert_line="1", insert_text="x")


async def test_delete_file_and_directory(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path="/memories/servers/G1/a/one.md", file_text="1")
    await run(tool, command="create", path="/memories/servers/G1/a/b/two.md", file_text="2")
    await run(tool, command="create", path=F, file_text="x")
    assert await run(tool, command="delete", path=F) == f"Successfully deleted {F}"
    assert await run(tool, command="delete", path="/memories/servers/G1/a/") == (
        "Successfully deleted /memories/servers/G1/a"
    )
    assert sorted(p.name for p in (root / "servers" / "G1").iterdir()) == []
    with pytest.raises(ToolError, match="does not exist"):
        await run(tool, command="delete", path=F)


async def test_rename(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path=F, file_text="x\n")
    await run(tool, command="create", path="/memories/servers/G1/other.md", file_text="y\n")
    out = await run(tool, command="rename", old_path=F, new_path="/memories/servers/G1/archive/2025/notes.md")
    assert out == f"Successfully renamed {F} to /memories/servers/G1/archive/2025/notes.md"
    assert (root / "servers/G1/archive/2025/notes.md").read_text() == "x\n"
    assert stat.S_IMODE((root / "servers/G1/archive/2025").stat().st_mode) == 0o700
    with pytest.raises(ToolError, match="already exists"):
        await run(tool, command="rename", old_path="/memories/servers/G1/other.md",
                  new_path="/memories/servers/G1/archive/2025/notes.md")
    with pytest.raises(ToolError, match="into itself"):
        await run(tool, command="rename", old_path="/memories/servers/G1/archive",
                  new_path="/memories/servers/G1/archive/sub")
    with pytest.raises(ToolError, match="does not exist"):
        await run(tool, command="rename", old_path=F, new_path="/memories/servers/G1/z.md")
    assert (root / "servers/G1/other.md").read_text() == "y\n"


PROFILE = "/memories/servers/G1/users/5.md"
PHONE = "- phone: +1 415 555 0100\n"


async def test_contact_details_never_go_into_a_profile(tool: MemoryTool, root: Path) -> None:
    with pytest.raises(ToolError, match="profiles never hold contact details"):
        await run(tool, command="create", path=PROFILE, file_text="# User: Dana\n" + PHONE)
    assert not (root / "servers/G1/users/5.md").exists()
    await run(tool, command="create", path=PROFILE, file_text="# User: Dana\n- age 27, likes chess\n")
    for args in (
        {"command": "str_replace", "old_str": "likes chess", "new_str": "reach me on telegram dana_x"},
        {"command": "insert", "insert_line": 1, "insert_text": "- email dana@x.io"},
    ):
        with pytest.raises(ToolError, match="leave them out"):
            await run(tool, path=PROFILE, **args)
    await run(tool, command="str_replace", path=PROFILE, old_str="likes chess", new_str="likes chess and go")
    await run(tool, command="insert", path=PROFILE, insert_line=2, insert_text="- moved here in 2025")
    assert (root / "servers/G1/users/5.md").read_text() == (
        "# User: Dana\n- age 27, likes chess and go\n- moved here in 2025\n"
    )
    dm = "/memories/dms/U1/profile.md"
    with pytest.raises(ToolError, match="profiles never hold contact details"):
        await run(tool, DM_U1, command="create", path=dm, file_text=PHONE)
    await run(tool, DM_U1, command="create", path=dm, file_text="- likes chess\n")


async def test_rename_onto_a_profile_checks_the_moved_file(tool: MemoryTool, root: Path) -> None:
    notes = "/memories/servers/G1/notes.md"
    await run(tool, command="create", path=notes, file_text="# Dana\n" + PHONE)
    with pytest.raises(ToolError, match="profiles never hold contact details"):
        await run(tool, command="rename", old_path=notes, new_path=PROFILE)
    assert (root / "servers/G1/notes.md").read_text() == "# Dana\n" + PHONE
    assert not (root / "servers/G1/users/5.md").exists()
    # A folder moved to users/ would turn each file in it into a profile: checked the same way.
    await run(tool, command="create", path="/memories/servers/G1/people/7.md", file_text=PHONE)
    with pytest.raises(ToolError, match="leave them out"):
        await run(tool, command="rename", old_path="/memories/servers/G1/people", new_path="/memories/servers/G1/users")
    assert (root / "servers/G1/people/7.md").read_text() == PHONE
    assert not (root / "servers/G1/users").exists()
    # A clean file may still become a profile.
    await run(tool, command="create", path="/memories/servers/G1/draft.md", file_text="- likes chess\n")
    await run(tool, command="rename", old_path="/memories/servers/G1/draft.md", new_path=PROFILE)
    assert (root / "servers/G1/users/5.md").read_text() == "- likes chess\n"


async def test_edits_cannot_assemble_contact_details_in_a_profile(tool: MemoryTool, root: Path) -> None:
    before = "# User: Dana\n- ref 415 555 XX\n- mail dana@x\n- code 415 555\n"
    await run(tool, command="create", path=PROFILE, file_text=before)
    # Neither the old text nor the new one is a contact detail alone; joined, they are.
    for old_str, new_str in (("XX", "0100"), ("x\n", "x.io\n")):
        with pytest.raises(ToolError, match="profiles never hold contact details"):
            await run(tool, command="str_replace", path=PROFILE, old_str=old_str, new_str=new_str)
    with pytest.raises(ToolError, match="leave them out"):
        await run(tool, command="insert", path=PROFILE, insert_line=4, insert_text="0100")
    assert (root / "servers/G1/users/5.md").read_text() == before
    await run(tool, command="str_replace", path=PROFILE, old_str="XX", new_str="or so")


async def test_an_old_profile_with_contact_details_can_still_be_edited(tool: MemoryTool, root: Path) -> None:
    put(root, "servers/G1/users/5.md", "# User: Dana\n" + PHONE + "- likes chess\n")  # written before the rule
    await run(tool, command="str_replace", path=PROFILE, old_str="likes chess", new_str="likes chess and go")
    await run(tool, command="insert", path=PROFILE, insert_line=3, insert_text="- moved here in 2025")
    assert (root / "servers/G1/users/5.md").read_text() == (
        "# User: Dana\n" + PHONE + "- likes chess and go\n- moved here in 2025\n"
    )
    with pytest.raises(ToolError, match="leave them out"):  # new contact details are still refused
        await run(tool, command="insert", path=PROFILE, insert_line=0, insert_text="- ig: dana.x")


async def test_contact_details_are_not_checked_outside_profiles(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path="/memories/servers/G1/culture.md", file_text=PHONE)
    await run(tool, command="insert", path="/memories/servers/G1/culture.md", insert_line=1, insert_text="@mods")
    assert (root / "servers/G1/culture.md").read_text() == PHONE + "@mods\n"


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"command": "explode", "path": F},
        {"command": None},
        {"command": "view"},
        {"command": "view", "path": 42},
        {"command": "create", "path": F},
        {"command": "create", "path": F, "file_text": ["x"]},
        {"command": "str_replace", "path": F, "new_str": "x"},
        {"command": "insert", "path": F, "insert_text": "x"},
        {"command": "rename", "old_path": F},
    ],
)
async def test_malformed_arguments(tool: MemoryTool, args: dict[str, Any]) -> None:
    with pytest.raises(ToolError):
        await tool.run(args, G1)


# -- the jail ----------------------------------------------------------------------------

ESCAPES = [
    "../x",
    "/memories/../x",
    "/memories/servers/G1/../../../../etc/passwd",
    "/memories/../beta/servers/G1/secret.md",
    "/memoriesX/a",
    "/memories-old/servers/G1/a",
    "/etc/passwd",
    "C:\\x",
    "C:/memories/x",
    "\\memories\\a",
    "/memories/servers/G1\\..\\..\\x",
    "/memories/a\x00b",
    "/memories/servers/G1/a\nb.md",
    "/memories/" + "a" * 5000,
    "/memories/servers/G1/" + "b" * 256,
    "~/memories/x",
    "memories/servers/G1/x",
    "",
]


@pytest.mark.parametrize("bad", ESCAPES)
async def test_escape_attempts_are_refused_and_touch_nothing(tool: MemoryTool, tmp_path: Path, bad: str) -> None:
    beta = tmp_path / "memories" / "beta"
    put(beta, "servers/G1/secret.md", "beta's secret\n")
    put(tmp_path, "x", "outside\n")
    await run(tool, command="create", path=F, file_text="mine\n")
    before = snapshot(tmp_path)
    attempts = [
        {"command": "view", "path": bad},
        {"command": "create", "path": bad, "file_text": "pwned"},
        {"command": "str_replace", "path": bad, "old_str": "secret", "new_str": "pwned"},
        {"command": "insert", "path": bad, "insert_line": 0, "insert_text": "pwned"},
        {"command": "delete", "path": bad},
        {"command": "rename", "old_path": bad, "new_path": "/memories/servers/G1/got.md"},
        {"command": "rename", "old_path": F, "new_path": bad},
    ]
    for args in attempts:
        with pytest.raises(ToolError) as info:
            await tool.run(args, G1)
        assert str(tmp_path) not in str(info.value)  # never reveal host paths
        assert "secret\n" not in str(info.value)
    assert snapshot(tmp_path) == before


async def test_percent_encoded_traversal_is_a_literal_name(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path="/memories/servers/G1/%2e%2e/x.md", file_text="ok")
    assert (root / "servers/G1/%2e%2e/x.md").read_text() == "ok"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    put(folder, "secret.md", "outside secret\n")
    return folder


async def test_symlinks_inside_the_root_are_never_followed(
    tool: MemoryTool, root: Path, tmp_path: Path, outside: Path
) -> None:
    await run(tool, command="create", path=F, file_text="mine\n")
    g1 = root / "servers" / "G1"
    os.symlink(outside, g1 / "link")
    os.symlink(outside / "secret.md", g1 / "file-link.md")
    before = snapshot(tmp_path)
    attempts = [
        {"command": "view", "path": "/memories/servers/G1/link"},
        {"command": "view", "path": "/memories/servers/G1/link/secret.md"},
        {"command": "view", "path": "/memories/servers/G1/file-link.md"},
        {"command": "create", "path": "/memories/servers/G1/link/new.md", "file_text": "x"},
        {"command": "create", "path": "/memories/servers/G1/link/sub/new.md", "file_text": "x"},
        {"command": "str_replace", "path": "/memories/servers/G1/file-link.md", "old_str": "o", "new_str": "x"},
        {"command": "insert", "path": "/memories/servers/G1/link/secret.md", "insert_line": 0, "insert_text": "x"},
        {"command": "delete", "path": "/memories/servers/G1/link"},
        {"command": "delete", "path": "/memories/servers/G1/link/secret.md"},
        {"command": "delete", "path": "/memories/servers/G1/file-link.md"},
        {"command": "rename", "old_path": "/memories/servers/G1/link/secret.md",
         "new_path": "/memories/servers/G1/s.md"},
        {"command": "rename", "old_path": F, "new_path": "/memories/servers/G1/link/notes.md"},
    ]
    for args in attempts:
        with pytest.raises(ToolError, match="symbolic link") as info:
            await tool.run(args, G1)
        assert str(tmp_path) not in str(info.value)
    assert snapshot(tmp_path) == before
    listing = await run(tool, command="view", path="/memories/servers/G1")
    assert "link" not in listing and "notes.md" in listing


async def test_symlinked_scope_folder_is_refused(tool: MemoryTool, root: Path, tmp_path: Path, outside: Path) -> None:
    (root / "servers").mkdir(parents=True)
    os.symlink(outside, root / "servers" / "G1")
    before = snapshot(tmp_path)
    for args in (
        {"command": "view", "path": "/memories/servers/G1/secret.md"},
        {"command": "create", "path": F, "file_text": "x"},
    ):
        with pytest.raises(ToolError, match="symbolic link"):
            await tool.run(args, G1)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "args",
    [
        {"command": "delete", "path": "/memories"},
        {"command": "delete", "path": "/memories/"},
        {"command": "delete", "path": "/memories/."},
        {"command": "delete", "path": "/memories/servers/.."},
        {"command": "delete", "path": "/memories/servers/G1/../.."},
        {"command": "rename", "old_path": "/memories", "new_path": "/memories/x"},
        {"command": "rename", "old_path": "/memories/", "new_path": "/memories/servers/G1/x"},
        {"command": "rename", "old_path": F, "new_path": "/memories"},
        {"command": "rename", "old_path": F, "new_path": "/memories/"},
        {"command": "create", "path": "/memories", "file_text": "x"},
        # the conversation's own folder is just as protected as the root
        {"command": "delete", "path": "/memories/servers/G1"},
        {"command": "delete", "path": "/memories/servers/G1/"},
        {"command": "rename", "old_path": "/memories/servers/G1", "new_path": "/memories/servers/G1/x"},
        {"command": "delete", "path": "/memories/servers"},
    ],
)
async def test_root_and_scope_folder_cannot_be_deleted_or_renamed(
    tool: MemoryTool, tmp_path: Path, root: Path, args: dict[str, Any]
) -> None:
    await run(tool, command="create", path=F, file_text="precious\n")
    put(root, "servers/G2/other.md", "other guild\n")
    before = snapshot(tmp_path)
    with pytest.raises(ToolError):
        await tool.run(args, G1)
    assert snapshot(tmp_path) == before
    assert (root / "servers/G1/notes.md").read_text() == "precious\n"


async def test_bots_are_isolated(tmp_path: Path) -> None:
    alpha = MemoryTool(tmp_path / "memories" / "alpha")
    beta_root = tmp_path / "memories" / "beta"
    put(beta_root, "servers/G1/secret.md", "beta only\n")
    before = snapshot(beta_root)
    for path in ("/memories/../beta/servers/G1/secret.md", "/memories/servers/G1/../../../beta/servers/G1/secret.md"):
        with pytest.raises(ToolError):
            await run(alpha, command="view", path=path)
    with pytest.raises(ToolError, match="does not exist"):
        await run(alpha, command="view", path="/memories/servers/G1/secret.md")
    await run(alpha, command="create", path="/memories/servers/G1/secret.md", file_text="alpha's\n")
    assert await run(alpha, command="view", path="/memories/servers/G1/secret.md") == (
        "Here's the content of /memories/servers/G1/secret.md with line numbers:\n     1\talpha's"
    )
    assert snapshot(beta_root) == before


# -- scope privacy -----------------------------------------------------------------------


@pytest.fixture
def populated(root: Path) -> Path:
    for rel in ("servers/G1/culture.md", "servers/G2/secret.md", "dms/U1/me.md", "dms/U2/secret.md"):
        put(root, rel, f"{rel} text\n")
    return root


async def test_dm_scope_sees_only_its_own_folder(tool: MemoryTool, populated: Path) -> None:
    denied = [
        "/memories/dms/U2/secret.md",
        "/memories/dms/U1/../U2/secret.md",
        "/memories/dms/U2",
        "/memories/servers",
        "/memories/servers/G1/culture.md",
    ]
    for path in denied:
        with pytest.raises(ToolError, match="Access denied") as info:
            await run(tool, DM_U1, command="view", path=path)
        assert "text" not in str(info.value)
    with pytest.raises(ToolError, match="Access denied"):
        await run(tool, DM_U1, command="create", path="/memories/dms/U2/new.md", file_text="x")
    with pytest.raises(ToolError, match="Access denied"):
        await run(tool, DM_U1, command="rename", old_path="/memories/dms/U1/me.md", new_path="/memories/dms/U2/me.md")
    root_view = await run(tool, DM_U1, command="view", path="/memories")
    assert root_view.splitlines()[1:] == ["-\t/memories", "-\t/memories/dms/", "4K\t/memories/dms/U1/"]
    dms_view = await run(tool, DM_U1, command="view", path="/memories/dms")
    assert [line.split("\t")[1] for line in dms_view.splitlines()[1:]] == [
        "/memories/dms", "/memories/dms/U1/", "/memories/dms/U1/me.md"
    ]
    assert "me.md text" in await run(tool, DM_U1, command="view", path="/memories/dms/U1/me.md")
    assert "U2" not in root_view + dms_view and "servers" not in root_view + dms_view


async def test_guild_scope_sees_only_its_own_guild(tool: MemoryTool, populated: Path) -> None:
    for path in ("/memories/servers/G2/secret.md", "/memories/servers/G1/../G2/secret.md", "/memories/dms",
                 "/memories/dms/U1/me.md"):
        with pytest.raises(ToolError, match="Access denied"):
            await run(tool, G1, command="view", path=path)
    with pytest.raises(ToolError, match="Access denied"):
        await run(tool, G1, command="delete", path="/memories/servers/G1/../G2")
    root_view = await run(tool, G1, command="view", path="/memories")
    servers_view = await run(tool, G1, command="view", path="/memories/servers")
    assert [line.split("\t")[1] for line in root_view.splitlines()[1:]] == [
        "/memories", "/memories/servers/", "/memories/servers/G1/"
    ]
    assert [line.split("\t")[1] for line in servers_view.splitlines()[1:]] == [
        "/memories/servers", "/memories/servers/G1/", "/memories/servers/G1/culture.md"
    ]
    assert "G2" not in root_view + servers_view and "dms" not in root_view + servers_view
    assert (populated / "servers/G2/secret.md").exists()


async def test_scope_without_a_folder_sees_nothing_of_others(tool: MemoryTool, populated: Path) -> None:
    g3 = ConversationScope(bot_id="alpha", guild_id="G3", channel_id="C3", user_id="U1")
    root_view = await run(tool, g3, command="view", path="/memories")
    assert root_view.splitlines()[1:] == ["-\t/memories"]
    with pytest.raises(ToolError, match="does not exist"):
        await run(tool, g3, command="view", path="/memories/servers")
    await run(tool, g3, command="create", path="/memories/servers/G3/a.md", file_text="x")
    assert "/memories/servers/G3/" in await run(tool, g3, command="view", path="/memories")


async def test_bad_scope_ids_are_refused(tool: MemoryTool) -> None:
    for scope in (
        ConversationScope(bot_id="alpha", guild_id="..", channel_id="C", user_id="U1"),
        ConversationScope(bot_id="alpha", guild_id=None, channel_id="C", user_id="U1/../U2"),
        ConversationScope(bot_id="alpha", guild_id="", channel_id="C", user_id="U1"),
    ):
        with pytest.raises(ToolError, match="no usable memory folder"):
            await run(tool, scope, command="view", path="/memories")


# -- content rules -----------------------------------------------------------------------


async def test_size_cap_applies_to_the_resulting_file(root: Path) -> None:
    tool = MemoryTool(root, max_file_bytes=1024)
    with pytest.raises(ToolError, match="1024 bytes"):
        await run(tool, command="create", path=F, file_text="x" * 1025)
    with pytest.raises(ToolError, match="1024 bytes"):
        await run(tool, command="create", path=F, file_text="é" * 600)  # 1200 bytes in UTF-8
    assert not (root / "servers/G1/notes.md").exists()
    await run(tool, command="create", path=F, file_text="x" * 1000 + "\nEND\n")
    with pytest.raises(ToolError, match="1024 bytes"):
        await run(tool, command="str_replace", path=F, old_str="END", new_str="E" * 100)
    with pytest.raises(ToolError, match="1024 bytes"):
        await run(tool, command="insert", path=F, insert_line=2, insert_text="y" * 100)
    assert (root / "servers/G1/notes.md").read_text() == "x" * 1000 + "\nEND\n"
    await run(tool, command="str_replace", path=F, old_str="END", new_str="E" * 22)  # exactly 1024 bytes
    assert (root / "servers/G1/notes.md").stat().st_size == 1024


async def test_utf8_only(tool: MemoryTool, root: Path) -> None:
    put(root, "servers/G1/x.md", "")
    (root / "servers/G1/blob.bin").write_bytes(b"\xff\xfe\x00binary")
    for command in ({"command": "view"}, {"command": "insert", "insert_line": 0, "insert_text": "x"}):
        with pytest.raises(ToolError, match="UTF-8"):
            await tool.run({**command, "path": "/memories/servers/G1/blob.bin"}, G1)
    with pytest.raises(ToolError, match="surrogates"):
        await run(tool, command="create", path=F, file_text="bad \ud800 text")
    with pytest.raises(ToolError, match="NUL"):
        await run(tool, command="create", path=F, file_text="bad \x00 text")
    assert (root / "servers/G1/blob.bin").read_bytes() == b"\xff\xfe\x00binary"


# -- concurrency -------------------------------------------------------------------------


async def test_concurrent_edits_of_one_file_lose_nothing(tool: MemoryTool, root: Path) -> None:
    # 50 tasks read-modify-write one file through worker threads; without the per-path lock
    # most of these updates overwrite each other.
    await run(tool, command="create", path=F, file_text="".join(f"slot{i:02d}\n" for i in range(25)))
    edits = [
        run(tool, command="str_replace", path=F, old_str=f"slot{i:02d}", new_str=f"done{i:02d}") for i in range(25)
    ]
    inserts = [run(tool, command="insert", path=F, insert_line=0, insert_text=f"ins{i:02d}") for i in range(25)]
    await asyncio.gather(*edits, *inserts)
    lines = (root / "servers/G1/notes.md").read_text().splitlines()
    assert sorted(lines) == sorted([f"done{i:02d}" for i in range(25)] + [f"ins{i:02d}" for i in range(25)])
    assert tool._locks.idle


async def test_crossing_renames_and_tree_deletes_do_not_deadlock(tool: MemoryTool, root: Path) -> None:
    await run(tool, command="create", path="/memories/servers/G1/a.md", file_text="a")
    await run(tool, command="create", path="/memories/servers/G1/dir/x.md", file_text="x")

    async def attempt(**args: Any) -> str | None:
        try:
            return await run(tool, **args)
        except ToolError:
            return None

    jobs = [
        attempt(command="rename", old_path="/memories/servers/G1/a.md", new_path="/memories/servers/G1/b.md"),
        attempt(command="rename", old_path="/memories/servers/G1/b.md", new_path="/memories/servers/G1/a.md"),
        attempt(command="delete", path="/memories/servers/G1/dir"),
        *[attempt(command="create", path=f"/memories/servers/G1/dir/n{i}.md", file_text="n") for i in range(10)],
    ]
    await asyncio.wait_for(asyncio.gather(*jobs), timeout=5)
    assert tool._locks.idle
    names = {p.name for p in (root / "servers/G1").iterdir()}
    assert len(names & {"a.md", "b.md"}) == 1  # moved zero, one or two times: never lost or doubled


async def test_cancelled_command_keeps_its_lock_until_the_thread_is_done(
    tool: MemoryTool, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run(tool, command="create", path=F, file_text="base\n")
    started, release = threading.Event(), threading.Event()
    original = tool._files.insert

    def slow_insert(*args: Any) -> str:
        started.set()
        release.wait(5)
        return original(*args)

    monkeypatch.setattr(tool._files, "insert", slow_insert)
    first = asyncio.create_task(run(tool, command="insert", path=F, insert_line=0, insert_text="first"))
    while not started.is_set():
        await asyncio.sleep(0.001)
    monkeypatch.setattr(tool._files, "insert", original)
    first.cancel()
    second = asyncio.create_task(run(tool, command="insert", path=F, insert_line=0, insert_text="second"))
    await asyncio.sleep(0.05)
    assert not second.done()  # still waiting: the cancelled command's thread holds the file
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert (root / "servers/G1/notes.md").read_text() == "second\nfirst\nbase\n"
    assert tool._locks.idle


# -- logging -----------------------------------------------------------------------------


async def test_commands_are_logged_at_debug_without_contents(
    tool: MemoryTool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="framework.memory")
    await run(tool, command="create", path=F, file_text="TOP-SECRET-CONTENT\n")
    await run(tool, command="view", path=F)
    with pytest.raises(ToolError):
        await run(tool, command="str_replace", path=F, old_str="TOP-SECRET-OLD", new_str="TOP-SECRET-NEW")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert f"memory create {F}" in text and f"memory view {F}" in text
    assert "TOP-SECRET" not in text
    assert all(record.levelno == logging.DEBUG for record in caplog.records)


def test_memory_package_stays_engine_side() -> None:
    """No SDK, Discord or database import: the tool runs under any provider and in tests."""
    import ast

    import framework.memory

    forbidden = {"anthropic", "discord", "aiosqlite", "groq"}
    for source in Path(framework.memory.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            assert not {name.split(".")[0] for name in names} & forbidden, source.name


async def test_a_write_waits_for_another_process_writing_the_same_memory_folder(tool: MemoryTool, root: Path) -> None:
    """The shard processes of one bot share its memory folder: a write waits while another
    process holds the folder's lock, and goes through once it lets go."""
    import subprocess
    import sys

    await run(tool, command="create", path=F, file_text="cat\ndog\n")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()", str(root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        edit = asyncio.create_task(run(tool, command="str_replace", path=F, old_str="dog", new_str="wolf"))
        done, _ = await asyncio.wait({edit}, timeout=0.3)  # a bound on a negative: it must not get through
        assert not done and (root / "servers/G1/notes.md").read_text() == "cat\ndog\n"
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert (await asyncio.wait_for(edit, 10)).startswith("The memory file has been edited.")
    finally:
        holder.kill()
        holder.communicate()  # waits, and closes both pipes
    assert (root / "servers/G1/notes.md").read_text() == "cat\nwolf\n"
