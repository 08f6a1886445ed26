"""``execute_bash``: one shell command in the jail, its exit code and capped output for the model.

Each call is its own jail (about 7 ms of overhead, see ``bench/bench_coding.py``): nothing
survives from one command to the next but the files in /workspace, so a command left
running, a changed environment or a stuck shell cannot leak into the next call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..domain import ConversationScope, ToolError
from .calls import CallSink, ToolCall, master_only
from .jail import JAIL_HOME, PATH, JailLimits, jail_argv, unjailed_argv
from .runner import CommandResult, run_command

__all__ = ["BashSettings", "ExecuteBash", "MAX_COMMAND_CHARS"]

MAX_COMMAND_CHARS = 16_000


@dataclass(frozen=True)
class BashSettings:
    workspace: Path  # the resolved host folder, bound at /workspace
    bwrap: str | None  # None: ``jail: none``, unconfined
    network: bool
    timeout_s: float
    max_bytes: int
    max_lines: int
    limits: JailLimits
    owner: tuple[int, int] | None  # the user the jailed shell runs as (nobody for a root bot)


class ExecuteBash:
    """The ``execute_bash`` client tool."""

    name = "execute_bash"

    def __init__(self, settings: BashSettings, *, master_id: str, sink: CallSink) -> None:
        self.settings = settings
        self._master_id = master_id
        self._sink = sink

    def _description(self) -> str:
        s = self.settings
        network = "has network access" if s.network else "has no network access"
        return (
            f"Run one bash command in a sandbox and get its exit code and output (stdout and stderr together). "
            f"The working folder is {JAIL_HOME} (files persist there between calls; nothing else does: each "
            f"call is a fresh shell). The system is read-only, /tmp is private and emptied after each call, the "
            f"sandbox {network}, and a command is killed after {int(s.timeout_s)} s. Output over "
            f"{s.max_lines} lines or {s.max_bytes} bytes is cut in the middle."
        )

    def _schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {"command": {"type": "string", "description": "The bash command"}},
                "required": ["command"], "additionalProperties": False}

    def anthropic_param(self) -> dict[str, Any]:
        return {"name": self.name, "description": self._description(), "input_schema": self._schema()}

    def function_schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self._description(), "parameters": self._schema()}

    def argv(self, command: str) -> list[str]:
        s = self.settings
        if s.bwrap is None:
            return unjailed_argv(command, limits=s.limits)
        return jail_argv(s.bwrap, s.workspace, command, network=s.network, limits=s.limits, owner=s.owner)

    async def execute(self, command: str) -> CommandResult:
        """Run ``command`` (jailed unless ``jail: none``) to its end or the timeout."""
        s = self.settings
        unjailed = s.bwrap is None
        return await run_command(
            self.argv(command), env={"PATH": PATH, "HOME": str(s.workspace) if unjailed else JAIL_HOME,
                                     "LANG": "C.UTF-8"},
            cwd=str(s.workspace) if unjailed else None, timeout=s.timeout_s, max_bytes=s.max_bytes,
            max_lines=s.max_lines,
        )

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        master_only(self.name, scope, self._master_id)
        command = args.get("command") if isinstance(args, dict) else None
        if not isinstance(command, str) or not command.strip():
            raise ToolError("execute_bash needs a non-empty command")
        if len(command) > MAX_COMMAND_CHARS or "\x00" in command:
            raise ToolError(f"the command must be text of at most {MAX_COMMAND_CHARS} characters, without NUL")
        result = await self.execute(command)
        notes = [n for n, on in (("timed out", result.timed_out), ("output cut", result.truncated)) if on]
        self._sink(ToolCall(
            self.name, command, result.exit_code == 0, result.exit_code, result.duration_s, result.bytes_out,
            scope.channel_id, scope.user_id, note=", ".join(notes),
        ))
        return _for_model(result, self.settings.timeout_s)


def _for_model(result: CommandResult, timeout_s: float) -> str:
    if result.timed_out:
        head = f"Timed out after {timeout_s:g} s: the command and every process it started were killed."
    else:
        head = f"Exit code: {result.exit_code}"
    return f"{head}\n{result.output}" if result.output else f"{head}\n(no output)"
