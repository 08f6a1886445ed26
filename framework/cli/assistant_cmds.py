"""``todos``, ``calendar`` and ``reminders``: a bot's assistant state, read-only.

Parsing and rendering only: the rows come from plain read-only SQLite queries
(:mod:`framework.storage.assistant`, :mod:`framework.storage.reminders`), imported inside
the commands so the CLI starts without them. Nothing here writes, so these verbs are safe
while the bot runs. Times are shown in the person's time zone: the bot's stored setting,
else its config's ``assistant.timezone``.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .. import exitcodes
from ..paths import BotPaths
from .common import CliContext, err, fail, out

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = ["register"]

BotArgument = Annotated[str, typer.Argument(help="Bot id: the name of `bots/<id>.yaml`.", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
_LIST_DAYS = 7
_PRIORITY_STYLES = {"high": "bold red", "normal": "", "low": "dim"}


def _now() -> datetime:
    """The clock (tests replace it)."""
    return datetime.now(timezone.utc)


def _fail(message: str, code: int = exitcodes.FAILURE) -> NoReturn:
    fail(escape(message), code=code)


def _paths(ctx: typer.Context, bot: str) -> BotPaths:
    cli: CliContext = ctx.obj
    cli.resolve_targets(bot, False)  # an unknown bot is named, with the configured ones
    return BotPaths(cli.home, bot)


def _zone(paths: BotPaths) -> ZoneInfo:
    """The person's zone: the stored setting, else the config's, else UTC (with a warning)."""
    from zoneinfo import ZoneInfo

    from ..assistant.zone import TIMEZONE_KEY
    from ..config import load_bot_config
    from ..errors import ConfigError, StoreError
    from ..storage.assistant import read_setting

    name: str | None = None
    try:
        name = read_setting(paths.database, TIMEZONE_KEY)
    except StoreError as exc:
        _fail(str(exc))
    if name is None:
        try:
            name = load_bot_config(paths.config, paths.home).assistant.timezone
        except ConfigError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            err.print(f"[yellow]warning:[/yellow] {escape(first)}; showing times in UTC")
            name = "UTC"
    try:
        return ZoneInfo(name)
    except Exception:
        err.print(f"[yellow]warning:[/yellow] the stored time zone {escape(repr(name))} is unknown; showing times in UTC")
        return ZoneInfo("UTC")


def _table(title: str) -> Table:
    return Table(
        title=title, title_justify="left", title_style="bold", header_style="bold",
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True,
    )  # fmt: skip


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _local(moment: datetime, zone: ZoneInfo, *, with_date: bool = True) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%a %Y-%m-%d %H:%M" if with_date else "%H:%M")


# --------------------------------------------------------------------------- todos


def todos(
    ctx: typer.Context,
    bot: BotArgument,
    all_: Annotated[bool, typer.Option("--all", help="Include the done todos.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List a bot's todos: open ones by due time (undated last); `--all` adds the done ones.

    Times are in the person's time zone. Read-only: safe while the bot runs.
    """
    from ..assistant.todos import todo_json
    from ..errors import StoreError
    from ..storage.assistant import read_todos

    paths = _paths(ctx, bot)
    zone = _zone(paths)
    try:
        items = read_todos(paths.database, include_done=all_)
    except StoreError as exc:
        _fail(str(exc))
    if as_json:
        _emit({"bot": bot, "time_zone": zone.key, "todos": [todo_json(t, zone) for t in items]})
        return
    if not items:
        out.print(f"{bot} has no {'' if all_ else 'open '}todos")
        return
    now = _now()
    table = _table(f"Todos of {bot}")
    for name in ("id", "title", "due", "priority", *(["status"] if all_ else [])):
        table.add_column(name, overflow="fold", no_wrap=name == "id", ratio=1 if name == "title" else None)
    for todo in items:
        shown = todo_json(todo, zone)
        due = Text("" if todo.due_at is None else shown["due"] if todo.due_all_day else _local(todo.due_at, zone))
        if todo.due_at is not None and todo.status == "open" and todo.due_at < now:
            due.stylize("bold red")
            due.append(" overdue", style="red")
        title = todo.title + (f"\n{todo.notes}" if todo.notes else "")
        row: list[Any] = [todo.id, title, due, Text(todo.priority, style=_PRIORITY_STYLES.get(todo.priority, ""))]
        if all_:
            row.append(Text(todo.status, style="green" if todo.status == "done" else ""))
        table.add_row(*row)
    out.print(table, soft_wrap=False)
    open_count = sum(1 for t in items if t.status == "open")
    out.print(Text(f"{open_count} open, {len(items) - open_count} done; times in {zone.key}", style="dim"))


# --------------------------------------------------------------------------- calendar


def _bound(value: str, zone: ZoneInfo, name: str, *, end: bool) -> datetime:
    """A ``--from``/``--to`` value: a date (``--to`` inclusive) or an ISO time with offset."""
    from ..assistant.times import day_end, parse_when
    from ..domain import ToolError

    try:
        when = parse_when(value, zone, name)
    except ToolError as exc:
        _fail(str(exc), code=exitcodes.USAGE)
    if end and when.day is not None:
        return day_end(when.day, zone)
    return when.moment


def calendar(
    ctx: typer.Context,
    bot: BotArgument,
    from_: Annotated[Optional[str], typer.Option("--from", help="First day (YYYY-MM-DD) or an ISO time with offset; "
                                                 "default today.", show_default=False)] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="Last day (inclusive) or an ISO time with offset; "
                                              f"default {_LIST_DAYS} days from --from.", show_default=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """List a bot's calendar events between `--from` and `--to` (default: today and the next 6 days).

    Times are in the person's time zone. Read-only: safe while the bot runs.
    """
    from ..assistant.calendar import event_json
    from ..assistant.times import day_start
    from ..errors import StoreError
    from ..storage.assistant import read_events

    paths = _paths(ctx, bot)
    zone = _zone(paths)
    start = _bound(from_, zone, "--from", end=False) if from_ else day_start(_now().astimezone(zone).date(), zone)
    if to:
        end = _bound(to, zone, "--to", end=True)
    else:
        end = day_start(start.astimezone(zone).date() + timedelta(days=_LIST_DAYS), zone)
    if end <= start:
        _fail(f"--to ({_local(end, zone)}) must be after --from ({_local(start, zone)})", code=exitcodes.USAGE)
    try:
        events = read_events(paths.database, start, end)
    except StoreError as exc:
        _fail(str(exc))
    span = f"{_local(start, zone)} to {_local(end, zone)} ({zone.key})"
    if as_json:
        from ..assistant.times import show

        _emit({"bot": bot, "time_zone": zone.key, "from": show(start, zone), "to": show(end, zone),
               "events": [event_json(e, zone) for e in events]})
        return
    if not events:
        out.print(f"{bot} has no events from {span}")
        return
    table = _table(f"Calendar of {bot}")
    table.add_column("day", no_wrap=True)
    table.add_column("time", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=1)
    table.add_column("location", overflow="fold")
    table.add_column("id", no_wrap=True, style="dim")
    for event in events:
        day: date = event.start_at.astimezone(zone).date()
        if event.all_day:
            last = (event.end_at.astimezone(zone) - timedelta(seconds=1)).date()
            when = "all day" if last == day else f"all day, to {last:%a %m-%d}"
        else:
            same_day = event.end_at.astimezone(zone).date() == day
            when = f"{_local(event.start_at, zone, with_date=False)}–" + (
                _local(event.end_at, zone, with_date=False) if same_day else _local(event.end_at, zone)
            )
        title = event.title + (f"\n{event.notes}" if event.notes else "")
        table.add_row(f"{day:%a %Y-%m-%d}", when, title, event.location, event.id)
    out.print(table, soft_wrap=False)
    out.print(Text(f"{len(events)} event{'s' if len(events) != 1 else ''} from {span}", style="dim"))


# --------------------------------------------------------------------------- reminders


def reminders(
    ctx: typer.Context,
    bot: BotArgument,
    all_: Annotated[bool, typer.Option("--all", help="Include the sent and cancelled reminders.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List a bot's pending reminders, soonest first; `--all` adds the sent and cancelled ones.

    Times are in the person's time zone. Read-only: safe while the bot runs.
    """
    from ..errors import StoreError
    from ..storage.reminders import read_reminders

    paths = _paths(ctx, bot)
    zone = _zone(paths)
    try:
        items = read_reminders(paths.database, include_done=all_)
    except StoreError as exc:
        _fail(str(exc))
    if as_json:
        _emit({"bot": bot, "time_zone": zone.key, "reminders": [r.as_dict() for r in items]})
        return
    if not items:
        out.print(f"{bot} has no {'' if all_ else 'pending '}reminders")
        return
    table = _table(f"Reminders of {bot}")
    table.add_column("id", no_wrap=True)
    table.add_column("due", no_wrap=True)
    table.add_column("repeat", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("text", overflow="fold", ratio=1)
    for item in items:
        table.add_row(item.id, _local(item.due_at, zone), "" if item.repeat == "none" else item.repeat,
                      item.status, item.text)
    out.print(table, soft_wrap=False)
    out.print(Text(f"{len(items)} reminder{'s' if len(items) != 1 else ''}; times in {zone.key}", style="dim"))


def register(app: typer.Typer) -> None:
    app.command()(todos)
    app.command()(calendar)
    app.command()(reminders)
