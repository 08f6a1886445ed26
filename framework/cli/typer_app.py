"""The Typer app of ``bot_manager``: the root options and the verbs of the modules asked for.

Kept apart from :mod:`framework.cli` so that the fast path of ``status`` there never
imports Typer, Click or Rich.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Annotated

import typer

from . import ALL_MODULES, common

__all__ = ["build_app"]


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
        import_module(f"framework.cli.{name}").register(new)
    return new
