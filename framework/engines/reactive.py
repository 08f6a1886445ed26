"""ReactiveEngine: the urgent path and the periodic check.

* A mention, a reply to the bot or a DM is answered at once (``on_message`` schedules
  it); it bypasses the response chance but not the rate limits or the spend budget.
* Everything else lands in the pending set; every ``check_interval_seconds`` the runtime
  calls :meth:`check`, which makes one decision (at most one model call) per pending
  channel about everything that arrived there since the last look.
* Every message is answered at most once, whichever path sees it first.
* Channels are worked on concurrently, each in order: one worker task per channel
  drains that channel's queue, so a slow model call holds up only its own channel.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..domain import Decision, IncomingMessage
from ..errors import LLMError
from ..domain import ResponsePlan, plan_from_text
from ..ports import DecisionLog, LLMPort, MessageStorePort
from .actions import Action, Send, Typing
from .botloop import BotLoopGuard
from .context import ContextBuilder, ContextRequest
from .cooldowns import ChannelCooldowns, UserCooldowns
from .engagement import EngagementTracker
from .executor import IGNORED_THRESHOLD, PlanExecutor
from .human import HumanLayer
from .momentum import conversation_momentum, response_chance
from .ratelimit import RateLimiter
from .text import split_message

__all__ = ["ReactiveEngine", "ReactiveSettings", "default_actions"]

_log = logging.getLogger(__name__)

_ANSWERED_MEMORY = 5000  # message ids remembered for answer-at-most-once


@dataclass(frozen=True)
class ReactiveSettings:
    mention_response_rate: float = 1.0
    ignore_bots: bool = True
    stale_after_messages: int = 4  # human messages after the trigger that make a reply stale
    max_batch: int = 20  # newest messages considered per check, so a busy channel costs one bounded call
    max_typing_seconds: float = 15.0
    # Said when a reply is owed and writing one failed anyway (an exception on the way, an
    # empty answer): the person who asked always hears back.
    static_lines: tuple[str, ...] = ("brain's buffering, give me a minute",)


def typing_seconds(text: str, cap: float = 15.0) -> float:
    """Typing time: chars / 40, at least 2 s, at most 15 s (or ``cap``)."""
    return min(max(len(text) / 40, 2.0), cap)


def default_actions(plan: ResponsePlan, *, reply_first: bool, ping: bool, max_typing: float = 15.0) -> list[Action]:
    """A plain, prompt plan: type for the plan's delay (or by length), send, next part."""
    actions: list[Action] = []
    first = True
    for response in plan.responses:
        for chunk in split_message(response.message):
            seconds = response.delay if response.delay else typing_seconds(chunk)
            actions.append(Typing(min(seconds, max_typing)))
            actions.append(Send(chunk, reply_to_incoming=reply_first and first, ping=ping and first))
            first = False
    return actions


@dataclass
class _Channel:
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None


class ReactiveEngine:
    def __init__(
        self,
        *,
        context: ContextBuilder,
        store: MessageStorePort,
        llm: LLMPort,
        executor: PlanExecutor,
        decisions: DecisionLog,
        clock: Clock,
        rng: random.Random,
        limiter: RateLimiter,
        user_cooldowns: UserCooldowns,
        channel_cooldowns: ChannelCooldowns,
        engagement: EngagementTracker,
        botloop: BotLoopGuard,
        settings: ReactiveSettings,
        chance_for: Callable[[str], float],
        human: HumanLayer | None = None,
        on_replied: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._context = context
        self._store = store
        self._llm = llm
        self._executor = executor
        self._decisions = decisions
        self._clock = clock
        self._rng = rng
        self._limiter = limiter
        self._user_cooldowns = user_cooldowns
        self._channel_cooldowns = channel_cooldowns
        self._engagement = engagement
        self._botloop = botloop
        self._settings = settings
        self._chance_for = chance_for  # momentum name -> probability
        self._human = human
        self._on_replied = on_replied  # after a reply went out in a channel (woven follow-ups)
        self._actions_for: Callable[[ResponsePlan, IncomingMessage, bool], list[Action]] = (
            human.actions_for if human is not None
            else lambda plan, trigger, urgent: default_actions(
                plan, reply_first=urgent, ping=False, max_typing=settings.max_typing_seconds
            )
        )
        self.self_user_id: str | None = None
        self._pending: dict[str, list[IncomingMessage]] = {}
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._channels: dict[str, _Channel] = {}
        self.model_calls = 0

    def set_on_replied(self, callback: Callable[[str], Awaitable[None]] | None) -> None:
        """Called with the channel id after each reply that went out (the agentic engine's woven follow-ups)."""
        self._on_replied = callback

    # -- intake -------------------------------------------------------------------

    async def on_message(self, message: IncomingMessage) -> None:
        """Route one stored message: urgent now, others to the pending set."""
        self._botloop.observe(message.channel_id, message.is_bot or message.is_self)
        if message.is_self:
            return
        self._context.remember(message)
        if message.reference_id:
            self._engagement.observe_reply(message.channel_id, message.reference_id)
        if message.is_bot and self._settings.ignore_bots:
            self._decide(message, Decision("ignore", "author is a bot"))
            return
        if message.message_id in self._answered:
            return  # replayed by the gateway after a RESUME
        if self._human is not None:
            intercept = await self._human.intercept(message)
            if intercept is not None:
                self._mark_answered([message])
                if intercept.actions:
                    self._enqueue(message.channel_id, ("actions", (message, intercept.reason, intercept.actions)))
                else:
                    self._decide(message, Decision("ignore", intercept.reason))
                return
        if await self._is_urgent(message):
            self._enqueue(message.channel_id, ("urgent", message))
        else:
            self._pending.setdefault(message.channel_id, []).append(message)

    def observe_reaction(self, channel_id: str, message_id: str, user_id: str, emoji: str, on_own_message: bool) -> None:
        if on_own_message and user_id != self.self_user_id:
            self._engagement.observe_reaction(channel_id, message_id, emoji, user_id)

    async def _is_urgent(self, message: IncomingMessage) -> bool:
        if message.is_dm or message.mentions_self:
            return True
        if self._human is not None and self._human.triggered(message):
            return True  # a trigger, roast or flirt word: addressed, like a mention
        if message.reference_id and self.self_user_id:
            parent = await self._store.get(message.reference_id)
            return parent is not None and parent.author_id == self.self_user_id
        return False

    # -- the periodic check ----------------------------------------------------------

    def check(self) -> int:
        """Queue one decision per pending channel; returns how many channels were queued.

        A channel still busy with its last decision or reply keeps its pending messages
        for the next check: at most one check per channel is ever in flight, so a slow
        reply cannot pile up a queue of stale decisions behind it.
        """
        queued = 0
        for channel_id in list(self._pending):
            channel = self._channels.get(channel_id)
            if channel is not None and channel.worker is not None and not channel.worker.done():
                continue
            messages = self._pending.pop(channel_id)
            self._enqueue(channel_id, ("check", messages[-self._settings.max_batch :]))
            queued += 1
        for settled in self._engagement.due():
            _log.debug("engagement settled: %s", settled)
        return queued

    def sweep(self) -> None:
        """Drop expired cooldown keys (called now and then, so weeks of running stay small)."""
        self._user_cooldowns.sweep()
        self._channel_cooldowns.sweep()

    # -- per-channel workers --------------------------------------------------------------

    def _enqueue(self, channel_id: str, item: tuple[str, Any]) -> None:
        channel = self._channels.setdefault(channel_id, _Channel())
        channel.queue.put_nowait(item)
        if channel.worker is None or channel.worker.done():
            channel.worker = asyncio.create_task(self._work(channel_id, channel), name=f"reactive:{channel_id}")

    async def _work(self, channel_id: str, channel: _Channel) -> None:
        while not channel.queue.empty():
            kind, payload = channel.queue.get_nowait()
            try:
                if kind == "urgent":
                    await self._urgent(payload)
                elif kind == "actions":
                    await self._run_actions(*payload)
                else:
                    await self._check_channel(channel_id, payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad decision must not end the channel's worker
                _log.exception("reactive decision in channel %s failed", channel_id)

    async def idle(self) -> None:
        """Wait until every channel worker is done (tests, shutdown)."""
        workers = [c.worker for c in self._channels.values() if c.worker is not None]
        await asyncio.gather(*workers, return_exceptions=True)

    async def stop(self) -> None:
        for channel in self._channels.values():
            if channel.worker is not None:
                channel.worker.cancel()
        await self.idle()

    # -- decisions ------------------------------------------------------------------------

    def _answered_already(self, message: IncomingMessage) -> bool:
        return message.message_id in self._answered

    def _mark_answered(self, messages: list[IncomingMessage]) -> None:
        for message in messages:
            self._answered[message.message_id] = None
        while len(self._answered) > _ANSWERED_MEMORY:
            self._answered.popitem(last=False)

    def _decide(self, message: IncomingMessage, decision: Decision) -> Decision:
        self._decisions.record(message, decision)
        return decision

    async def _run_actions(self, message: IncomingMessage, reason: str, actions: list[Action]) -> None:
        outcome = await self._executor.run(
            actions, channel_id=message.channel_id, reply_to=message.message_id, user_id=message.author_id
        )
        self._decide(message, Decision("reply" if outcome.sent_ids else "ignore", reason, tuple(outcome.sent_ids)))

    async def _urgent(self, message: IncomingMessage) -> None:
        if self._answered_already(message):
            return
        self._mark_answered([message])
        if message.is_dm:
            reason = "direct message"
        elif message.mentions_self:
            reason = "mentioned"
        elif message.reference_id and not (self._human and self._human.triggered(message)):
            reason = "reply to the bot"
        else:
            reason = "trigger word"
        if reason == "trigger word":
            cooling = self._trigger_cooldown(message)
            if cooling is not None:
                self._decide(message, Decision("ignore", f"{reason}; {cooling}"))
                return
        if self._rng.random() >= self._settings.mention_response_rate:
            self._decide(message, Decision("ignore", f"{reason}; mention_response_rate"))
            return
        if not self._botloop.allows_reply(message.channel_id):
            self._decide(message, Decision("ignore", f"{reason}; bot-loop guard"))
            return
        allowed, why = self._limiter.can_respond(message.channel_id)
        if not allowed and why != IGNORED_THRESHOLD:  # a direct question is answered even then
            self._decide(message, Decision("ignore", f"{reason}; {why}"))
            return
        owed = reason != "trigger word"  # a trigger word invites a reply; the others are owed one
        try:
            label = "a direct message" if message.is_dm else f"#{message.channel_name or message.channel_id}"
            ask = ContextRequest(message.channel_id, label, [message], message, urgent=True)
            async with self._executor.typing(message.channel_id):  # someone is waiting: show it
                plan, failure = await self._ask(ask, message)
            if plan is None:
                if owed:
                    await self._say_static_line(message, reason, failure)
                else:
                    self._decide(message, Decision("error" if failure.startswith("model") else "ignore", f"{reason}; {failure}"))
                return
            await self._execute(plan, message, reason, urgent=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not owed:
                raise
            _log.exception("writing the reply owed to message %s failed", message.message_id)
            await self._say_static_line(message, reason, f"{type(exc).__name__}: {exc}")

    def _trigger_cooldown(self, message: IncomingMessage) -> str | None:
        """Why a trigger word goes unanswered for now, or None.

        A trigger word invites a reply but is not owed one, so the per-user and per-channel
        cooldowns hold it back (a person does not answer the same friend every few seconds);
        a roast skips them, being capped per user instead, and a mention never waits.
        """
        if self._human is not None and self._human.mode_of(message).mode == "roast":
            return None
        if self._channel_cooldowns.is_in_cooldown(message.channel_id):
            return f"channel cooldown ({self._channel_cooldowns.remaining(message.channel_id):.0f} s left)"
        if not self._user_cooldowns.can_reply_to_user(message.author_id):
            return f"user cooldown ({self._user_cooldowns.remaining(message.author_id):.0f} s left)"
        return None

    async def _say_static_line(self, message: IncomingMessage, reason: str, cause: str) -> None:
        """The last resort for an owed reply: one of the static lines, with the cause logged."""
        _log.warning("owed reply to %s: saying a static line because %s", message.message_id, cause)
        lines = self._settings.static_lines
        if not lines:
            self._decide(message, Decision("error", f"{reason}; {cause}; no static line configured"))
            return
        try:
            outcome = await self._executor.run(
                [Send(self._rng.choice(lines), reply_to_incoming=True)],
                channel_id=message.channel_id, reply_to=message.message_id, user_id=message.author_id, owed=True,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("even the static line to %s could not be sent", message.message_id)
            self._decide(message, Decision("error", f"{reason}; {cause}; the static line failed too"))
            return
        self._decide(message, Decision("reply", f"{reason}; static line ({cause})", tuple(outcome.sent_ids)))

    async def _check_channel(self, channel_id: str, messages: list[IncomingMessage]) -> None:
        fresh = [m for m in messages if not self._answered_already(m)]
        if not fresh:
            return
        if self._channel_cooldowns.is_in_cooldown(channel_id):
            cooling = f"channel cooldown ({self._channel_cooldowns.remaining(channel_id):.0f} s left)"
            for m in fresh:
                self._decide(m, Decision("ignore", cooling))
            return
        # Someone the bot answered moments ago is left out of this look (user cooldown);
        # the others in the channel are still considered.
        considered = self._user_cooldowns.filter_messages(fresh)
        for m in fresh:
            if m not in considered:
                self._decide(m, Decision("ignore", f"user cooldown ({self._user_cooldowns.remaining(m.author_id):.0f} s left)"))
        self._mark_answered([m for m in fresh if m not in considered])
        if not considered:
            return
        last = considered[-1]
        gate = self._check_gate(channel_id, considered)
        if gate is not None:
            for m in considered:
                self._decide(m, Decision("ignore", gate))
            return
        self._mark_answered(considered)
        label = f"#{last.channel_name or channel_id}"
        plan, failure = await self._ask(ContextRequest(channel_id, label, considered, last, urgent=False), last)
        if plan is None or not plan.should_respond:
            why = failure or (plan.reasoning if plan is not None and plan.reasoning else "chose silence")
            for m in considered:
                self._decide(m, Decision("error" if why.startswith("model") else "ignore", f"periodic check: {why}"))
            return
        decision = await self._execute(plan, last, "periodic check", urgent=False)
        # One decision line per message the check covered: the earlier ones share the outcome.
        batch = f"periodic check, answered together with {len(considered)} messages"
        for m in considered[:-1]:
            self._decide(m, Decision(decision.action, f"{batch}; {decision.reason}", decision.reply_ids))

    def _check_gate(self, channel_id: str, fresh: list[IncomingMessage]) -> str | None:
        """Why the check stays silent without asking the model, or None to ask."""
        allowed, why = self._limiter.can_respond(channel_id)
        if not allowed:
            return str(why)
        if not self._botloop.allows_reply(channel_id):
            return "bot-loop guard"
        momentum = conversation_momentum([m.timestamp for m in fresh])
        chance = self._chance_for(momentum)
        if self._rng.random() >= chance:
            return f"response chance ({momentum}, {chance:.2f})"
        return None

    async def _ask(self, ask: ContextRequest, trigger: IncomingMessage) -> tuple[ResponsePlan | None, str]:
        """The model's plan, or None and why not (the model failed, or the answer went stale)."""
        request = await self._context.build(ask)
        self.model_calls += 1
        try:
            reply = await self._llm.complete(request)
        except asyncio.CancelledError:
            raise
        except LLMError as exc:  # BudgetExceeded included: not owed, so silence
            return None, f"model: {exc}"
        plan = reply.plan if isinstance(reply.plan, ResponsePlan) else plan_from_text(reply.text)
        if plan.unusable:
            return None, f"model: no usable answer ({plan.reasoning})"
        if await self._stale(trigger, ask.urgent):
            return None, "stale: the conversation moved on"
        return plan, ""

    async def _stale(self, trigger: IncomingMessage, urgent: bool) -> bool:
        """Has the conversation moved on while the answer was written? (An answer owed to
        a mention is still sent: as a threaded reply it keeps its context.)"""
        if urgent:
            return False
        newer = await self._store.count_after(trigger.channel_id, trigger.timestamp)
        return newer >= self._settings.stale_after_messages

    async def _execute(self, plan: ResponsePlan, trigger: IncomingMessage, reason: str, *, urgent: bool) -> Decision:
        if not plan.should_respond:
            return self._decide(trigger, Decision("ignore", f"{reason}; {plan.reasoning or 'chose silence'}"))
        actions = self._actions_for(plan, trigger, urgent)
        outcome = await self._executor.run(
            actions, channel_id=trigger.channel_id, reply_to=trigger.message_id, user_id=trigger.author_id, owed=urgent
        )
        if outcome.blocked and not outcome.sent_ids:
            self._limiter.record_ignored(trigger.channel_id)  # a blocked plan counts as ignored
            return self._decide(trigger, Decision("ignore", f"{reason}; {outcome.blocked}"))
        decision = self._decide(trigger, Decision("reply", reason, tuple(outcome.sent_ids)))
        if outcome.sent_ids and self._on_replied is not None:
            await self._on_replied(trigger.channel_id)
        return decision
