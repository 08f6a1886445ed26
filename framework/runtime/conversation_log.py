"""The parseable conversation log: one JSON object per line, rotated like the main log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

from ..domain import Decision, IncomingMessage
from ..logfile import rotating_handler

__all__ = ["ConversationLog"]

_CONTENT_PREVIEW = 200


class ConversationLog:
    """Implements ``DecisionLog``: records what the bot decided about each message and why."""

    def __init__(
        self,
        path: Path,
        bot_id: str,
        max_size_mb: float,
        backup_count: int,
        redact: Callable[[str], str] = str,
    ) -> None:
        self._bot_id = bot_id
        self._redact = redact  # the file is committed: a pasted key must not land in git
        # A private logger gives us rotation and thread safety without a second mechanism.
        self._logger = logging.getLogger(f"framework.conversation.{bot_id}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = rotating_handler(path, max_size_mb, backup_count)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)

    def record(self, message: IncomingMessage, decision: Decision) -> None:
        entry = {
            "time": message.timestamp.isoformat(),
            "bot": self._bot_id,
            "guild_id": message.guild_id,
            "channel_id": message.channel_id,
            "author_id": message.author_id,
            "author": message.author_name,
            "message_id": message.message_id,
            "content": message.content[:_CONTENT_PREVIEW],
            "decision": decision.action,
            "reason": decision.reason,
            "reply_ids": list(decision.reply_ids),
        }
        self._logger.info(self._redact(json.dumps(entry, ensure_ascii=False)))

    def record_tool(self, time: str, fields: dict[str, object]) -> None:
        """One tool call (``"event": "tool"``): what was asked, how it ended, how long, how many bytes."""
        entry = {"time": time, "bot": self._bot_id, "event": "tool", **fields}
        self._logger.info(self._redact(json.dumps(entry, ensure_ascii=False)))

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._handler.close()
