"""Sync never commits a half-written file: every temp-file shape the project writes is left out."""

from __future__ import annotations

from pathlib import Path

from framework.memory.nofollow import temp_name
from framework.sync.gitcmd import Git
from framework.sync.stage import is_temp_file, plan_staging

from .conftest import write_bot
from .test_sync_machines import Machine, clean_env, git

CULTURE = "memories/alpha/servers/1/culture.md"


def leftovers() -> list[str]:
    """One file of each temp shape, as a crash mid-write leaves them."""
    return [
        f"memories/alpha/servers/1/{temp_name()}",  # the memory tool (framework.memory.nofollow)
        "memories/alpha/servers/1/.culture.md.k2j3h4q_.tmp",  # framework.fsutil.atomic_write_text
        "persistence/alpha/.snapshot.db.4242.tmp",  # the database snapshot and merge
    ]


def project(tmp_path: Path) -> Path:
    git(tmp_path, "init", "--quiet", "-b", "main")
    write_bot(tmp_path)
    (tmp_path / CULTURE).parent.mkdir(parents=True)
    (tmp_path / CULTURE).write_text("# Culture\n")
    for rel in leftovers():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("half a fi")
    return tmp_path


def test_every_temp_shape_is_recognised() -> None:
    for rel in leftovers():
        assert is_temp_file(Path(rel).name), rel
    for name in ("culture.md", "notes.tmp.md", "tmp-notes.md", "followups.json"):
        assert not is_temp_file(name), name


def test_staging_leaves_temp_files_out(tmp_path: Path) -> None:
    home = project(tmp_path)
    plan = plan_staging(Git(home, clean_env()), home, {})
    assert CULTURE in plan.add
    assert not [path for path in plan.paths if is_temp_file(Path(path).name)]


def test_a_leftover_temp_file_of_the_memory_tool_is_never_committed(tmp_path: Path) -> None:
    home = project(tmp_path)
    Machine("solo", home, clean_env(), in_process=True).synced()
    tracked = set(git(home, "ls-files").split())
    assert CULTURE in tracked
    assert not [path for path in tracked if is_temp_file(Path(path).name)], tracked
