"""``read_file``, ``write_file`` and ``edit_file``: the coding agent's file tools on /workspace.

Paths are relative to /workspace (or absolute below it) and go through the workspace's path
jail; a refusal is a :class:`ToolError` the model reads. Writes are atomic (temp file,
``fsync``, rename), so a file is never seen half-written, by the shell either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain import ConversationScope, ToolError
from .calls import CallSink, ToolCall, master_only
from .skills import resolve_base_dir
from .workspace import Workspace

__all__ = ["FileTools", "MAX_WRITE_BYTES"]

MAX_WRITE_BYTES = 1024 * 1024
_ECHO = 200


@dataclass(frozen=True)
class _FileTool:
    """One file tool as a ``ClientTool``: name, schema, and the blocking work it does."""

    name: str
    description: str
    properties: dict[str, Any]
    required: tuple[str, ...]
    work: Callable[[dict[str, Any]], str]
    guard: Callable[[str, ConversationScope], None]
    sink: CallSink

    def _schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": self.properties, "required": list(self.required),
                "additionalProperties": False}

    def anthropic_param(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self._schema()}

    def function_schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self._schema()}

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        self.guard(self.name, scope)
        started = time.monotonic()
        target = str(args.get("path", ""))[:300] if isinstance(args, dict) else ""
        try:
            if not isinstance(args, dict):
                raise ToolError(f"{self.name} expects an object of arguments")
            unknown = sorted(str(k) for k in args if k not in self.properties)
            if unknown:
                raise ToolError(f"{self.name} takes only {', '.join(self.properties)}; unknown: {', '.join(unknown)}")
            result = await asyncio.to_thread(self.work, args)
        except ToolError as refusal:
            self.sink(ToolCall(self.name, target, False, None, time.monotonic() - started, 0,
                               scope.channel_id, scope.user_id, note=str(refusal)[:300]))
            raise
        self.sink(ToolCall(self.name, target, True, None, time.monotonic() - started, len(result.encode()),
                           scope.channel_id, scope.user_id))
        return result


def _int_arg(args: dict[str, Any], key: str, default: int | None) -> int | None:
    value = args.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"{key} must be a line number (1 or more), got {value!r}")
    return value


def _text_arg(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str):
        raise ToolError(f"{key} must be text")
    return value


class FileTools:
    """The three file tools over one workspace; ``guard`` refuses calls outside the master's DM."""

    def __init__(self, workspace: Workspace, *, max_read_lines: int, max_read_bytes: int, master_id: str,
                 sink: CallSink) -> None:
        self.workspace = workspace
        self.max_read_lines = max_read_lines
        self.max_read_bytes = max_read_bytes
        self._master_id = master_id
        self._sink = sink

    def tools(self) -> list[_FileTool]:
        guard: Callable[[str, ConversationScope], None] = lambda name, scope: master_only(name, scope, self._master_id)
        path = {"type": "string", "description": "File path relative to /workspace (or absolute below /workspace)"}
        return [
            _FileTool(
                "read_file",
                f"Read a UTF-8 text file in /workspace, with line numbers. At most {self.max_read_lines} lines per "
                "call: use start_line / end_line (1-based, inclusive) for the rest of a long file.",
                {"path": path, "start_line": {"type": "integer", "minimum": 1},
                 "end_line": {"type": "integer", "minimum": 1}},
                ("path",), self.read, guard, self._sink,
            ),
            _FileTool(
                "write_file",
                "Create or replace a text file in /workspace with the given content (folders are made as needed). "
                "The write is atomic.",
                {"path": path, "content": {"type": "string"}}, ("path", "content"), self.write, guard, self._sink,
            ),
            _FileTool(
                "edit_file",
                "Replace one exact piece of text in a file in /workspace. old_text must occur exactly once "
                "(include surrounding lines to make it unique); new_text replaces it.",
                {"path": path, "old_text": {"type": "string"}, "new_text": {"type": "string"}},
                ("path", "old_text", "new_text"), self.edit, guard, self._sink,
            ),
        ]

    def read(self, args: dict[str, Any]) -> str:
        parts = self.workspace.parse(args.get("path"))
        start = _int_arg(args, "start_line", 1) or 1
        end = _int_arg(args, "end_line", None)
        lines = resolve_base_dir(self.workspace.jail.read_text(parts), parts, self.workspace).splitlines()
        total = len(lines)
        if start > max(total, 1):
            raise ToolError(f"start_line {start} is past the end of {self.workspace.shown(parts)} ({total} lines)")
        last = min(end if end is not None else total, total, start + self.max_read_lines - 1)
        if end is not None and end < start:
            raise ToolError(f"end_line {end} is before start_line {start}")
        body = "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(start, last + 1))
        if len(body.encode()) > self.max_read_bytes:
            body = body.encode()[: self.max_read_bytes].decode("utf-8", errors="ignore")
            return f"{body}\n[... cut at {self.max_read_bytes} bytes; read fewer lines at a time ...]"
        if last < total and (end is None or last < end):
            body += f"\n[... lines {start}-{last} of {total}; call again with start_line={last + 1} for more ...]"
        return body

    def write(self, args: dict[str, Any]) -> str:
        parts = self.workspace.parse(args.get("path"))
        content = _text_arg(args, "content")
        size = len(content.encode("utf-8"))
        if size > MAX_WRITE_BYTES:
            raise ToolError(f"content is {size} bytes; one write is limited to {MAX_WRITE_BYTES}")
        self.workspace.jail.write_text(parts, content)
        return f"Wrote {size} bytes to {self.workspace.shown(parts)}"

    def edit(self, args: dict[str, Any]) -> str:
        parts = self.workspace.parse(args.get("path"))
        old, new = _text_arg(args, "old_text"), _text_arg(args, "new_text")
        if not old:
            raise ToolError("old_text is empty; give the exact text to replace")
        text = self.workspace.jail.read_text(parts)
        count = text.count(old)
        shown = self.workspace.shown(parts)
        if count == 0:
            echo = old if len(old) <= _ECHO else old[:_ECHO] + "..."
            raise ToolError(f"old_text {echo!r} does not occur in {shown}; read the file and copy the text exactly")
        if count > 1:
            lines = [text.count("\n", 0, i) + 1 for i in _positions(text, old)][:20]
            raise ToolError(
                f"old_text occurs {count} times in {shown} (lines {', '.join(map(str, lines))}); "
                "include more surrounding text so it occurs once"
            )
        updated = text.replace(old, new, 1)
        if len(updated.encode("utf-8")) > MAX_WRITE_BYTES:
            raise ToolError(f"the edited file would exceed {MAX_WRITE_BYTES} bytes")
        self.workspace.jail.write_text(parts, updated)
        return f"Edited {shown}: replaced 1 occurrence"


def _positions(text: str, needle: str) -> list[int]:
    found, start = [], 0
    while (index := text.find(needle, start)) != -1:
        found.append(index)
        start = index + 1
    return found


