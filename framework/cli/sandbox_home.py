"""The sandbox's own project folder, ``run/sandbox/``: one session at a time, logs kept.

A session holds ``run/sandbox.lock`` (an exclusive ``flock``, dropped by the kernel however
the session ends) with who holds it; a second ``bot_manager sandbox`` in the same project
refuses with one line naming the first instead of disconnecting its bot. A new session
starts from a fresh copy of the bot's config and prompt files but keeps ``logs/``, so the
last session's log stays readable after it ends.

The copy of the config is adjusted for the sandbox: the person at the terminal is one of
the bot's owners (so its owner-only commands work) and a joke command asks the sandbox's
local joke API instead of the internet.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from ..paths import BotPaths

__all__ = ["SandboxBusy", "SessionLock", "sandbox_home", "prepare_home", "adapt_config"]


def sandbox_home(home: Path) -> Path:
    return home / "run" / "sandbox"


class SandboxBusy(Exception):
    """Another sandbox session holds this project's sandbox; the message names it."""


@dataclass
class SessionLock:
    """Held for the whole session; :meth:`release` (or the process ending) frees it."""

    path: Path
    fd: int

    @classmethod
    def take(cls, home: Path, bot_id: str) -> SessionLock:
        path = home / "run" / "sandbox.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SandboxBusy(_holder(path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"bot": bot_id, "pid": os.getpid(), "since": time.strftime("%H:%M:%S")}).encode())
        return cls(path, fd)

    def release(self) -> None:
        os.close(self.fd)


def _holder(path: Path) -> str:
    try:
        held = json.loads(path.read_text())
        who = f"{held['bot']} (pid {held['pid']}, since {held['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        who = "another session"
    return (
        f"a sandbox is already running in this project: {who}; one at a time, since a second would "
        f"disconnect its bot: end it with /quit in its terminal first"
    )


def prepare_home(home: Path, bot_id: str) -> Path:
    """A fresh ``run/sandbox/`` with a copy of the bot's config and prompt files; ``logs/`` kept."""
    target = sandbox_home(home)
    if target.is_dir():
        for entry in target.iterdir():
            if entry.name == "logs":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    copy = BotPaths(target, bot_id)
    copy.config.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BotPaths(home, bot_id).config, copy.config)
    # The prompt files are part of who the bot is (a missing read-only one stops it): they
    # come along; the rest of its memories stay behind.
    prompt = BotPaths(home, bot_id).memories / "prompt"
    if prompt.is_dir():
        shutil.copytree(prompt, copy.memories / "prompt", symlinks=True)
    return target


def adapt_config(config_path: Path, *, owner_id: str, jokes_url: str | None) -> None:
    """Make the terminal's person an owner and point jokes at ``jokes_url`` in the copy."""
    yaml = YAML()  # round trip: the copy keeps the comments that explain each key
    yaml.preserve_quotes = True
    data = yaml.load(config_path.read_text(encoding="utf-8"))
    discord = data.setdefault("discord", {})
    owners = discord.get("owner_ids") or []
    if owner_id not in [str(o) for o in owners]:
        discord["owner_ids"] = [*owners, owner_id]
    if jokes_url is not None:
        behaviour = data.setdefault("personality", {}).setdefault("behaviour", {})
        jokes = behaviour.get("jokes")
        if jokes is None:
            behaviour["jokes"] = {"api_url": jokes_url}
        else:
            jokes["api_url"] = jokes_url
    with config_path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
