"""``bot_manager sync``: share memories and history with the other machines through git."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from .common import CliContext, err, out

if TYPE_CHECKING:
    from ..sync.engine import SyncReport

__all__ = ["register", "render_sync"]


def _bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.0f} KB" if n else "-"


def render_sync(report: SyncReport) -> Table:
    """The per-bot table of one sync."""
    table = Table(title=f"sync from {report.host}", title_justify="left", show_edge=False)
    table.add_column("bot")
    table.add_column("new here", justify="right")
    table.add_column("merged in", justify="right")
    table.add_column("memory files", justify="right")
    table.add_column("snapshot", justify="right")
    for bot in report.bots:
        table.add_row(
            bot.bot_id, f"+{bot.new_messages}", f"+{bot.merged_messages}", str(bot.memory_files), _bytes(bot.snapshot_bytes)
        )
    return table


def _print_report(report: SyncReport) -> None:
    if report.bots:
        out.print(render_sync(report))
    if report.commit:
        out.print(f"committed {report.commit}", markup=False)
    if report.remote:
        pulled = f"pulled {report.pulled_commits} commit{'s' if report.pulled_commits != 1 else ''} from {report.remote}"
        out.print(pulled + (", pushed" if report.pushed else ""), markup=False)
    for path in report.kept_both:
        out.print(f"kept both versions (edit by hand, look for '<!-- sync:'): {path}", markup=False)
    for line in report.set_aside:
        out.print(f"set aside: {line}", markup=False)
    for line in report.skipped_logs:
        out.print(f"log not synced: {line}", markup=False)
    for line in report.notes:
        out.print(line, markup=False)
    for line in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {line}", markup=True)
    for finding in report.refused:
        err.print(f"[red]refused:[/red] {finding.line()}", markup=True)
    if report.error is not None:
        err.print(f"[red]error:[/red] {report.error}", markup=True)
        if report.error.hint:
            err.print(f"  {report.error.hint}", markup=False)
    elif report.refused:
        err.print(f"{len(report.refused)} file(s) left out; everything else is synced", markup=False)


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync(
        ctx: typer.Context,
        message: Annotated[
            Optional[str],
            typer.Option("--message", "-m", help="First line of the commit message (the summary stays in the body)."),
        ] = None,
        no_push: Annotated[bool, typer.Option("--no-push", help="Commit and pull, but do not push.")] = False,
    ) -> None:
        """Share the bots' memories and message history with your other machines through git.

        Snapshots each bot's live database (running or not) into persistence/BOT/snapshot.db,
        commits memories/, persistence/ snapshots and state, bots/ and copies of logs under
        1 MB, pulls with rebase (databases, follow-ups and memories merge automatically;
        where two edits of one memory line clash, both are kept under `<!-- sync: -->`
        markers), merges what came in into the live databases, and pushes.

        Never commits .env, run/, a live database or any file that looks like it holds a
        secret: such a file is named with the reason, the rest still syncs, and the exit
        code is 1.
        """
        from ..sync.engine import run_sync

        context: CliContext = ctx.obj
        report = run_sync(context.home, message=message, push=not no_push, environ=context.environ)
        _print_report(report)
        raise typer.Exit(report.exit_code)
