"""``bot_manager memory`` and ``followups`` through Typer's CliRunner, on real files in a tmp BOT_HOME."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from framework.cli import app, memory_cmds
from framework.cli.common import CliContext

from .conftest import write_bot

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
GUILD = "123456789"
SECRET = "root:x:0:0:top-secret-outside-the-jail"

CULTURE = """\
# Server: Example Gaming Server

**General Vibe:** Tech-focused gaming community, casual humor
**Active Hours:** 6pm-11pm PST weekdays

## Running Gags
- "skill issue" = highest praise (ironic)
"""


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_cmds, "_now", lambda: NOW)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    write_bot(tmp_path)
    return tmp_path


@pytest.fixture
def tree(home: Path) -> Path:
    """memories/alpha with a guild folder (culture, a channel, two users) and a DM folder."""
    guild = home / "memories" / "alpha" / "servers" / GUILD
    (guild / "channels").mkdir(parents=True)
    (guild / "users").mkdir()
    (guild / "culture.md").write_text(CULTURE)
    (guild / "channels" / "987654321.md").write_text("# Channel: #gaming\n\n- Minecraft server launched\n")
    (guild / "users" / "111.md").write_text("# User: Dana\n\n- ML engineer; interviewed at TechCorp\n")
    (guild / "users" / "222.md").write_text("# User: John\n\n" + "- keyboard is too loud\n" * 80)
    dm = home / "memories" / "alpha" / "dms" / "111"
    dm.mkdir(parents=True)
    (dm / "notes.md").write_text("# DM with Dana\n\n- prefers D\n")
    return home / "memories" / "alpha"


def invoke(home: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), obj=CliContext(home=home, environ={}))


def as_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI believe stdout is a terminal (CliRunner's is not), without colour codes."""
    console = Console(force_terminal=True, color_system=None, width=100, highlight=False, soft_wrap=True)
    monkeypatch.setattr(memory_cmds, "out", console)


def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide, non-terminal stdout (CliRunner's console is 80 columns)."""
    monkeypatch.setattr(memory_cmds, "out", Console(width=200, color_system=None, highlight=False, soft_wrap=True))


def flat(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- memory: tree


def test_tree_lists_files_with_sizes_folders_first(tree: Path) -> None:
    result = invoke(tree.parent.parent, "memory", "alpha")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for name in ("servers/123456789/", "dms/111/", "channels/", "users/", "culture.md", "987654321.md", "111.md", "notes.md"):
        assert name in text
    culture_size = len(CULTURE.encode())
    assert f"culture.md  {culture_size} B" in text
    assert "222.md  1.8 KiB" in text  # 1840 bytes
    # folders before files inside the guild folder; the DM folder before the guild folder
    assert text.index("channels/") < text.index("users/") < text.index("culture.md")
    assert text.index("dms/111/") < text.index("servers/123456789/")
    assert "5 files" in text.splitlines()[-1]


def test_tree_of_a_subfolder(tree: Path) -> None:
    result = invoke(tree.parent.parent, "memory", "alpha", f"/memories/servers/{GUILD}/users")
    assert result.exit_code == 0, result.output
    assert "111.md" in result.stdout and "222.md" in result.stdout
    assert "culture.md" not in result.stdout
    assert "2 files" in result.stdout


def test_no_memories_yet_is_a_friendly_line(home: Path) -> None:
    result = invoke(home, "memory", "alpha")
    assert result.exit_code == 0
    assert "alpha has no memories yet" in result.stdout
    assert not (home / "memories").exists()  # looking never creates the folder
    (home / "memories" / "alpha" / "servers").mkdir(parents=True)
    result = invoke(home, "memory", "alpha")
    assert result.exit_code == 0 and "alpha has no memories yet" in result.stdout


def test_unknown_bot_is_a_usage_error(tree: Path) -> None:
    for bot in ("zeta", "../alpha", "Alpha"):
        result = invoke(tree.parent.parent, "memory", bot)
        assert result.exit_code == 2, (bot, result.output)
        assert repr(bot) in result.stderr
    result = invoke(tree.parent.parent, "followups", "zeta")
    assert result.exit_code == 2
    assert "no bot named 'zeta'" in result.stderr


# --------------------------------------------------------------------------- memory: one file


def test_file_renders_markdown_in_a_terminal(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_terminal(monkeypatch)
    result = invoke(tree.parent.parent, "memory", "alpha", f"/memories/servers/{GUILD}/culture.md")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"/memories/servers/{GUILD}/culture.md  {len(CULTURE.encode())} B")
    text = result.stdout
    assert "Server: Example Gaming Server" in text
    assert "# Server" not in text and "**General Vibe:**" not in text  # rendered, not raw
    # each line the bot wrote stays a line
    assert any(line.strip().startswith("General Vibe:") for line in lines)
    assert any(line.strip().startswith("Active Hours:") for line in lines)


def test_piped_output_is_the_file_unchanged(tree: Path) -> None:
    path = tree / "servers" / GUILD / "culture.md"
    path.write_bytes(CULTURE.encode() + "naïve ünïcode\r\nno final newline".encode())
    for arg in ("servers/123456789/culture.md", f"/memories/servers/{GUILD}/culture.md"):
        result = invoke(tree.parent.parent, "memory", "alpha", arg)
        assert result.exit_code == 0
        assert result.stdout_bytes == path.read_bytes()


def test_raw_flag_prints_bytes_even_in_a_terminal(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_terminal(monkeypatch)
    result = invoke(tree.parent.parent, "memory", "alpha", f"servers/{GUILD}/culture.md", "--raw")
    assert result.stdout == CULTURE


def test_json_file_is_pretty_printed_or_flagged(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_terminal(monkeypatch)
    guild = tree / "servers" / GUILD
    (guild / "state.json").write_text('{"a": [1, 2], "b": "x"}')
    (guild / "broken.json").write_text('{"a": [1,')
    result = invoke(tree.parent.parent, "memory", "alpha", f"servers/{GUILD}/state.json")
    assert result.exit_code == 0
    assert '  "a": [' in result.stdout and "not valid JSON" not in result.stdout
    result = invoke(tree.parent.parent, "memory", "alpha", f"servers/{GUILD}/broken.json")
    assert result.exit_code == 0
    assert "not valid JSON" in result.stdout and '{"a": [1,' in result.stdout


def test_other_files_are_plain_text(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_terminal(monkeypatch)
    (tree / "servers" / GUILD / "todo.txt").write_text("[bold]not markup[/bold] # not a heading\n")
    result = invoke(tree.parent.parent, "memory", "alpha", f"servers/{GUILD}/todo.txt")
    assert result.exit_code == 0
    assert "[bold]not markup[/bold] # not a heading" in result.stdout


def test_missing_file_names_the_path_and_the_fix(tree: Path) -> None:
    result = invoke(tree.parent.parent, "memory", "alpha", "/memories/servers/1/x.md")
    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "error: no memory file /memories/servers/1/x.md for bot alpha; run `bot_manager memory alpha` to see the tree"
    )


def test_paths_with_markup_characters_are_shown_verbatim(tree: Path) -> None:
    result = invoke(tree.parent.parent, "memory", "alpha", "servers/[/x]")
    assert result.exit_code == 2
    assert "/memories/servers/[/x]" in result.stderr


def test_seed_style_and_host_relative_paths_are_accepted(tree: Path) -> None:
    home = tree.parent.parent
    for arg in (f"/memories/alpha/servers/{GUILD}/culture.md", f"memories/alpha/servers/{GUILD}/culture.md"):
        result = invoke(home, "memory", "alpha", arg)
        assert result.exit_code == 0, (arg, result.output)
        assert result.stdout == CULTURE


# --------------------------------------------------------------------------- memory: the jail


@pytest.mark.parametrize(
    "path",
    ["/memories/../../etc/passwd", "../x", "/etc/passwd", "servers/../../x", "/memoriesX/a", "C:\\x", "a\x00b"],
)
def test_escapes_are_refused(tree: Path, path: str) -> None:
    result = invoke(tree.parent.parent, "memory", "alpha", path)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "refused" in result.stderr and "memories/alpha/" in result.stderr


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outside")
    (folder / "passwd").write_text(SECRET + "\n")
    return folder


def test_symlinks_are_never_followed(tree: Path, outside: Path) -> None:
    guild = tree / "servers" / GUILD
    os.symlink(outside / "passwd", guild / "evil.md")
    os.symlink(outside, guild / "elsewhere")
    home = tree.parent.parent
    for arg in (f"servers/{GUILD}/evil.md", f"/memories/servers/{GUILD}/elsewhere/passwd", f"servers/{GUILD}/elsewhere"):
        result = invoke(home, "memory", "alpha", arg)
        assert result.exit_code == 2, (arg, result.output)
        assert "symbolic link" in result.stderr
        assert SECRET not in result.output
    result = invoke(home, "memory", "alpha")
    assert result.exit_code == 0
    assert "evil.md  symbolic link, not followed" in result.stdout
    assert "passwd" not in result.stdout
    result = invoke(home, "memory", "alpha", "--grep", "secret")
    assert result.exit_code == 1 and SECRET not in result.output


def test_memory_root_may_itself_be_a_link(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    volume = tmp_path_factory.mktemp("volume")
    os.rename(tree, volume / "alpha")
    os.symlink(volume / "alpha", tree)  # memories on another volume: the operator's choice
    result = invoke(tree.parent.parent, "memory", "alpha", f"servers/{GUILD}/culture.md")
    assert result.exit_code == 0 and result.stdout == CULTURE


# --------------------------------------------------------------------------- memory: grep


def test_grep_is_case_insensitive_and_prints_path_line_text(tree: Path) -> None:
    result = invoke(tree.parent.parent, "memory", "alpha", "--grep", "SKILL ISSUE")
    assert result.exit_code == 0, result.output
    assert result.stdout == f'/memories/servers/{GUILD}/culture.md:7: - "skill issue" = highest praise (ironic)\n'
    assert "1 matching line in 1 of 5 files" in result.stderr


def test_grep_highlights_the_match_in_a_terminal(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(force_terminal=True, color_system="standard", width=200, highlight=False, soft_wrap=True)
    monkeypatch.setattr(memory_cmds, "out", console)
    result = invoke(tree.parent.parent, "memory", "alpha", "-g", "techcorp")
    assert result.exit_code == 0
    assert "\x1b[1;31mTechCorp\x1b[0m" in result.stdout


def test_grep_in_a_subtree_and_no_match(tree: Path) -> None:
    home = tree.parent.parent
    result = invoke(home, "memory", "alpha", "dms", "--grep", "dana")
    assert result.exit_code == 0
    assert result.stdout == "/memories/dms/111/notes.md:1: # DM with Dana\n"
    result = invoke(home, "memory", "alpha", "--grep", "no such words")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no match for 'no such words' in /memories of bot alpha" in result.stderr


# --------------------------------------------------------------------------- followups


def pending(fid: str, user: str, name: str, event: str, after: datetime, **extra: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": fid, "user_id": user, "user_name": name, "event": event,
        "mentioned_date": stamp(NOW - timedelta(days=3)), "expected_completion": "2026-03-09",
        "follow_up_after": stamp(after), "priority": "medium", "context": "", "channel_id": "987654321",
    }  # fmt: skip
    item.update(extra)
    return item


GUILD_FOLLOWUPS = {
    "pending": [
        pending("followup_001", "111", "Dana", "Job interview at TechCorp", NOW - timedelta(hours=3), priority="high"),
        pending("followup_002", "222", "John", "Game jam weekend project", NOW + timedelta(days=2)),
        pending("followup_003", "333", "Sam", "Moving flats", NOW - timedelta(days=1), delivery="woven"),
        pending("followup_004", "444", "Kim", "Driving test", NOW + timedelta(hours=5), deferred_count=2),
    ],
    "completed": [
        {
            "id": "followup_000", "user_id": "111", "user_name": "Dana", "event": "Dentist appointment",
            "followed_up": stamp(NOW - timedelta(days=4)), "outcome": "All fine, no cavities",
            "completed_date": stamp(NOW - timedelta(days=4)),
        }
    ],
}  # fmt: skip
DM_FOLLOWUPS = {"pending": [pending("followup_001", "555", "Lee", "Thesis defense", NOW - timedelta(minutes=30))], "completed": []}


def write_json(path: Path, data: object) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path.read_bytes()


def test_followups_lists_pending_and_completed_with_states(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wide(monkeypatch)
    memories = home / "memories" / "alpha"
    write_json(memories / "servers" / GUILD / "followups.json", GUILD_FOLLOWUPS)
    result = invoke(home, "followups", "alpha")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()

    def row(fid: str) -> str:
        return flat(next(line for line in lines if fid in line))

    assert "Pending" in result.stdout and "Completed" in result.stdout
    assert f"servers/{GUILD}" not in result.stdout  # one file: no folder headings
    assert row("followup_001") == "followup_001 Dana Job interview at TechCorp due 3 h ago high 987654321 due"
    assert row("followup_002") == "followup_002 John Game jam weekend project in 2 d medium 987654321 waiting"
    assert row("followup_003") == "followup_003 Sam Moving flats due 24 h ago medium 987654321 woven"
    assert row("followup_004") == "followup_004 Kim Driving test in 5 h medium 987654321 deferred ×2"
    assert row("followup_000") == "followup_000 Dana Dentist appointment All fine, no cavities 4 d ago"
    # pending by due time, oldest first
    order = [result.stdout.index(f"followup_00{n}") for n in (3, 1, 4, 2)]
    assert order == sorted(order)
    assert "4 pending (1 due), 1 completed in 1 file" in result.stdout
    assert result.stderr == ""


def test_followups_are_grouped_by_folder_and_json_matches(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wide(monkeypatch)
    memories = home / "memories" / "alpha"
    write_json(memories / "servers" / GUILD / "followups.json", GUILD_FOLLOWUPS)
    write_json(memories / "dms" / "555" / "followups.json", DM_FOLLOWUPS)
    result = invoke(home, "followups", "alpha")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "dms/555  /memories/dms/555/followups.json" in text
    assert f"servers/{GUILD}  /memories/servers/{GUILD}/followups.json" in text
    assert text.index(f"servers/{GUILD}") < text.index("Game jam") < text.index("dms/555") < text.index("Thesis defense")
    assert "5 pending (2 due), 1 completed in 2 files" in text

    result = invoke(home, "followups", "alpha", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {f"servers/{GUILD}", "dms/555"}
    guild = data[f"servers/{GUILD}"]
    assert [item["id"] for item in guild["pending"]] == [item["id"] for item in GUILD_FOLLOWUPS["pending"]]
    assert [item["state"] for item in guild["pending"]] == ["due", "waiting", "woven", "deferred ×2"]
    first, expected = guild["pending"][0], GUILD_FOLLOWUPS["pending"][0]
    for key in ("user_id", "user_name", "event", "follow_up_after", "priority", "channel_id"):
        assert first[key] == expected[key]
    assert guild["completed"][0]["outcome"] == "All fine, no cavities"
    assert guild["notes"] == [] and guild["error"] is None
    assert data["dms/555"]["pending"][0]["event"] == "Thesis defense"


def test_no_followups_yet(home: Path) -> None:
    result = invoke(home, "followups", "alpha")
    assert result.exit_code == 0
    assert "alpha has no follow-ups yet" in result.stdout
    result = invoke(home, "followups", "alpha", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == {}


def test_corrupt_followups_are_reported_and_left_alone(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wide(monkeypatch)
    memories = home / "memories" / "alpha"
    write_json(memories / "servers" / GUILD / "followups.json", GUILD_FOLLOWUPS)
    broken = memories / "servers" / "999" / "followups.json"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b'{"pending": [ {"id": "followup_001", oops')
    before = sorted(p.name for p in broken.parent.iterdir())
    result = invoke(home, "followups", "alpha")
    assert result.exit_code == 1
    assert "error: /memories/servers/999/followups.json is not valid JSON" in flat(result.stderr)
    assert "moves it aside to followups.corrupt-<time>.json" in flat(result.stderr)
    assert "followup_001" in result.stdout  # the readable file is still listed
    assert broken.read_bytes() == b'{"pending": [ {"id": "followup_001", oops'
    assert sorted(p.name for p in broken.parent.iterdir()) == before  # nothing quarantined by looking
    result = invoke(home, "followups", "alpha", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["servers/999"]["error"]


def test_followups_needing_repair_are_reported_and_left_alone(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wide(monkeypatch)
    path = home / "memories" / "alpha" / "servers" / GUILD / "followups.json"
    items = [
        pending("followup_001", "111", "Dana", "Job interview", NOW - timedelta(hours=1)),
        pending("followup_001", "222", "John", "Game jam", NOW + timedelta(days=1)),  # duplicate id
    ]
    original = write_json(path, {"pending": items, "completed": []})
    result = invoke(home, "followups", "alpha")
    assert result.exit_code == 0, result.output
    assert f"warning: /memories/servers/{GUILD}/followups.json would be repaired:" in flat(result.stderr)
    assert "Job interview" in result.stdout and "Game jam" in result.stdout
    assert path.read_bytes() == original


def test_followups_file_behind_a_symlink_is_not_read(home: Path, outside: Path) -> None:
    (outside / "followups.json").write_text(json.dumps(DM_FOLLOWUPS))
    folder = home / "memories" / "alpha" / "dms" / "555"
    folder.mkdir(parents=True)
    os.symlink(outside / "followups.json", folder / "followups.json")
    result = invoke(home, "followups", "alpha")
    assert result.exit_code == 1
    assert "Thesis defense" not in result.output
    assert "/memories/dms/555/followups.json" in result.stderr


def test_help_documents_the_exit_codes(home: Path) -> None:
    result = invoke(home, "memory", "--help")
    assert result.exit_code == 0
    assert "exits 1 when nothing matches" in flat(result.stdout)
    result = invoke(home, "followups", "--help")
    assert result.exit_code == 0 and "deferred ×N" in flat(result.stdout)
