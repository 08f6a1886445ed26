"""``bot_manager``: the command-line interface (Typer + Rich).

The CLI parses, calls into ``framework``, and renders; it holds no logic of its own.
Each verb group lives in its own module and registers itself on the app.

Start-up time is part of the interface (``status`` has a 300 ms budget, interpreter
included): :func:`main` looks at the command line first and builds the app with only
the module of the verb being run, so ``bot_manager status`` never imports the sandbox,
the memory browser or the deploy templates. ``--help``, no verb, or a word that is no
verb gets every module, so the full list and Click's "No such command" stay as they
are. :data:`app` (``from framework.cli import app``, as the tests do) is the full app.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Annotated, Any

import typer

from . import common

__all__ = ["COMMAND_MODULES", "app", "build_app", "main"]

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


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("discord-claude-framework")
    except PackageNotFoundError:  # run from a checkout that was never installed
        number = "unknown"
    common.out.print(f"bot_manager {number}")
    raise typer.Exit(0)


def _root(
    ctx: typer.Context,
    home: common.HomeOption = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Run and manage Claude-powered Discord bots: one process per `bots/<id>.yaml`.

    The project folder (bots/, memories/, persistence/, logs/, run/) is BOT_HOME,
    or the current directory.
    """
    if ctx.obj is None:  # tests may pass their own context object
        ctx.obj = common.CliContext.create(home)


def build_app(modules: Sequence[str] = ALL_MODULES) -> typer.Typer:
    """The Typer app with the verbs of ``modules`` (every verb by default)."""
    new = typer.Typer(
        name="bot_manager",
        help="Run and manage Claude-powered Discord bots: one process per `bots/<id>.yaml`.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals may hold tokens
        add_completion=True,  # --install-completion and --show-completion for bash, zsh, fish, PowerShell
        rich_markup_mode="markdown",  # reflows docstring paragraphs to the terminal width
    )
    new.callback()(_root)
    for name in modules:
        import_module(f".{name}", __name__).register(new)
    return new


def verb_of(args: Sequence[str]) -> str | None:
    """The verb a command line runs, when it can be told without parsing it all: the
    first word after the root options (``--home DIR``). None for help, completion or
    anything unclear, which then gets the full app."""
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word == "--home":
            if not rest:
                return None
            rest.pop(0)
        elif word.startswith("--home="):
            continue
        elif word.startswith("-"):
            return None  # --help, --version, --install-completion: the full app answers
        else:
            return word if word in COMMAND_MODULES else None
    return None


_full_app: typer.Typer | None = None


def __getattr__(name: str) -> Any:
    # ``app`` is built on first use, so that ``main`` can build a smaller one instead.
    global _full_app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _full_app is None:
        _full_app = build_app()
    return _full_app


def main(argv: Sequence[str] | None = None) -> None:
    import sys

    args = sys.argv[1:] if argv is None else list(argv)
    verb = verb_of(args)
    build_app((COMMAND_MODULES[verb],) if verb else ALL_MODULES)(args=args, prog_name="bot_manager")
