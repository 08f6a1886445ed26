"""Two machines and a bare remote on disk, `bot_manager sync` in real subprocesses with real git."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.storage.messages import SCHEMA

from .conftest import write_bot

REPO = Path(__file__).resolve().parent.parent
TOKEN_IN_ENV = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAx.GaBcDe.abcdefghijklmnopqrstuvwxyz012345"
TOKEN_PASTED = "NzY1NDMyMTA5ODc2NTQzMjEwOTg3.XyZwVu.zyxwvutsrqponmlkjihgfedcba987654"
ANTHROPIC_KEY = "sk-ant-api03-thisisnotarealkeybutlookslikeone"
CULTURE = "memories/alpha/servers/1/culture.md"
FOLLOWUPS = "memories/alpha/servers/1/followups.json"


def clean_env(**extra: str) -> dict[str, str]:
    """No global or system git config, no inherited GIT_* variables, a test identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "BOT_", "ALPHA_", "ANTHROPIC_"))}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test", GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test", GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    env.update(extra)
    return env


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"git {args}: {result.stderr}"
    return result.stdout


@dataclass
class Machine:
    """One clone. ``sync`` runs the real CLI in a subprocess; ``in_process`` runs the same Typer
    app through CliRunner (git and the merge drivers are real processes either way)."""

    name: str
    home: Path
    env: dict[str, str]
    in_process: bool = False

    def sync(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "BOT_MANAGER_HOST": self.name}
        if self.in_process:
            result = CliRunner().invoke(app, ["sync", *args], obj=CliContext(home=self.home, environ=env))
            return subprocess.CompletedProcess(["sync", *args], result.exit_code, result.stdout, result.stderr)
        return subprocess.run(
            [sys.executable, str(REPO / "bot_manager.py"), "--home", str(self.home), "sync", *args],
            env=env, capture_output=True, text=True, timeout=60,
        )

    def synced(self, *args: str) -> str:
        result = self.sync(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    @property
    def live_db(self) -> Path:
        return self.home / "persistence" / "alpha" / "messages.db"

    @property
    def snapshot(self) -> Path:
        return self.home / "persistence" / "alpha" / "snapshot.db"

    def add_messages(self, *ids: str, content: str = "hello from {id}") -> None:
        self.live_db.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.live_db) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            db.executemany(
                "INSERT INTO messages (message_id, channel_id, guild_id, author_id, author_name, content, timestamp, "
                "is_bot, has_attachments, mentions) VALUES (?, '10', '1', '2', 'dana', ?, ?, 0, 0, '[]')",
                [(mid, content.format(id=mid), f"2025-01-01T00:00:{n:02d}.000000Z") for n, mid in enumerate(ids)],
            )
        db.close()

    def message_ids(self, path: Path | None = None) -> set[str]:
        with sqlite3.connect(path or self.live_db) as db:
            found = {r[0] for r in db.execute("SELECT message_id FROM messages")}
        db.close()
        return found

    def write(self, rel: str, text: str) -> None:
        path = self.home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def read(self, rel: str) -> str:
        return (self.home / rel).read_text()

    def tracked(self) -> set[str]:
        return set(git(self.home, "ls-files", "--full-name").split())


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    return str(result)


def assert_clean_repository(machine: Machine) -> None:
    """Not mid-rebase, no conflict markers in any file (databases included), databases whole."""
    git_dir = machine.home / ".git"
    assert not (git_dir / "rebase-merge").exists() and not (git_dir / "rebase-apply").exists()
    assert not (git_dir / "MERGE_HEAD").exists()
    for path in machine.home.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(machine.home).parts:
            assert b"<<<<<<<" not in path.read_bytes() and b"|||||||" not in path.read_bytes(), path
    assert integrity(machine.live_db) == "ok" and integrity(machine.snapshot) == "ok"
    assert git(machine.home, "status", "--porcelain", "--", "persistence", "memories") == ""


def followups(pending: list[str], completed: list[str]) -> str:
    return json.dumps({
        "pending": [{"id": f, "event": f"event {f}"} for f in pending],
        "completed": [{"id": f, "event": f"event {f}", "outcome": "done"} for f in completed],
    }, indent=2)


def followup_ids(machine: Machine) -> tuple[set[str], set[str]]:
    data = json.loads(machine.read(FOLLOWUPS))
    return {i["id"] for i in data["pending"]}, {i["id"] for i in data["completed"]}


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[Machine, Machine]]:
    remote, a_home, b_home = tmp_path / "remote.git", tmp_path / "a", tmp_path / "b"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    git(tmp_path, "init", "--quiet", "-b", "main", str(a_home))
    write_bot(a_home)
    git(a_home, "add", "bots")
    git(a_home, "commit", "--quiet", "-m", "bots")
    git(a_home, "remote", "add", "origin", str(remote))
    git(a_home, "push", "--quiet", "-u", "origin", "main")
    git(tmp_path, "clone", "--quiet", str(remote), str(b_home))
    yield Machine("machine-a", a_home, clean_env(), in_process=True), Machine("machine-b", b_home, clean_env(), in_process=True)


def test_two_machines_end_with_the_union(machines: tuple[Machine, Machine]) -> None:
    a, b = machines
    a.in_process = b.in_process = False  # the real command line, end to end
    a.add_messages("a0", "a1", "a2", "a3", "a4")
    a.write(CULTURE, "# Culture\n\nline one\nline two\nline three\n")
    a.write("memories/alpha/servers/1/users/2.md", "# Dana\nlikes chess\n")
    a.write(FOLLOWUPS, followups(["f1", "f2"], []))
    out = a.synced()
    assert "sync: alpha (+5 messages, 3 memory files) from machine-a" in out
    assert "pulled 0 commits from origin/main, pushed" in out

    # B ran the same bot meanwhile: its own messages, memories and follow-ups (f1 done there)
    b.add_messages("b0", "b1", "b2")
    b.write("memories/alpha/servers/1/users/3.md", "# Bob\nlikes go\n")
    b.write(FOLLOWUPS, followups(["f3"], ["f1"]))
    out = b.synced()
    assert "pulled 1 commit from origin/main, pushed" in out
    assert " alpha " in out and "+3" in out and "+5" in out  # 3 new here, 5 merged in
    a.synced()

    # round two, now with a common ancestor: A completes f2, B adds f4 and a message,
    # both edit different lines of the same memory file
    a.write(FOLLOWUPS, followups(["f3"], ["f1", "f2"]))
    a.write(CULTURE, "# Culture\n\nline one (edited on A)\nline two\nline three\n")
    b.write(FOLLOWUPS, followups(["f2", "f3", "f4"], ["f1"]))
    b.write(CULTURE, "# Culture\n\nline one\nline two\nline three (edited on B)\n")
    b.add_messages("b3")
    a.synced()
    b.synced()
    a.synced()

    union = {"a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3"}
    for machine in (a, b):
        assert machine.message_ids() == union, machine.name
        assert followup_ids(machine) == ({"f3", "f4"}, {"f1", "f2"}), machine.name
        assert machine.read(CULTURE) == "# Culture\n\nline one (edited on A)\nline two\nline three (edited on B)\n"
        assert machine.read("memories/alpha/servers/1/users/2.md") == "# Dana\nlikes chess\n"
        assert machine.read("memories/alpha/servers/1/users/3.md") == "# Bob\nlikes go\n"
        assert_clean_repository(machine)
    assert a.message_ids(a.snapshot) == union  # A's last sync committed the union
    assert git(a.home, "rev-parse", "HEAD") == git(a.home, "rev-parse", "origin/main")
    assert "messages.db" not in " ".join(a.tracked() | b.tracked())


def test_the_same_line_edited_on_both_keeps_both_versions_and_says_so(machines: tuple[Machine, Machine]) -> None:
    a, b = machines
    a.add_messages("a0")
    a.write(CULTURE, "# Culture\n\nline one\nline two\n")
    a.synced()
    b.synced()
    a.write(CULTURE, "# Culture\n\nline one, as A saw it\nline two\n")
    b.write(CULTURE, "# Culture\n\nline one, as B saw it\nline two\n")
    a.synced()
    out = b.synced()
    assert f"kept both versions (edit by hand, look for '<!-- sync:'): {CULTURE}" in out
    expected = (
        "# Culture\n\n"
        "<!-- sync: kept both versions; machine-b's first -->\nline one, as B saw it\n"
        "<!-- sync: the other machine's version -->\nline one, as A saw it\n"
        "<!-- sync: end -->\nline two\n"
    )
    assert b.read(CULTURE) == expected
    a.synced()
    assert a.read(CULTURE) == expected
    for machine in (a, b):
        assert_clean_repository(machine)


def test_secrets_are_refused_named_and_never_committed(machines: tuple[Machine, Machine], tmp_path: Path) -> None:
    a, _ = machines
    a.in_process = False
    a.write(".env", f"ALPHA_BOT_TOKEN={TOKEN_IN_ENV}\nANTHROPIC_API_KEY={ANTHROPIC_KEY}\n")
    a.write("memories/alpha/servers/1/users/2.md", f"# Dana\nher bot:\n  {TOKEN_PASTED}\n")
    a.write("memories/alpha/servers/1/users/3.md", "# Bob\nlikes go\n")
    a.write("memories/alpha/.env", f"ANTHROPIC_API_KEY={ANTHROPIC_KEY}\n")
    a.add_messages("a0", "a1", content=f"{{id}} pasted {TOKEN_PASTED} by mistake")

    result = a.sync()
    assert result.returncode == 1, result.stdout + result.stderr
    refused = " ".join(result.stderr.split())
    assert (
        "refused: memories/alpha/servers/1/users/2.md: contains what looks like a Discord bot token (line 3); "
        "remove it, then sync again" in refused
    )
    assert "1 file(s) left out; everything else is synced" in refused
    tracked = a.tracked()
    assert "memories/alpha/servers/1/users/3.md" in tracked and "persistence/alpha/snapshot.db" in tracked
    assert not {".env", "memories/alpha/.env", "memories/alpha/servers/1/users/2.md"} & tracked
    # no blob anywhere in the history, pushed to the remote too, holds a secret
    remote = tmp_path / "remote.git"
    assert git(remote, "log", "-1", "--format=%s", "main").startswith("sync: alpha (+2 messages, 1 memory file)")
    for repo in (a.home, remote):
        objects = git(repo, "rev-list", "--objects", "--all").split()
        blobs = subprocess.run(
            ["git", "cat-file", "--batch"], cwd=repo, input="\n".join(objects).encode(), capture_output=True, check=True
        ).stdout
        for secret in (TOKEN_IN_ENV, TOKEN_PASTED, ANTHROPIC_KEY):
            assert secret.encode() not in blobs
    assert "[REDACTED]" in subprocess.run(
        ["git", "show", "HEAD:persistence/alpha/snapshot.db"], cwd=a.home, capture_output=True, check=True
    ).stdout.decode("latin-1")
    with sqlite3.connect(a.live_db) as db:  # only the snapshot is redacted
        assert all(TOKEN_PASTED in c for (c,) in db.execute("SELECT content FROM messages"))
    db.close()

    a.write("memories/alpha/servers/1/users/2.md", "# Dana\nher bot: (token removed)\n")
    a.synced()
    assert "memories/alpha/servers/1/users/2.md" in a.tracked()


def test_tracked_secrets_and_live_files_from_an_old_layout(machines: tuple[Machine, Machine]) -> None:
    a, b = machines
    a.write(".env", "LOG_LEVEL=DEBUG\n")
    a.add_messages("a0")
    a.write("logs/alpha.log", "2025-01-01 INFO alpha is ready\n")
    git(a.home, "add", "-f", ".env", "persistence/alpha/messages.db", "logs/alpha.log")
    git(a.home, "commit", "--quiet", "-m", "the old way")
    git(a.home, "push", "--quiet", "origin", "main")  # long since on the remote
    a.write(".env", "LOG_LEVEL=DEBUG\nALPHA_BOT_TOKEN=changed-after-commit-123\n")

    result = a.sync()
    assert result.returncode == 0, result.stderr
    assert "warning: .env is tracked by git; sync leaves it out. Untrack it with `git rm --cached .env`" in " ".join(
        result.stderr.split()
    )
    assert "persistence/alpha/messages.db: no longer tracked" in result.stdout
    tracked = a.tracked()
    assert "persistence/alpha/messages.db" not in tracked and "logs/alpha.log" not in tracked
    assert "logs/synced/machine-a/alpha.log" in tracked
    assert git(a.home, "show", "HEAD:.env") == "LOG_LEVEL=DEBUG\n"  # the change was not committed
    assert a.message_ids() == {"a0"}  # the live file stays where it is
    b.synced()  # B had never tracked the live files: its pull deletes nothing of its own
    assert b.message_ids() == {"a0"} and b.read("logs/synced/machine-a/alpha.log").endswith("alpha is ready\n")


def test_push_refuses_unpushed_commits_holding_secrets_or_env(machines: tuple[Machine, Machine]) -> None:
    a, _ = machines
    remote_git = a.home.parent / "remote.git"
    before = git(remote_git, "rev-parse", "main")
    a.write(".env", f"ALPHA_BOT_TOKEN={TOKEN_PASTED}\n")
    git(a.home, "add", "-f", ".env")
    git(a.home, "commit", "--quiet", "-m", "oops")
    a.add_messages("p1")
    result = a.sync()
    assert result.returncode == 1
    assert "not pushed: .env is a secrets or run file" in " ".join(result.stderr.split())
    assert git(remote_git, "rev-parse", "main") == before
    git(a.home, "reset", "--quiet", "--hard", "HEAD~2")
    a.write("notes.txt", f"token {TOKEN_PASTED}\n")  # made by hand, outside the synced folders
    git(a.home, "add", "notes.txt")
    git(a.home, "commit", "--quiet", "-m", "oops again")
    result = a.sync()
    assert result.returncode == 1 and "not pushed: notes.txt contains what looks like" in " ".join(result.stderr.split())
    assert TOKEN_PASTED not in result.stderr and git(remote_git, "rev-parse", "main") == before


def test_a_secret_stored_as_a_blob_is_redacted_in_the_snapshot(machines: tuple[Machine, Machine]) -> None:
    a, _ = machines
    a.add_messages("s1")
    with sqlite3.connect(a.live_db) as db:
        db.execute("UPDATE messages SET content = ? WHERE message_id = 's1'", (f"pasted {TOKEN_PASTED}".encode(),))
    db.close()
    a.synced()
    pushed = subprocess.run(
        ["git", "show", "origin/main:persistence/alpha/snapshot.db"], cwd=a.home, capture_output=True, env=a.env
    ).stdout
    assert pushed and TOKEN_PASTED.encode() not in pushed


def test_a_repository_made_with_git_init_is_refused(machines: tuple[Machine, Machine], tmp_path: Path) -> None:
    a, _ = machines
    a.add_messages("a0")
    a.synced()
    remote_git = a.home.parent / "remote.git"
    for branch in ("main", "master"):
        home = tmp_path / f"init-{branch}"
        git(tmp_path, "init", "--quiet", "-b", branch, str(home))
        git(home, "remote", "add", "origin", str(remote_git))
        write_bot(home)
        c = Machine(f"machine-{branch}", home, clean_env(), in_process=True)
        c.add_messages("c0")
        result = c.sync()
        assert result.returncode == 1, result.stdout
        said = " ".join(result.stderr.split())
        if branch == "main":
            assert "share no history" in said and "git clone" in said
        else:
            assert "default branch is main" in said and "git clone" in said
        assert not (home / ".git" / "rebase-merge").exists()
        assert git(remote_git, "branch").split() == ["*", "main"]
        assert a.message_ids() == {"a0"}


@pytest.mark.parametrize("first", ["deleter", "editor"])
def test_a_memory_deleted_on_one_machine_and_edited_on_the_other_keeps_the_edit(
    machines: tuple[Machine, Machine], first: str
) -> None:
    a, b = machines
    user = "memories/alpha/servers/1/users/2.md"
    a.write(user, "# Dana\nlikes chess\n")
    a.add_messages("a0")
    a.synced()
    b.synced()
    deleter, editor = a, b
    (deleter.home / user).unlink()
    deleter.add_messages("d1")
    editor.write(user, "# Dana\nlikes chess and go\n")
    editor.add_messages("e1")
    early, late = (deleter, editor) if first == "deleter" else (editor, deleter)
    early.synced()
    out = " ".join(late.synced().split())
    assert f"{user}: kept the edited version of a file the other machine deleted" in out
    early.synced()
    for machine in (a, b):
        assert machine.read(user) == "# Dana\nlikes chess and go\n"
        assert machine.message_ids() == {"a0", "d1", "e1"}
        assert_clean_repository(machine)


def test_a_global_excludes_file_never_keeps_synced_files_out(machines: tuple[Machine, Machine], tmp_path: Path) -> None:
    a, b = machines
    excludes = tmp_path / "global-excludes"
    excludes.write_text("*.db\n*.log\n*.md\n")
    git(a.home, "config", "core.excludesFile", str(excludes))
    a.add_messages("x1")
    a.write("logs/alpha.log", "hello\n")
    a.write("memories/alpha/servers/1/culture.md", "# Culture\n")
    a.synced()
    assert {"persistence/alpha/snapshot.db", "logs/synced/machine-a/alpha.log", "memories/alpha/servers/1/culture.md"} <= a.tracked()
    b.synced()
    assert b.message_ids() == {"x1"}


def test_a_memory_file_name_that_is_not_utf8_syncs(machines: tuple[Machine, Machine]) -> None:
    a, b = machines
    folder = a.home / "memories" / "alpha"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / os.fsdecode(b"caf\xe9.md")).write_bytes(b"# notes\n")
    a.add_messages("u1")
    result = a.sync()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    b.synced()
    assert (b.home / "memories" / "alpha" / os.fsdecode(b"caf\xe9.md")).read_bytes() == b"# notes\n"


def test_a_missing_home_folder_is_named(tmp_path: Path) -> None:
    machine = Machine("m", tmp_path / "nowhere", clean_env(), in_process=True)
    result = machine.sync()
    assert result.returncode != 0
    said = " ".join((result.stdout + result.stderr).split())
    assert "does not exist" in said and "git is not installed" not in said


def test_logs_are_copied_under_the_cap_and_skips_are_named(machines: tuple[Machine, Machine]) -> None:
    a, _ = machines
    a.write("logs/alpha.log", "one line\n")
    a.write("logs/alpha.log.1", "rotated\n")
    a.write("logs/alpha.conversation.jsonl", '{"decision": "reply"}\n')
    a.write("logs/ana.log", "x" * (1536 * 1024))
    out = " ".join(a.synced().split())
    assert "log not synced: logs/alpha.log.1: a rotated backup (not synced)" in out
    assert "log not synced: logs/ana.log: 1.5 MB, over the 1.0 MB cap" in out
    logs = {p for p in a.tracked() if p.startswith("logs/")}
    assert logs == {"logs/synced/machine-a/alpha.log", "logs/synced/machine-a/alpha.conversation.jsonl"}


def test_outside_a_repository_is_a_config_error(tmp_path: Path) -> None:
    write_bot(tmp_path)
    machine = Machine("m", tmp_path, clean_env(GIT_CEILING_DIRECTORIES=str(tmp_path.parent)))
    result = machine.sync()
    assert result.returncode == 78
    assert f"error: {tmp_path} is not inside a git repository" in " ".join(result.stderr.split())
    assert "git init" in result.stderr


def test_no_remote_and_no_identity_still_commits(tmp_path: Path) -> None:
    env = clean_env()
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        env.pop(key)
    env.pop("EMAIL", None)
    git(tmp_path, "init", "--quiet", "-b", "main", env=env)
    write_bot(tmp_path)
    machine = Machine("solo", tmp_path, env)
    machine.add_messages("m1")
    out = machine.synced("-m", "first sync")
    assert "no git remote: the commit stays on this machine" in out
    log = git(tmp_path, "log", "-1", "--format=%an <%ae>|%s|%b", env=env)
    assert log.startswith("bot_manager <bot_manager@localhost>|first sync|sync: alpha (+1 message, 0 memory files) from solo")
    assert {"bots/alpha.yaml", "persistence/alpha/snapshot.db", ".gitattributes", ".gitignore"} <= machine.tracked()


def test_a_conflict_no_driver_resolves_is_aborted_and_named(machines: tuple[Machine, Machine]) -> None:
    a, b = machines
    a.add_messages("a0")
    b.add_messages("b0")
    a.write("bots/alpha.yaml", a.read("bots/alpha.yaml").replace("terse test bot", "terse bot from A"))
    b.write("bots/alpha.yaml", b.read("bots/alpha.yaml").replace("terse test bot", "terse bot from B"))
    a.synced()
    before = git(b.home, "rev-parse", "HEAD")
    result = b.sync()
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "the pull from origin/main could not be merged automatically (bots/alpha.yaml)" in message
    assert "the repository is back as it was before the pull" in message
    assert not (b.home / ".git" / "rebase-merge").exists()
    assert git(b.home, "log", "-1", "--format=%s").startswith("sync: alpha (+1 message, 0 memory files)")
    assert git(b.home, "rev-parse", "HEAD~1") == before
    assert "terse bot from B" in b.read("bots/alpha.yaml") and "<<<<<<<" not in b.read("bots/alpha.yaml")
    assert b.message_ids() == {"b0"}


def test_an_aborted_pull_never_writes_a_bots_mid_rebase_file_over_this_machines_commit(
    machines: tuple[Machine, Machine],
) -> None:
    from framework.sync.gitcmd import Git
    from framework.sync.remote import _abort

    a, b = machines
    a.write(CULTURE, "# Culture\n\none\ntwo\nthree\nfour\n")
    a.add_messages("a0")
    a.synced()
    b.synced()
    a.write(CULTURE, "# Culture\n\none\ntwo\nthree\nfour (A)\n")
    a.write("bots/alpha.yaml", a.read("bots/alpha.yaml").replace("terse test bot", "terse bot from A"))
    a.synced()
    b.write(CULTURE, "# Culture\n\none (B)\ntwo\nthree\nfour\n")
    b.write("bots/alpha.yaml", b.read("bots/alpha.yaml").replace("terse test bot", "terse bot from B"))
    git(b.home, "commit", "--quiet", "-am", "b's change")
    git(b.home, "fetch", "--quiet", "origin")
    rebase = subprocess.run(["git", "rebase", "origin/main"], cwd=b.home, env=b.env, capture_output=True)
    assert rebase.returncode != 0  # stopped on bots/alpha.yaml
    (b.home / CULTURE).write_text(b.read(CULTURE) + "bot line\n")  # the running bot writes meanwhile
    kept = _abort(Git(b.home, b.env), ["bots/alpha.yaml"])
    assert b.read(CULTURE) == "# Culture\n\none (B)\ntwo\nthree\nfour\n"  # this machine's commit, intact
    assert len(kept) == 1 and kept[0].startswith(CULTURE + ".during-sync-")
    assert (b.home / kept[0]).read_text().endswith("bot line\n")


def test_uncommitted_changes_that_clash_with_the_pull_never_leave_markers(machines: tuple[Machine, Machine]) -> None:
    """A refused file stays an uncommitted change; git puts it back after the pull (autostash)."""
    a, b = machines
    users = "memories/alpha/servers/1/users/2.md"
    a.write(users, "# Dana\nlikes chess\n")
    a.add_messages("a0")
    a.synced()
    b.synced()
    a.write(users, "# Dana\nlikes chess and go\n")
    a.write("bots/alpha.yaml", a.read("bots/alpha.yaml").replace("terse test bot", "terse bot from A"))
    a.synced()
    b.write(users, f"# Dana\nher token {TOKEN_PASTED}\n")
    b.write("bots/alpha.yaml", b.read("bots/alpha.yaml").replace("terse test bot", f"bot {TOKEN_PASTED}"))
    result = b.sync()
    assert result.returncode == 1
    # a memory file goes through the memory driver: both versions, this machine's first
    assert b.read(users).startswith(f"# Dana\n<!-- sync: kept both versions; machine-b's first -->\nher token {TOKEN_PASTED}")
    # anything else: the pulled version, and this machine's change waits in the stash
    warning = " ".join(result.stderr.split())
    assert "uncommitted changes to bots/alpha.yaml clashed with the pull" in warning and "git stash pop" in warning
    assert "terse bot from A" in b.read("bots/alpha.yaml")
    assert TOKEN_PASTED in git(b.home, "stash", "show", "-p")
    b.write(users, "# Dana\nlikes chess and go\n")
    b.synced()  # what the clash left behind does not stop the next sync
    assert_clean_repository(b)


def test_an_unreachable_remote_keeps_the_commit_and_fails(machines: tuple[Machine, Machine], tmp_path: Path) -> None:
    a, _ = machines
    git(a.home, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    a.add_messages("a0")
    result = a.sync()
    assert result.returncode == 1
    assert "error: cannot fetch from origin" in " ".join(result.stderr.split())
    assert "this machine's commit is kept" in " ".join(result.stderr.split())
    assert git(a.home, "log", "-1", "--format=%s").startswith("sync: alpha (+1 message")


def test_a_big_database_is_warned_about(machines: tuple[Machine, Machine], monkeypatch: pytest.MonkeyPatch) -> None:
    import framework.sync.engine

    a, _ = machines
    monkeypatch.setattr(framework.sync.engine, "DB_WARN_BYTES", 10_000)
    a.add_messages("a0")
    result = a.sync("--no-push")
    assert result.returncode == 0
    warning = " ".join(result.stderr.split())
    assert "warning: persistence/alpha/messages.db: the live database is 0 MB, past 100 MB" in warning
    assert "git lfs track 'persistence/**/snapshot.db'" in warning and "cleanup_old" in warning
    assert "not pushed (--no-push)" in result.stdout


def test_hooks_never_run_in_syncs_commits(machines: tuple[Machine, Machine]) -> None:
    a, _ = machines
    hook = a.home / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\ngit add -A\n")
    hook.chmod(0o755)
    a.write(".env.local", f"X_TOKEN={TOKEN_IN_ENV}\n")
    a.write("notes.txt", "not for sync\n")
    a.add_messages("h1")
    a.synced()
    committed = set(git(a.home, "show", "--name-only", "--format=", "HEAD").split())
    assert ".env.local" not in committed and "notes.txt" not in committed
    hook.write_text("#!/bin/sh\necho 'lint failed' >&2\nexit 1\n")
    a.add_messages("h2")
    a.synced()
    assert git(a.home, "status", "--porcelain", "--", "persistence") == ""


def test_a_commit_with_files_sync_did_not_choose_is_undone(tmp_path: Path) -> None:
    from framework.sync.errors import SyncError
    from framework.sync.gitcmd import Git

    env = clean_env()
    git(tmp_path, "init", "--quiet", "-b", "main", env=env)
    (tmp_path / "a.md").write_text("a\n")
    git(tmp_path, "add", "a.md", env=env)
    git(tmp_path, "commit", "--quiet", "-m", "a", env=env)
    before = git(tmp_path, "rev-parse", "HEAD", env=env).strip()
    (tmp_path / "b.md").write_text("b\n")
    (tmp_path / "secret.env").write_text("x\n")
    git(tmp_path, "add", "b.md", "secret.env", env=env)
    git(tmp_path, "commit", "--quiet", "-m", "b", env=env)
    with pytest.raises(SyncError, match="secret.env"):
        Git(tmp_path, env)._check_committed(before, ["b.md"])
    assert git(tmp_path, "rev-parse", "HEAD", env=env).strip() == before


def test_help_and_light_imports() -> None:
    result = CliRunner().invoke(app, ["sync", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--no-push" in text and "--message" in text and "Never commits .env, run/" in text
    # git runs a driver process per merged file: it must not pay for the bot's dependencies
    code = (
        "import sys, framework.sync.drivers, framework.sync.engine\n"
        "print([m for m in ('pydantic', 'typer', 'aiosqlite', 'discord', 'anthropic') if m in sys.modules])"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_a_project_folder_inside_a_bigger_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet", "-b", "main")
    (tmp_path / "README.md").write_text("the code\n")
    home = tmp_path / "project"
    write_bot(home)
    machine = Machine("m", home, clean_env(), in_process=True)
    machine.add_messages("m1")
    machine.write(CULTURE, "# Culture\n")
    machine.synced()
    assert {"project/persistence/alpha/snapshot.db", f"project/{CULTURE}", "project/.gitattributes"} <= machine.tracked()
    assert "README.md" not in machine.tracked()  # only the project's files
    attrs = git(tmp_path, "check-attr", "merge", "project/persistence/alpha/snapshot.db", f"project/{FOLLOWUPS}")
    assert "snapshot.db: merge: bot-manager-sqlite" in attrs and "followups.json: merge: bot-manager-followups" in attrs
