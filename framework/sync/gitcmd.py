"""Running git for sync: never prompts, never opens an editor, works without an identity.

When no ``user.name`` / ``user.email`` is configured (a fresh machine, a CI box), commits
are made as ``bot_manager <bot_manager@localhost>`` through ``-c`` options on the command
line; a configured identity (config or ``GIT_*`` environment) always wins.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from ..exitcodes import CONFIG
from .errors import SyncError

__all__ = ["Git", "FALLBACK_NAME", "FALLBACK_EMAIL", "NO_HOOKS"]

FALLBACK_NAME = "bot_manager"
FALLBACK_EMAIL = "bot_manager@localhost"
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")  # a person's hooks never run (nor stage files) in sync's commits


class Git:
    """git commands run from the top of one work tree."""

    def __init__(self, root: Path, environ: Mapping[str, str] | None = None) -> None:
        self.root = root
        env = dict(os.environ if environ is None else environ)
        env.update(
            GIT_TERMINAL_PROMPT="0",  # a missing credential fails instead of waiting for a person
            GIT_EDITOR="true",
            GIT_LITERAL_PATHSPECS="1",  # a file name is a name, never a glob
        )
        self.env = env
        self._identity: list[str] | None = None

    @classmethod
    def find(cls, start: Path, environ: Mapping[str, str] | None = None) -> Git:
        """The work tree holding ``start``; SyncError (exit 78) when there is none."""
        if not start.exists():
            raise SyncError(f"{start} does not exist", "point --home or BOT_HOME at the project folder", CONFIG)
        try:
            result = subprocess.run(
                ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True,
                encoding="utf-8", errors="surrogateescape", env=dict(os.environ if environ is None else environ),
            )
        except FileNotFoundError:
            raise SyncError("git is not installed (no `git` on PATH)", "install git, then sync again", CONFIG) from None
        except NotADirectoryError:
            raise SyncError(f"{start} is not a folder", "point --home or BOT_HOME at the project folder", CONFIG) from None
        if result.returncode != 0 or not result.stdout.strip():
            raise SyncError(
                f"{start} is not inside a git repository",
                f"create one with `git init` in {start} (and `git remote add origin URL` to share it)",
                CONFIG,
            )
        return cls(Path(result.stdout.strip()), environ)

    def identity(self) -> list[str]:
        """``-c user.name=... -c user.email=...`` for whatever is not configured, else nothing."""
        if self._identity is None:
            # GIT_AUTHOR_*/GIT_COMMITTER_* in the environment beat any -c value; EMAIL does not.
            args: list[str] = []
            if not self.run("config", "--get", "user.name", check=False).stdout.strip():
                args += ["-c", f"user.name={FALLBACK_NAME}"]
            if not self.run("config", "--get", "user.email", check=False).stdout.strip() and not self.env.get("EMAIL"):
                args += ["-c", f"user.email={FALLBACK_EMAIL}"]
            self._identity = args
        return self._identity

    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        identity: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``git ARGS`` in the work tree; SyncError naming the command when ``check`` and it fails."""
        env = self.env if not extra_env else {**self.env, **extra_env}
        argv = ["git", *(self.identity() if identity else []), *args]
        # File names are bytes to git: one that is not UTF-8 round-trips through surrogateescape.
        result = subprocess.run(
            argv, cwd=self.root, env=env, capture_output=True, encoding="utf-8", errors="surrogateescape", input=input
        )
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            shown = list(args)
            while shown[:1] == ["-c"]:
                del shown[:2]
            raise SyncError(f"`git {' '.join(shown[:3])}` failed: {detail[-1] if detail else 'exit ' + str(result.returncode)}")
        return result

    def blob(self, spec: str) -> bytes | None:
        """The bytes of ``REV:PATH``, or None when there is no such file."""
        result = subprocess.run(["git", "cat-file", "blob", spec], cwd=self.root, env=self.env, capture_output=True)
        return result.stdout if result.returncode == 0 else None

    def paths(self, *args: str, extra_env: Mapping[str, str] | None = None) -> list[str]:
        """The NUL-separated paths a ``-z`` command prints."""
        return [p for p in self.run(*args, extra_env=extra_env).stdout.split("\0") if p]

    def with_paths(self, args: Iterable[str], paths: Iterable[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """``git ARGS --pathspec-from-file=- --pathspec-file-nul`` (no command-line length limit)."""
        listed = "\0".join(paths)
        return self.run(*args, "--pathspec-from-file=-", "--pathspec-file-nul", input=listed, **kwargs)  # type: ignore[arg-type]

    def commit_paths(
        self, add: Sequence[str], remove: Sequence[str], commit_args: Callable[[list[str]], Sequence[str]]
    ) -> list[str]:
        """Commit HEAD plus ``add`` (work-tree content) minus ``remove``; the paths that changed.

        ``commit_args(changed)`` gives the ``git commit`` options (the message). Nothing is
        committed when nothing changed. The commit is built in a temporary index, so whatever
        else a person has staged stays staged and out of it; afterwards the real index
        follows HEAD for these paths.
        """
        with tempfile.TemporaryDirectory(prefix="bot_manager-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            head = self.head()
            self.run("read-tree", *([head] if head else ["--empty"]), extra_env=env)
            if add:
                self.with_paths(["add", "--all", "--force"], add, extra_env=env)  # a global excludesFile never drops one
            if remove:
                self.with_paths(["rm", "--cached", "--quiet", "--ignore-unmatch"], remove, extra_env=env)
            if head:
                changed = self.paths("diff", "--cached", "--name-only", "-z", head, extra_env=env)
            else:
                changed = self.paths("ls-files", "-z", extra_env=env)
            if changed:
                self.run(*NO_HOOKS, "commit", "--quiet", "--no-status", "--no-verify", *commit_args(changed), extra_env=env, identity=True)
                self._check_committed(head, changed)
        if head or changed:
            self.with_paths(["reset", "--quiet"], [*add, *remove])
        return changed

    def _check_committed(self, before: str | None, planned: list[str]) -> None:
        """The new commit changes only ``planned``; else it is undone and SyncError raised."""
        if before:
            committed = self.paths("diff", "--name-only", "-z", before, "HEAD")
        else:
            committed = self.paths("ls-tree", "-r", "--name-only", "-z", "HEAD")
        extra = sorted(set(committed) - set(planned))
        if not extra:
            return
        if before:
            self.run("update-ref", "HEAD", before)
        else:
            self.run("update-ref", "-d", "HEAD")
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise SyncError(
            f"the commit held files sync did not choose ({shown}); it was undone and nothing was pushed",
            "check for something that stages files on commit (a git hook, an alias), then sync again",
        )

    def git_dir(self) -> Path:
        return Path(self.run("rev-parse", "--absolute-git-dir").stdout.strip())

    def operation_in_progress(self) -> str | None:
        """``"rebase"``, ``"merge"``, ``"cherry-pick"`` or ``"revert"`` when one is unfinished."""
        git_dir = self.git_dir()
        for name, what in (
            ("rebase-merge", "rebase"),
            ("rebase-apply", "rebase"),
            ("MERGE_HEAD", "merge"),
            ("CHERRY_PICK_HEAD", "cherry-pick"),
            ("REVERT_HEAD", "revert"),
        ):
            if (git_dir / name).exists():
                return what
        return None

    def head(self) -> str | None:
        result = self.run("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        return result.stdout.strip() or None
