"""What every coding tool call leaves behind: one record, for the bot's log and the conversation log.

The record holds what was asked (the command, or the tool and path), how it ended (exit code,
refusal), how long it took and how many bytes it produced; never the command's output, never
the environment. The sink redacts secret-looking text before writing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from ..domain import ConversationScope, ToolError

__all__ = ["ToolCall", "CallSink", "log_call", "master_only"]

_log = logging.getLogger(__name__)
_SHOWN = 500  # a command longer than this is logged clipped


@dataclass(frozen=True)
class ToolCall:
    tool: str
    target: str  # the command for execute_bash, the path for the file tools
    ok: bool
    exit_code: int | None
    duration_s: float
    bytes_out: int
    channel_id: str
    user_id: str
    note: str = ""  # "timed out", "output cut", or the refusal

    def fields(self) -> dict[str, object]:
        data = asdict(self)
        data["target"] = self.target if len(self.target) <= _SHOWN else self.target[: _SHOWN - 3] + "..."
        data["duration_s"] = round(self.duration_s, 3)
        return data


CallSink = Callable[[ToolCall], None]


def log_call(call: ToolCall) -> None:
    """The default sink: one line in the bot's log."""
    _log.info(
        "tool %s %s: ok=%s exit=%s %.3fs %d bytes%s", call.tool, call.fields()["target"], call.ok, call.exit_code,
        call.duration_s, call.bytes_out, f" ({call.note})" if call.note else "",
    )


def master_only(tool: str, scope: ConversationScope, master_id: str) -> None:
    """Refuse (ToolError) a call from anywhere but the master's DM.

    The access policy already keeps everyone else away from the model; this check keeps the
    tools shut even if a future path reached the model with another scope.
    """
    if not scope.is_dm or scope.user_id != master_id:
        raise ToolError(f"{tool} is only available in the master's direct messages")
