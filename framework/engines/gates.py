"""Whether the bot may speak: every rule that can hold a message back, in one object.

Two questions are asked of it before a model is ever called:

* :meth:`Gates.may_answer`: may the bot answer this message that is addressed to it (a
  mention, a DM, a reply to it, a trigger word)? Only deliberate rules say no: the
  configured mention response rate, the bot-loop guard, the rate windows (the "ignored"
  threshold never silences a direct question), and, for a trigger word only, the user and
  channel cooldowns (a roast skips them, being capped per user elsewhere).
* :meth:`Gates.may_speak`: may the bot join this channel's conversation now, about these
  new messages? The channel cooldown, the rate windows, the bot-loop guard, the response
  chance for the conversation's momentum; people answered moments ago (user cooldown) are
  left out and the rest considered.

And while a plan runs, :meth:`Gates.may_send` is asked before every message and
:meth:`Gates.sent` told after, which is what the rate windows, cooldowns and engagement
tracking count. The reactive engine, the agentic engine (through the plan executor) and any
later sender share one instance, so one budget of attention covers everything the bot says.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..clock import Clock
from ..config.models import CooldownConfig, EngagementConfig, RateLimitingConfig, ReactiveConfig
from ..domain import IncomingMessage
from .botloop import BotLoopGuard
from .cooldowns import ChannelCooldowns, UserCooldowns
from .engagement import EngagementTracker
from .momentum import conversation_momentum, response_chance
from .ratelimit import RateLimiter

__all__ = ["Gates", "SpeakVerdict", "IGNORED_THRESHOLD"]

_log = logging.getLogger(__name__)

# The limiter's reason when a channel ignored the bot too often: it silences unprompted
# talk, never an answer someone is owed.
IGNORED_THRESHOLD = "ignored_threshold"


@dataclass(frozen=True)
class SpeakVerdict:
    """The answer to :meth:`Gates.may_speak`.

    ``considered``: the messages worth a decision, in order. ``left_out``: (message, why)
    for each one dropped before the decision. ``refusal``: why the bot stays silent on all
    of ``considered`` without asking a model, or None to ask.
    """

    considered: list[IncomingMessage]
    left_out: list[tuple[IncomingMessage, str]]
    refusal: str | None = None


class Gates:
    def __init__(
        self,
        *,
        limiter: RateLimiter,
        user_cooldowns: UserCooldowns,
        channel_cooldowns: ChannelCooldowns,
        engagement: EngagementTracker,
        botloop: BotLoopGuard,
        chance_for: Callable[[str], float],
        rng: random.Random,
        mention_response_rate: float = 1.0,
    ) -> None:
        self.limiter = limiter
        self.user_cooldowns = user_cooldowns
        self.channel_cooldowns = channel_cooldowns
        self.engagement = engagement
        self.botloop = botloop
        self._chance_for = chance_for  # momentum name -> probability of joining in
        self._rng = rng
        self._mention_response_rate = mention_response_rate

    @classmethod
    def from_config(
        cls,
        *,
        rate_limiting: RateLimitingConfig,
        reactive: ReactiveConfig,
        engagement: EngagementConfig,
        clock: Clock,
        rng: random.Random,
        cooldowns: CooldownConfig | None = None,
    ) -> Gates:
        """The gates of one bot from its config sections (``cooldowns`` defaults to
        ``reactive.cooldowns``)."""
        cooldowns = cooldowns or reactive.cooldowns
        limiter = RateLimiter.from_config(rate_limiting, clock)
        return cls(
            limiter=limiter,
            user_cooldowns=UserCooldowns.from_config(cooldowns, clock),
            channel_cooldowns=ChannelCooldowns.from_config(cooldowns, clock),
            engagement=EngagementTracker.from_config(rate_limiting, clock, limiter),
            botloop=BotLoopGuard.from_config(reactive),
            chance_for=lambda momentum: response_chance(momentum, engagement),  # type: ignore[arg-type]
            rng=rng,
            mention_response_rate=engagement.mention_response_rate,
        )

    # -- what happened in a channel ---------------------------------------------------

    def observe(self, message: IncomingMessage) -> None:
        """Every stored message: bot turns for the loop guard, replies for engagement."""
        self.botloop.observe(message.channel_id, message.is_bot or message.is_self)
        if not message.is_self and message.reference_id:
            self.engagement.observe_reply(message.channel_id, message.reference_id)

    def observe_reaction(self, channel_id: str, message_id: str, emoji: str, user_id: str) -> None:
        self.engagement.observe_reaction(channel_id, message_id, emoji, user_id)

    def settle(self) -> None:
        """Close engagement windows that are due (each periodic check)."""
        for settled in self.engagement.due():
            _log.debug("engagement settled: %s", settled)

    def sweep(self) -> None:
        """Drop expired cooldown keys (now and then, so weeks of running stay small)."""
        self.user_cooldowns.sweep()
        self.channel_cooldowns.sweep()

    # -- the two questions ---------------------------------------------------------------

    def may_answer(self, message: IncomingMessage, *, trigger_word: bool, roast: bool = False) -> str | None:
        """Why the bot does not answer this message addressed to it, or None to answer."""
        if trigger_word and not roast:
            cooling = self._cooldown(message)
            if cooling is not None:
                return cooling
        if self._rng.random() >= self._mention_response_rate:
            return "mention_response_rate"
        if not self.botloop.allows_reply(message.channel_id):
            return "bot-loop guard"
        allowed, why = self.limiter.can_respond(message.channel_id)
        if not allowed and why != IGNORED_THRESHOLD:  # a direct question is answered even then
            return str(why)
        return None

    def may_speak(self, channel_id: str, messages: Sequence[IncomingMessage]) -> SpeakVerdict:
        """Whether to ask a model about these new messages of one channel."""
        if self.channel_cooldowns.is_in_cooldown(channel_id):
            cooling = f"channel cooldown ({self.channel_cooldowns.remaining(channel_id):.0f} s left)"
            return SpeakVerdict([], [(m, cooling) for m in messages])
        considered = self.user_cooldowns.filter_messages(messages)
        left_out = [
            (m, f"user cooldown ({self.user_cooldowns.remaining(m.author_id):.0f} s left)")
            for m in messages
            if m not in considered
        ]
        if not considered:
            return SpeakVerdict([], left_out)
        allowed, why = self.limiter.can_respond(channel_id)
        if not allowed:
            return SpeakVerdict(considered, left_out, str(why))
        if not self.botloop.allows_reply(channel_id):
            return SpeakVerdict(considered, left_out, "bot-loop guard")
        momentum = conversation_momentum([m.timestamp for m in considered])
        chance = self._chance_for(momentum)
        if self._rng.random() >= chance:
            return SpeakVerdict(considered, left_out, f"response chance ({momentum}, {chance:.2f})")
        return SpeakVerdict(considered, left_out)

    # -- while a plan runs ------------------------------------------------------------------

    def may_send(self, channel_id: str, *, owed: bool) -> str | None:
        """Before each counted message: why not, or None. The rate windows stop even an
        owed answer; the ignored threshold only stops talk nobody asked for."""
        allowed, reason = self.limiter.can_respond(channel_id)
        if not allowed and not (owed and reason == IGNORED_THRESHOLD):
            return str(reason)
        return None

    def sent(self, channel_id: str, message_id: str) -> None:
        """After each counted message: it counts against the rate windows and is watched
        for engagement (a reaction or a reply soon after)."""
        self.limiter.record_response(channel_id)
        self.engagement.track(channel_id, message_id)

    def plan_sent(self, channel_id: str, user_id: str | None, messages: int) -> None:
        """After a plan sent ``messages`` messages: the channel cools by how much was said,
        and the person answered cools too."""
        if messages:
            self.channel_cooldowns.set_cooldown(channel_id, messages)
            if user_id is not None:
                self.user_cooldowns.record_reply(user_id)

    def blocked(self, channel_id: str) -> None:
        """A plan the limiter stopped counts as ignored, like a reply nobody took up."""
        self.limiter.record_ignored(channel_id)

    def _cooldown(self, message: IncomingMessage) -> str | None:
        # A trigger word invites a reply but is not owed one: a person does not answer the
        # same friend every few seconds, nor talk over a channel they just spoke in.
        if self.channel_cooldowns.is_in_cooldown(message.channel_id):
            return f"channel cooldown ({self.channel_cooldowns.remaining(message.channel_id):.0f} s left)"
        if not self.user_cooldowns.can_reply_to_user(message.author_id):
            return f"user cooldown ({self.user_cooldowns.remaining(message.author_id):.0f} s left)"
        return None
