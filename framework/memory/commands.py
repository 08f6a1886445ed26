"""The six memory commands as blocking functions over a :class:`Jail` (run in a worker thread).

Arguments arrive validated: paths are normalised parts already cleared by the access rules
in ``paths``; this module enforces what needs the filesystem (existence, file kinds, the size
cap, the per-bot caps of ``quota``, UTF-8) and produces the same output text as the Anthropic
SDK's filesystem memory tool (a large folder's listing is paged, see ``listing``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from ..domain import ToolError
from . import nofollow
from .fileops import READ_LIMIT_BYTES, Jail, decode_text, os_error, refusal
from .listing import list_folder
from .nofollow import Refused
from .paths import Parts, virtual_path
from .quota import Caps

__all__ = ["MemoryFiles", "MAX_LINES", "ContentGuard"]

# ``guard(parts, before, after)``: called, inside the caller's lock, just before a write lands at
# ``parts`` (create, str_replace, insert, or a file moved there by rename) with the file's text
# before (``None`` when there was no file) and after; it raises ToolError to refuse the write.
ContentGuard = Callable[[Parts, str | None, str], None]

MAX_LINES = 999_999
_NUM_WIDTH = len(str(MAX_LINES))
_ECHO_LIMIT = 200  # how much of old_str an error message repeats back
_LINES_NAMED = 20  # how many lines of a non-unique old_str an error message names


def _split_lines(content: str) -> list[str]:
    """Lines split on LF (a CR stays in its line), without the empty tail of a final newline."""
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(f"{str(first + i).rjust(_NUM_WIDTH)}\t{line}" for i, line in enumerate(lines))


def _echo(text: str) -> str:
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "..."


def _apply_range(lines: list[str], view_range: tuple[int, int]) -> tuple[list[str], int]:
    """The lines selected by a 1-based inclusive ``[start, end]`` (end -1 = to the end), and the first number."""
    start, end = view_range
    count = len(lines)
    shown = list(view_range)
    if not 1 <= start <= count:
        raise ToolError(
            f"Invalid `view_range` parameter: {shown}. Its first element `{start}` should be "
            f"within the range of lines of the file: [1, {count}]."
        )
    if end == -1:
        end = count
    elif end < start:
        raise ToolError(
            f"Invalid `view_range` parameter: {shown}. Its second element `{end}` should be "
            f"larger or equal than its first `{start}`, or -1 for the end of the file."
        )
    elif end > count:
        raise ToolError(
            f"Invalid `view_range` parameter: {shown}. Its second element `{end}` should be "
            f"at most the number of lines in the file: `{count}` (or -1 for the end of the file)."
        )
    return lines[start - 1 : end], start


class MemoryFiles:
    """Blocking implementations of view, create, str_replace, insert, delete and rename."""

    def __init__(
        self,
        jail: Jail,
        *,
        max_file_bytes: int,
        caps: Caps | None = None,
        guard: ContentGuard | None = None,
        guarded: Callable[[Parts], bool] | None = None,
    ) -> None:
        """``guard`` checks writes to the paths ``guarded`` accepts (every path when it is None).

        ``caps`` bounds the whole tree (None: unbounded); writes are always made inside a
        conversation's folder, ``parts[:2]``, which the refusal names as the place to make room.
        """
        self.jail = jail
        self.max_file_bytes = max_file_bytes
        self.caps = caps
        self._guard = guard
        self._guarded = guarded

    # -- helpers -------------------------------------------------------------------------

    def _check_content(self, text: str, parts: Parts) -> int:
        """The UTF-8 size of ``text``; refuse content that is not UTF-8 text or would exceed the per-file cap."""
        if "\x00" in text:
            raise ToolError("The content contains NUL characters; memory files hold UTF-8 text only.")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise ToolError("The content is not valid Unicode text (it has unpaired surrogates).") from None
        if size > self.max_file_bytes:
            raise ToolError(
                f"Refused: {virtual_path(parts)} would be {size} bytes, over the limit of "
                f"{self.max_file_bytes} bytes per memory file. Keep it shorter, or split it into several files."
            )
        return size

    def _check_caps(self, parts: Parts, *, new_items: int, new_bytes: int) -> None:
        if self.caps is None:
            return
        # A conversation's folder is two names deep (servers/<id>); a prompt file sits one deep.
        folder = parts[:2] if len(parts) > 2 else parts[:1]
        with self.jail.root_fd() as root_fd:
            self.caps.check(root_fd, folder, new_items=new_items, new_bytes=new_bytes)

    def _check_guard(self, parts: Parts, before: str | None, after: str) -> None:
        if self._guard is not None and (self._guarded is None or self._guarded(parts)):
            self._guard(parts, before, after)

    def _check_moved(self, old_parts: Parts, new_parts: Parts, info: os.stat_result) -> None:
        """Run the guard on every file a rename would bring to a guarded path."""
        if self._guard is None:
            return
        if stat.S_ISREG(info.st_mode):
            if self._guarded is None or self._guarded(new_parts):
                self._guard(new_parts, None, self.jail.read_text(old_parts))
            return
        if not stat.S_ISDIR(info.st_mode):
            return
        with self.jail.folder(old_parts) as fd:
            # fwalk works through descriptors and never descends into a link.
            for dirpath, _dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=fd):
                relative = tuple(dirpath.split("/")[1:])
                for name in filenames:
                    target = new_parts + relative + (name,)
                    if self._guarded is not None and not self._guarded(target):
                        continue  # read only the files the guard looks at
                    source = old_parts + relative + (name,)
                    held = nofollow.lstat_at(dir_fd, name)
                    if held is None or not stat.S_ISREG(held.st_mode):
                        continue  # links and special files are never read as memories
                    try:
                        data, _ = nofollow.read_at(dir_fd, name, len(source), READ_LIMIT_BYTES)
                    except Refused as refused:
                        raise refusal(source, refused) from None
                    except OSError as err:
                        raise os_error("read", source, err) from err
                    self._check_guard(target, None, decode_text(data, source))

    # -- commands ------------------------------------------------------------------------

    def view(self, parts: Parts, prefix: Parts, view_range: tuple[int, int] | None) -> str:
        """A directory listing (filtered to what the scope may see, paged when large) or numbered file lines."""
        shown = virtual_path(parts)
        owned = self.jail.lstat(prefix)
        owned_exists = owned is not None and stat.S_ISDIR(owned.st_mode)
        if len(parts) < len(prefix) and parts and not owned_exists:
            # Without an owned folder its ancestors hold nothing of ours; saying they exist
            # would only reveal that other scopes have memories.
            raise ToolError(f"The path {shown} does not exist. Please provide a valid path.")
        info = self.jail.lstat(parts)
        if info is None:
            raise ToolError(f"The path {shown} does not exist. Please provide a valid path.")
        if stat.S_ISLNK(info.st_mode):
            raise refusal(parts, Refused(nofollow.LINK, len(parts), info))
        if stat.S_ISDIR(info.st_mode):
            return list_folder(
                self.jail, parts, prefix, own_size=info.st_size, owned_exists=owned_exists, view_range=view_range
            )
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"Unsupported file type for {shown}.")
        lines = _split_lines(self.jail.read_text(parts))
        if len(lines) > MAX_LINES:
            raise ToolError(f"File {shown} exceeds maximum line limit of 999,999 lines.")
        first = 1
        if view_range is not None:
            lines, first = _apply_range(lines, view_range)
        return f"Here's the content of {shown} with line numbers:\n" + _numbered(lines, first)

    def create(self, parts: Parts, file_text: str) -> str:
        """Create a new file; an existing path is refused (the documented Anthropic behaviour)."""
        shown = virtual_path(parts)
        size = self._check_content(file_text, parts)
        info = self.jail.lstat(parts)
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise refusal(parts, Refused(nofollow.LINK, len(parts), info))
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise ToolError(f"The path {shown} is a directory; give a file path inside it.")
        if info is not None:
            raise ToolError(
                f"File {shown} already exists. Use str_replace or insert to change it, "
                "or delete it first to write it from scratch."
            )
        self._check_guard(parts, None, file_text)
        self._check_caps(parts, new_items=1 + self.jail.missing_folders(parts), new_bytes=size)
        self.jail.write_text(parts, file_text)
        return f"File created successfully at: {shown}"

    def _edit(self, parts: Parts, content: str, new_content: str) -> None:
        """Write ``new_content`` over ``content`` after the content, guard and cap checks."""
        size = self._check_content(new_content, parts)
        self._check_guard(parts, content, new_content)
        self._check_caps(parts, new_items=0, new_bytes=size - len(content.encode("utf-8")))
        self.jail.write_text(parts, new_content)

    def str_replace(self, parts: Parts, old_str: str, new_str: str) -> str:
        """Replace the single occurrence of ``old_str``; none or several is an error."""
        shown = virtual_path(parts)
        if not old_str:
            raise ToolError("`old_str` must not be empty; use insert to add text.")
        content = self.jail.read_text(parts)
        count = content.count(old_str)
        if count == 0:
            raise ToolError(
                f"No replacement was performed, old_str `{_echo(old_str)}` did not appear verbatim in {shown}."
            )
        if count > 1:
            lines: list[int] = []
            line, counted = 1, 0
            pos = content.find(old_str)
            while pos != -1 and len(lines) < _LINES_NAMED:
                line += content.count("\n", counted, pos)  # counted once: linear in the file's size
                counted = pos
                if not lines or lines[-1] != line:  # a short old_str can occur thousands of times on one line
                    lines.append(line)
                pos = content.find(old_str, pos + 1)
            more = ", ..." if pos != -1 else ""
            raise ToolError(
                f"No replacement was performed. Multiple occurrences of old_str `{_echo(old_str)}` "
                f"in lines: {', '.join(map(str, lines))}{more}. Please ensure it is unique"
            )
        pos = content.find(old_str)
        new_content = content.replace(old_str, new_str, 1)
        self._edit(parts, content, new_content)
        changed = content.count("\n", 0, pos)
        new_lines = _split_lines(new_content)
        first = max(0, changed - 2)
        last = min(len(new_lines), changed + 3)
        return (
            "The memory file has been edited. Here is the snippet showing the change (with line numbers):\n"
            + _numbered(new_lines[first:last], first + 1)
        )

    def insert(self, parts: Parts, insert_line: int, insert_text: str) -> str:
        """Insert after line ``insert_line`` (0 = at the top, n_lines = at the end)."""
        content = self.jail.read_text(parts)
        lines = _split_lines(content)
        if not 0 <= insert_line <= len(lines):
            raise ToolError(
                f"Invalid `insert_line` parameter: {insert_line}. It should be within the range [0, {len(lines)}]."
            )
        lines.insert(insert_line, insert_text.rstrip("\n"))
        new_content = "\n".join(lines)
        if not new_content.endswith("\n"):
            new_content += "\n"
        self._edit(parts, content, new_content)
        return f"The file {virtual_path(parts)} has been edited."

    def delete(self, parts: Parts) -> str:
        """Delete a file, or a directory with everything in it."""
        shown = virtual_path(parts)
        if self.jail.lstat(parts) is None:
            raise ToolError(f"The path {shown} does not exist.")
        self.jail.delete(parts)
        return f"Successfully deleted {shown}"

    def rename(self, old_parts: Parts, new_parts: Parts) -> str:
        """Move a file or directory; the destination must not exist."""
        old_shown, new_shown = virtual_path(old_parts), virtual_path(new_parts)
        if new_parts[: len(old_parts)] == old_parts:
            raise ToolError(f"Cannot move {old_shown} into itself ({new_shown}).")
        info = self.jail.lstat(old_parts)
        if info is None:
            raise ToolError(f"The path {old_shown} does not exist.")
        if stat.S_ISLNK(info.st_mode):
            raise refusal(old_parts, Refused(nofollow.LINK, len(old_parts), info))
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            raise refusal(old_parts, Refused(nofollow.HARD_LINK, len(old_parts), info))
        target = self.jail.lstat(new_parts)
        if target is not None and stat.S_ISLNK(target.st_mode):
            raise refusal(new_parts, Refused(nofollow.LINK, len(new_parts), target))
        if target is not None:
            raise ToolError(f"The destination {new_shown} already exists.")
        self._check_moved(old_parts, new_parts, info)
        self._check_caps(new_parts, new_items=self.jail.missing_folders(new_parts), new_bytes=0)
        self.jail.rename(old_parts, new_parts)
        return f"Successfully renamed {old_shown} to {new_shown}"
