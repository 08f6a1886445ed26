"""ReactiveEngine: what the bot says in reply to the conversation, and why.

* A mention, a reply to the bot or a DM is answered at once (``on_message`` schedules
  it); it bypasses the response chance but not the rate limits or the spend budget, and
  it is owed: whatever fails on the way, at worst a static line goes out.
* Everything else waits in the channel's pending set; every ``check_interval_seconds``
  the runtime calls :meth:`ReactiveEngine.check`, which makes one decision (at most one
  model call) per pending channel about everything that arrived there since the last look.

The engine is the decision core; :class:`~framework.engines.scheduling.ChannelScheduler`
decides when it works on what (per-channel order, pending sets, answer-once) and
:class:`~framework.engines.gates.Gates` whether the bot may speak at all.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..domain import Decision, ErrorKind, IncomingMessage, LLMReply, ProviderError, ResponsePlan, plan_from_text
from ..errors import LLMError
from ..ports import DecisionLog, LLMPort, MessageStorePort
from .actions import Action, Send, Typing
from .context import ContextBuilder, ContextRequest
from .executor import PlanExecutor
from .gates import Gates
from .human import HumanLayer
from .scheduling import ChannelScheduler
from .text import split_message

__all__ = ["ReactiveEngine", "ReactiveSettings", "default_actions"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReactiveSettings:
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


class ReactiveEngine:
    def __init__(
        self,
        *,
        context: ContextBuilder,
        store: MessageStorePort,
        llm: LLMPort,
        executor: PlanExecutor,
        decisions: DecisionLog,
        gates: Gates,
        rng: random.Random,
        settings: ReactiveSettings = ReactiveSettings(),
        human: HumanLayer | None = None,
        on_replied: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._context = context
        self._store = store
        self._llm = llm
        self._executor = executor
        self._decisions = decisions
        self.gates = gates
        self._rng = rng
        self._settings = settings
        self._human = human
        self._on_replied = on_replied  # after a reply went out in a channel (woven follow-ups)
        self._actions_for: Callable[[ResponsePlan, IncomingMessage, bool], list[Action]] = (
            human.actions_for if human is not None
            else lambda plan, trigger, urgent: default_actions(
                plan, reply_first=urgent, ping=False, max_typing=settings.max_typing_seconds
            )
        )
        self.self_user_id: str | None = None
        self.scheduler = ChannelScheduler(max_batch=settings.max_batch)
        self.model_calls = 0
        # A DM's exchange waiting for its answer to go out (the conversation cache records
        # it then): channel id -> (the user turn as sent, the model's reply).
        self._exchanges: dict[str, tuple[str, LLMReply]] = {}

    def set_on_replied(self, callback: Callable[[str], Awaitable[None]] | None) -> None:
        """Called with the channel id after each reply that went out (the agentic engine's woven follow-ups)."""
        self._on_replied = callback

    # -- intake -------------------------------------------------------------------

    async def on_message(self, message: IncomingMessage) -> None:
        """Route one stored message: urgent now, others to the pending set."""
        self.gates.observe(message)
        if message.is_self:
            return
        self._context.remember(message)
        if message.is_bot and self._settings.ignore_bots:
            self._decide(message, Decision("ignore", "author is a bot"))
            return
        if self.scheduler.answered(message):
            return  # replayed by the gateway after a RESUME
        if self._human is not None:
            intercept = await self._human.intercept(message)
            if intercept is not None:
                self.scheduler.mark_answered([message])
                if intercept.actions:
                    reason, actions = intercept.reason, intercept.actions
                    self.scheduler.run(message.channel_id, lambda: self._run_actions(message, reason, actions))
                else:
                    self._decide(message, Decision("ignore", intercept.reason))
                return
        if await self._is_urgent(message):
            self.scheduler.run(message.channel_id, lambda: self._urgent(message))
        else:
            self.scheduler.pend(message)

    def observe_reaction(self, channel_id: str, message_id: str, user_id: str, emoji: str, on_own_message: bool) -> None:
        if on_own_message and user_id != self.self_user_id:
            self.gates.observe_reaction(channel_id, message_id, emoji, user_id)

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
        for the next check: at most one check per channel is ever in flight.
        """
        batches = self.scheduler.take_batches()
        for channel_id, messages in batches:
            self.scheduler.run(channel_id, lambda c=channel_id, m=messages: self._check_channel(c, m))
        self.gates.settle()
        return len(batches)

    def sweep(self) -> None:
        """Drop expired cooldown keys (called now and then, so weeks of running stay small)."""
        self.gates.sweep()

    async def idle(self) -> None:
        """Wait until every channel worker is done (tests, shutdown)."""
        await self.scheduler.idle()

    async def stop(self) -> None:
        await self.scheduler.stop()

    # -- decisions ------------------------------------------------------------------------

    def _decide(self, message: IncomingMessage, decision: Decision) -> Decision:
        self._decisions.record(message, decision)
        return decision

    async def _run_actions(self, message: IncomingMessage, reason: str, actions: list[Action]) -> None:
        outcome = await self._executor.run(
            actions, channel_id=message.channel_id, reply_to=message.message_id, user_id=message.author_id
        )
        self._decide(message, Decision("reply" if outcome.sent_ids else "ignore", reason, tuple(outcome.sent_ids)))

    async def _urgent(self, message: IncomingMessage) -> None:
        if self.scheduler.answered(message):
            return
        self.scheduler.mark_answered([message])
        if message.is_dm:
            reason = "direct message"
        elif message.mentions_self:
            reason = "mentioned"
        elif message.reference_id and not (self._human and self._human.triggered(message)):
            reason = "reply to the bot"
        else:
            reason = "trigger word"
        trigger_word = reason == "trigger word"
        roast = trigger_word and self._human is not None and self._human.mode_of(message).mode == "roast"
        refusal = self.gates.may_answer(message, trigger_word=trigger_word, roast=roast)
        if refusal is not None:
            self._decide(message, Decision("ignore", f"{reason}; {refusal}"))
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
            # A static line from the router (every model failed) answers too: the log says so.
            decision = await self._execute(plan, message, f"{reason}; {failure}" if failure else reason, urgent=True)
            await self._record_exchange(message, plan, decision)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not owed:
                raise
            _log.exception("writing the reply owed to message %s failed", message.message_id)
            await self._say_static_line(message, reason, f"{type(exc).__name__}: {exc}")

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
        fresh = [m for m in messages if not self.scheduler.answered(m)]
        if not fresh:
            return
        verdict = self.gates.may_speak(channel_id, fresh)
        for m, why in verdict.left_out:
            self._decide(m, Decision("ignore", why))
        # People left out for their user cooldown were looked at; a channel cooldown means
        # nobody was, and the messages stay unanswered for a mention to pick up later.
        self.scheduler.mark_answered([m for m, why in verdict.left_out if why.startswith("user cooldown")])
        considered = verdict.considered
        if not considered:
            return
        if verdict.refusal is not None:
            for m in considered:
                self._decide(m, Decision("ignore", verdict.refusal))
            return
        self.scheduler.mark_answered(considered)
        last = considered[-1]
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

    async def _ask(self, ask: ContextRequest, trigger: IncomingMessage) -> tuple[ResponsePlan | None, str]:
        """The model's plan, or None and why not (the model failed, or the answer went stale);
        with a plan, the second item notes a static line the router said for every model."""
        request = await self._context.build(ask)
        self.model_calls += 1
        try:
            reply = await self._llm.complete(request)
        except asyncio.CancelledError:
            raise
        except LLMError as exc:  # BudgetExceeded included: not owed, so silence
            if isinstance(exc, ProviderError) and exc.kind is ErrorKind.CONTEXT_TOO_LONG and trigger.is_dm:
                # A DM conversation that outgrew the model: the next message must fit again.
                if self._context.conversation is not None:
                    self._context.conversation.trim(ask.channel_id)
            return None, f"model: {exc}"
        plan = reply.plan if isinstance(reply.plan, ResponsePlan) else plan_from_text(reply.text)
        if plan.unusable:
            return None, f"model: no usable answer ({plan.reasoning})"
        if ask.urgent and trigger.is_dm and self._context.conversation is not None and request.turns:
            self._exchanges[ask.channel_id] = (request.turns[-1].content, reply)
        if await self._stale(trigger, ask.urgent):
            return None, "stale: the conversation moved on"
        return plan, "static line (no model answered)" if reply.static else ""

    async def _record_exchange(self, trigger: IncomingMessage, plan: ResponsePlan, decision: Decision) -> None:
        """A DM answered: the question and what was said join the conversation cache.
        An answer that never went out is not part of the conversation."""
        exchange = self._exchanges.pop(trigger.channel_id, None)
        cache = self._context.conversation
        if exchange is None or cache is None or not decision.reply_ids:
            return
        user_turn, reply = exchange
        try:
            await cache.record(trigger.channel_id, user_turn, "\n".join(plan.messages), reply)
        except asyncio.CancelledError:
            raise
        except Exception:  # the reply is out; a cache that cannot save must not add a static line
            _log.exception("recording the exchange in %s in the conversation cache failed", trigger.channel_id)

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
            self.gates.blocked(trigger.channel_id)
            return self._decide(trigger, Decision("ignore", f"{reason}; {outcome.blocked}"))
        decision = self._decide(trigger, Decision("reply", reason, tuple(outcome.sent_ids)))
        if outcome.sent_ids and self._on_replied is not None:
            await self._on_replied(trigger.channel_id)
        return decision
