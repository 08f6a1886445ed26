"""framework.memory.browse on real files: the jail, the capped read, the tree, grep and follow-ups as plain data."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from framework import exitcodes
from framework.memory import browse
from framework.memory.fileops import READ_LIMIT_BYTES

from .conftest import write_bot

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """memories/alpha with one guild folder (a note, a user file) and one DM folder."""
    write_bot(tmp_path)
    memories = tmp_path / "memories" / "alpha"
    (memories / "servers" / "1" / "users").mkdir(parents=True)
    (memories / "servers" / "1" / "culture.md").write_text("# Culture\n\nSkill issue is praise\n")
    (memories / "servers" / "1" / "users" / "7.md").write_text("# Dana\n- skill ISSUE twice: skill issue\n")
    (memories / "dms" / "7").mkdir(parents=True)
    (memories / "dms" / "7" / "notes.md").write_text("nothing here\n")
    return memories


def refused(exc: pytest.ExceptionInfo[browse.BrowseError], code: int, text: str) -> None:
    assert exc.value.code == code
    assert text in str(exc.value) and "\n" not in str(exc.value)


def test_unknown_bots_and_bad_ids_are_usage_errors(root: Path) -> None:
    home = root.parent.parent
    assert browse.bot_memories(home, "alpha") == root
    with pytest.raises(browse.BrowseError) as exc:
        browse.bot_memories(home, "../alpha")
    refused(exc, exitcodes.USAGE, "is not a bot id")
    with pytest.raises(browse.BrowseError) as exc:
        browse.bot_memories(home, "zeta")
    refused(exc, exitcodes.USAGE, "(configured: alpha)")


def test_paths_parse_like_the_memory_tool(root: Path) -> None:
    assert browse.parse_path("/memories/servers/1/culture.md", "alpha", root) == ("servers", "1", "culture.md")
    assert browse.parse_path("servers/1", "alpha", root) == ("servers", "1")
    assert browse.parse_path("memories/alpha/dms/7", "alpha", root) == ("dms", "7")
    assert browse.parse_path("/memories/alpha/dms", "alpha", root) == ("dms",)
    with pytest.raises(browse.BrowseError) as exc:
        browse.parse_path("/memories/../../etc/passwd", "alpha", root)
    refused(exc, exitcodes.USAGE, "refused")


def test_links_missing_files_and_a_missing_root(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret").write_text("top secret")
    os.symlink(outside, root / "servers" / "1" / "elsewhere")
    with pytest.raises(browse.BrowseError) as exc:
        browse.locate(root, ("servers", "1", "elsewhere", "secret"), "alpha")
    refused(exc, exitcodes.USAGE, "/memories/servers/1/elsewhere of bot alpha is a symbolic link")
    with pytest.raises(browse.BrowseError) as exc:
        browse.locate(root, ("servers", "2"), "alpha")
    refused(exc, exitcodes.USAGE, "no memory file /memories/servers/2 for bot alpha")
    assert browse.resolve(root, (), "alpha", must_exist=False) == root
    missing = root.parent / "beta"
    assert browse.resolve(missing, (), "beta", must_exist=False) is None
    with pytest.raises(browse.BrowseError) as exc:
        browse.resolve(missing, (), "beta", must_exist=True)
    refused(exc, exitcodes.USAGE, "beta has no memories yet")


def test_reads_refuse_links_special_files_and_huge_files(root: Path) -> None:
    note = root / "servers" / "1" / "culture.md"
    assert browse.read_file(note, ("servers", "1", "culture.md")).data == note.read_bytes()
    os.symlink(note, root / "link.md")
    with pytest.raises(browse.BrowseError) as exc:
        browse.read_bytes(root, ("link.md",))
    refused(exc, exitcodes.USAGE, "is a symbolic link")
    os.mkfifo(root / "pipe")
    with pytest.raises(browse.BrowseError) as exc:
        browse.read_bytes(root, ("pipe",))  # must not hang
    refused(exc, exitcodes.USAGE, "not a regular file")
    with open(root / "huge.bin", "wb") as handle:
        handle.truncate(READ_LIMIT_BYTES + 1)
    with pytest.raises(browse.BrowseError) as exc:
        browse.read_bytes(root, ("huge.bin",))
    refused(exc, exitcodes.FAILURE, "is 16.0 MiB, more than the 16.0 MiB the memory tool reads")


def test_the_tree_lifts_scope_folders_and_counts(root: Path) -> None:
    os.symlink("/etc/passwd", root / "servers" / "1" / "evil.md")
    listing = browse.list_tree(root, ())
    assert [(e.label, e.kind) for e in listing.entries] == [("dms/7", "dir"), ("servers/1", "dir")]
    guild = listing.entries[1]
    assert [(e.label, e.kind) for e in guild.children] == [("users", "dir"), ("culture.md", "file"), ("evil.md", "link")]
    culture = guild.children[1]
    assert culture.virtual == "/memories/servers/1/culture.md"
    assert culture.size == len("# Culture\n\nSkill issue is praise\n")
    assert culture.mtime.tzinfo is not None
    assert (listing.files, listing.links, listing.warnings) == (3, 1, [])
    sub = browse.list_tree(root / "servers" / "1" / "users", ("servers", "1", "users"))
    assert [e.virtual for e in sub.entries] == ["/memories/servers/1/users/7.md"] and sub.files == 1


def test_grep_reports_every_match_with_spans(root: Path) -> None:
    (root / "dms" / "7" / "latin1.md").write_bytes(b"skill issue \xe9\n")
    result = browse.grep(root, (), "skill issue")
    assert [(m.shown, m.number) for m in result.matches] == [  # tree order: folders first
        ("/memories/servers/1/users/7.md", 2),
        ("/memories/servers/1/culture.md", 3),
    ]
    assert result.matches[0].spans == ((2, 13), (21, 32))
    assert (result.searched, result.hit_files, result.skipped) == (4, 2, ["/memories/dms/7/latin1.md"])
    with pytest.raises(browse.BrowseError) as exc:
        browse.grep(root, (), "")
    refused(exc, exitcodes.USAGE, "--grep needs some text")


def test_followups_load_as_the_bot_parses_them(root: Path) -> None:
    item = {
        "id": "followup_001", "user_id": "7", "user_name": "Dana", "event": "Interview",
        "mentioned_date": "2026-03-07T12:00:00Z", "expected_completion": "2026-03-09",
        "follow_up_after": "2026-03-10T09:00:00Z", "priority": "high", "context": "", "channel_id": "5",
    }  # fmt: skip
    (root / "servers" / "1" / "followups.json").write_text(json.dumps({"pending": [item], "completed": []}))
    (root / "dms" / "7" / "followups.json").write_text("{oops")
    loaded = browse.load_followups(root, now=NOW, default_delay_days=1.0)
    assert [(f.folder, f.shown) for f in loaded.folders] == [
        ("servers/1", "/memories/servers/1/followups.json"),
        ("dms/7", "/memories/dms/7/followups.json"),
    ]
    guild, broken = loaded.folders
    assert broken.parsed is None and broken.error and "starts this folder's follow-ups afresh" in broken.error
    assert guild.error is None and guild.parsed is not None
    (pending,) = guild.parsed.pending
    assert browse.followup_state(pending, NOW) == "due"
    assert browse.followup_state(pending, NOW - timedelta(days=1)) == "waiting"
    assert browse.load_followups(root.parent / "beta", now=NOW, default_delay_days=1.0).folders == []
