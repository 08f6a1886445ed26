"""What one sync commits: the candidates under the project folder, and what is refused.

Synced: ``memories/``, ``persistence/<bot>/snapshot.db`` and ``persistence/<bot>/*.json``,
``bots/``, copies of the live logs under ``logs/synced/<host>/`` (each at most
``LOG_CAP_BYTES``; rotated backups are not copied), and the project's ``.gitattributes`` /
``.gitignore``. Never: ``.env``, ``run/``, the live database (``messages.db`` and its
``-wal``/``-shm``), a file holding a secret.

Why copies of the logs: a running bot appends to ``logs/<bot>.log`` through an open file;
git replaces a file it updates with a new one, so after a pull the bot would go on writing
into a file nobody can see any more. The live logs are never tracked; each machine commits
its own copies in its own folder, which never conflict.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .gitcmd import Git
from .scan import Finding, scan_bytes, scan_file

__all__ = [
    "LOG_CAP_BYTES", "StagePlan", "copy_logs", "plan_staging", "host_folder_name", "untrack_live_files",
    "scan_unpushed", "is_temp_file",
]

LOG_CAP_BYTES = 1024 * 1024
_ROTATED = re.compile(r"\.\d+$")
_LIVE_DB_SUFFIXES = ("messages.db", "messages.db-wal", "messages.db-shm", "messages.db-journal")


@dataclass
class StagePlan:
    add: list[str] = field(default_factory=list)  # repo-relative paths to stage (new or changed)
    remove: list[str] = field(default_factory=list)  # tracked paths deleted from the work tree
    refused: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return sorted({*self.add, *self.remove})


def host_folder_name(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", host).strip(".-") or "host"


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def copy_logs(
    home: Path, host: str, secrets: Mapping[str, str], cap: int = LOG_CAP_BYTES
) -> tuple[list[str], list[Finding]]:
    """Copy each live log under ``cap`` to ``logs/synced/<host>/``; (skipped notes, refusals)."""
    logs = home / "logs"
    skipped: list[str] = []
    refused: list[Finding] = []
    if not logs.is_dir():
        return skipped, refused
    target_dir = logs / "synced" / host_folder_name(host)
    for path in sorted(p for p in logs.iterdir() if p.is_file() and not p.name.startswith(".")):
        rel = f"logs/{path.name}"
        if _ROTATED.search(path.name):
            skipped.append(f"{rel}: a rotated backup (not synced)")
            continue
        size = path.stat().st_size
        if size > cap:
            skipped.append(f"{rel}: {_size(size)}, over the {_size(cap)} cap")
            continue
        finding = scan_file(path, rel, secrets)
        if finding:
            refused.append(finding)
            continue
        target = target_dir / path.name
        if not target.exists() or target.read_bytes() != path.read_bytes():
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return skipped, refused


def _pathspecs(git: Git, home: Path) -> list[str]:
    rel = PurePosixPath(os.path.relpath(home, git.root))
    prefix = "" if str(rel) == "." else f"{rel}/"
    return [f"{prefix}{p}" for p in ("memories", "persistence", "bots", "logs/synced", ".gitattributes", ".gitignore")]


def _home_relative(git: Git, home: Path, path: str) -> PurePosixPath:
    return PurePosixPath(os.path.relpath(git.root / path, home))


def is_temp_file(name: str) -> bool:
    """A half-written file of an atomic write (in flight, or left behind by a crash): never synced.

    Every temp-file shape the project writes, all hidden: the memory tool's ``.tmp-<hex>``
    (``framework.memory.nofollow``, not imported here: git's merge drivers import this package
    and must stay light), ``.<name>.<random>.tmp`` of ``framework.fsutil`` and
    ``.<name>.<pid>.tmp`` of the database snapshot and merge.
    """
    return name.startswith(".") and (name.endswith(".tmp") or name.startswith(".tmp-"))


def _is_secret_file(name: str) -> bool:
    return name == ".env" or (name.startswith(".env.") and name != ".env.example")


def untrack_live_files(git: Git, home: Path) -> tuple[list[str], list[str]]:
    """Stop tracking live databases and live logs; (untracked paths, warnings for .env/run files)."""
    untracked, warnings = [], []
    for path in git.paths("ls-files", "-z", "--", os.path.relpath(home, git.root)):
        rel = _home_relative(git, home, path)
        parts = rel.parts
        if not parts or parts[0] == "..":
            continue
        if parts[0] == "run" or _is_secret_file(rel.name):
            warnings.append(
                f"{path} is tracked by git; sync leaves it out. Untrack it with `git rm --cached {path}`"
                + (" and change the secrets in it: they are in the history" if _is_secret_file(rel.name) else "")
            )
        elif (parts[0] == "persistence" and rel.name in _LIVE_DB_SUFFIXES) or (
            parts[0] == "logs" and len(parts) == 2
        ):
            untracked.append(path)
    if untracked:
        git.with_paths(["rm", "--cached", "--quiet", "--ignore-unmatch"], untracked)
    return untracked, warnings


def plan_staging(git: Git, home: Path, secrets: Mapping[str, str]) -> StagePlan:
    """Sort the changed files under the synced folders into add / remove / refused."""
    plan = StagePlan()
    specs = _pathspecs(git, home)
    git.run("update-index", "-q", "--refresh", check=False)  # stat-only changes are not changes
    # The project's .gitignore files decide, not a person's global excludesFile (``*.db``, ``*.log``).
    changed = set(git.paths("ls-files", "-z", "--others", "--modified", "--exclude-per-directory=.gitignore", "--", *specs))
    changed |= set(git.paths("diff", "--cached", "--name-only", "-z", "--", *specs))
    for path in sorted(changed):
        rel = _home_relative(git, home, path)
        name, top = rel.name, rel.parts[0]
        full = git.root / path
        if _is_secret_file(name) or top == "run":
            plan.refused.append(Finding(path, "is a secrets or run file", "sync never commits these"))
            continue
        if is_temp_file(name) and os.path.lexists(full):
            continue  # one committed by an older version is still removed once it is gone
        if top == "persistence" and not (name == "snapshot.db" or name.endswith(".json")):
            if name not in _LIVE_DB_SUFFIXES:
                plan.notes.append(f"{path}: not synced (only snapshot.db and *.json files in persistence/ are)")
            continue
        if not full.exists():
            plan.remove.append(path)
            continue
        if not full.is_file():
            continue
        finding = scan_file(full, path, secrets)
        if finding:
            plan.refused.append(finding)
        else:
            plan.add.append(path)
    return plan


def scan_unpushed(git: Git, home: Path, upstream_ref: str | None, secrets: Mapping[str, str]) -> Finding | None:
    """The first file a push would send that sync would never commit, else None.

    Every file changed by every commit in ``upstream..HEAD`` (all commits not on a remote
    when the upstream branch does not exist yet) is checked as that commit holds it.
    """
    commits = git.run("rev-list", "HEAD", *(["^" + upstream_ref] if upstream_ref else ["--not", "--remotes"])).stdout.split()
    for commit in commits:
        changed = git.paths("diff-tree", "--no-commit-id", "-r", "--root", "--no-renames", "--name-only", "-z", commit)
        short = commit[:7]
        for path in changed:
            rel = _home_relative(git, home, path)
            if rel.parts and rel.parts[0] != ".." and (_is_secret_file(rel.name) or rel.parts[0] == "run"):
                return Finding(path, f"is a secrets or run file (committed in {short})", "")
            data = git.blob(f"{commit}:{path}")
            if data is None:
                continue  # deleted in that commit
            finding = scan_bytes(path, data, secrets)
            if finding:
                return Finding(path, f"{finding.reason} (committed in {short})", "")
    return None
