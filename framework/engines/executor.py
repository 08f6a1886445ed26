"""Runs a plan of actions on the chat with the injected clock, inside the gates.

Before every counted message the gates are asked (the rate windows); after it, the
response is counted and engagement tracking starts; after the plan, the channel and user
cooldowns are set (the channel's by how many messages went out: 45 s, 75 s or 105 s for 1,
2-3 or 4+ by default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from ..clock import Clock
from ..ports import ChatPort
from .actions import Action, React, Send, Shutdown, Typing, Wait
from .gates import IGNORED_THRESHOLD, Gates

__all__ = ["PlanExecutor", "Outcome", "IGNORED_THRESHOLD"]

_log = logging.getLogger(__name__)


@dataclass
class Outcome:
    sent_ids: list[str]
    blocked: str | None = None  # the limiter's reason, when it stopped the plan
    shutdown: bool = False


class PlanExecutor:
    def __init__(
        self,
        *,
        chat: ChatPort,
        clock: Clock,
        gates: Gates,
        on_shutdown: Callable[[], None] = lambda: None,
    ) -> None:
        self._chat = chat
        self._clock = clock
        self._gates = gates
        self._on_shutdown = on_shutdown

    def typing(self, channel_id: str) -> AbstractAsyncContextManager[None]:
        """'typing…' while a reply owed to someone is being written."""
        return self._chat.typing(channel_id)

    async def run(
        self,
        actions: Sequence[Action],
        *,
        channel_id: str,
        reply_to: str | None,
        user_id: str | None,
        owed: bool = False,
    ) -> Outcome:
        """Run the plan. ``owed`` (a mention, a DM): the ignore threshold, which silences
        unprompted talk nobody reacts to, does not stop a direct answer; the rate windows do."""
        outcome = Outcome(sent_ids=[])
        for action in actions:
            if isinstance(action, Wait):
                await self._clock.sleep(action.seconds)
            elif isinstance(action, Typing):
                async with self._chat.typing(channel_id):
                    await self._clock.sleep(action.seconds)
            elif isinstance(action, React):
                if reply_to is not None:
                    await self._chat.react(channel_id, reply_to, action.emoji)
            elif isinstance(action, Send):
                if action.counts:
                    reason = self._gates.may_send(channel_id, owed=owed)
                    if reason is not None:
                        _log.info("rate limiter stopped a reply in %s: %s", channel_id, reason)
                        outcome.blocked = reason
                        break
                message_id = await self._chat.send(
                    channel_id, action.text, reply_to=reply_to if action.reply_to_incoming else None, ping=action.ping
                )
                if action.counts:
                    outcome.sent_ids.append(message_id)
                    self._gates.sent(channel_id, message_id)
            elif isinstance(action, Shutdown):
                outcome.shutdown = True
                self._on_shutdown()
                break
        self._gates.plan_sent(channel_id, user_id, len(outcome.sent_ids))
        return outcome
