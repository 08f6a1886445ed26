"""The remote side of a sync: which upstream, fetch, rebase onto it (or abort cleanly), push."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path

from .drivers import REBASE_ENV, REPORT_ENV
from .errors import SyncError
from .gitcmd import NO_HOOKS, Git

__all__ = ["Upstream", "PullResult", "exists", "find_upstream", "fetch", "check_shared_history", "rebase_onto", "push"]


@dataclass(frozen=True)
class Upstream:
    remote: str
    branch: str  # the branch on the remote
    tracking: bool  # the local branch already tracks it

    @property
    def name(self) -> str:
        return f"{self.remote}/{self.branch}"

    @property
    def ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"


@dataclass
class PullResult:
    kept_both: list[str] = field(default_factory=list)  # text files with both versions kept
    set_aside: list[str] = field(default_factory=list)  # corrupt sides kept next to their file
    warnings: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)  # edited here or there, deleted on the other side


def _last_line(text: str, default: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else default


def find_upstream(git: Git, branch: str) -> Upstream | None:
    """The branch's upstream; else ``origin`` (or the only remote) under the same name; None without remotes."""
    remote = git.run("config", "--get", f"branch.{branch}.remote", check=False).stdout.strip()
    merge = git.run("config", "--get", f"branch.{branch}.merge", check=False).stdout.strip()
    if remote and remote != "." and merge:
        return Upstream(remote, merge.removeprefix("refs/heads/"), True)
    remotes = git.run("remote").stdout.split()
    if not remotes:
        return None
    return Upstream("origin" if "origin" in remotes else remotes[0], branch, False)


def exists(git: Git, ref: str) -> bool:
    return git.run("rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0


def fetch(git: Git, upstream: Upstream) -> int | None:
    """Fetch; the number of commits to pull, or None when the remote has no such branch yet."""
    fetched = git.run("fetch", "--quiet", upstream.remote, check=False)
    if fetched.returncode != 0:
        raise SyncError(
            f"cannot fetch from {upstream.remote}: {_last_line(fetched.stderr, 'no output')}",
            "check the remote and your access (git fetch), then sync again; this machine's commit is kept",
        )
    if not exists(git, upstream.ref):
        return None
    return int(git.run("rev-list", "--count", f"HEAD..{upstream.ref}").stdout.strip() or 0)


def _remote_default(git: Git, remote: str) -> str | None:
    """The remote's default branch (what a clone checks out), or None when it has none."""
    local = git.run("symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD", check=False).stdout.strip()
    if local:
        return local.removeprefix(f"{remote}/")
    listed = git.run("ls-remote", "--symref", remote, "HEAD", check=False)
    for line in listed.stdout.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            return line[5:-5].removeprefix("refs/heads/")
    return None


def check_shared_history(git: Git, branch: str, upstream: Upstream) -> None:
    """SyncError when this branch would start a new branch on the remote, or shares no commit with it."""
    if not upstream.tracking:
        default = _remote_default(git, upstream.remote)
        if default and default != upstream.branch:
            raise SyncError(
                f"branch {branch} tracks no remote branch and {upstream.remote}'s default branch is {default}: "
                f"a push would start a new branch {branch} there instead of sharing {default}",
                f"clone the remote instead (git clone URL) and copy bots/ memories/ persistence/ over; or, to push "
                f"this branch on purpose, `git push -u {upstream.remote} {branch}` once, then sync again",
            )
    if not exists(git, upstream.ref) or git.head() is None:
        return
    if git.run("merge-base", "HEAD", upstream.ref, check=False).returncode != 0:
        raise SyncError(
            f"this repository and {upstream.name} share no history (it was made with `git init`, not cloned); nothing was pulled or pushed",
            "clone the remote instead (git clone URL) and copy bots/ memories/ persistence/ over (the next sync merges "
            f"the databases), or join the histories by hand: git pull --no-rebase --allow-unrelated-histories {upstream.remote} {upstream.branch}",
        )


def _edited_vs_deleted(git: Git, memories: str | None) -> list[str]:
    """Resolve a stopped rebase where every conflict is a memory file deleted on one side and
    edited on the other: the edited version is kept. The paths, or [] (nothing touched)."""
    if memories is None:
        return []
    stages: dict[str, dict[int, str]] = {}
    for entry in git.run("ls-files", "-u", "-z").stdout.split("\0"):
        if entry:
            info, _, path = entry.partition("\t")
            _mode, blob, stage = info.split()
            stages.setdefault(path, {})[int(stage)] = blob
    if not stages:
        return []
    for path, found in stages.items():
        if not path.startswith(memories) or 1 not in found or len(found) != 2:
            return []
    for path, found in stages.items():
        blob = found.get(2) or found[3]
        data = git.blob(blob)
        if data is None:
            return []
        target = git.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    git.with_paths(["add", "-f"], list(stages))
    return sorted(stages)


def rebase_onto(git: Git, upstream: Upstream, memories: str | None = None) -> PullResult:
    """Rebase this branch onto the fetched upstream; SyncError (and no trace of it) when git stops.

    ``memories`` (the repo-relative ``memories/`` folder with a trailing slash): a memory file
    deleted on one side and edited on the other keeps its edited version.
    """
    with tempfile.NamedTemporaryFile(prefix="bot_manager-sync-", suffix=".jsonl", delete=False) as fh:
        report_file = Path(fh.name)
    kept_edited: list[str] = []
    try:
        env = {REPORT_ENV: str(report_file), REBASE_ENV: "1"}
        result = git.run(
            *NO_HOOKS, "rebase", "--autostash", "--rebase-merges", upstream.ref, check=False, identity=True, extra_env=env,
        )
        while result.returncode != 0 and git.operation_in_progress() == "rebase":
            survivors = _edited_vs_deleted(git, memories)
            if not survivors:
                break
            kept_edited += survivors
            result = git.run(*NO_HOOKS, "rebase", "--continue", check=False, identity=True, extra_env=env)
        pulled = _read_driver_report(report_file)
        pulled.kept_edited = kept_edited
    finally:
        report_file.unlink(missing_ok=True)
    if result.returncode != 0 or git.operation_in_progress():
        conflicted = git.paths("diff", "--name-only", "--diff-filter=U", "-z")
        kept = _abort(git, conflicted)
        detail = ", ".join(conflicted) or _last_line(result.stderr, "git gave no reason")
        during = (
            f"; what was written to files during the pull is kept aside in {', '.join(kept)} (merge it by hand)"
            if kept else ""
        )
        raise SyncError(
            f"the pull from {upstream.name} could not be merged automatically ({detail}); "
            f"the repository is back as it was before the pull and this machine's commit is kept{during}",
            "merge by hand (git pull --rebase, fix the files, git rebase --continue), then sync again",
        )
    clashed = git.paths("diff", "--name-only", "--diff-filter=U", "-z")
    if clashed:
        # Uncommitted changes (a refused file, a write made during the pull) clashed with the
        # pull when git put them back. git keeps them in the stash; the files take the pulled
        # version instead of git's conflict markers.
        git.with_paths(["checkout", "--quiet", "HEAD"], clashed)
        git.run("reset", "--quiet")  # as after a clean autostash: put-back changes are unstaged
        pulled.warnings.append(
            f"uncommitted changes to {', '.join(clashed)} clashed with the pull; the files now hold the pulled "
            "version and your changes are in the stash (see them: git stash show -p; take them back: git stash pop)"
        )
    return pulled


def _read_driver_report(path: Path) -> PullResult:
    pulled = PullResult()
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["kind"] == "kept-both" and entry["path"] not in pulled.kept_both:
            pulled.kept_both.append(entry["path"])
        elif entry["kind"] == "corrupt-aside":
            pulled.set_aside.append(f"{entry['path']}: the corrupt version is kept in {entry['aside']}")
        elif entry["kind"] == "db-side-dropped":
            pulled.warnings.append(f"{entry['path']}: one side was not a SQLite database; the other was kept")
    return pulled


def _abort(git: Git, conflicted: list[str]) -> list[str]:
    """Abort the rebase. A file a running bot wrote meanwhile (not one git was merging) is
    never put back over the restored state (that could undo this machine's commit or an
    autostashed change): when it differs, the bot's version is kept next to it as
    ``<name>.during-sync-<UTC time>``. The repo-relative paths of those copies."""
    written = [p for p in git.paths("diff", "--name-only", "-z") if p not in conflicted]
    saved = {p: (git.root / p).read_bytes() for p in written if (git.root / p).is_file()}
    git.run("rebase", "--abort", check=False)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept: list[str] = []
    for path, data in saved.items():
        target = git.root / path
        if target.is_file() and target.read_bytes() == data:
            continue
        aside = target.with_name(f"{target.name}.during-sync-{stamp}")
        aside.write_bytes(data)
        kept.append(f"{path}.during-sync-{stamp}")
    return kept


def push(git: Git, branch: str, upstream: Upstream) -> bool:
    """Push HEAD to the upstream branch; False when there was nothing to push."""
    ahead = git.run("rev-list", "--count", f"{upstream.ref}..HEAD").stdout.strip() if exists(git, upstream.ref) else "new"
    if ahead == "0":
        return False
    pushed = git.run("push", "--quiet", upstream.remote, f"HEAD:refs/heads/{upstream.branch}", check=False)
    if pushed.returncode != 0:
        raise SyncError(
            f"push to {upstream.remote} failed: {_last_line(pushed.stderr, 'no output')}",
            "another machine may have pushed meanwhile: sync again",
        )
    if not upstream.tracking:
        git.run("branch", "--quiet", f"--set-upstream-to={upstream.name}", branch, check=False)
    return True
