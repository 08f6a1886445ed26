"""The human-behaviour pipeline around the reactive engine (Ana's message pipeline).

On when ``personality.behaviour.enabled``. Before the engine decides anything:

1. a message starting with the command prefix is a command (``!joke``, owner-only
   ``!shutdown``) or nothing: it is never answered as chat;
2. the mode is read from the text (normal, roast, flirt; precompiled word patterns);
   a message that triggers (trigger/roast/flirt words) is answered like a mention;
3. a triggered message made only of low-signal words ("lmao", "bruh") is sometimes skipped;
4. a quiet message (not a mention, not a roast) may get ghost typing (type, then think
   better of it) or a reaction on top of the reply;
5. an untriggered message may draw an unprompted dad joke; otherwise it waits for the
   periodic check like any other.

Replies are then delivered with human timing (read delay, typing by length, a typo and
its ``*word`` correction, split lines, a follow-up line) by :class:`HumanBehaviour`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from ..config.behaviour import BehaviourConfig
from ..domain import IncomingMessage
from ..domain import ResponsePlan
from .actions import Action, React
from .behaviour import HumanBehaviour
from .commands import is_command_prefixed, parse_command, run_command
from .jokes import JokeService
from .modes import ModeDetector, ModeResult, RoastLimiter

__all__ = ["HumanLayer", "Intercept"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intercept:
    """What the pipeline decided before the engine: run ``actions`` (maybe none), for ``reason``."""

    reason: str
    actions: list[Action]


class HumanLayer:
    def __init__(
        self,
        config: BehaviourConfig,
        *,
        behaviour: HumanBehaviour,
        detector: ModeDetector,
        roast_limiter: RoastLimiter,
        jokes: JokeService,
        owner_ids: Collection[str],
    ) -> None:
        self._config = config
        self._behaviour = behaviour
        self._detector = detector
        self._roast_limiter = roast_limiter
        self._jokes = jokes
        self._owner_ids = list(owner_ids)
        self._modes: dict[str, ModeResult] = {}  # message id -> mode, for delivery

    def mode_of(self, message: IncomingMessage) -> ModeResult:
        result = self._modes.get(message.message_id)
        if result is None:
            result = self._roast_limiter.apply(self._detector.detect(message.content, message.mentions_self), message.author_id)
            self._modes[message.message_id] = result
            if len(self._modes) > 2000:  # only recent messages are ever delivered to
                self._modes.pop(next(iter(self._modes)))
        return result

    def triggered(self, message: IncomingMessage) -> bool:
        return self.mode_of(message).triggered

    async def intercept(self, message: IncomingMessage) -> Intercept | None:
        """Handle the message before the engine, or None to let the engine decide."""
        text = message.content
        if is_command_prefixed(text, self._config.commands):
            command = parse_command(text, self._config.commands)
            if command is None:
                return Intercept("not a command of this bot", [])
            actions = await run_command(
                command, author_id=message.author_id, owner_ids=self._owner_ids, config=self._config.commands,
                jokes=self._jokes,
            )
            return Intercept(f"command {command.name}" if actions else f"command {command.name} refused", actions)
        result = self.mode_of(message)
        if not result.triggered:
            joke = await self._jokes.maybe_joke()
            if joke:
                return Intercept("unprompted joke", joke)
            return None
        # Ana's order: a triggered message made only of low-signal words ("lmao", "bruh")
        # is sometimes let go, like a person who doesn't answer every "lol".
        if self._behaviour.low_signal_skip(low_signal=result.low_signal, mode=result.mode, mentioned=message.mentions_self):
            return Intercept("low-signal message", [])
        ghost = self._behaviour.ghost_typing(mode=result.mode, mentioned=message.mentions_self)
        if ghost is not None:
            return Intercept("ghost typing", ghost)
        return None

    def actions_for(self, plan: ResponsePlan, trigger: IncomingMessage, urgent: bool) -> list[Action]:
        """Human delivery of the plan's text to ``trigger`` (with an optional reaction first)."""
        result = self.mode_of(trigger)
        actions: list[Action] = []
        emoji = self._behaviour.reaction_overlay(mode=result.mode, mentioned=trigger.mentions_self)
        if emoji is not None:
            actions.append(React(emoji))
        text = "\n".join(plan.messages)
        actions += self._behaviour.plan_reply(
            text, incoming_chars=len(trigger.content), mode=result.mode, mentioned=trigger.mentions_self or urgent
        )
        return actions
