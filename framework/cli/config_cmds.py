"""``bot_manager validate``: check configs and the environment they need."""

from __future__ import annotations

import json
import sys
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
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: ok, bots (bot, ok, errors, warnings) and conflicts (setting, value, bots).",
        ),
    ] = False,
) -> None:
    """Check bot configs and their environment without starting anything.

    Reports YAML syntax errors (file, line, column), schema errors (file, field, value,
    what was expected), missing token variables (by name, never the value), deprecated
    or unknown model ids, and two bots sharing a token variable, a log file or a data
    folder. Exits 78 when any config is invalid.
    """
    from ..config import check_bot, merged_environ  # pydantic models: only when validating
    from ..config.conflicts import conflicts_with_others

    cli: CliContext = ctx.obj
    ids = [bot] if bot else cli.bot_ids()
    if not ids:
        fail(f"no bots configured in {cli.home / 'bots'}; add a <name>.yaml there", code=exitcodes.CONFIG)
    environ = merged_environ(cli.home, cli.environ)
    results = {bot_id: check_bot(BotPaths(cli.home, bot_id).config, environ, cli.home, online=online) for bot_id in ids}
    loaded = {bot_id: r.config for bot_id, r in results.items() if r.config is not None}
    conflicts = conflicts_with_others(cli.home, loaded, cli.bot_ids())
    for conflict in conflicts:
        for bot_id in conflict.bots:
            if bot_id in results:
                results[bot_id].errors.append(conflict.line())
    bad = sum(1 for r in results.values() if not r.ok)
    if as_json:
        document = {
            "ok": not bad,
            "bots": [
                {"bot": bot_id, "ok": r.ok, "errors": r.errors, "warnings": r.warnings} for bot_id, r in results.items()
            ],
            "conflicts": [{"setting": c.setting, "value": c.value, "bots": list(c.bots)} for c in conflicts],
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        if bad:
            raise typer.Exit(exitcodes.CONFIG)
        return
    printed: set[str] = set()
    for bot_id, result in results.items():
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
        if result.ok:
            out.print(f"[green]ok[/green] {bot_id}")
            continue
        for line in result.errors:
            if line not in printed:  # a conflict is one line, not one per bot
                err.print(f"[red]error:[/red] {escape(line)}")
            printed.add(line)
    if bad:
        err.print(f"{bad} of {len(ids)} bot config(s) invalid")
        raise typer.Exit(exitcodes.CONFIG)


def register(app: typer.Typer) -> None:
    app.command()(validate)
