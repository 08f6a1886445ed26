"""The six memory commands as blocking functions over a :class:`Jail` (run in a worker thread).

Arguments arrive validated: paths are normalised parts already cleared by the access rules
in ``paths``; this module enforces what needs the filesystem (existence, file kinds, the size
cap, UTF-8) and produces the same output text as the Anthropic SDK's filesystem memory tool.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from ..llm.types import ToolError
from .fileops import Jail, format_size, make_parents, os_error, read_text, write_atomic
from .paths import Parts, virtual_path

__all__ = ["MemoryFiles", "MAX_LINES", "ContentGuard"]

# ``guard(parts, before, after)``: called, inside the caller's lock, just before a write lands at
# ``parts`` (create, str_replace, insert, or a file moved there by rename) with the file's text
# before (``None`` when there was no file) and after; it raises ToolError to refuse the write.
ContentGuard = Callable[[Parts, str | None, str], None]

MAX_LINES = 999_999
_NUM_WIDTH = len(str(MAX_LINES))
_ECHO_LIMIT = 200  # how much of old_str an error message repeats back


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
        guard: ContentGuard | None = None,
        guarded: Callable[[Parts], bool] | None = None,
    ) -> None:
        """``guard`` checks writes to the paths ``guarded`` accepts (every path when it is None)."""
        self.jail = jail
        self.max_file_bytes = max_file_bytes
        self._guard = guard
        self._guarded = guarded

    # -- helpers -------------------------------------------------------------------------

    def _check_content(self, text: str, parts: Parts) -> None:
        """Refuse content that is not UTF-8 text or would exceed the per-file cap."""
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

    def _check_guard(self, parts: Parts, before: str | None, after: str) -> None:
        if self._guard is not None and (self._guarded is None or self._guarded(parts)):
            self._guard(parts, before, after)

    def _check_moved(self, old_parts: Parts, new_parts: Parts, old_path: Path) -> None:
        """Run the guard on every file a rename would bring to a guarded path."""
        if self._guard is None:
            return
        try:
            info = os.lstat(old_path)
        except OSError:
            return  # the rename below reports it
        if stat.S_ISREG(info.st_mode):
            if self._guarded is None or self._guarded(new_parts):
                self._guard(new_parts, None, read_text(old_path, old_parts))
            return
        if not stat.S_ISDIR(info.st_mode):
            return
        for dirpath, _dirnames, filenames in os.walk(old_path):  # never follows links
            relative = Path(dirpath).relative_to(old_path).parts
            for name in filenames:
                target = new_parts + relative + (name,)
                if self._guarded is not None and not self._guarded(target):
                    continue  # read only the files the guard looks at
                source = Path(dirpath) / name
                try:
                    if not stat.S_ISREG(os.lstat(source).st_mode):
                        continue  # links and special files are never read as memories
                except OSError:
                    continue
                self._check_guard(target, None, read_text(source, old_parts + relative + (name,)))

    def _existing_file(self, parts: Parts) -> tuple[Path, str]:
        path = self.jail.host(parts)
        return path, read_text(path, parts)

    # -- commands ------------------------------------------------------------------------

    def view(self, parts: Parts, prefix: Parts, view_range: tuple[int, int] | None) -> str:
        """A directory listing (2 levels, filtered to what the scope may see) or numbered file lines."""
        shown = virtual_path(parts)
        owned_exists = self.jail.host(prefix).is_dir()
        if len(parts) < len(prefix) and parts and not owned_exists:
            # Without an owned folder its ancestors hold nothing of ours; saying they exist
            # would only reveal that other scopes have memories.
            raise ToolError(f"The path {shown} does not exist. Please provide a valid path.")
        path = self.jail.host(parts)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise ToolError(f"The path {shown} does not exist. Please provide a valid path.") from None
        except OSError as err:
            raise os_error("inspect", parts, err) from err
        if stat.S_ISDIR(info.st_mode):
            if view_range is not None:
                raise ToolError(f"`view_range` applies to files only; {shown} is a directory.")
            return self._list_dir(path, parts, prefix, info.st_size, owned_exists)
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"Unsupported file type for {shown}.")
        lines = _split_lines(read_text(path, parts))
        if len(lines) > MAX_LINES:
            raise ToolError(f"File {shown} exceeds maximum line limit of 999,999 lines.")
        first = 1
        if view_range is not None:
            lines, first = _apply_range(lines, view_range)
        return f"Here's the content of {shown} with line numbers:\n" + _numbered(lines, first)

    def _list_dir(self, path: Path, parts: Parts, prefix: Parts, own_size: int, owned_exists: bool) -> str:
        shown = virtual_path(parts)

        def visible(child: Parts) -> bool:
            # Inside the owned folder, or on the way down to it (only once it exists).
            return child[: len(prefix)] == prefix or (owned_exists and prefix[: len(child)] == child)

        def size_of(child: Parts, size: int) -> str:
            # An ancestor of the owned folder also holds other scopes' folders; its size
            # would hint at how many there are, so it is not shown.
            return "-" if len(child) < len(prefix) else format_size(size)

        entries: list[tuple[str, str]] = []

        def walk(folder: Path, folder_parts: Parts, relative: str, depth: int) -> None:
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                return  # vanished or unreadable: list what we can
            for name in names:
                if name.startswith("."):
                    continue  # hidden items, including our own temp files
                child = folder_parts + (name,)
                if not visible(child):
                    continue
                child_relative = f"{relative}/{name}" if relative else name
                try:
                    info = os.lstat(folder / name)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    entries.append((size_of(child, info.st_size), child_relative + "/"))
                    if depth < 2:
                        walk(folder / name, child, child_relative, depth + 1)
                elif stat.S_ISREG(info.st_mode):
                    entries.append((format_size(info.st_size), child_relative))
                # symlinks and special files are never listed: the tool would refuse them anyway

        walk(path, parts, "", 1)
        header = f"Here're the files and directories up to 2 levels deep in {shown}, excluding hidden items:"
        lines = [f"{size_of(parts, own_size)}\t{shown}"]
        lines.extend(f"{size}\t{shown}/{relative}" for size, relative in entries)
        return header + "\n" + "\n".join(lines)

    def create(self, parts: Parts, file_text: str) -> str:
        """Create a new file; an existing path is refused (the documented Anthropic behaviour)."""
        shown = virtual_path(parts)
        self._check_content(file_text, parts)
        path = self.jail.host(parts)
        if path.is_dir():
            raise ToolError(f"The path {shown} is a directory; give a file path inside it.")
        if os.path.lexists(path):
            raise ToolError(
                f"File {shown} already exists. Use str_replace or insert to change it, "
                "or delete it first to write it from scratch."
            )
        self._check_guard(parts, None, file_text)
        make_parents(self.jail.root(), parts)
        write_atomic(path, file_text, parts)
        return f"File created successfully at: {shown}"

    def str_replace(self, parts: Parts, old_str: str, new_str: str) -> str:
        """Replace the single occurrence of ``old_str``; none or several is an error."""
        shown = virtual_path(parts)
        if not old_str:
            raise ToolError("`old_str` must not be empty; use insert to add text.")
        path, content = self._existing_file(parts)
        count = content.count(old_str)
        if count == 0:
            raise ToolError(
                f"No replacement was performed, old_str `{_echo(old_str)}` did not appear verbatim in {shown}."
            )
        if count > 1:
            lines: list[int] = []
            pos = content.find(old_str)
            while pos != -1:
                lines.append(content.count("\n", 0, pos) + 1)
                pos = content.find(old_str, pos + 1)
            raise ToolError(
                f"No replacement was performed. Multiple occurrences of old_str `{_echo(old_str)}` "
                f"in lines: {', '.join(map(str, lines))}. Please ensure it is unique"
            )
        pos = content.find(old_str)
        new_content = content.replace(old_str, new_str, 1)
        self._check_content(new_content, parts)
        self._check_guard(parts, content, new_content)
        write_atomic(path, new_content, parts)
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
        path, content = self._existing_file(parts)
        lines = _split_lines(content)
        if not 0 <= insert_line <= len(lines):
            raise ToolError(
                f"Invalid `insert_line` parameter: {insert_line}. It should be within the range [0, {len(lines)}]."
            )
        lines.insert(insert_line, insert_text.rstrip("\n"))
        new_content = "\n".join(lines)
        if not new_content.endswith("\n"):
            new_content += "\n"
        self._check_content(new_content, parts)
        self._check_guard(parts, content, new_content)
        write_atomic(path, new_content, parts)
        return f"The file {virtual_path(parts)} has been edited."

    def delete(self, parts: Parts) -> str:
        """Delete a file, or a directory with everything in it."""
        shown = virtual_path(parts)
        path = self.jail.host(parts)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise ToolError(f"The path {shown} does not exist.") from None
        try:
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path)  # removes links inside without following them
            else:
                os.unlink(path)
        except FileNotFoundError:
            raise ToolError(f"The path {shown} does not exist.") from None
        except OSError as err:
            raise os_error("delete", parts, err) from err
        return f"Successfully deleted {shown}"

    def rename(self, old_parts: Parts, new_parts: Parts) -> str:
        """Move a file or directory; the destination must not exist."""
        old_shown, new_shown = virtual_path(old_parts), virtual_path(new_parts)
        if new_parts[: len(old_parts)] == old_parts:
            raise ToolError(f"Cannot move {old_shown} into itself ({new_shown}).")
        old_path = self.jail.host(old_parts)
        new_path = self.jail.host(new_parts)
        if not os.path.lexists(old_path):
            raise ToolError(f"The path {old_shown} does not exist.")
        if os.path.lexists(new_path):
            raise ToolError(f"The destination {new_shown} already exists.")
        self._check_moved(old_parts, new_parts, old_path)
        make_parents(self.jail.root(), new_parts)
        try:
            os.rename(old_path, new_path)
        except FileNotFoundError:
            raise ToolError(f"The path {old_shown} does not exist.") from None
        except OSError as err:
            raise os_error("rename", old_parts, err) from err
        return f"Successfully renamed {old_shown} to {new_shown}"
