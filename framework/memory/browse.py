"""Read-only browsing of one bot's memory folder, for the operator (``bot_manager memory``/``followups``).

The model sees ``memories/<bot>/`` as ``/memories``; these functions give the operator the same
tree with the same jail: paths are parsed by :func:`~framework.memory.paths.parse_memory_path`,
no symbolic link is followed and nothing outside ``memories/<bot>/`` is ever opened. Nothing here
writes. Results are plain data (:class:`Entry`, :class:`Listing`, :class:`GrepResult`,
:class:`FollowupsFolder`); rendering is the caller's job. A refusal raises :class:`BrowseError`.

Follow-ups are parsed by :func:`~framework.memory.followups.parse_followups`, the function the bot
itself uses, so what is listed is exactly what the bot will see (repairs included).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import exitcodes
from ..errors import FrameworkError
from ..llm.types import ToolError
from ..paths import BOT_ID_PATTERN, BotPaths, list_bot_ids
from .fileops import READ_LIMIT_BYTES
from .followups import Followup, FollowupFile, FollowupsCorrupt, parse_followups
from .layout import DMS, FOLLOWUPS_FILE, SERVERS
from .paths import VIRTUAL_ROOT, Parts, parse_memory_path, virtual_path

__all__ = [
    "SCOPE_FOLDERS",
    "BrowseError",
    "Entry",
    "Listing",
    "GrepMatch",
    "GrepResult",
    "FollowupsFolder",
    "Followups",
    "bot_memories",
    "parse_path",
    "resolve",
    "locate",
    "has_memories",
    "is_folder",
    "FileData",
    "read_bytes",
    "read_file",
    "list_tree",
    "grep",
    "load_followups",
    "followup_state",
]

SCOPE_FOLDERS = (SERVERS, DMS)  # memories/<bot>/servers/<guild>/, memories/<bot>/dms/<user>/

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted in the tree must not hang a read


class BrowseError(FrameworkError):
    """A refusal or failure that ends the command: ``str(exc)`` is one plain line, ``code`` the exit code."""

    def __init__(self, message: str, code: int = exitcodes.FAILURE) -> None:
        super().__init__(message)
        self.code = code


def _usage(message: str) -> BrowseError:
    return BrowseError(message, exitcodes.USAGE)


def _format_bytes(n: int) -> str:
    """As :func:`framework.supervisor.statusview.format_bytes` (not imported: it pulls in Rich)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _lmode(path: Path) -> int:
    """The mode of ``path`` itself (0 when it does not exist)."""
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


def has_memories(root: Path) -> bool:
    """The bot's memory folder exists (``root`` may be a link to a folder elsewhere)."""
    return os.path.isdir(root)


def is_folder(path: Path) -> bool:
    """``path`` itself is a folder (a link to one is not)."""
    return stat.S_ISDIR(_lmode(path))


# --------------------------------------------------------------------------- the jail


def bot_memories(home: Path, bot: str) -> Path:
    """``memories/<bot>`` of a known bot (configured, or with a memory folder); usage error otherwise."""
    if not BOT_ID_PATTERN.fullmatch(bot):
        raise _usage(f"{bot!r} is not a bot id (lowercase letters, digits, '-' and '_'); run `bot_manager list` to see the bots")
    paths = BotPaths(home, bot)
    if not paths.config.is_file() and not os.path.lexists(paths.memories):
        known = ", ".join(list_bot_ids(home)) or "none"
        raise _usage(f"no bot named {bot!r}: {paths.config} does not exist (configured: {known})")
    return paths.memories


def parse_path(raw: str, bot: str, root: Path) -> Parts:
    """PATH as the model writes it (``/memories/...``) or relative to ``memories/<bot>/``.

    Parsed by the memory tool's own parser, so ``..`` cannot climb out and Windows paths, ``~``
    and control characters are refused. As a convenience ``memories/<bot>/...`` (the host path
    from BOT_HOME) and ``/memories/<bot>/...`` are accepted too, unless the bot really has an
    entry of that name.
    """
    text = raw if raw.startswith("/") else f"{VIRTUAL_ROOT}/{raw}"
    try:
        parts = parse_memory_path(text, field="PATH")
    except ToolError as exc:
        reason = str(exc).rstrip(".")
        raise _usage(
            f"memory path {raw!r} refused: {reason[:1].lower()}{reason[1:]}; "
            f"give a path inside memories/{bot}/, e.g. servers/<id>/culture.md"
        ) from None
    if not raw.startswith("/") and parts[:2] == ("memories", bot) and not os.path.lexists(root / "memories"):
        parts = parts[2:]
    elif parts[:1] == (bot,) and not os.path.lexists(root / bot):
        parts = parts[1:]
    return parts


def resolve(root: Path, parts: Parts, bot: str, *, must_exist: bool) -> Path | None:
    """The host path of ``parts``, or None when the bot has no memory folder and ``must_exist`` is false."""
    if not os.path.lexists(root):
        if must_exist:
            raise _usage(
                f"no memory file {virtual_path(parts)} for bot {bot}: {bot} has no memories yet (memories/{bot}/ is missing)"
            )
        return None
    if not has_memories(root):
        raise BrowseError(f"{root} is not a folder; the bot's memories must be a folder (move that file away)")
    return locate(root, parts, bot)


def locate(root: Path, parts: Parts, bot: str) -> Path:
    """The host path of ``parts`` under ``root``: it exists, and no component is a symlink."""
    shown = virtual_path(parts)
    current = root
    for index, name in enumerate(parts):
        current = current / name
        try:
            info = os.lstat(current)
        except (FileNotFoundError, NotADirectoryError):
            raise _usage(
                f"no memory file {shown} for bot {bot}; run `bot_manager memory {bot}` to see the tree"
            ) from None
        except OSError as exc:
            raise BrowseError(f"cannot inspect {virtual_path(parts[: index + 1])} of bot {bot}: {exc.strerror}") from None
        if stat.S_ISLNK(info.st_mode):
            raise _usage(
                f"{virtual_path(parts[: index + 1])} of bot {bot} is a symbolic link; memory paths never follow links "
                f"(the bot refuses it too: replace the link with the real file or folder)"
            )
    real_root = os.path.realpath(root)  # the root itself may be a link (memories on another volume)
    real = os.path.realpath(current)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise _usage(f"memory path {shown} resolves outside memories/{bot}/; refusing to read it")
    return current


# --------------------------------------------------------------------------- reading one file


@dataclass(frozen=True)
class FileData:
    data: bytes
    mtime: datetime  # UTC


def _read(path: Path, shown: str) -> tuple[bytes, os.stat_result]:
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK)
    except OSError as exc:
        if stat.S_ISLNK(_lmode(path)):
            raise _usage(f"{shown} is a symbolic link; memory paths never follow links") from None
        raise BrowseError(f"cannot open {shown}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _usage(f"{shown} is not a regular file; only files and folders are shown")
        if info.st_size > READ_LIMIT_BYTES:
            raise BrowseError(
                f"{shown} is {_format_bytes(info.st_size)}, "
                f"more than the {_format_bytes(READ_LIMIT_BYTES)} the memory tool reads"
            )
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except OSError as exc:
        raise BrowseError(f"cannot read {shown}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return b"".join(chunks), info


def read_bytes(path: Path, shown: str) -> bytes:
    """The bytes of the regular file at ``path`` (at most the memory tool's read limit), never through a link."""
    return _read(path, shown)[0]


def read_file(path: Path, parts: Parts) -> FileData:
    """:func:`read_bytes` of the file at ``parts``, with its modification time."""
    data, info = _read(path, virtual_path(parts))
    return FileData(data, datetime.fromtimestamp(info.st_mtime, timezone.utc))


# --------------------------------------------------------------------------- the tree


@dataclass
class Entry:
    label: str  # the name, or "servers/<id>" for a lifted scope folder
    path: Path
    parts: Parts
    kind: str  # "dir", "file", "link", "other"
    size: int
    mtime: datetime  # UTC
    children: list[Entry] = field(default_factory=list)  # filled by list_tree for folders

    @property
    def virtual(self) -> str:
        return virtual_path(self.parts)


@dataclass
class Listing:
    entries: list[Entry]
    files: int = 0
    size: int = 0
    links: int = 0
    warnings: list[str] = field(default_factory=list)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def _entry(label: str, path: Path, parts: Parts, info: os.stat_result, kind: str | None = None) -> Entry:
    mtime = datetime.fromtimestamp(info.st_mtime, timezone.utc)
    return Entry(label, path, parts, kind or _kind(info.st_mode), info.st_size, mtime)


def _scan(folder: Path, parts: Parts, warnings: list[str]) -> list[Entry]:
    """The items of ``folder``, sorted (links not followed, the memory tool's temp files skipped)."""
    found: list[Entry] = []
    try:
        items = list(os.scandir(folder))
    except OSError as exc:
        warnings.append(f"cannot list {virtual_path(parts)}: {exc.strerror or ''}")
        return found
    for item in items:
        if item.name.startswith(".tmp-"):
            continue  # a write of the memory tool in flight
        try:
            info = item.stat(follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        found.append(_entry(item.name, Path(item.path), (*parts, item.name), info))
    return _sorted(found)


def _sorted(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (e.kind != "dir", e.label.casefold(), e.label))


def _top_entries(root: Path, warnings: list[str]) -> list[Entry]:
    """The root's items, with ``servers/<guild>`` and ``dms/<user>`` lifted up one level."""
    lifted: list[Entry] = []
    for entry in _scan(root, (), warnings):
        if entry.kind == "dir" and entry.label in SCOPE_FOLDERS:
            children = _scan(entry.path, entry.parts, warnings)
            if children:
                for child in children:
                    child.label = f"{entry.label}/{child.label}"
                lifted.extend(children)
                continue
        lifted.append(entry)
    return _sorted(lifted)


def _fill(entries: list[Entry], listing: Listing) -> None:
    for entry in entries:
        if entry.kind == "dir":
            entry.children = _scan(entry.path, entry.parts, listing.warnings)
            _fill(entry.children, listing)
        elif entry.kind == "file":
            listing.files += 1
            listing.size += entry.size
        elif entry.kind == "link":
            listing.links += 1


def list_tree(folder: Path, parts: Parts) -> Listing:
    """The whole tree below ``folder`` (folders first), with totals; at the root scope folders are lifted."""
    listing = Listing([])
    listing.entries = _top_entries(folder, listing.warnings) if not parts else _scan(folder, parts, listing.warnings)
    _fill(listing.entries, listing)
    return listing


# --------------------------------------------------------------------------- grep


@dataclass(frozen=True)
class GrepMatch:
    shown: str  # the file's virtual path
    number: int  # 1-based line number
    line: str
    spans: tuple[tuple[int, int], ...]  # where the needle occurs in ``line``


@dataclass
class GrepResult:
    matches: list[GrepMatch]
    searched: int  # files looked at, skipped ones included
    hit_files: int
    skipped: list[str]  # virtual paths: not UTF-8, too large or unreadable
    warnings: list[str]


def _walk_files(folder: Path, parts: Parts, warnings: list[str]) -> list[Entry]:
    """Every regular file below ``folder`` in tree order; links and special files skipped."""
    files: list[Entry] = []
    for entry in _scan(folder, parts, warnings):
        if entry.kind == "dir":
            files.extend(_walk_files(entry.path, entry.parts, warnings))
        elif entry.kind == "file":
            files.append(entry)
    return files


def grep(target: Path, parts: Parts, needle: str) -> GrepResult:
    """Every line containing ``needle`` (case-insensitive) in the file or tree at ``target``."""
    if not needle:
        raise _usage("--grep needs some text to look for, e.g. --grep interview")
    warnings: list[str] = []
    if is_folder(target):
        files = _walk_files(target, parts, warnings)
    else:
        files = [_entry(parts[-1], target, parts, os.lstat(target), kind="file")]
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    result = GrepResult([], len(files), 0, [], warnings)
    for entry in files:
        shown = entry.virtual
        if entry.size > READ_LIMIT_BYTES:
            result.skipped.append(shown)
            continue
        try:
            text = read_bytes(entry.path, shown).decode("utf-8")
        except (BrowseError, UnicodeDecodeError):
            result.skipped.append(shown)
            continue
        found = False
        for number, line in enumerate(text.splitlines(), start=1):
            spans = tuple(m.span() for m in pattern.finditer(line))
            if spans:
                found = True
                result.matches.append(GrepMatch(shown, number, line, spans))
        result.hit_files += found
    return result


# --------------------------------------------------------------------------- follow-ups


@dataclass
class FollowupsFolder:
    folder: str  # servers/<g> or dms/<u>
    shown: str  # /memories/servers/<g>/followups.json
    parsed: FollowupFile | None = None
    notes: tuple[str, ...] = ()  # repairs the bot would make
    error: str | None = None  # reads after ``shown``: "/memories/servers/1/followups.json is ..."


@dataclass
class Followups:
    folders: list[FollowupsFolder]
    warnings: list[str]


def _followup_files(root: Path, warnings: list[str]) -> list[tuple[str, Path, Parts]]:
    """Every ``servers/<g>/followups.json`` and ``dms/<u>/followups.json``, sorted."""
    found: list[tuple[str, Path, Parts]] = []
    for scope in SCOPE_FOLDERS:
        scope_dir = root / scope
        if not is_folder(scope_dir):
            continue
        for entry in _scan(scope_dir, (scope,), warnings):
            if entry.kind == "dir" and os.path.lexists(entry.path / FOLLOWUPS_FILE):
                found.append((f"{scope}/{entry.label}", entry.path / FOLLOWUPS_FILE, (*entry.parts, FOLLOWUPS_FILE)))
    return found


def _load_one(item: FollowupsFolder, path: Path, now: datetime, default_delay_days: float) -> None:
    if not stat.S_ISREG(_lmode(path)):
        item.error = "is a symbolic link or not a regular file; the bot refuses to read it"
        return
    try:
        text = read_bytes(path, item.shown).decode("utf-8")
    except BrowseError as exc:
        item.error = f"cannot be read ({exc}); the bot cannot read it either"
        return
    except UnicodeDecodeError:
        item.error = "is not UTF-8 text; the bot refuses to read it"
        return
    try:
        item.parsed, notes = parse_followups(text, now=now, default_delay_days=default_delay_days)
    except FollowupsCorrupt as exc:
        detail = str(exc).removeprefix(FOLLOWUPS_FILE).lstrip(":").strip()
        item.error = (
            f"{detail}; on its next read the bot moves it aside to followups.corrupt-<time>.json "
            "and starts this folder's follow-ups afresh"
        )
        return
    item.notes = tuple(notes)


def load_followups(root: Path, *, now: datetime, default_delay_days: float) -> Followups:
    """Every follow-up file of the bot, parsed as the bot parses it (nothing is written back)."""
    loaded = Followups([], [])
    if not has_memories(root):
        return loaded
    for folder, path, parts in _followup_files(root, loaded.warnings):
        item = FollowupsFolder(folder, virtual_path(parts))
        loaded.folders.append(item)
        _load_one(item, path, now, default_delay_days)
    return loaded


def followup_state(item: Followup, now: datetime) -> str:
    """waiting / due / woven / deferred ×N, as the hourly check sees the item."""
    if item.delivery == "woven":
        return "woven"
    if item.deferred_count:
        return f"deferred ×{item.deferred_count}"
    return "due" if item.follow_up_after <= now else "waiting"
