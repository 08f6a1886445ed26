"""``memory`` and ``followups``: look inside a bot's memory folder, read-only.

The model sees ``memories/<bot>/`` as ``/memories``; these verbs show the operator the same
tree with the same jail: paths are parsed by :func:`framework.memory.paths.parse_memory_path`,
no symbolic link is followed and nothing outside ``memories/<bot>/`` is ever opened. Nothing
here writes, so they are safe to run while the bot is live.

Follow-ups are parsed by :func:`framework.memory.followups.parse_followups`, the function
the bot itself uses, so what is listed is exactly what the bot will see (repairs included).
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from dataclasses import dataclass
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
from ..paths import BOT_ID_PATTERN, BotPaths
from .common import CliContext, err, fail, out

if TYPE_CHECKING:
    from ..memory.followups import CompletedFollowup, Followup, FollowupFile

__all__ = ["register"]

VIRTUAL_ROOT = "/memories"  # as framework.memory.paths, without importing it at CLI start-up
READ_LIMIT_BYTES = 16 * 1024 * 1024  # as the memory tool: one look never pulls a huge blob in
SCOPE_FOLDERS = ("servers", "dms")  # memories/<bot>/servers/<guild>/, memories/<bot>/dms/<user>/
FOLLOWUPS_FILE = "followups.json"

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted in the tree must not hang a read

Parts = tuple[str, ...]

BotArgument = Annotated[str, typer.Argument(help="Bot id: the name of `bots/<id>.yaml`.", show_default=False)]


# --------------------------------------------------------------------------- small helpers


def _now() -> datetime:
    """The clock (tests replace it)."""
    return datetime.now(timezone.utc)


def _fail(message: str, code: int = exitcodes.FAILURE) -> NoReturn:
    """One red line; ``message`` is plain text (paths may hold ``[``, which is not markup here)."""
    fail(escape(message), code=code)


def _usage(message: str) -> NoReturn:
    _fail(message, code=exitcodes.USAGE)


def _virtual(parts: Parts) -> str:
    return VIRTUAL_ROOT + "".join("/" + part for part in parts)


def _size(n: int) -> str:
    from ..supervisor.statusview import format_bytes

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


def _mtime(info: os.stat_result, now: datetime) -> str:
    moment = datetime.fromtimestamp(info.st_mtime, timezone.utc)
    if (now - moment).days > 30:
        return moment.astimezone().strftime("%Y-%m-%d")
    return _ago(moment, now)


# --------------------------------------------------------------------------- the jail


def _bot_memories(cli: CliContext, bot: str) -> Path:
    """``memories/<bot>`` of a known bot (configured, or with a memory folder); exit 2 otherwise."""
    if not BOT_ID_PATTERN.fullmatch(bot):
        _usage(f"{bot!r} is not a bot id (lowercase letters, digits, '-' and '_'); run `bot_manager list` to see the bots")
    paths = BotPaths(cli.home, bot)
    if not paths.config.is_file() and not os.path.lexists(paths.memories):
        known = ", ".join(cli.bot_ids()) or "none"
        _usage(f"no bot named {bot!r}: {paths.config} does not exist (configured: {known})")
    return paths.memories


def _parse_path(raw: str, bot: str, root: Path) -> Parts:
    """PATH as the model writes it (``/memories/...``) or relative to ``memories/<bot>/``.

    Parsed by the memory tool's own parser, so ``..`` cannot climb out and Windows paths, ``~``
    and control characters are refused. As a convenience ``memories/<bot>/...`` (the host path
    from BOT_HOME) and ``/memories/<bot>/...`` (seed 004's examples) are accepted too, unless
    the bot really has an entry of that name.
    """
    from ..llm.types import ToolError
    from ..memory.paths import parse_memory_path

    text = raw if raw.startswith("/") else f"{VIRTUAL_ROOT}/{raw}"
    try:
        parts = parse_memory_path(text, field="PATH")
    except ToolError as exc:
        reason = str(exc).rstrip(".")
        _usage(
            f"memory path {raw!r} refused: {reason[:1].lower()}{reason[1:]}; "
            f"give a path inside memories/{bot}/, e.g. servers/<id>/culture.md"
        )
    if not raw.startswith("/") and parts[:2] == ("memories", bot) and not os.path.lexists(root / "memories"):
        parts = parts[2:]
    elif parts[:1] == (bot,) and not os.path.lexists(root / bot):
        parts = parts[1:]
    return parts


def _locate(root: Path, parts: Parts, bot: str) -> Path:
    """The host path of ``parts`` under ``root``: it exists, and no component is a symlink."""
    shown = _virtual(parts)
    missing = (
        f"no memory file {shown} for bot {bot}; run `bot_manager memory {bot}` to see the tree"
    )
    current = root
    for index, name in enumerate(parts):
        current = current / name
        try:
            info = os.lstat(current)
        except (FileNotFoundError, NotADirectoryError):
            _usage(missing)
        except OSError as exc:
            _fail(f"cannot inspect {_virtual(parts[: index + 1])} of bot {bot}: {exc.strerror}")
        if stat.S_ISLNK(info.st_mode):
            _usage(
                f"{_virtual(parts[: index + 1])} of bot {bot} is a symbolic link; memory paths never follow links "
                f"(the bot refuses it too: replace the link with the real file or folder)"
            )
    real_root = os.path.realpath(root)  # the root itself may be a link (memories on another volume)
    real = os.path.realpath(current)
    if real != real_root and not real.startswith(real_root + os.sep):
        _usage(f"memory path {shown} resolves outside memories/{bot}/; refusing to read it")
    return current


class _Unreadable(Exception):
    """A file that cannot be shown; ``code`` is the exit code when it ends the command."""

    def __init__(self, message: str, code: int = exitcodes.FAILURE) -> None:
        super().__init__(message)
        self.code = code


def _read_bytes(path: Path, shown: str) -> bytes:
    """The bytes of the regular file at ``path``, never through a link, FIFO or device."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK)
    except OSError as exc:
        if stat.S_ISLNK(_lmode(path)):
            raise _Unreadable(f"{shown} is a symbolic link; memory paths never follow links", exitcodes.USAGE) from None
        raise _Unreadable(f"cannot open {shown}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Unreadable(f"{shown} is not a regular file; only files and folders are shown", exitcodes.USAGE)
        if info.st_size > READ_LIMIT_BYTES:
            raise _Unreadable(f"{shown} is {_size(info.st_size)}, more than the {_size(READ_LIMIT_BYTES)} the memory tool reads")
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except OSError as exc:
        raise _Unreadable(f"cannot read {shown}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _lmode(path: Path) -> int:
    """The mode of ``path`` itself (0 when it does not exist)."""
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


# --------------------------------------------------------------------------- the tree


@dataclass
class _Entry:
    label: str
    path: Path
    parts: Parts
    kind: str  # "dir", "file", "link", "other"
    info: os.stat_result


@dataclass
class _Totals:
    files: int = 0
    size: int = 0
    links: int = 0


def _entries(folder: Path, parts: Parts) -> list[_Entry]:
    """The items of ``folder``, unsorted (links not followed, the memory tool's temp files skipped)."""
    found: list[_Entry] = []
    try:
        items = list(os.scandir(folder))
    except OSError as exc:
        err.print(f"[yellow]warning:[/yellow] cannot list {escape(_virtual(parts))}: {escape(exc.strerror or '')}")
        return found
    for item in items:
        if item.name.startswith(".tmp-"):
            continue  # a write of the memory tool in flight
        try:
            info = item.stat(follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISLNK(info.st_mode):
            kind = "link"
        elif stat.S_ISDIR(info.st_mode):
            kind = "dir"
        elif stat.S_ISREG(info.st_mode):
            kind = "file"
        else:
            kind = "other"
        found.append(_Entry(item.name, Path(item.path), (*parts, item.name), kind, info))
    return found


def _sorted(entries: list[_Entry]) -> list[_Entry]:
    return sorted(entries, key=lambda e: (e.kind != "dir", e.label.casefold(), e.label))


def _top_entries(root: Path) -> list[_Entry]:
    """The root's items, with ``servers/<guild>`` and ``dms/<user>`` lifted up one level."""
    lifted: list[_Entry] = []
    for entry in _entries(root, ()):
        if entry.kind == "dir" and entry.label in SCOPE_FOLDERS:
            children = _entries(entry.path, entry.parts)
            if children:
                for child in children:
                    child.label = f"{entry.label}/{child.label}"
                lifted.extend(children)
                continue
        lifted.append(entry)
    return _sorted(lifted)


_FILE_STYLES = {".md": "green", ".json": "yellow"}


def _label(entry: _Entry, now: datetime) -> Text:
    if entry.kind == "dir":
        return Text(entry.label + "/", style="bold blue")
    if entry.kind == "link":
        return Text.assemble((entry.label, "magenta"), ("  symbolic link, not followed", "dim"))
    if entry.kind == "other":
        return Text.assemble((entry.label, "red"), ("  not a regular file", "dim"))
    style = _FILE_STYLES.get(Path(entry.label).suffix.lower(), "")
    return Text.assemble(
        (entry.label, style), "  ", (_size(entry.info.st_size), "cyan"), "  ", (_mtime(entry.info, now), "dim")
    )


def _grow(node: Tree, entries: list[_Entry], totals: _Totals, now: datetime) -> None:
    for entry in entries:
        child = node.add(_label(entry, now))
        if entry.kind == "dir":
            _grow(child, _sorted(_entries(entry.path, entry.parts)), totals, now)
        elif entry.kind == "file":
            totals.files += 1
            totals.size += entry.info.st_size
        elif entry.kind == "link":
            totals.links += 1


def _show_tree(bot: str, folder: Path, parts: Parts) -> None:
    now = _now()
    totals = _Totals()
    title = Text.assemble((_virtual(parts), "bold"), (f"  (memories/{bot}{''.join('/' + p for p in parts)}/)", "dim"))
    tree = Tree(title, guide_style="dim")
    _grow(tree, _top_entries(folder) if not parts else _sorted(_entries(folder, parts)), totals, now)
    if not parts and totals.files == 0 and totals.links == 0:
        out.print(f"{bot} has no memories yet: they appear as the bot talks (in memories/{bot}/)")
        return
    out.print(tree, soft_wrap=False)
    footer = f"{totals.files} file{'s' if totals.files != 1 else ''}, {_size(totals.size)}"
    if totals.links:
        footer += f"; {totals.links} symbolic link{'s' if totals.links != 1 else ''} not followed"
    out.print(Text(footer, style="dim"))


# --------------------------------------------------------------------------- one file


def _show_file(path: Path, parts: Parts, raw: bool) -> None:
    shown = _virtual(parts)
    try:
        data = _read_bytes(path, shown)
    except _Unreadable as exc:
        _fail(str(exc), code=exc.code)
    if raw or not out.is_terminal:
        # Piped (or --raw): the bytes unchanged, so `bot_manager memory alpha x.md > x.md` round-trips.
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    now = _now()
    header = Text.assemble(
        (shown, "bold"), "  ", (_size(len(data)), "cyan"), ("  modified ", "dim"),
        (_mtime(os.stat(path, follow_symlinks=False), now), "dim"),
    )
    out.print(header)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
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


def _walk_files(folder: Path, parts: Parts) -> list[_Entry]:
    """Every regular file below ``folder`` in tree order; links and special files skipped."""
    files: list[_Entry] = []
    for entry in _sorted(_entries(folder, parts)):
        if entry.kind == "dir":
            files.extend(_walk_files(entry.path, entry.parts))
        elif entry.kind == "file":
            files.append(entry)
    return files


def _grep(bot: str, target: Path, parts: Parts, needle: str) -> None:
    if not needle:
        _usage("--grep needs some text to look for, e.g. --grep interview")
    if stat.S_ISDIR(os.lstat(target).st_mode):
        files = _walk_files(target, parts)
    else:
        files = [_Entry(parts[-1], target, parts, "file", os.lstat(target))]
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    matches = 0
    hit_files = 0
    skipped: list[str] = []
    for entry in files:
        shown = _virtual(entry.parts)
        if entry.info.st_size > READ_LIMIT_BYTES:
            skipped.append(shown)
            continue
        try:
            text = _read_bytes(entry.path, shown).decode("utf-8")
        except (_Unreadable, UnicodeDecodeError):
            skipped.append(shown)
            continue
        found = False
        for number, line in enumerate(text.splitlines(), start=1):
            spans = [m.span() for m in pattern.finditer(line)]
            if not spans:
                continue
            found = True
            matches += 1
            row = Text.assemble((shown, "magenta"), ":", (str(number), "green"), ": ")
            body = Text(line)
            for start, end in spans:
                body.stylize("bold red", start, end)
            out.print(row + body)
        hit_files += found
    for shown in skipped:
        err.print(f"[yellow]note:[/yellow] skipped {escape(shown)}: not UTF-8 text, too large or unreadable")
    where = _virtual(parts)
    if not matches:
        err.print(escape(f"no match for {needle!r} in {where} of bot {bot} ({len(files)} files searched)"))
        raise typer.Exit(exitcodes.FAILURE)
    err.print(
        f"{matches} matching line{'s' if matches != 1 else ''} in {hit_files} of {len(files)} "
        f"file{'s' if len(files) != 1 else ''} under {escape(where)}",
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
    cli: CliContext = ctx.obj
    root = _bot_memories(cli, bot)
    parts = _parse_path(path, bot, root) if path is not None else ()
    if not os.path.lexists(root):
        if parts or grep is not None:
            _usage(f"no memory file {_virtual(parts)} for bot {bot}: {bot} has no memories yet (memories/{bot}/ is missing)")
        out.print(f"{bot} has no memories yet: they appear as the bot talks (in memories/{bot}/)")
        return
    if not os.path.isdir(root):
        _fail(f"{root} is not a folder; the bot's memories must be a folder (move that file away)")
    target = _locate(root, parts, bot)
    if grep is not None:
        _grep(bot, target, parts, grep)
        return
    if stat.S_ISDIR(os.lstat(target).st_mode):
        _show_tree(bot, target, parts)
    else:
        _show_file(target, parts, raw)


# --------------------------------------------------------------------------- followups verb


@dataclass
class _FollowupsFolder:
    folder: str  # servers/<g> or dms/<u>
    shown: str  # /memories/servers/<g>/followups.json
    parsed: FollowupFile | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None


def _followup_files(root: Path) -> list[tuple[str, Path, Parts]]:
    """Every ``servers/<g>/followups.json`` and ``dms/<u>/followups.json``, sorted; links refused."""
    found: list[tuple[str, Path, Parts]] = []
    for scope in SCOPE_FOLDERS:
        scope_dir = root / scope
        if not stat.S_ISDIR(_lmode(scope_dir)):
            continue
        for entry in _sorted(_entries(scope_dir, (scope,))):
            if entry.kind != "dir":
                continue
            parts = (*entry.parts, FOLLOWUPS_FILE)
            if os.path.lexists(entry.path / FOLLOWUPS_FILE):
                found.append((f"{scope}/{entry.label}", entry.path / FOLLOWUPS_FILE, parts))
    return found


def _load_followups(root: Path, default_delay_days: float) -> list[_FollowupsFolder]:
    from ..memory.followups import FollowupsCorrupt, parse_followups

    now = _now()
    loaded: list[_FollowupsFolder] = []
    for folder, path, parts in _followup_files(root):
        item = _FollowupsFolder(folder, _virtual(parts))
        loaded.append(item)
        # item.error reads after the file's path: "/memories/servers/1/followups.json is ..."
        if not stat.S_ISREG(_lmode(path)):
            item.error = "is a symbolic link or not a regular file; the bot refuses to read it"
            continue
        try:
            text = _read_bytes(path, item.shown).decode("utf-8")
        except _Unreadable as exc:
            item.error = f"cannot be read ({exc}); the bot cannot read it either"
            continue
        except UnicodeDecodeError:
            item.error = "is not UTF-8 text; the bot refuses to read it"
            continue
        try:
            item.parsed, notes = parse_followups(text, now=now, default_delay_days=default_delay_days)
        except FollowupsCorrupt as exc:
            detail = str(exc).removeprefix(FOLLOWUPS_FILE).lstrip(":").strip()
            item.error = (
                f"{detail}; on its next read the bot moves it aside to followups.corrupt-<time>.json "
                "and starts this folder's follow-ups afresh"
            )
            continue
        item.notes = tuple(notes)
    return loaded


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


def _state(item: Followup, now: datetime) -> str:
    """waiting / due / woven / deferred ×N, as the hourly check sees the item."""
    if item.delivery == "woven":
        return "woven"
    if item.deferred_count:
        return f"deferred ×{item.deferred_count}"
    return "due" if item.follow_up_after <= now else "waiting"


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
        state = _state(item, now)
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


def _followups_document(folders: list[_FollowupsFolder], now: datetime) -> dict[str, Any]:
    """``--json``: ``{folder: {pending, completed, notes, error}}``; pending items carry their state."""
    document: dict[str, Any] = {}
    for folder in folders:
        parsed = folder.parsed
        document[folder.folder] = {
            "pending": [{**_dump(item), "state": _state(item, now)} for item in (parsed.pending if parsed else [])],
            "completed": [_dump(done) for done in (parsed.completed if parsed else [])],
            "notes": list(folder.notes),
            "error": folder.error,
        }
    return document


def _print_followups(readable: list[_FollowupsFolder], now: datetime) -> None:
    """The tables, under a heading per folder when there are several, and a count footer."""
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
    due = sum(1 for item in items if _state(item, now) == "due")
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
    cli: CliContext = ctx.obj
    root = _bot_memories(cli, bot)
    folders = _load_followups(root, _delay_days(cli, bot)) if os.path.isdir(root) else []
    now = _now()
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
