"""``bot_manager sync`` from start to end; :func:`run_sync` returns a :class:`SyncReport`.

1. snapshot every bot's live database into ``persistence/<bot>/snapshot.db``;
2. stage memories, snapshots, JSON state, configs and log copies (refusing secrets);
3. commit them with a summary;
4. fetch and rebase onto the upstream (the merge drivers make this conflict-free; if git
   still stops, the rebase is aborted and the repository is as it was before the pull);
5. merge every snapshot into its bot's live database through SQLite, re-snapshot, and fold
   the union into this sync's commit;
6. push.

Nothing here touches ``run/`` or a live database file except through SQLite.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import StoreError
from ..paths import BotPaths, list_bot_ids
from .dbmerge import merge_database
from . import remote
from .errors import SyncError
from .gitcmd import Git
from .gitsetup import ATTRIBUTES, IGNORES, ensure_lines, install_drivers
from .remote import Upstream, find_upstream
from .scan import Finding, known_secrets
from .snapshot import SNAPSHOT_NAME, SnapshotResult, take_snapshot
from .scan import scan_file
from .stage import copy_logs, plan_staging, scan_unpushed, untrack_live_files

__all__ = ["BotSummary", "SyncReport", "run_sync", "DB_WARN_BYTES"]

DB_WARN_BYTES = 100 * 1024 * 1024


@dataclass
class BotSummary:
    bot_id: str
    new_messages: int = 0  # stored on this machine since the last snapshot
    merged_messages: int = 0  # taken in from the other machines
    memory_files: int = 0  # memory files changed here and committed
    snapshot_bytes: int = 0


@dataclass
class SyncReport:
    host: str
    repo: Path | None = None
    bots: list[BotSummary] = field(default_factory=list)
    commit: str | None = None  # "<short sha> <subject>" of this sync's commit
    remote: str | None = None  # "origin/main"
    pulled_commits: int = 0
    pushed: bool = False
    kept_both: list[str] = field(default_factory=list)  # text files with both versions kept
    set_aside: list[str] = field(default_factory=list)  # corrupt sides kept next to their file
    refused: list[Finding] = field(default_factory=list)
    skipped_logs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: SyncError | None = None

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.code
        return 1 if self.refused else 0


def run_sync(
    home: Path,
    *,
    message: str | None = None,
    push: bool = True,
    environ: Mapping[str, str] | None = None,
) -> SyncReport:
    """Sync the project folder ``home``; every failure ends up in ``report.error``."""
    env = dict(os.environ if environ is None else environ)
    report = SyncReport(host=env.get("BOT_MANAGER_HOST") or socket.gethostname())
    try:
        git = Git.find(home, env)
        report.repo = git.root
        with _exclusive(git):
            _Sync(git, home.resolve(), env, report).run(message, push)
    except SyncError as exc:
        report.error = exc
    except StoreError as exc:
        report.error = SyncError(str(exc), "check the file named above (PRAGMA integrity_check), then sync again")
    return report


@contextmanager
def _exclusive(git: Git) -> Iterator[None]:
    path = git.git_dir() / "bot_manager-sync.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncError(f"another `bot_manager sync` is running in {git.root}", "wait for it to finish") from None
        yield


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


class _Sync:
    def __init__(self, git: Git, home: Path, env: dict[str, str], report: SyncReport) -> None:
        self.git, self.home, self.env, self.report = git, home, env, report
        self.secrets = known_secrets(env, home / ".env")
        self.summaries: dict[str, BotSummary] = {}
        self.subject: str | None = None

    def rel(self, path: Path) -> str:
        return PurePosixPath(os.path.relpath(path, self.git.root)).as_posix()

    def run(self, message: str | None, push: bool) -> None:
        git = self.git
        operation = git.operation_in_progress()
        if operation:
            raise SyncError(
                f"{git.root} is in the middle of a {operation}",
                f"finish it, or undo it with `git {operation} --abort`, then sync again",
            )
        branch = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
        if not branch:
            raise SyncError(f"{git.root} is not on a branch (detached HEAD)", "switch to one: git switch main")
        install_drivers(git)
        ensure_lines(self.home / ".gitattributes", ATTRIBUTES)
        ensure_lines(self.home / ".gitignore", IGNORES)
        for bot_id in self._bot_ids():
            self.summaries[bot_id] = BotSummary(bot_id)
        self.report.bots = list(self.summaries.values())
        self._snapshot_all()
        self._commit(message)
        upstream = find_upstream(git, branch)
        if upstream is None:
            self.report.notes.append("no git remote: the commit stays on this machine (add one: git remote add origin URL)")
        else:
            self._pull(upstream, branch)
        self._merge_pulled()
        if self.subject is not None and git.run("log", "-1", "--format=%s").stdout.strip() == self.subject:
            self.report.commit = self._head_line()  # its id after the rebase
        if upstream is not None:
            if push:
                self._check_unpushed(upstream)
                self.report.pushed = remote.push(git, branch, upstream)
            else:
                self.report.notes.append("not pushed (--no-push)")

    def _check_unpushed(self, upstream: Upstream) -> None:
        """Refuse to push a commit holding a secrets/run file or a secret, whoever made it."""
        ref = upstream.ref if remote.exists(self.git, upstream.ref) else None
        finding = scan_unpushed(self.git, self.home, ref, self.secrets)
        if finding is not None:
            base = upstream.name if ref else "the remote"
            raise SyncError(
                f"not pushed: {finding.path} {finding.reason}",
                f"take it out of the commits not yet on {base} (e.g. `git reset --soft {ref and upstream.name or 'HEAD~1'}`, "
                "`git rm --cached` the file, commit again), then sync again",
            )

    def _pull(self, upstream: Upstream, branch: str) -> None:
        self.report.remote = upstream.name
        pulled = remote.fetch(self.git, upstream)
        remote.check_shared_history(self.git, branch, upstream)
        if pulled is None:
            self.report.notes.append(f"{upstream.remote} has no branch {upstream.branch} yet: nothing to pull")
            return
        if pulled:
            result = remote.rebase_onto(self.git, upstream, self.rel(self.home / "memories") + "/")
            for path in result.kept_edited:
                self.report.notes.append(f"{path}: kept the edited version of a file the other machine deleted")
            self.report.kept_both += result.kept_both
            self.report.set_aside += result.set_aside
            self.report.warnings += result.warnings
        self.report.pulled_commits = pulled

    # -- 1. snapshots ---------------------------------------------------------------------

    def _bot_ids(self) -> list[str]:
        ids = set(list_bot_ids(self.home))
        persistence = self.home / "persistence"
        if persistence.is_dir():
            ids |= {p.name for p in persistence.iterdir() if (p / "messages.db").exists() or (p / SNAPSHOT_NAME).exists()}
        return sorted(ids)

    def _snapshot(self, bot_id: str) -> SnapshotResult | None:
        paths = BotPaths(self.home, bot_id)
        if not paths.database.exists():
            return None
        result = take_snapshot(paths.database, paths.persistence / SNAPSHOT_NAME, self.secrets)
        summary = self.summaries[bot_id]
        summary.snapshot_bytes = result.size_bytes
        for what, size, path in (
            ("live database", result.live_size_bytes, paths.database),
            ("snapshot", result.size_bytes, result.path),
        ):
            if size > DB_WARN_BYTES and not any(self.rel(path) in w for w in self.report.warnings):
                self.report.warnings.append(
                    f"{self.rel(path)}: the {what} is {_size(size)}, past 100 MB. Track snapshots with Git LFS "
                    "(`git lfs track 'persistence/**/snapshot.db'`, then re-add the merge attribute after it), "
                    "or move old history out (agentic upkeep's cleanup_old archives messages older than "
                    "agentic.upkeep.archive_messages_after_days)"
                )
        return result

    def _snapshot_all(self) -> None:
        for bot_id, summary in self.summaries.items():
            result = self._snapshot(bot_id)
            if result is not None:
                summary.new_messages = result.new_messages

    # -- 2 + 3. stage and commit ----------------------------------------------------------

    def _commit(self, message: str | None) -> None:
        git, report = self.git, self.report
        untracked, warnings = untrack_live_files(git, self.home)
        report.warnings += warnings
        for path in untracked:
            report.notes.append(f"{path}: no longer tracked (a live file; its content syncs as a snapshot or copy)")
        report.skipped_logs, log_refusals = copy_logs(self.home, report.host, self.secrets)
        plan = plan_staging(git, self.home, self.secrets)
        report.refused = log_refusals + plan.refused
        report.notes += plan.notes

        def message_for(changed: list[str]) -> list[str]:
            for path in changed:
                parts = PurePosixPath(os.path.relpath(git.root / path, self.home)).parts
                if len(parts) > 2 and parts[0] == "memories" and parts[1] in self.summaries:
                    self.summaries[parts[1]].memory_files += 1
            summary = self._summary_line()
            self.subject = message.strip().splitlines()[0] if message and message.strip() else summary
            return ["-m", self.subject, *(["-m", summary] if self.subject != summary else [])]

        if git.commit_paths(plan.paths, untracked, message_for):
            self.report.commit = self._head_line()
        else:
            report.notes.append("nothing new to commit on this machine")

    def _summary_line(self) -> str:
        def plural(n: int, word: str) -> str:
            return f"{n} {word}" if n == 1 else f"{n} {word}s"

        parts = [
            f"{s.bot_id} (+{plural(s.new_messages, 'message')}, {plural(s.memory_files, 'memory file')})"
            for s in self.summaries.values()
        ]
        return f"sync: {', '.join(parts) or 'no bots'} from {self.report.host}"

    def _head_line(self) -> str:
        return self.git.run("log", "-1", "--format=%h %s").stdout.strip()

    # -- 5. merge what was pulled into the live databases -------------------------------------

    def _merge_pulled(self) -> None:
        changed: list[str] = []
        for bot_id, summary in self.summaries.items():
            paths = BotPaths(self.home, bot_id)
            snapshot = paths.persistence / SNAPSHOT_NAME
            if not snapshot.exists():
                continue
            stats = merge_database(paths.database, snapshot)
            summary.merged_messages = stats.new_messages
            for table, why in stats.skipped.items():
                note = f"{self.rel(snapshot)}: table {table} not merged: {why}"
                if note not in self.report.notes:
                    self.report.notes.append(note)
            if stats.changed or self.report.pulled_commits:
                result = self._snapshot(bot_id)
                if result is not None and result.changed:
                    changed.append(self.rel(snapshot))
        if changed:
            self._fold_in(changed)

    def _fold_in(self, paths: list[str]) -> None:
        """Commit the re-taken snapshots: into this sync's commit when it is still unpushed."""
        git = self.git
        for path in list(paths):
            finding = scan_file(git.root / path, path, self.secrets)
            if finding is not None:
                self.report.refused.append(finding)
                paths.remove(path)
        if not paths:
            return
        ours = self.subject is not None and git.run("log", "-1", "--format=%s").stdout.strip() == self.subject
        upstream = f"refs/remotes/{self.report.remote}" if self.report.remote else None
        if ours and upstream and git.run("rev-parse", "--verify", "--quiet", upstream, check=False).returncode == 0:
            ours = git.run("merge-base", "--is-ancestor", "HEAD", upstream, check=False).returncode != 0
        if ours:
            git.commit_paths(paths, [], lambda _: ["--amend", "--no-edit"])
        else:
            subject = f"sync: history merged on {self.report.host}"
            if git.commit_paths(paths, [], lambda _: ["-m", subject]):
                self.subject = subject
        self.report.commit = self._head_line()
