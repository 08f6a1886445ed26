"""What sync sets up in the repository before it stages anything.

- The merge drivers, in ``.git/config`` (machine-local: they name this machine's Python).
- ``.gitattributes`` in the project folder, committed: which files use which driver.
- ``.gitignore`` in the project folder, committed: the machine-local files (live databases,
  live logs, run files, secrets) that git must never pick up, even by ``git add -A``.

Both files get only the lines they lack, under a comment saying who added them.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..fsutil import atomic_write_text
from .gitcmd import Git

__all__ = ["DRIVERS", "ATTRIBUTES", "IGNORES", "install_drivers", "ensure_lines", "framework_root"]

# name -> (description, drivers.py kind)
DRIVERS = {
    "bot-manager-sqlite": ("bot_manager: union of the rows of two SQLite snapshots", "sqlite"),
    "bot-manager-followups": ("bot_manager: follow-ups merged by id", "followups"),
    "bot-manager-text": ("bot_manager: text merge keeping both versions of a conflict", "text"),
    "bot-manager-keep-local": ("bot_manager: keep this machine's version", "keep-local"),
}

# Later lines win for the same attribute: the followups rule overrides the memories one.
ATTRIBUTES = (
    "memories/** merge=bot-manager-text",
    "memories/**/followups*.json merge=bot-manager-followups",
    "persistence/**/snapshot.db merge=bot-manager-sqlite -diff -text",
    "persistence/**/*.json merge=bot-manager-keep-local",
    "logs/** merge=union",
)

IGNORES = (
    ".env",
    "run/",
    "persistence/**/messages.db",
    "persistence/**/*.db-wal",
    "persistence/**/*.db-shm",
    "persistence/**/*.db-journal",
    "persistence/**/.*.tmp",
    "logs/*",
    "!logs/synced/",
    "workspaces/",
)

_HEADER = "# added by `bot_manager sync`"


def framework_root() -> Path:
    """The folder holding the ``framework`` package (for the drivers' PYTHONPATH)."""
    return Path(__file__).resolve().parent.parent.parent


def install_drivers(git: Git, python: str | None = None) -> bool:
    """Write the merge drivers into the repository's own config; True when something changed."""
    exe = shlex.quote(python or sys.executable)
    root = shlex.quote(str(framework_root()))
    changed = False
    for name, (description, kind) in DRIVERS.items():
        driver = f"PYTHONPATH={root}${{PYTHONPATH:+:$PYTHONPATH}} {exe} -m framework.sync.drivers {kind} %O %A %B %P"
        for key, value in ((f"merge.{name}.name", description), (f"merge.{name}.driver", driver)):
            if git.run("config", "--local", "--get", key, check=False).stdout.rstrip("\n") != value:
                git.run("config", "--local", key, value)
                changed = True
    return changed


def ensure_lines(path: Path, lines: tuple[str, ...]) -> bool:
    """Append the ``lines`` that ``path`` lacks (under a header); True when the file changed."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in lines if line not in present]
    if not missing:
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    block = ([] if _HEADER in present else [_HEADER]) + missing
    atomic_write_text(path, text + ("\n" if text and _HEADER not in present else "") + "\n".join(block) + "\n")
    return True
