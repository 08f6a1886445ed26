"""``bot_manager``: the command-line interface (Typer + Rich).

The CLI parses, calls into ``framework``, and renders; it holds no logic of its own.
Each verb group lives in its own module and registers itself on the app
(:mod:`.typer_app` builds it).

Start-up time is part of the interface (``status`` with ten bots must beat ``pm2
status``): :func:`main` looks at the command line first.

* ``status`` with only what :mod:`.status_fast` understands (``[BOT] [--json]
  [--sample S]``, ``--home`` before the verb) runs without Typer, Click or Rich: the
  arguments are read with argparse and handed to the same function the Typer command
  calls (:func:`.status_run.run_status`). Anything else (``--help``, ``--watch``, an
  unknown option, a bad value) goes to the Typer app, so help and usage errors stay
  Typer's.
* Any other verb builds the app with only the module of that verb, so ``bot_manager
  logs`` never imports the sandbox, the memory browser or the deploy templates.
* ``--help``, no verb, or a word that is no verb gets every module, so the full list
  and Click's "No such command" stay as they are.
* ``spawn`` and ``restart`` first launch the project's zygote (:mod:`.early_zygote`), so
  its preloading overlaps the CLI's own start.
* Exiting skips the interpreter's last garbage collections (:func:`gc.freeze` at exit).

This module imports nothing heavy: :data:`app` and :func:`build_app` (``from
framework.cli import app``, as the tests do) are loaded on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["COMMAND_MODULES", "app", "build_app", "main", "run_typer", "split_at_verb", "verb_of"]

# verb -> the module of framework/cli that registers it (tests/test_cli_startup.py keeps
# this table equal to what the modules register).
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(("spawn", "stop", "restart", "status", "logs", "list"), "supervise"),
    "validate": "config_cmds",
    "new": "new_cmd",
    "run": "run_cmd",
    "sandbox": "sandbox_cmd",
    **dict.fromkeys(("memory", "followups"), "memory_cmds"),
    **dict.fromkeys(("todos", "calendar", "reminders"), "assistant_cmds"),
    "sync": "sync_cmd",
    "deploy": "deploy_cmd",
}
# The order verbs are listed in by --help.
ALL_MODULES = ("supervise", "config_cmds", "new_cmd", "run_cmd", "sandbox_cmd", "memory_cmds", "assistant_cmds",
               "sync_cmd", "deploy_cmd")


def split_at_verb(args: Sequence[str]) -> tuple[list[str], str, list[str]] | None:
    """(root options, verb, the verb's arguments) when the verb can be told without
    parsing it all: the first word after the root options (``--home DIR``). None for
    help, completion or anything unclear, which then gets the full app."""
    args = list(args)
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--home":
            if i + 1 == len(args):
                return None
            i += 2
        elif word.startswith("--home="):
            i += 1
        elif word.startswith("-"):
            return None  # --help, --version, --install-completion: the full app answers
        else:
            return (args[:i], word, args[i + 1:]) if word in COMMAND_MODULES else None
    return None


def verb_of(args: Sequence[str]) -> str | None:
    """The verb a command line runs (see :func:`split_at_verb`), or None."""
    split = split_at_verb(args)
    return split[1] if split else None


_full_app: Any = None


def __getattr__(name: str) -> Any:
    # ``app`` is built on first use, so that ``main`` can build a smaller one instead.
    global _full_app
    if name == "build_app":
        from .typer_app import build_app

        return build_app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _full_app is None:
        from .typer_app import build_app

        _full_app = build_app()
    return _full_app


def run_typer(args: Sequence[str]) -> None:
    """Run ``args`` through the Typer app, built with only the verb's module when known."""
    from .typer_app import build_app

    verb = verb_of(args)
    build_app((COMMAND_MODULES[verb],) if verb else ALL_MODULES)(args=list(args), prog_name="bot_manager")


def main(argv: Sequence[str] | None = None) -> None:
    import atexit
    import gc
    import sys

    # At exit, CPython collects every generation while tearing the modules down: ~0.1 s
    # for the CLI's Typer, Rich and pydantic objects, after its work is done and the
    # output written. Those collections skip frozen objects; the rest of exiting (atexit
    # handlers, flushing the streams) is unchanged.
    atexit.unregister(gc.freeze)  # once, however often main() runs in one process
    atexit.register(gc.freeze)
    args = sys.argv[1:] if argv is None else list(argv)
    split = split_at_verb(args)
    if split is not None and split[1] in ("spawn", "restart"):
        from .early_zygote import start_zygote_early

        start_zygote_early(split[0], split[2])
    if split is not None and split[1] == "status":
        from .status_fast import fast_status

        code = fast_status(*split)
        if code is not None:
            raise SystemExit(code)
    run_typer(args)
