"""Read-only browsing of one bot's memory folder, for the operator (``bot_manager memory``/``followups``).

The model sees ``memories/<bot>/`` as ``/memories``; these functions give the operator the same
tree with the same jail: paths are parsed by :func:`~framework.memory.paths.parse_memory_path`
and every folder and file is opened through :mod:`~framework.memory.nofollow`, the memory
tool's own primitive, so no link is followed at any step (not even one swapped in meanwhile),
hard-linked files are refused as the bot refuses them, and nothing outside ``memories/<bot>/``
is ever opened. Nothing here writes. Results are plain data (:class:`Entry`, :class:`Listing`,
:class:`GrepResult`, :class:`FollowupsFolder`); rendering is the caller's job. A refusal raises
:class:`BrowseError`.

Follow-ups are parsed by :func:`~framework.memory.followups.parse_followups`, the function the bot
itself uses, so what is listed is exactly what the bot will see (repairs included).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import exitcodes
from ..errors import FrameworkError
from ..domain import ToolError
from ..paths import BOT_ID_PATTERN, BotPaths, list_bot_ids
from . import nofollow
from .fileops import READ_LIMIT_BYTES
from .followups import Followup, FollowupFile, FollowupsCorrupt, parse_followups
from .layout import DMS, FOLLOWUPS_FILE, SERVERS
from .nofollow import Refused, is_temp_name
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


class BrowseError(FrameworkError):
    """A refusal or failure that ends the command: ``str(exc)`` is one plain line, ``code`` the exit code."""

    def __init__(self, message: str, code: int = exitcodes.FAILURE) -> None:
        super().__init__(message)
        self.code = code


def _usage(message: str) -> BrowseError:
    return BrowseError(message, exitcodes.USAGE)


def _format_bytes(n: int) -> str:
    """As :func:`framework.supervisor.status_table.format_bytes` (not imported: memory must not depend on the supervisor)."""
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


def _link_refusal(parts: Parts, bot: str) -> BrowseError:
    return _usage(
        f"{virtual_path(parts)} of bot {bot} is a symbolic link; memory paths never follow links "
        f"(the bot refuses it too: replace the link with the real file or folder)"
    )


def _root_of(path: Path, parts: Parts) -> Path:
    """The memory root a host path built by :func:`locate` (``root`` joined with ``parts``) hangs from."""
    root = Path(path)
    for name in reversed(parts):
        if root.name != name:
            raise ValueError(f"{path} is not a memory path for {virtual_path(parts)}")
        root = root.parent
    return root


@contextmanager
def _root_fd(root: Path) -> Iterator[int]:
    """A descriptor of the bot's memory folder (the folder itself may be a link: the operator's choice)."""
    try:
        fd = nofollow.open_root(root)
    except OSError as exc:
        raise BrowseError(f"cannot open {root}: {exc.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _lstat_in(root_fd: int, parts: Parts) -> os.stat_result | None:
    """The item at ``parts`` itself, reached without following links; None when it is not there."""
    try:
        with nofollow.folder(root_fd, parts[:-1]) as fd:
            return nofollow.lstat_at(fd, parts[-1]) if parts else os.fstat(fd)
    except Refused as refused:
        if refused.reason in (nofollow.MISSING, nofollow.NOT_DIR):
            return None
        raise


def locate(root: Path, parts: Parts, bot: str) -> Path:
    """The host path of ``parts`` under ``root``: it exists, and no component is a symlink."""
    shown = virtual_path(parts)
    with _root_fd(root) as root_fd:
        try:
            info = _lstat_in(root_fd, parts)
        except Refused as refused:
            raise _link_refusal(parts[: refused.depth], bot) from None
        except OSError as exc:
            raise BrowseError(f"cannot inspect {shown} of bot {bot}: {exc.strerror}") from None
    if info is None:
        raise _usage(f"no memory file {shown} for bot {bot}; run `bot_manager memory {bot}` to see the tree")
    if stat.S_ISLNK(info.st_mode):
        raise _link_refusal(parts, bot)
    return root.joinpath(*parts)


# --------------------------------------------------------------------------- reading one file


@dataclass(frozen=True)
class FileData:
    data: bytes
    mtime: datetime  # UTC


def _read_refusal(parts: Parts, refused: Refused) -> BrowseError:
    shown = virtual_path(parts)
    item = virtual_path(parts[: refused.depth])
    info = refused.info
    if refused.reason == nofollow.LINK:
        return _usage(f"{item} is a symbolic link; memory paths never follow links")
    if refused.reason == nofollow.NOT_DIR:
        return _usage(f"{item} is a file, not a folder, so {shown} cannot exist")
    if refused.reason == nofollow.HARD_LINK:
        return _usage(
            f"{shown} has {info.st_nlink if info else 2} names (hard links), so it may also be a file outside "
            "the memory folder; the bot refuses to read it, and so does this command"
        )
    if refused.reason == nofollow.TOO_LARGE:
        size = info.st_size if info else READ_LIMIT_BYTES + 1
        return BrowseError(
            f"{shown} is {_format_bytes(size)}, more than the {_format_bytes(READ_LIMIT_BYTES)} the memory tool reads"
        )
    if refused.reason == nofollow.MISSING:
        return BrowseError(f"cannot open {shown}: it does not exist (any more)")
    return _usage(f"{shown} is not a regular file; only files and folders are shown")


def _read(root_fd: int, parts: Parts) -> tuple[bytes, os.stat_result]:
    shown = virtual_path(parts)
    try:
        with nofollow.folder(root_fd, parts[:-1]) as fd:
            return nofollow.read_at(fd, parts[-1], len(parts), READ_LIMIT_BYTES)
    except Refused as refused:
        raise _read_refusal(parts, refused) from None
    except OSError as exc:
        raise BrowseError(f"cannot read {shown}: {exc.strerror}") from None


def read_bytes(root: Path, parts: Parts) -> bytes:
    """The bytes of the regular file at ``parts`` below ``root`` (at most the memory tool's read limit).

    Refused like the bot refuses them: a link anywhere on the way, a hard-linked file, a
    special file.
    """
    with _root_fd(root) as root_fd:
        return _read(root_fd, parts)[0]


def read_file(path: Path, parts: Parts) -> FileData:
    """The file at ``parts`` (``path`` is its host path, as :func:`resolve` returns it), with its modification time."""
    with _root_fd(_root_of(path, parts)) as root_fd:
        data, info = _read(root_fd, parts)
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


class _Tree:
    """One walk of the tree: the root's descriptor, its host path, the warnings met."""

    def __init__(self, root_fd: int, root: Path, warnings: list[str]) -> None:
        self.fd = root_fd
        self.root = root
        self.warnings = warnings

    def scan(self, parts: Parts) -> list[Entry]:
        """The items of the folder at ``parts``, sorted (links not followed, the memory tool's temp files skipped)."""
        try:
            with nofollow.folder(self.fd, parts) as fd:
                items = nofollow.scan_at(fd)
        except Refused as refused:
            self.warnings.append(f"cannot list {virtual_path(parts)}: {virtual_path(parts[: refused.depth])} "
                                 f"is {'a symbolic link' if refused.reason == nofollow.LINK else refused.reason}")
            return []
        except OSError as exc:
            self.warnings.append(f"cannot list {virtual_path(parts)}: {exc.strerror or ''}")
            return []
        found = [
            _entry(name, self.root.joinpath(*parts, name), (*parts, name), info)
            for name, info in items
            if not is_temp_name(name)  # a write of the memory tool in flight
        ]
        return _sorted(found)


def _sorted(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (e.kind != "dir", e.label.casefold(), e.label))


def _top_entries(tree: _Tree) -> list[Entry]:
    """The root's items, with ``servers/<guild>`` and ``dms/<user>`` lifted up one level."""
    lifted: list[Entry] = []
    for entry in tree.scan(()):
        if entry.kind == "dir" and entry.label in SCOPE_FOLDERS:
            children = tree.scan(entry.parts)
            if children:
                for child in children:
                    child.label = f"{entry.label}/{child.label}"
                lifted.extend(children)
                continue
        lifted.append(entry)
    return _sorted(lifted)


def _fill(tree: _Tree, entries: list[Entry], listing: Listing) -> None:
    for entry in entries:
        if entry.kind == "dir":
            entry.children = tree.scan(entry.parts)
            _fill(tree, entry.children, listing)
        elif entry.kind == "file":
            listing.files += 1
            listing.size += entry.size
        elif entry.kind == "link":
            listing.links += 1


def list_tree(folder: Path, parts: Parts) -> Listing:
    """The whole tree below ``folder`` (folders first), with totals; at the root scope folders are lifted."""
    listing = Listing([])
    root = _root_of(folder, parts)
    with _root_fd(root) as root_fd:
        tree = _Tree(root_fd, root, listing.warnings)
        listing.entries = _top_entries(tree) if not parts else tree.scan(parts)
        _fill(tree, listing.entries, listing)
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


def _walk_files(tree: _Tree, parts: Parts) -> list[Entry]:
    """Every regular file below the folder at ``parts`` in tree order; links and special files skipped."""
    files: list[Entry] = []
    for entry in tree.scan(parts):
        if entry.kind == "dir":
            files.extend(_walk_files(tree, entry.parts))
        elif entry.kind == "file":
            files.append(entry)
    return files


def grep(target: Path, parts: Parts, needle: str) -> GrepResult:
    """Every line containing ``needle`` (case-insensitive) in the file or tree at ``target``."""
    if not needle:
        raise _usage("--grep needs some text to look for, e.g. --grep interview")
    warnings: list[str] = []
    root = _root_of(target, parts)
    with _root_fd(root) as root_fd:
        tree = _Tree(root_fd, root, warnings)
        if not parts or is_folder(target):
            files = _walk_files(tree, parts)
        else:
            try:
                info = _lstat_in(root_fd, parts)
            except Refused as refused:
                raise _read_refusal(parts, refused) from None
            files = [_entry(parts[-1], target, parts, info, kind="file")] if info is not None else []
        result = _grep_files(root_fd, files, needle, warnings)
    return result


def _grep_files(root_fd: int, files: list[Entry], needle: str, warnings: list[str]) -> GrepResult:
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    result = GrepResult([], len(files), 0, [], warnings)
    for entry in files:
        shown = entry.virtual
        if entry.size > READ_LIMIT_BYTES:
            result.skipped.append(shown)
            continue
        try:
            text = _read(root_fd, entry.parts)[0].decode("utf-8")
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


def _followup_files(tree: _Tree) -> list[tuple[str, Parts]]:
    """Every ``servers/<g>/followups.json`` and ``dms/<u>/followups.json``, sorted."""
    found: list[tuple[str, Parts]] = []
    for scope in SCOPE_FOLDERS:
        info = _lstat_in(tree.fd, (scope,))
        if info is None or not stat.S_ISDIR(info.st_mode):
            continue
        for entry in tree.scan((scope,)):
            file = (*entry.parts, FOLLOWUPS_FILE)
            if entry.kind == "dir" and _exists_in(tree.fd, file):
                found.append((f"{scope}/{entry.label}", file))
    return found


def _exists_in(root_fd: int, parts: Parts) -> bool:
    try:
        return _lstat_in(root_fd, parts) is not None
    except (Refused, OSError):
        return True  # there, but not a plain file: its reader says what is wrong


def _load_one(item: FollowupsFolder, root_fd: int, parts: Parts, now: datetime, default_delay_days: float) -> None:
    try:
        info = _lstat_in(root_fd, parts)
    except (Refused, OSError):
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        item.error = "is a symbolic link or not a regular file; the bot refuses to read it"
        return
    try:
        text = _read(root_fd, parts)[0].decode("utf-8")
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
    with _root_fd(root) as root_fd:
        for folder, parts in _followup_files(_Tree(root_fd, root, loaded.warnings)):
            item = FollowupsFolder(folder, virtual_path(parts))
            loaded.folders.append(item)
            _load_one(item, root_fd, parts, now, default_delay_days)
    return loaded


def followup_state(item: Followup, now: datetime) -> str:
    """waiting / due / woven / deferred ×N, as the hourly check sees the item."""
    if item.delivery == "woven":
        return "woven"
    if item.deferred_count:
        return f"deferred ×{item.deferred_count}"
    return "due" if item.follow_up_after <= now else "waiting"
