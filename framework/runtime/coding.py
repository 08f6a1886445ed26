"""The coding agent's parts for one bot process (``tools.coding``), and where its calls are logged.

Refused before anything is built when the bot is not a master-DM bot (the same rule
``validate`` applies), so a config edited around ``validate`` still cannot hand a shell to
a server. Every tool call goes to the bot's log and, as an ``"event": "tool"`` line, to the
conversation log, both redacted.
"""

from __future__ import annotations

import asyncio
import logging

from typing import TYPE_CHECKING

from ..clock import Clock
from ..config import BotConfig
from ..config.coding import coding_access_problem, workspace_path
from ..errors import ConfigError
from ..paths import BotPaths
from .conversation_log import ConversationLog

if TYPE_CHECKING:  # the coding package is imported by a bot with the tools on (the zygote's "coding" extra)
    from ..coding import CodingParts, ToolCall

__all__ = ["open_coding"]

_log = logging.getLogger(__name__)


async def open_coding(
    config: BotConfig, paths: BotPaths, master_id: str | None, decisions: ConversationLog, clock: Clock
) -> CodingParts | None:
    """The coding tools and prompt block, or None when ``tools.coding`` is all off."""
    coding = config.tools.coding
    if not coding.enabled:
        return None
    problem = coding_access_problem(coding, config.access.mode)
    if problem is not None or master_id is None:
        raise ConfigError(problem or "tools.coding needs access.mode: master_dm")

    def record(call: ToolCall) -> None:
        fields = call.fields()
        _log.info(
            "tool %s %s: exit=%s ok=%s %.3fs %d bytes%s", call.tool, fields["target"], call.exit_code, call.ok,
            call.duration_s, call.bytes_out, f" ({call.note})" if call.note else "",
        )
        decisions.record_tool(clock.now().isoformat(), fields)

    from ..coding import build_coding, jail_owner

    workspace = paths.home / workspace_path(coding, config.bot_id)
    # The jail probe runs a process: keep it off the event loop.
    return await asyncio.to_thread(
        build_coding, coding, workspace, master_id=master_id, owner=jail_owner(), sink=record
    )
