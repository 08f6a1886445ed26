"""``bot_manager validate``: check configs and the environment they need."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

from .. import exitcodes
from ..paths import BotPaths
from .common import CliContext, err, fail, out

__all__ = ["register"]


def validate(
    ctx: typer.Context,
    bot: Annotated[Optional[str], typer.Argument(help="Bot to check (default: every bot in bots/).", show_default=False)] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also ask Anthropic's Models API about the configured Claude models (needs ANTHROPIC_API_KEY; "
            "honours ANTHROPIC_BASE_URL). Its answers are warnings.",
        ),
    ] = False,
) -> None:
    """Check bot configs and their environment without starting anything.

    Reports YAML syntax errors (file, line, column), schema errors (file, field, value,
    what was expected), missing token variables (by name, never the value), and
    deprecated or unknown model ids. Exits 78 when any config is invalid.
    """
    from ..config import check_bot, merged_environ  # pydantic models: only when validating

    cli: CliContext = ctx.obj
    ids = [bot] if bot else cli.bot_ids()
    if not ids:
        fail(f"no bots configured in {cli.home / 'bots'}; add a <name>.yaml there", code=exitcodes.CONFIG)
    environ = merged_environ(cli.home, cli.environ)
    bad = 0
    for bot_id in ids:
        result = check_bot(BotPaths(cli.home, bot_id).config, environ, cli.home, online=online)
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
        if result.ok:
            out.print(f"[green]ok[/green] {bot_id}")
        else:
            bad += 1
            for line in result.errors:
                err.print(f"[red]error:[/red] {escape(line)}")
    if bad:
        err.print(f"{bad} of {len(ids)} bot config(s) invalid")
        raise typer.Exit(exitcodes.CONFIG)


def register(app: typer.Typer) -> None:
    app.command()(validate)
