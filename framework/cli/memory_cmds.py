"""``memory`` and ``followups``: look inside a bot's memory folder, read-only.

Parsing and rendering only: finding, jailing, reading, walking, grepping and loading
follow-ups is :mod:`framework.memory.browse` (imported inside the commands, so the CLI
starts without pydantic). Nothing here writes, so these verbs are safe while the bot is live.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .. import exitcodes
from ..paths import BotPaths
from .common import CliContext, err, fail, out

if TYPE_CHECKING:
    from ..memory.browse import Entry, FollowupsFolder, GrepResult
    from ..memory.followups import CompletedFollowup, Followup, FollowupFile

__all__ = ["register"]

Parts = tuple[str, ...]

BotArgument = Annotated[str, typer.Argument(help="Bot id: the name of `bots/<id>.yaml`.", show_default=False)]


# --------------------------------------------------------------------------- small helpers


def _now() -> datetime:
    """The clock (tests replace it)."""
    return datetime.now(timezone.utc)


def _fail(message: str, code: int = exitcodes.FAILURE) -> NoReturn:
    """One red line; ``message`` is plain text (paths may hold ``[``, which is not markup here)."""
    fail(escape(message), code=code)


def _size(n: int) -> str:
    from ..supervisor.status_table import format_bytes

    return format_bytes(n)


def _span(seconds: float) -> str:
    """A compact duration: ``45 s``, ``12 min``, ``5 h``, ``3 d``."""
    s = abs(seconds)
    if s < 90:
        return f"{int(s)} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    if s < 36 * 3600:
        return f"{round(s / 3600)} h"
    return f"{round(s / 86400)} d"


def _ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return f"in {_span(seconds)}"
    if seconds < 60:
        return "just now"
    return f"{_span(seconds)} ago"


def _mtime(moment: datetime, now: datetime) -> str:
    if (now - moment).days > 30:
        return moment.astimezone().strftime("%Y-%m-%d")
    return _ago(moment, now)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")


# --------------------------------------------------------------------------- the tree

_FILE_STYLES = {".md": "green", ".json": "yellow"}


def _label(entry: Entry, now: datetime) -> Text:
    if entry.kind == "dir":
        return Text(entry.label + "/", style="bold blue")
    if entry.kind == "link":
        return Text.assemble((entry.label, "magenta"), ("  symbolic link, not followed", "dim"))
    if entry.kind == "other":
        return Text.assemble((entry.label, "red"), ("  not a regular file", "dim"))
    style = _FILE_STYLES.get(Path(entry.label).suffix.lower(), "")
    return Text.assemble((entry.label, style), "  ", (_size(entry.size), "cyan"), "  ", (_mtime(entry.mtime, now), "dim"))


def _grow(node: Tree, entries: list[Entry], now: datetime) -> None:
    for entry in entries:
        _grow(node.add(_label(entry, now)), entry.children, now)


def _show_tree(bot: str, folder: Path, parts: Parts) -> None:
    from ..memory import browse
    from ..memory.paths import virtual_path

    listing = browse.list_tree(folder, parts)
    _warn(listing.warnings)
    if not parts and listing.files == 0 and listing.links == 0:
        out.print(f"{bot} has no memories yet: they appear as the bot talks (in memories/{bot}/)")
        return
    title = Text.assemble((virtual_path(parts), "bold"), (f"  (memories/{bot}{''.join('/' + p for p in parts)}/)", "dim"))
    tree = Tree(title, guide_style="dim")
    _grow(tree, listing.entries, _now())
    out.print(tree, soft_wrap=False)
    footer = f"{listing.files} file{'s' if listing.files != 1 else ''}, {_size(listing.size)}"
    if listing.links:
        footer += f"; {listing.links} symbolic link{'s' if listing.links != 1 else ''} not followed"
    out.print(Text(footer, style="dim"))


# --------------------------------------------------------------------------- one file


def _show_file(path: Path, parts: Parts, raw: bool) -> None:
    from ..memory import browse
    from ..memory.paths import virtual_path

    file = browse.read_file(path, parts)
    if raw or not out.is_terminal:
        # Piped (or --raw): the bytes unchanged, so `bot_manager memory alpha x.md > x.md` round-trips.
        sys.stdout.flush()
        sys.stdout.buffer.write(file.data)
        sys.stdout.buffer.flush()
        return
    header = Text.assemble(
        (virtual_path(parts), "bold"), "  ", (_size(len(file.data)), "cyan"), ("  modified ", "dim"),
        (_mtime(file.mtime, _now()), "dim"),
    )  # fmt: skip
    out.print(header)
    try:
        text = file.data.decode("utf-8")
    except UnicodeDecodeError:
        text = file.data.decode("utf-8", errors="replace")
        err.print("[yellow]note:[/yellow] not UTF-8 text (the memory tool cannot read it); undecodable bytes shown as \ufffd")
    if not text.strip():
        out.print(Text("(empty file)", style="dim"))
        return
    out.print(_render_text(Path(parts[-1]).suffix.lower(), text), soft_wrap=False)


_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def _keep_line_breaks(text: str) -> str:
    """Markdown with each line break kept (a trailing double space), outside code fences.

    The bot writes notes line by line (``**Vibe:** ...`` then ``**Active Hours:** ...``);
    plain Markdown would join them into one paragraph.
    """
    lines = text.split("\n")
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced and line.strip() and not line.endswith(("  ", "\\")):
            lines[index] = line + "  "
    return "\n".join(lines)


def _render_text(suffix: str, text: str) -> RenderableType:
    if suffix in (".md", ".markdown"):
        from rich.markdown import Markdown

        return Markdown(_keep_line_breaks(text))
    if suffix == ".json":
        from rich.syntax import Syntax

        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError as exc:
            note = Text(f"not valid JSON ({exc}); shown as written", style="yellow")
            return Group(note, Syntax(text, "json", background_color="default", word_wrap=True))
        return Syntax(pretty, "json", background_color="default", word_wrap=True)
    return Text(text)


# --------------------------------------------------------------------------- grep


def _print_grep(bot: str, parts: Parts, needle: str, result: GrepResult) -> None:
    from ..memory.paths import virtual_path

    _warn(result.warnings)
    for match in result.matches:
        row = Text.assemble((match.shown, "magenta"), ":", (str(match.number), "green"), ": ")
        body = Text(match.line)
        for start, end in match.spans:
            body.stylize("bold red", start, end)
        out.print(row + body)
    for shown in result.skipped:
        err.print(f"[yellow]note:[/yellow] skipped {escape(shown)}: not UTF-8 text, too large or unreadable")
    where = virtual_path(parts)
    matches, files = len(result.matches), result.searched
    if not matches:
        err.print(escape(f"no match for {needle!r} in {where} of bot {bot} ({files} files searched)"))
        raise typer.Exit(exitcodes.FAILURE)
    err.print(
        f"{matches} matching line{'s' if matches != 1 else ''} in {result.hit_files} of {files} "
        f"file{'s' if files != 1 else ''} under {escape(where)}",
        style="dim",
    )


# --------------------------------------------------------------------------- memory verb


def memory(
    ctx: typer.Context,
    bot: BotArgument,
    path: Annotated[
        Optional[str],
        typer.Argument(
            help="A file or folder: `/memories/servers/<id>/culture.md` as the bot writes it, or relative to "
            "`memories/BOT/` (`servers/<id>/culture.md`). Default: the whole tree.",
            show_default=False,
        ),
    ] = None,
    grep: Annotated[
        Optional[str],
        typer.Option(
            "--grep", "-g", metavar="TEXT",
            help="Print every line containing TEXT (case-insensitive) as `path:line: text`; exits 1 when nothing matches.",
            show_default=False,
        ),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print a file's bytes unchanged (the default when stdout is not a terminal).")
    ] = False,
) -> None:
    """Show a bot's memory files: the tree with sizes, one file rendered, or lines matching --grep.

    Without PATH, prints `memories/BOT/` as a tree (folders first; guild folders as
    `servers/<id>`, DM folders as `dms/<user>`) with each file's size and age. With a
    folder, its tree; with a file, the file rendered (Markdown, JSON pretty-printed,
    anything else as text). Piped, a file is printed byte for byte, so
    `bot_manager memory alpha servers/1/culture.md > culture.md` copies it.

    Read-only and jailed like the bot's own memory tool: nothing outside `memories/BOT/`
    is read and symbolic links are never followed (exit 2). --grep exits 1 when no
    line matches, like grep.
    """
    from ..memory import browse

    cli: CliContext = ctx.obj
    try:
        root = browse.bot_memories(cli.home, bot)
        parts = browse.parse_path(path, bot, root) if path is not None else ()
        target = browse.resolve(root, parts, bot, must_exist=bool(parts) or grep is not None)
        if target is None:
            out.print(f"{bot} has no memories yet: they appear as the bot talks (in memories/{bot}/)")
        elif grep is not None:
            _print_grep(bot, parts, grep, browse.grep(target, parts, grep))
        elif browse.is_folder(target):
            _show_tree(bot, target, parts)
        else:
            _show_file(target, parts, raw)
    except browse.BrowseError as exc:
        _fail(str(exc), code=exc.code)


# --------------------------------------------------------------------------- followups verb


def _delay_days(cli: CliContext, bot: str) -> float:
    """``agentic.followups.follow_up_delay_days`` of the bot, so repairs match the bot's; 1 day if unreadable."""
    from ..config import load_bot_config
    from ..errors import ConfigError

    config_path = BotPaths(cli.home, bot).config
    if not config_path.is_file():
        return 1.0
    try:
        return load_bot_config(config_path, cli.home).agentic.followups.follow_up_delay_days
    except ConfigError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        err.print(
            f"[yellow]warning:[/yellow] {escape(first)}; assuming follow_up_delay_days 1 "
            f"(`bot_manager validate {bot}` shows every error)"
        )
        return 1.0


def _due(item: Followup, now: datetime) -> str:
    seconds = (item.follow_up_after - now).total_seconds()
    return f"in {_span(seconds)}" if seconds > 0 else f"due {_span(seconds)} ago"


def _who(item: Followup | CompletedFollowup) -> str:
    return item.user_name or item.user_id


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return dumped


_STATE_STYLES = {"due": "bold green", "woven": "cyan", "waiting": "dim"}


def _table(title: str) -> Table:
    return Table(
        title=title, title_justify="left", title_style="bold", header_style="bold",
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True,
    )  # fmt: skip


def _pending_table(folder: FollowupFile, now: datetime) -> Table:
    from ..memory.browse import followup_state

    table = _table("Pending")
    table.add_column("id", no_wrap=True)
    table.add_column("who", overflow="fold")
    table.add_column("event", overflow="fold", min_width=12, ratio=1)
    table.add_column("due", no_wrap=True)
    table.add_column("priority", no_wrap=True)
    # A 19-digit channel id stays on one line when there is room; in a narrow terminal it folds.
    table.add_column("channel", no_wrap=out.width >= 100, overflow="fold")
    table.add_column("state", no_wrap=True)
    for item in sorted(folder.pending, key=lambda f: f.follow_up_after):
        state = followup_state(item, now)
        table.add_row(
            item.id, _who(item), item.event, _due(item, now), item.priority, item.channel_id,
            Text(state, style=_STATE_STYLES.get(state, "yellow")),
        )  # fmt: skip
    return table


def _completed_table(folder: FollowupFile, now: datetime) -> Table:
    table = _table("Completed")
    table.add_column("id", no_wrap=True)
    table.add_column("who", overflow="fold")
    table.add_column("event", overflow="fold", min_width=12, ratio=1)
    table.add_column("outcome", overflow="fold", min_width=12, ratio=1)
    table.add_column("when", no_wrap=True)
    for done in sorted(folder.completed, key=lambda c: c.completed_date, reverse=True):
        table.add_row(done.id, _who(done), done.event, done.outcome, _ago(done.completed_date, now))
    return table


def _print_folder(folder: FollowupFile, now: datetime) -> None:
    if folder.pending:
        out.print(_pending_table(folder, now), soft_wrap=False)
    else:
        out.print(Text("no pending follow-ups", style="dim"))
    if folder.completed:
        out.print(_completed_table(folder, now), soft_wrap=False)
    else:
        out.print(Text("no completed follow-ups", style="dim"))


def _followups_document(folders: list[FollowupsFolder], now: datetime) -> dict[str, Any]:
    """``--json``: ``{folder: {pending, completed, notes, error}}``; pending items carry their state."""
    from ..memory.browse import followup_state

    document: dict[str, Any] = {}
    for folder in folders:
        parsed = folder.parsed
        document[folder.folder] = {
            "pending": [{**_dump(item), "state": followup_state(item, now)} for item in (parsed.pending if parsed else [])],
            "completed": [_dump(done) for done in (parsed.completed if parsed else [])],
            "notes": list(folder.notes),
            "error": folder.error,
        }
    return document


def _print_followups(readable: list[FollowupsFolder], now: datetime) -> None:
    """The tables, under a heading per folder when there are several, and a count footer."""
    from ..memory.browse import followup_state

    if not readable:
        return  # every file was unreadable: the errors say so
    for index, folder in enumerate(readable):
        assert folder.parsed is not None
        if len(readable) > 1:
            if index:
                out.print()
            out.print(Text.assemble((folder.folder, "bold blue"), (f"  {folder.shown}", "dim")))
        _print_folder(folder.parsed, now)
    items = [item for folder in readable if folder.parsed for item in folder.parsed.pending]
    n_done = sum(len(folder.parsed.completed) for folder in readable if folder.parsed)
    due = sum(1 for item in items if followup_state(item, now) == "due")
    files = f"{len(readable)} file{'s' if len(readable) != 1 else ''}"
    out.print(Text(f"{len(items)} pending ({due} due), {n_done} completed in {files}", style="dim"))


def followups(
    ctx: typer.Context,
    bot: BotArgument,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print one JSON object: `{"servers/<id>": {"pending": [...], "completed": [...], "notes": [...], '
            '"error": null}, ...}`; pending items carry their `state`.',
        ),
    ] = False,
) -> None:
    """List a bot's pending and completed follow-ups (every `servers/<id>/` and `dms/<user>/` followups.json).

    Pending: who, what, when it comes due (relative), priority, channel and state:
    waiting (not due yet), due (the hourly check may deliver it once its person is
    active), woven (the next reply in that channel carries it), deferred ×N (put off N
    times because the channel was busy). Completed: the outcome and when.

    Files are parsed exactly as the bot parses them: a file the bot would repair is
    listed with a warning; a corrupt one is named in red (the bot starts afresh on its
    next read, moving it aside to `followups.corrupt-<time>.json`) and the exit code is 1.
    Read-only: nothing is ever changed, so it is safe while the bot runs.
    """
    from ..memory import browse

    cli: CliContext = ctx.obj
    try:
        root = browse.bot_memories(cli.home, bot)
    except browse.BrowseError as exc:
        _fail(str(exc), code=exc.code)
    now = _now()
    delay_days = _delay_days(cli, bot) if browse.has_memories(root) else 1.0  # no config warning without memories
    loaded = browse.load_followups(root, now=now, default_delay_days=delay_days)
    folders = loaded.folders
    _warn(loaded.warnings)
    for folder in folders:
        for note in folder.notes:
            err.print(f"[yellow]warning:[/yellow] {escape(folder.shown)} would be repaired: {escape(note)}")
        if folder.error:
            err.print(f"[red]error:[/red] {escape(folder.shown)} {escape(folder.error)}")
    if as_json:
        sys.stdout.write(json.dumps(_followups_document(folders, now), indent=2, ensure_ascii=False) + "\n")
    elif not folders:
        out.print(f"{bot} has no follow-ups yet: the bot notes them in followups.json as people mention plans")
    else:
        _print_followups([folder for folder in folders if folder.parsed is not None], now)
    if any(folder.error for folder in folders):
        raise typer.Exit(exitcodes.FAILURE)


def register(app: typer.Typer) -> None:
    app.command()(memory)
    app.command()(followups)
