"""MemoryManager: the memory tree's layout, its reads, and the memory digest (people present only, capped, cached, stable)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from framework.domain import ConversationScope, ToolError
from framework.memory import MemoryManager, MemoryTool, parse_memory_path
from framework.memory.layout import channel_parts, culture_parts, folder_name, folder_parts, followups_parts, profile_parts
from framework.memory.paths import virtual_path
from framework.memory.profiles import render_profile


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "memories" / "alpha"


@pytest.fixture
def manager(root: Path) -> MemoryManager:
    return MemoryManager("alpha", root, max_context_chars=6000)


def put(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def bump_mtime(path: Path) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))


def followup(fid: str, user: str, event: str, due: str = "2026-03-05T00:00:00Z") -> dict[str, str]:
    return {
        "id": fid,
        "user_id": user,
        "user_name": user,
        "event": event,
        "mentioned_date": "2026-03-01T00:00:00Z",
        "follow_up_after": due,
        "priority": "high",
        "channel_id": "C1",
    }


def test_paths_follow_the_spec_layout() -> None:
    # The digest and the stores build their paths from framework.memory.layout.
    assert virtual_path(culture_parts("123")) == "/memories/servers/123/culture.md"
    assert virtual_path(profile_parts("123", "111")) == "/memories/servers/123/users/111.md"
    assert virtual_path(channel_parts("123", "987")) == "/memories/servers/123/channels/987.md"
    assert virtual_path(followups_parts(folder_parts("123", None))) == "/memories/servers/123/followups.json"
    assert virtual_path(profile_parts(None, "111")) == "/memories/dms/111/profile.md"
    assert virtual_path(followups_parts(folder_parts(None, "111"))) == "/memories/dms/111/followups.json"
    assert virtual_path(followups_parts(folder_parts("123", "111"))) == "/memories/servers/123/followups.json"
    assert folder_name(folder_parts("123", "111")) == "servers/123"
    assert folder_name(folder_parts(None, "111")) == "dms/111"
    for bad in ("../x", "1/2", "", "a b"):
        with pytest.raises(ValueError):
            profile_parts("123", bad)


async def test_memory_paths_land_in_the_root_and_escapes_and_links_are_refused(
    manager: MemoryManager, root: Path, tmp_path: Path
) -> None:
    tool = MemoryTool(root)
    scope = ConversationScope(bot_id="alpha", guild_id="123", channel_id="C1", user_id="U1")
    await tool.run({"command": "create", "path": "/memories/servers/123/culture.md", "file_text": "x\n"}, scope)
    assert (root / "servers" / "123" / "culture.md").read_text() == "x\n"
    for bad in ("/memories/../secret", "/etc/passwd", "memories/x", "/memoriesX/a"):
        with pytest.raises(ToolError):
            parse_memory_path(bad)
    outside = tmp_path / "outside"
    put(outside, "culture.md", "outside culture\n")
    (root / "servers" / "G9").symlink_to(outside)
    g9 = ConversationScope(bot_id="alpha", guild_id="G9", channel_id="C1", user_id="U1")
    with pytest.raises(ToolError, match="symbolic link"):
        await tool.run({"command": "view", "path": "/memories/servers/G9/culture.md"}, g9)
    assert manager.build_memory_context("G9", "C1", ["U1"]) == ""  # not read through the link


def test_the_digest_reads_files_and_skips_missing_corrupt_and_linked_ones(
    manager: MemoryManager, root: Path, tmp_path: Path
) -> None:
    assert manager.build_memory_context("G1", "C1", ["U1"]) == ""  # missing: nothing
    put(root, "servers/G1/culture.md", "# Server: Test\n")
    assert "# Server: Test" in manager.build_memory_context("G1", "C1", ["U1"])
    followups = put(root, "servers/G1/followups.json", json.dumps({"pending": [followup("f1", "U1", "exam")]}))
    assert "U1 (U1): exam" in manager.build_memory_context("G1", "C1", ["U1"])
    followups.write_text("{nope")  # not valid JSON: no follow-ups, the rest still shown
    bump_mtime(followups)
    text = manager.build_memory_context("G1", "C1", ["U1"])
    assert "exam" not in text and "# Server: Test" in text
    secret = put(tmp_path, "secret.md", "do not read")
    (root / "servers" / "G1" / "channels").mkdir()
    (root / "servers" / "G1" / "channels" / "C1.md").symlink_to(secret)
    text = manager.build_memory_context("G1", "C1", ["U1"])
    assert "do not read" not in text and "This channel" not in text and "# Server: Test" in text


def test_empty_tree_gives_empty_digest_and_creates_nothing(manager: MemoryManager, root: Path) -> None:
    assert manager.build_memory_context("G1", "C1", ["U1"]) == ""
    assert not root.exists()
    root.mkdir(parents=True)
    assert manager.build_memory_context("G1", "C1", ["U1"]) == ""
    assert manager.build_memory_context(None, "D1", [], dm_user_id="U1") == ""


def test_digest_sections_and_only_the_people_present(manager: MemoryManager, root: Path) -> None:
    put(root, "servers/G1/culture.md", "# Server: Gamers\n\n**Vibe:** casual\n")
    put(root, "servers/G1/channels/C1.md", "# Channel: #general\nMinecraft server launched\n")
    put(root, "servers/G1/channels/C2.md", "other channel notes\n")
    put(root, "servers/G1/users/U1.md", "# User: Dana\n\n## Notes\n- appreciates dark humour\n")
    put(root, "servers/G1/users/U2.md", "# User: John\n\n- loud keyboard\n")
    put(root, "servers/G1/users/U3.md", "# User: Absent\n\n- should not appear\n")
    put(root, "servers/G2/culture.md", "another server\n")
    put(
        root,
        "servers/G1/followups.json",
        json.dumps(
            {"pending": [followup("f1", "U1", "Job interview at TechCorp"), followup("f3", "U3", "absent thing")]}
        ),
    )
    text = manager.build_memory_context("G1", "C1", ["U2", "U1", "U2", "U9"], names={"U1": "Dana"})
    assert "Your folder: /memories/servers/G1" in text
    assert "**Vibe:** casual" in text and "(/memories/servers/G1/culture.md)" in text
    assert "Minecraft server launched" in text and "other channel notes" not in text
    assert "dark humour" in text and "loud keyboard" in text
    assert "should not appear" not in text and "absent thing" not in text and "another server" not in text
    assert "### Dana (/memories/servers/G1/users/U1.md)" in text
    assert "### U2 (/memories/servers/G1/users/U2.md)" in text  # no name given: the id
    assert "# User: Dana" not in text  # the digest names the person itself
    assert "- Dana (U1): Job interview at TechCorp (after 2026-03-05 00:00Z, high, id f1)" in text
    assert text.index("Server culture") < text.index("This channel") < text.index("People") < text.index("follow-ups")
    assert len(text) <= manager.max_context_chars


def test_digest_is_stable(manager: MemoryManager, root: Path) -> None:
    put(root, "servers/G1/users/U1.md", "- one\n")
    put(root, "servers/G1/users/U2.md", "- two\n")
    put(root, "servers/G1/culture.md", "culture\n")
    first = manager.build_memory_context("G1", "C1", ["U1", "U2"])
    assert manager.build_memory_context("G1", "C1", ["U1", "U2"]) == first
    assert manager.build_memory_context("G1", "C1", ["U2", "U1"]) == first  # order of speakers does not matter
    fresh = MemoryManager("alpha", root)
    assert fresh.build_memory_context("G1", "C1", ["U1", "U2"]) == first  # no hidden state


def test_size_cap_and_truncation_marker(root: Path) -> None:
    manager = MemoryManager("alpha", root, max_context_chars=1200)
    put(root, "servers/G1/culture.md", "".join(f"- culture rule number {i}\n" for i in range(400)))
    put(root, "servers/G1/channels/C1.md", "".join(f"- channel note {i}\n" for i in range(400)))
    for uid in ("U1", "U2", "U3"):
        put(root, f"servers/G1/users/{uid}.md", "".join(f"- fact {i} about {uid}\n" for i in range(300)))
    put(root, "servers/G1/followups.json", json.dumps({"pending": [followup("f1", "U1", "Job interview")]}))
    text = manager.build_memory_context("G1", "C1", ["U1", "U2", "U3"])
    assert len(text) <= 1200
    assert "view /memories/servers/G1/culture.md for the rest" in text
    assert "view /memories/servers/G1/channels/C1.md for the rest" in text
    assert "- culture rule number 0" in text
    assert "culture rule number 399" not in text
    assert "fact 0 about U1" in text and "view /memories/servers/G1/users/U1.md for the rest" in text
    assert "fact 0 about U3" not in text  # no room for a third person at this size...
    assert "more profiles in /memories/servers/G1/users)" in text  # ...and the model is told where to look
    assert "- U1 (U1): Job interview" in text  # the follow-ups keep their share
    assert not text.endswith("/memories/servers/G1 for the rest]")  # no global cut was needed
    roomier = MemoryManager("alpha", root, max_context_chars=4000).build_memory_context("G1", "C1", ["U1", "U2", "U3"])
    assert len(roomier) <= 4000
    assert all(f"fact 0 about {uid}" in roomier for uid in ("U1", "U2", "U3"))  # each gets a share


def test_people_are_capped(root: Path) -> None:
    manager = MemoryManager("alpha", root, max_context_chars=20000)
    ids = [f"U{i:02d}" for i in range(12)]
    for uid in ids:
        put(root, f"servers/G1/users/{uid}.md", f"- about {uid}\n")
    text = manager.build_memory_context("G1", "C1", list(reversed(ids)))
    shown = [uid for uid in ids if f"about {uid}" in text]
    assert shown == sorted(ids[4:])  # the first 8 given (the latest speakers), in id order


def test_changed_file_is_seen_and_unchanged_files_are_not_reread(
    manager: MemoryManager, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = put(root, "servers/G1/channels/C1.md", "version one\n")
    assert "version one" in manager.build_memory_context("G1", "C1", [])
    reads: list[tuple[str, ...]] = []
    original = manager._read_parts

    def counting(parts: tuple[str, ...]) -> str | None:
        reads.append(parts)
        return original(parts)

    monkeypatch.setattr(manager, "_read_parts", counting)
    for _ in range(5):
        manager.build_memory_context("G1", "C1", [])
    assert reads == []
    path.write_text("version two\n", encoding="utf-8")  # e.g. pulled by git
    bump_mtime(path)
    text = manager.build_memory_context("G1", "C1", [])
    assert "version two" in text and "version one" not in text
    assert reads == [("servers", "G1", "channels", "C1.md")]


def test_dm_layout(manager: MemoryManager, root: Path) -> None:
    put(root, "dms/U1/profile.md", "# User: Dana\n\n- likes chess\n")
    put(root, "dms/U2/profile.md", "- someone else\n")
    put(root, "servers/G1/culture.md", "server culture\n")
    put(root, "dms/U1/followups.json", json.dumps({"pending": [followup("f1", "U1", "Driving test")]}))
    text = manager.build_memory_context(None, "D1", ["U1"], dm_user_id="U1", names={"U1": "Dana"})
    assert "Your folder: /memories/dms/U1" in text
    assert "likes chess" in text and "someone else" not in text and "server culture" not in text
    assert "Driving test" in text
    assert manager.build_memory_context(None, "D1", ["U1"]) == text.replace("Dana (", "U1 (")


def test_profile_fact_markers_stay_out_of_the_digest(manager: MemoryManager, root: Path) -> None:
    facts = {"age": 27, "interests": ["minecraft"]}
    profile = render_profile("# User: Dana\n\n## Notes\n- kind\n", facts, user_name="Dana")
    put(root, "servers/G1/users/U1.md", profile)
    text = manager.build_memory_context("G1", "C1", ["U1"])
    assert "- age: 27" in text and "- into: minecraft" in text and "- kind" in text
    assert "profile-facts" not in text and "{" not in text


def test_corrupt_followups_do_not_break_the_digest(manager: MemoryManager, root: Path) -> None:
    put(root, "servers/G1/followups.json", "garbage")
    put(root, "servers/G1/culture.md", "culture\n")
    text = manager.build_memory_context("G1", "C1", ["U1"])
    assert "culture" in text and "follow-ups" not in text


def test_the_manager_never_writes(manager: MemoryManager, root: Path) -> None:
    put(root, "servers/G1/users/U1.md", "- x\n")
    broken = {"pending": [{"user_id": "U1", "event": "e", "channel_id": "C1"}]}
    put(root, "servers/G1/followups.json", json.dumps(broken))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    manager.build_memory_context("G1", "C1", ["U1"])
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert before == after  # the broken follow-up is shown but repaired only by the store


def test_no_limit_is_ever_exceeded(root: Path) -> None:
    put(root, "servers/G1/culture.md", "x" * 9000)  # one long line: cut mid-line
    put(root, "servers/G1/channels/C1.md", "".join(f"- note {i}\n" for i in range(500)))
    for i in range(10):
        put(root, f"servers/G1/users/U{i}.md", f"# User: {i}\n" + "".join(f"- fact {j}\n" for j in range(200)))
    items = [followup(f"f{i}", f"U{i}", "e" * 200) for i in range(10)]
    put(root, "servers/G1/followups.json", json.dumps({"pending": items}))
    for limit in range(200, 7000, 137):
        text = MemoryManager("alpha", root, max_context_chars=limit).build_memory_context(
            "G1", "C1", [f"U{i}" for i in range(10)]
        )
        assert len(text) <= limit, limit
        assert text or limit < 400, limit  # only a tiny limit leaves no room for any section


def test_a_cached_file_swapped_for_a_symlink_is_never_followed(
    manager: MemoryManager, root: Path, tmp_path: Path
) -> None:
    culture = put(root, "servers/1/culture.md", "# Culture\nchess on fridays\n")
    assert "chess on fridays" in manager.build_memory_context("1", "2", [])  # cached now
    outside = tmp_path / "outside.md"
    outside.write_text("# Secret\nthe launch codes\n")
    culture.unlink()
    culture.symlink_to(outside)
    digest = manager.build_memory_context("1", "2", [])
    assert "launch codes" not in digest and "chess on fridays" not in digest
