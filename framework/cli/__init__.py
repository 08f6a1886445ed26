"""``bot_manager``: the command-line interface (Typer + Rich).

The CLI parses, calls into ``framework``, and renders; it holds no logic of its own.
Each verb group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import common

__all__ = ["app", "main"]

app = typer.Typer(
    name="bot_manager",
    help="Run and manage Claude-powered Discord bots: one process per `bots/<id>.yaml`.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
    add_completion=True,  # --install-completion and --show-completion for bash, zsh, fish, PowerShell
    rich_markup_mode="markdown",  # reflows docstring paragraphs to the terminal width
)


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


@app.callback()
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


def _register_commands() -> None:
    from . import assistant_cmds, config_cmds, deploy_cmd, memory_cmds, new_cmd, run_cmd, sandbox_cmd, supervise, sync_cmd

    for module in (supervise, config_cmds, new_cmd, run_cmd, sandbox_cmd, memory_cmds, assistant_cmds, sync_cmd, deploy_cmd):
        module.register(app)


_register_commands()


def main() -> None:
    app()
