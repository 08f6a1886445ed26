"""ReactiveEngine with a fake clock, seeded randomness, a scripted model and real SQLite."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from framework.config.models import CooldownConfig, EngagementConfig, RateLimitingConfig
from framework.domain import IncomingMessage
from framework.engines.botloop import BotLoopGuard
from framework.engines.context import ContextBuilder
from framework.engines.cooldowns import ChannelCooldowns, UserCooldowns
from framework.engines.engagement import EngagementTracker
from framework.engines.executor import PlanExecutor
from framework.engines.gates import Gates
from framework.engines.momentum import response_chance
from framework.engines.ratelimit import RateLimiter
from framework.engines.reactive import ReactiveEngine, ReactiveSettings
from framework.domain import PlannedMessage, ResponsePlan
from framework.domain import LLMReply, LLMRequest
from framework.storage import MessageStore

from .fakes import FakeChat, FakeClock, RecordingDecisions

BOT = "900"


def plan(*messages: str) -> ResponsePlan:
    return ResponsePlan(
        should_respond=bool(messages), responses=[PlannedMessage(message=m, delay=1) for m in messages]
    )


@dataclass
class ScriptedModel:
    """Answers with plans (checks) or text (mentions); an optional hook runs mid-call."""

    plans: list[ResponsePlan] = field(default_factory=list)
    requests: list[LLMRequest] = field(default_factory=list)
    hook: Callable[[LLMRequest], Awaitable[None]] | None = None

    async def complete(self, request: LLMRequest) -> LLMReply:
        self.requests.append(request)
        if self.hook is not None:
            await self.hook(request)
        chosen = self.plans.pop(0) if self.plans else plan("sure")
        return LLMReply(text="\n".join(chosen.messages), model="scripted", plan=chosen)


@dataclass
class World:
    engine: ReactiveEngine
    store: MessageStore
    model: ScriptedModel
    chat: FakeChat
    clock: FakeClock
    decisions: RecordingDecisions
    limiter: RateLimiter
    channel_cooldowns: ChannelCooldowns
    seq: int = 0

    def msg(self, content: str, *, channel: str = "c1", author: str = "u1", **kw: Any) -> IncomingMessage:
        self.seq += 1
        self.clock.advance(5)
        base: dict[str, Any] = dict(
            message_id=str(10_000 + self.seq), channel_id=channel, guild_id="g", author_id=author,
            author_name=f"user{author}", content=content, timestamp=self.clock.now(), channel_name="general",
        )
        base.update(kw)
        return IncomingMessage(**base)

    async def arrive(self, message: IncomingMessage) -> None:
        await self.store.add(message)
        await self.engine.on_message(message)

    def sends(self) -> list[str]:
        return [e[1] for e in self.chat.events if e[0] == "send"]

    def reasons(self) -> list[str]:
        return [d.reason for _, d in self.decisions.records]


@pytest.fixture
async def factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[World] = []

    async def make(**kw: Any) -> World:
        w = await make_world(tmp_path / str(len(made)), **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        await close(w)


@pytest.fixture
async def world(factory):  # type: ignore[no-untyped-def]
    return await factory()


async def close(w: World) -> None:
    await w.engine.stop()
    await w.store.close()


async def make_world(
    tmp_path: Path,
    *,
    rates: float = 1.0,
    seed: int = 7,
    cooldowns: CooldownConfig | None = None,
    human: Callable[[FakeClock], Any] | None = None,
    **settings: Any,
) -> World:
    """The engine with real gates and store; ``cooldowns`` and ``human`` (a factory of a
    human layer given the clock) make it another persona, e.g. Ana."""
    clock = FakeClock()
    store = await MessageStore.open(tmp_path / "messages.db")
    chat, decisions, model = FakeChat(), RecordingDecisions(), ScriptedModel()
    limiter = RateLimiter.from_config(RateLimitingConfig(), clock)
    cooldowns = cooldowns or CooldownConfig()
    users, channels = UserCooldowns.from_config(cooldowns, clock), ChannelCooldowns.from_config(cooldowns, clock)
    engagement = EngagementTracker(clock, limiter, 30)
    engagement_config = EngagementConfig(cold_conversation_rate=rates, warm_conversation_rate=rates, hot_conversation_rate=rates)
    rng = random.Random(seed)
    gates = Gates(
        limiter=limiter, user_cooldowns=users, channel_cooldowns=channels, engagement=engagement, botloop=BotLoopGuard(3),
        chance_for=lambda m: response_chance(m, engagement_config), rng=rng,  # type: ignore[arg-type]
        mention_response_rate=settings.pop("mention_response_rate", 1.0),
    )
    engine = ReactiveEngine(
        context=ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="You are Alpha.", store=store),
        store=store, llm=model, decisions=decisions, rng=rng, gates=gates,
        executor=PlanExecutor(chat=chat, clock=clock, gates=gates),
        settings=ReactiveSettings(**settings), human=human(clock) if human is not None else None,
    )
    engine.self_user_id = BOT
    return World(engine, store, model, chat, clock, decisions, limiter, channels)


async def test_one_model_call_per_channel_per_window(world: World) -> None:
    for i in range(7):
        await world.arrive(world.msg(f"chatter {i}"))
    await world.arrive(world.msg("elsewhere", channel="c2"))
    world.model.plans = [plan("ha, fair"), plan()]
    assert world.engine.check() == 2
    await world.engine.idle()
    assert world.engine.model_calls == 2
    c1 = next(r for r in world.model.requests if r.scope and r.scope.channel_id == "c1")
    prompt = c1.turns[0].content
    assert prompt.count("*[") == 7 and c1.want_plan and not c1.owed  # all seven marked new, one call
    assert world.sends() == ["ha, fair"]
    world.engine.check()  # nothing new: no call
    await world.engine.idle()
    assert world.engine.model_calls == 2


async def test_mention_bypasses_the_response_chance(factory) -> None:  # type: ignore[no-untyped-def]
    w = await factory(rates=0.0)
    await w.arrive(w.msg("just talking"))
    w.engine.check()
    await w.engine.idle()
    assert w.engine.model_calls == 0 and "response chance" in w.reasons()[-1]
    w.model.plans = [plan("yes?")]
    await w.arrive(w.msg(f"<@{BOT}> you there", mentions_self=True, mentions=(BOT,)))
    await w.engine.idle()
    assert w.sends() == ["yes?"] and w.model.requests[-1].owed
    kinds = [e[0] for e in w.chat.events]
    assert kinds[:2] == ["typing-start", "typing-stop"]  # typing while the model wrote the answer
    assert w.chat.events[-1] == ("send", "yes?", w.decisions.records[-1][0].message_id)  # threaded reply


async def test_every_message_is_answered_at_most_once(world: World) -> None:
    mention = world.msg(f"<@{BOT}> hi", mentions_self=True)
    await world.arrive(mention)
    await world.engine.on_message(mention)  # replayed by the gateway after a RESUME
    await world.engine.idle()
    world.engine.check()
    await world.engine.idle()
    assert world.engine.model_calls == 1 and len(world.sends()) == 1


async def test_reply_to_the_bot_is_urgent(world: World) -> None:
    own = world.msg("i said a thing", author=BOT, is_self=True, is_bot=True)
    await world.arrive(own)
    await world.arrive(world.msg("about that", reference_id=own.message_id))
    await world.engine.idle()
    assert world.engine.model_calls == 1 and world.decisions.records[-1][1].reason == "reply to the bot"


async def test_stale_answer_is_dropped(world: World) -> None:
    async def conversation_moves_on(request: LLMRequest) -> None:
        for i in range(4):
            await world.store.add(world.msg(f"meanwhile {i}", author="u2"))

    world.model.hook = conversation_moves_on
    await world.arrive(world.msg("anyone up for a game?"))
    world.engine.check()
    await world.engine.idle()
    assert world.sends() == [] and "stale" in world.reasons()[-1]


async def test_bot_loop_guard_until_a_human_speaks(factory) -> None:  # type: ignore[no-untyped-def]
    w = await factory(ignore_bots=False)
    for i in range(3):
        await w.arrive(w.msg(f"bot chatter {i}", author="777", is_bot=True))
    await w.arrive(w.msg(f"<@{BOT}> bot to bot", author="777", is_bot=True, mentions_self=True))
    await w.engine.idle()
    assert w.sends() == [] and w.reasons()[-1].endswith("bot-loop guard")
    await w.arrive(w.msg("a human says hi"))
    await w.arrive(w.msg(f"<@{BOT}> now?", author="777", is_bot=True, mentions_self=True))
    await w.engine.idle()
    assert len(w.sends()) == 1


async def test_other_bots_are_ignored_by_default(world: World) -> None:
    await world.arrive(world.msg(f"<@{BOT}> hey bot", author="777", is_bot=True, mentions_self=True))
    await world.engine.idle()
    assert world.engine.model_calls == 0 and world.reasons() == ["author is a bot"]


async def test_cooldowns_follow_the_number_of_messages_sent(world: World) -> None:
    world.model.plans = [plan("one", "two")]
    await world.arrive(world.msg("talk to me"))
    world.engine.check()
    await world.engine.idle()
    assert world.sends() == ["one", "two"]
    assert world.channel_cooldowns.remaining("c1") == pytest.approx(75)
    await world.arrive(world.msg("more"))
    world.engine.check()
    await world.engine.idle()
    assert world.engine.model_calls == 1 and "channel cooldown" in world.reasons()[-1]


async def test_the_21st_reply_in_five_minutes_is_blocked(world: World) -> None:
    for i in range(20):
        await world.arrive(world.msg(f"<@{BOT}> q{i}", mentions_self=True))
        await world.engine.idle()
    assert len(world.sends()) == 20
    await world.arrive(world.msg(f"<@{BOT}> q20", mentions_self=True))
    await world.engine.idle()
    assert len(world.sends()) == 20 and world.reasons()[-1] == "mentioned; rate_limit_short"


async def test_ignored_bot_goes_quiet_but_still_answers_a_direct_question(world: World) -> None:
    for _ in range(5):
        world.limiter.record_ignored("c1")
    await world.arrive(world.msg("chatter"))
    world.engine.check()
    await world.engine.idle()
    assert world.engine.model_calls == 0 and world.reasons()[-1] == "ignored_threshold"
    await world.arrive(world.msg(f"<@{BOT}> still there?", mentions_self=True))
    await world.engine.idle()
    assert world.sends() == ["sure"]


async def test_a_slow_channel_does_not_hold_up_others(world: World) -> None:
    release = asyncio.Event()

    async def slow_in_c1(request: LLMRequest) -> None:
        if request.scope and request.scope.channel_id == "c1":
            await release.wait()

    world.model.hook = slow_in_c1
    c2_answered = asyncio.Event()
    send = world.chat.send

    async def send_and_signal(channel_id: str, content: str, reply_to: str | None = None, ping: bool = False) -> str:
        message_id = await send(channel_id, content, reply_to, ping)
        if channel_id == "c2":
            c2_answered.set()
        return message_id

    world.chat.send = send_and_signal  # type: ignore[method-assign]
    await world.arrive(world.msg(f"<@{BOT}> slow one", mentions_self=True))
    await world.arrive(world.msg(f"<@{BOT}> fast one", channel="c2", mentions_self=True))
    await asyncio.wait_for(c2_answered.wait(), 5)  # c2 is answered while c1 still waits on its model
    assert len(world.sends()) == 1
    release.set()
    await world.engine.idle()
    assert len(world.sends()) == 2


async def test_engagement_settles_after_the_delay(world: World) -> None:
    world.model.plans = [plan("hello")]
    await world.arrive(world.msg(f"<@{BOT}> hi", mentions_self=True))
    await world.engine.idle()
    world.clock.advance(31)
    world.engine.check()
    assert world.limiter.get_stats("c1")["ignored_count"] == 1  # nobody reacted
    world.model.plans = [plan("again")]
    await world.arrive(world.msg(f"<@{BOT}> hi again", mentions_self=True))
    await world.engine.idle()
    sent = [e for e in world.chat.events if e[0] == "send"][-1]
    world.engine.observe_reaction("c1", str(world.chat._next_id), "u1", "😂", on_own_message=True)
    world.clock.advance(31)
    world.engine.check()
    assert world.limiter.get_stats("c1")["ignored_count"] == 0 and sent[1] == "again"
