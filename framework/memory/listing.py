"""The memory tool's ``view`` of a folder: two levels deep when it is small, a page at a time when not.

A small folder is listed as the Anthropic SDK's memory tool lists it (two levels, hidden
items skipped, ``<size>\\t<path>`` lines). A folder whose listing would pass
``PAGE_ENTRIES`` lines or ``PAGE_CHARS`` characters is summarised instead: its direct items
only (folders first, each with how many items it holds), ``PAGE_ENTRIES`` at most per view,
and a last line saying how many are left and how to see them (``view_range`` pages through a
folder's items as it does through a file's lines, or view a subfolder). Without this a folder
of thousands of files went to the model as one 100,000-character listing.

Nothing here follows a link: folders are opened through descriptors (:mod:`.nofollow`), and
links and special files are never listed (the tool would refuse them anyway).
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass

from ..domain import ToolError
from . import nofollow
from .fileops import Jail, format_size
from .nofollow import Refused
from .paths import Parts, virtual_path

__all__ = ["PAGE_ENTRIES", "PAGE_CHARS", "list_folder"]

PAGE_ENTRIES = 50
PAGE_CHARS = 3000  # about 750 tokens: a listing never crowds out the conversation


@dataclass
class _Item:
    name: str
    is_dir: bool
    size: int


class _Listing:
    """What the conversation owning ``prefix`` may see of the folder ``parts``."""

    def __init__(self, parts: Parts, prefix: Parts, owned_exists: bool) -> None:
        self.parts = parts
        self.prefix = prefix
        self.owned_exists = owned_exists
        self.shown = virtual_path(parts)

    def visible(self, child: Parts) -> bool:
        # Inside the owned folder, or on the way down to it (only once it exists).
        return child[: len(self.prefix)] == self.prefix or (
            self.owned_exists and self.prefix[: len(child)] == child
        )

    def size_of(self, child: Parts, size: int) -> str:
        # An ancestor of the owned folder also holds other scopes' folders; its size
        # would hint at how many there are, so it is not shown.
        return "-" if len(child) < len(self.prefix) else format_size(size)

    def items(self, fd: int, folder_parts: Parts) -> list[_Item]:
        """The visible files and folders directly in ``fd``, by name (hidden items, links, specials skipped)."""
        try:
            scanned = nofollow.scan_at(fd)
        except OSError:
            return []  # vanished or unreadable: list what we can
        found: list[_Item] = []
        for name, info in scanned:
            if name.startswith("."):
                continue  # hidden items, including our own temp files
            if not self.visible((*folder_parts, name)):
                continue
            if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
                found.append(_Item(name, stat.S_ISDIR(info.st_mode), info.st_size))
        return found


def _in_subfolder(fd: int, name: str, use: Callable[[int], object]) -> object:
    """``use(descriptor of fd/name)``, or None when it is no longer a folder we may open."""
    try:
        with nofollow.folder(fd, [name]) as child:
            return use(child)
    except (Refused, OSError):
        return None


def _two_levels(view: _Listing, fd: int, own_size: int) -> str | None:
    """The SDK's two-level listing, or None as soon as it would pass a page."""
    lines = [f"{view.size_of(view.parts, own_size)}\t{view.shown}"]
    chars = len(lines[0])

    def add(line: str) -> bool:
        nonlocal chars
        lines.append(line)
        chars += len(line) + 1
        return len(lines) - 1 <= PAGE_ENTRIES and chars <= PAGE_CHARS

    for item in view.items(fd, view.parts):
        child = (*view.parts, item.name)
        if not item.is_dir:
            if not add(f"{format_size(item.size)}\t{view.shown}/{item.name}"):
                return None
            continue
        if not add(f"{view.size_of(child, item.size)}\t{view.shown}/{item.name}/"):
            return None
        inner = _in_subfolder(fd, item.name, lambda sub, child=child: view.items(sub, child))
        for sub in inner if isinstance(inner, list) else []:
            suffix = "/" if sub.is_dir else ""
            if not add(f"{view.size_of((*child, sub.name), sub.size)}\t{view.shown}/{item.name}/{sub.name}{suffix}"):
                return None
    header = f"Here're the files and directories up to 2 levels deep in {view.shown}, excluding hidden items:"
    return header + "\n" + "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _page_bounds(view_range: tuple[int, int] | None, count: int, shown: str) -> tuple[int, int]:
    """The 1-based inclusive items ``[first, last]`` asked for (validated like a file's lines)."""
    if view_range is None:
        return 1, count
    start, end = view_range
    asked = list(view_range)
    if count == 0 or not 1 <= start <= count:
        raise ToolError(
            f"Invalid `view_range` parameter: {asked}. For a directory it selects items; {shown} "
            + (f"holds {count} items, so its first element should be within [1, {count}]." if count else "is empty.")
        )
    if end == -1:
        return start, count
    if end < start or end > count:
        raise ToolError(
            f"Invalid `view_range` parameter: {asked}. Its second element `{end}` should be between "
            f"`{start}` and the number of items in {shown}, `{count}`, or -1 for as many as one view shows."
        )
    return start, end


def _paged(view: _Listing, fd: int, own_size: int, view_range: tuple[int, int] | None) -> str:
    items = view.items(fd, view.parts)
    items.sort(key=lambda item: not item.is_dir)  # folders first; stable, so each part stays by name
    folders = sum(item.is_dir for item in items)
    first, last = _page_bounds(view_range, len(items), view.shown)
    lines = [f"{view.size_of(view.parts, own_size)}\t{view.shown}"]
    chars = len(lines[0])
    shown_last = first - 1
    for number in range(first, last + 1):
        item = items[number - 1]
        child = (*view.parts, item.name)
        if item.is_dir:
            inner = _in_subfolder(fd, item.name, lambda sub, child=child: len(view.items(sub, child)))
            held = f"  ({_count(inner, 'item')})" if isinstance(inner, int) else ""
            line = f"{view.size_of(child, item.size)}\t{view.shown}/{item.name}/{held}"
        else:
            line = f"{format_size(item.size)}\t{view.shown}/{item.name}"
        if shown_last >= first and (number - first >= PAGE_ENTRIES or chars + len(line) + 1 > PAGE_CHARS):
            break  # the page is full (it always holds at least one item)
        lines.append(line)
        chars += len(line) + 1
        shown_last = number
    lead = (
        f"Here're the files and directories directly in {view.shown}"
        if view_range is not None
        else f"{view.shown} holds too much to list 2 levels deep in one view; here're the files and directories "
        "directly in it"
    )
    header = (
        f"{lead} (folders first, excluding hidden items), items {first}-{shown_last} of {len(items):,} "
        f"({_count(folders, 'folder')}, {_count(len(items) - folders, 'file')}):"
    )
    out = header + "\n" + "\n".join(lines)
    remaining = len(items) - shown_last
    if remaining > 0:
        out += (
            f"\n{remaining:,} more items not shown: view {view.shown} with view_range "
            f"[{shown_last + 1}, -1] for the next page, or view one of its folders."
        )
    return out


def list_folder(
    jail: Jail,
    parts: Parts,
    prefix: Parts,
    *,
    own_size: int,
    owned_exists: bool,
    view_range: tuple[int, int] | None,
) -> str:
    """The ``view`` text of the folder at ``parts`` for the conversation owning ``prefix``.

    Without ``view_range``: two levels deep when that fits one page, else the first page of
    its direct items. With ``view_range [first, last]`` (1-based, ``last`` -1 = as many as
    fit): that page of its direct items.
    """
    view = _Listing(parts, prefix, owned_exists)
    with jail.folder(parts) as fd:
        if view_range is None:
            small = _two_levels(view, fd, own_size)
            if small is not None:
                return small
        return _paged(view, fd, own_size, view_range)
