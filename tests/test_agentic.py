"""AgenticEngine with a fake clock, real SQLite, real memory files and a scripted model.

Follow-ups due / not due / person inactive / deferred / woven / completed / expired,
proactive talk through the policy, upkeep, and the loop's catch-up schedule.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from framework.config.models import (
    AgenticConfig,
    EngagementConfig,
    FollowupConfig,
    ProactiveConfig,
    RateLimitingConfig,
    ReactiveConfig,
)
from framework.domain import IncomingMessage, LLMReply, LLMRequest, PlannedMessage, ResponsePlan
from framework.engines.agentic import AgenticEngine, decide_delivery, next_tick_delay
from framework.engines.context import ContextBuilder
from framework.engines.executor import PlanExecutor
from framework.engines.gates import Gates
from framework.engines.reactive import ReactiveEngine, ReactiveSettings
from framework.memory.followups import FollowupStore
from framework.memory.manager import MemoryManager
from framework.storage import MessageStore
from framework.storage.proactive import ProactiveLog

from .fakes import FakeChat, FakeClock, RecordingDecisions

BOT = "900"
GUILD = "111"
GENERAL = "222"
GAMING = "333"
DANA = "444"
JOHN = "555"
START = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)  # a Sunday, 18:00 UTC


def plan(*messages: str) -> ResponsePlan:
    return ResponsePlan(should_respond=bool(messages), responses=[PlannedMessage(message=m, delay=1) for m in messages])


@dataclass
class ScriptedModel:
    plans: list[ResponsePlan] = field(default_factory=list)
    requests: list[LLMRequest] = field(default_factory=list)

    async def complete(self, request: LLMRequest) -> LLMReply:
        self.requests.append(request)
        chosen = self.plans.pop(0) if self.plans else plan("sure")
        return LLMReply(text="\n".join(chosen.messages), model="scripted", plan=chosen)


@dataclass
class World:
    root: Path
    clock: FakeClock
    store: MessageStore
    log: ProactiveLog
    model: ScriptedModel
    chat: FakeChat
    context: ContextBuilder
    executor: PlanExecutor
    followups: FollowupStore
    config: AgenticConfig
    seq: int = 0

    def engine(self) -> AgenticEngine:
        return AgenticEngine(
            config=self.config, context=self.context, followups=self.followups, store=self.store,
            proactive_log=self.log, llm=self.model, executor=self.executor, clock=self.clock,
        )

    async def say(self, content: str, *, author: str = DANA, channel: str = GENERAL, name: str = "Dana",
                  at: datetime | None = None, is_bot: bool = False) -> IncomingMessage:
        self.seq += 1
        message = IncomingMessage(
            message_id=str(70_000 + self.seq), channel_id=channel, guild_id=GUILD, author_id=author,
            author_name=name, content=content, timestamp=at or self.clock.now(), is_bot=is_bot,
            channel_name="general" if channel == GENERAL else "gaming",
        )
        await self.store.add(message)
        self.context.remember(message)
        return message

    def write_followups(self, pending: list[dict[str, Any]], completed: list[dict[str, Any]] | None = None) -> Path:
        path = self.root / "servers" / GUILD / "followups.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pending": pending, "completed": completed or []}))
        return path

    def read_followups(self) -> dict[str, Any]:
        return json.loads((self.root / "servers" / GUILD / "followups.json").read_text())

    def sent(self) -> list[str]:
        return [text for kind, text, _ in self.chat.events if kind == "send" and text is not None]


def item(fid: str = "followup_001", *, event: str = "Job interview at TechCorp", priority: str = "high",
         after: datetime = START - timedelta(hours=2), user: str = DANA, name: str = "Dana",
         channel: str = GENERAL, mentioned: datetime = START - timedelta(days=3)) -> dict[str, Any]:
    return {
        "id": fid, "user_id": user, "user_name": name, "event": event,
        "mentioned_date": mentioned.isoformat().replace("+00:00", "Z"), "expected_completion": None,
        "follow_up_after": after.isoformat().replace("+00:00", "Z"), "priority": priority,
        "context": "nervous about it", "channel_id": channel,
    }


def make_config(**proactive: Any) -> AgenticConfig:
    base: dict[str, Any] = dict(enabled=True, allowed_channels=[], quiet_hours=(0, 6), timezone="UTC")
    base.update(proactive)
    return AgenticConfig(followups=FollowupConfig(), proactive=ProactiveConfig(**base))


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = FakeClock(START)
    store = await MessageStore.open(tmp_path / "messages.db")
    log = await ProactiveLog.open(tmp_path / "messages.db")
    root = tmp_path / "memories" / "alpha"
    root.mkdir(parents=True)
    context = ContextBuilder(
        bot_id="alpha", bot_name="Alpha", persona_prompt="You are Alpha.", store=store,
        memory=MemoryManager("alpha", root), self_user_id=BOT,
    )
    gates = Gates.from_config(
        rate_limiting=RateLimitingConfig(), reactive=ReactiveConfig(), engagement=EngagementConfig(), clock=clock,
        rng=random.Random(1),
    )
    executor = PlanExecutor(chat=(chat := FakeChat()), clock=clock, gates=gates)
    w = World(root, clock, store, log, ScriptedModel(), chat, context, executor,
              FollowupStore(root, clock=clock), make_config())
    try:
        yield w
    finally:
        await log.close()
        await store.close()


# -- the schedule ---------------------------------------------------------------------


def test_next_tick_catches_up_once_after_downtime_and_otherwise_waits_out_the_interval() -> None:
    hour = 3600.0
    assert next_tick_delay(None, START, hour) == 0  # first start: look now
    assert next_tick_delay(START - timedelta(days=3), START, hour) == 0  # three days down: one pass, not 72
    assert next_tick_delay(START - timedelta(minutes=20), START, hour) == pytest.approx(40 * 60)
    assert next_tick_delay(START + timedelta(minutes=5), START, hour) == hour  # clock went back


def test_delivery_decision_follows_appendix_b3_and_the_threshold() -> None:
    assert decide_delivery("medium", DANA, set(), threshold="medium") == "standalone"  # idle channel
    assert decide_delivery("high", DANA, {JOHN}, threshold="medium") == "standalone"  # important: now
    assert decide_delivery("medium", DANA, {DANA, JOHN}, threshold="medium") == "woven"  # she is here
    assert decide_delivery("medium", DANA, {JOHN}, threshold="medium") == "deferred"  # others are talking
    assert decide_delivery("low", DANA, set(), threshold="medium") == "deferred"  # not worth a post
    assert decide_delivery("low", DANA, {DANA}, threshold="medium") == "woven"  # but worth a mention


# -- follow-ups -------------------------------------------------------------------------


async def test_due_followup_of_an_active_person_is_sent_once_and_completed(world: World) -> None:
    await world.say("ugh, interview on tuesday", at=START - timedelta(hours=5))
    world.write_followups([item()])
    world.model.plans.append(plan("dana, how did the techcorp interview go?"))

    report = await world.engine().run_once(START)

    assert [a.delivery for a in report.actions] == ["standalone"]
    assert world.sent() == ["dana, how did the techcorp interview go?"]
    request = world.model.requests[0]
    assert "Job interview at TechCorp" in request.turns[0].content and request.purpose == "followup"
    data = world.read_followups()
    assert data["pending"] == []
    assert data["completed"][0]["id"] == "followup_001"
    assert "how did the techcorp interview go" in data["completed"][0]["outcome"]
    posts = await world.log.posts_since(START - timedelta(days=1), kind="followup")
    assert [p.channel_id for p in posts] == [GENERAL]

    world.clock.advance(3600)
    again = await world.engine().run_once(world.clock.now())
    assert again.actions == [] and len(world.sent()) == 1  # once


async def test_followup_not_due_yet_waits(world: World) -> None:
    await world.say("interview on tuesday")
    world.write_followups([item(after=START + timedelta(hours=1))])
    assert await world.engine().tick(START) == []
    assert world.read_followups()["pending"][0]["id"] == "followup_001"


async def test_followup_waits_for_a_person_who_has_not_been_around(world: World) -> None:
    await world.say("interview on tuesday", at=START - timedelta(hours=30))  # gone for 30 h
    world.write_followups([item()])
    assert await world.engine().tick(START) == []
    await world.say("back!")  # she comes back
    actions = await world.engine().tick(START)
    assert [a.followup_id for a in actions] == ["followup_001"]


async def test_busy_channel_defers_a_medium_followup_and_weaves_it_when_its_person_talks(world: World) -> None:
    await world.say("my game jam project is due friday", at=START - timedelta(hours=3))
    world.write_followups([item(event="Game jam project", priority="medium")])
    await world.say("anyone up for minecraft", author=JOHN, name="John", at=START - timedelta(minutes=2))

    engine = world.engine()
    actions = await engine.tick(START)
    assert [a.delivery for a in actions] == ["deferred"]  # John is talking, Dana isn't here now
    stored = world.read_followups()["pending"][0]
    assert stored["deferred_count"] == 1

    await world.say("i'm in", at=START - timedelta(minutes=1))  # Dana joins the conversation
    report = await engine.run_once(START)
    assert [a.delivery for a in report.actions] == ["woven"] and world.sent() == []
    assert world.read_followups()["pending"][0]["delivery"] == "woven"

    # The next reply in that channel carries it; after it went out, the follow-up is done.
    hint = engine.weave_hint(GENERAL)
    assert "Game jam project" in hint and "Dana" in hint
    assert engine.weave_hint(GAMING) == ""
    await engine.on_replied(GENERAL)
    data = world.read_followups()
    assert data["pending"] == [] and data["completed"][0]["outcome"].startswith("asked in passing")


async def test_woven_followup_reaches_the_reactive_engines_next_request(world: World) -> None:
    await world.say("my game jam project is due friday", at=START - timedelta(hours=3))
    world.write_followups([item(event="Game jam project", priority="medium")])
    await world.say("ok who's on tonight", at=START - timedelta(minutes=1))
    agentic = world.engine()
    await agentic.run_once(START)
    world.context.hints = agentic.weave_hint
    reactive = ReactiveEngine(
        context=world.context, store=world.store, llm=world.model, executor=world.executor,
        decisions=RecordingDecisions(), rng=random.Random(1), gates=world.executor._gates,
        settings=ReactiveSettings(), on_replied=agentic.on_replied,
    )
    reactive.self_user_id = BOT
    asked = await world.say(f"<@{BOT}> you joining?", at=world.clock.now())
    asked = IncomingMessage(**{**asked.__dict__, "mentions_self": True, "mentions": (BOT,)})
    world.model.plans.append(plan("sure. how's the game jam thing going?"))
    await reactive.on_message(asked)
    await reactive.idle()
    assert "Game jam project" in world.model.requests[-1].turns[0].content
    assert world.read_followups()["pending"] == []
    await reactive.stop()


async def test_low_priority_followup_is_never_posted_on_its_own(world: World) -> None:
    await world.say("might watch a movie later", at=START - timedelta(hours=3))
    world.write_followups([item(event="Watching a movie", priority="low")])
    report = await world.engine().run_once(START)
    assert [a.delivery for a in report.actions] == ["deferred"] and world.sent() == []


async def test_standalone_followup_waits_out_quiet_hours(world: World) -> None:
    night = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    world.clock = FakeClock(night)
    await world.say("interview tomorrow", at=night - timedelta(hours=4))
    world.write_followups([item(after=night - timedelta(hours=1))])
    actions = await world.engine().tick(night)
    assert [a.delivery for a in actions] == ["deferred"]


async def test_model_declining_keeps_the_followup_pending(world: World) -> None:
    await world.say("interview on tuesday", at=START - timedelta(hours=3))
    world.write_followups([item()])
    world.model.plans.append(plan())  # silence
    report = await world.engine().run_once(START)
    assert report.sent == [] and world.read_followups()["pending"][0]["id"] == "followup_001"
    assert world.read_followups()["pending"][0]["follow_up_after"] == "2026-11-23T06:00:00Z"  # 12 h later
    calls = len(world.model.requests)
    assert await world.engine().tick(START + timedelta(hours=1)) == []  # not asked again every pass
    assert len(world.model.requests) == calls


# -- upkeep ---------------------------------------------------------------------------------


async def test_upkeep_expires_stale_followups_archives_old_ones_and_old_messages(world: World) -> None:
    old = START - timedelta(days=100)
    await world.say("ancient history", at=old)
    await world.say("recent")
    world.write_followups(
        [item("followup_old", mentioned=START - timedelta(days=20), after=START - timedelta(days=19))],
        completed=[{
            "id": "followup_000", "user_id": DANA, "user_name": "Dana", "event": "Exam",
            "followed_up": (START - timedelta(days=40)).isoformat(), "outcome": "passed",
            "completed_date": (START - timedelta(days=40)).isoformat(),
        }],
    )
    await world.engine().maintain_memories(START)

    data = world.read_followups()
    assert data["pending"] == []
    assert [c["id"] for c in data["completed"]] == ["followup_old"]
    assert data["completed"][0]["outcome"].startswith("expired")
    archive = json.loads((world.root / "servers" / GUILD / "followups.archive.json").read_text())
    assert "followup_000" in json.dumps(archive)
    assert await world.store.count() == 1
    assert await world.store.count_archived() == 1


# -- proactive talk ------------------------------------------------------------------------


async def test_proactive_post_in_an_idle_allowed_channel_then_the_gap_holds(world: World) -> None:
    world.config = make_config(allowed_channels=[GAMING], min_idle_hours=1, max_idle_hours=8)
    await world.say("gg", channel=GAMING, author=JOHN, name="John", at=START - timedelta(hours=2))
    world.model.plans.append(plan("anyone tried the new zelda yet"))
    report = await world.engine().run_once(START)
    assert [a.kind for a in report.actions] == ["proactive"]
    assert world.sent() == ["anyone tried the new zelda yet"]
    assert world.model.requests[0].purpose == "proactive"

    world.clock.advance(1800)  # half an hour later, still idle enough? no: it just posted
    later = await world.engine().tick(world.clock.now())
    assert later == []


async def test_no_proactive_talk_without_allowed_channels(world: World) -> None:
    await world.say("gg", channel=GAMING, author=JOHN, name="John", at=START - timedelta(hours=2))
    assert await world.engine().check_engagement_opportunities(START) == []


# -- review findings: ids in the prompt, failures, channel checks, one message per channel --------


async def test_the_request_names_the_date_the_channel_and_the_people_with_their_ids(world: World) -> None:
    world.context.clock = world.clock
    await world.say("interview on tuesday")
    request = await world.context.build_unprompted(channel_id=GENERAL, guild_id=GUILD, instruction="x")
    situation = request.turns[0].content.splitlines()[0]
    assert situation.startswith("Now: Sunday 2026-11-22 18:00 UTC.")
    assert f"channel id {GENERAL}" in situation and f"server id {GUILD}" in situation
    assert f"Dana (user id {DANA})" in situation
    assert "2026-11-22" not in request.system  # the cached prefix stays free of time


class FlakyChat(FakeChat):
    """Posting in #gaming is forbidden (raises), like a channel the bot lost access to."""

    async def send(self, channel_id: str, content: str, reply_to: str | None = None, ping: bool = False) -> str:
        if channel_id == GAMING:
            raise PermissionError("Missing Access")
        return await super().send(channel_id, content, reply_to, ping)


async def test_a_failing_action_settles_its_followup_and_the_pass_goes_on(world: World) -> None:
    world.executor._chat = FlakyChat()  # type: ignore[attr-defined]
    world.chat = world.executor._chat  # type: ignore[attr-defined]
    await world.say("interview", at=START - timedelta(hours=3))
    await world.say("surgery soon", channel=GAMING, author=JOHN, name="John", at=START - timedelta(hours=3))
    world.write_followups([
        item("f_gaming", event="Knee surgery", user=JOHN, name="John", channel=GAMING),
        item("f_general", event="Job interview"),
    ])
    world.model.plans += [plan("john, how's the knee?"), plan("dana, how did the interview go?")]
    report = await world.engine().run_once(START)
    assert world.sent() == ["dana, how did the interview go?"]  # the second action still ran
    assert any("failed" in note for note in report.notes)
    outcomes = {c["id"]: c["outcome"] for c in world.read_followups()["completed"]}
    assert outcomes["f_gaming"].startswith("not delivered")  # never retried: no risk of asking twice
    assert outcomes["f_general"].startswith("followed up")


async def test_a_followup_whose_channel_is_not_in_its_server_is_never_posted(world: World) -> None:
    await world.say("interview", at=START - timedelta(hours=3))
    await world.say("elsewhere", channel="999", at=START - timedelta(hours=3))
    store_other = IncomingMessage(
        message_id="80001", channel_id="888", guild_id="other-guild", author_id=DANA, author_name="Dana",
        content="hi", timestamp=START - timedelta(hours=3),
    )
    await world.store.add(store_other)
    world.write_followups([
        item("f_foreign", channel="888"),  # a channel of another server
        item("f_unknown", channel="12345"),  # a channel the bot has never seen
    ])
    assert await world.engine().tick(START) == []


async def test_one_unprompted_message_per_channel_per_pass(world: World) -> None:
    world.config = make_config(allowed_channels=[GENERAL], min_idle_hours=1, max_idle_hours=8)
    await world.say("interview on tuesday", at=START - timedelta(hours=3))
    world.write_followups([item()])
    actions = await world.engine().tick(START)
    assert [(a.kind, a.delivery) for a in actions] == [("followup", "standalone")]  # no starter on top


async def test_an_unanswered_starter_is_not_followed_by_another(world: World) -> None:
    world.config = make_config(allowed_channels=[GAMING], min_idle_hours=1, max_idle_hours=8,
                               min_provocation_gap_hours=1)
    await world.say("gg", channel=GAMING, author=JOHN, name="John", at=START - timedelta(hours=2))
    world.model.plans.append(plan("anyone tried the new zelda yet"))
    await world.engine().run_once(START)
    world.clock.advance(3 * 3600)  # past the gap, nobody answered
    assert await world.engine().check_engagement_opportunities(world.clock.now()) == []
    await world.say("not yet, any good?", channel=GAMING, author=JOHN, name="John")  # an answer
    world.clock.advance(2 * 3600)
    later = await world.engine().check_engagement_opportunities(world.clock.now())
    assert [a.channel_id for a in later] == [GAMING]


async def test_a_woven_followup_whose_channel_went_quiet_is_decided_afresh(world: World) -> None:
    await world.say("my game jam project is due friday", at=START - timedelta(hours=3))
    world.write_followups([item(event="Game jam project", priority="medium")])
    await world.say("i'm in", at=START - timedelta(minutes=1))
    engine = world.engine()
    await engine.run_once(START)
    assert world.read_followups()["pending"][0]["delivery"] == "woven"
    later = START + timedelta(hours=25)  # #general stayed quiet; Dana talks elsewhere
    world.clock = FakeClock(later)
    await world.say("hello gaming", channel=GAMING, at=later - timedelta(minutes=30))
    actions = await engine.tick(later)
    assert [(a.followup_id, a.delivery) for a in actions] == [("followup_001", "standalone")]
    assert engine.weave_hint(GENERAL) == ""


async def test_a_shard_process_speaks_unasked_only_in_the_guilds_of_its_shards(world: World) -> None:
    """The shard processes of one bot share its memories: a follow-up filed in a guild of
    another shard is left to the process that runs that shard (and stays pending for it)."""
    from framework.domain.shards import ShardScope

    await world.say("ugh, interview on tuesday", at=START - timedelta(hours=5))
    shard = (int(GUILD) >> 22) % 2
    elsewhere = AgenticEngine(
        config=world.config, context=world.context, followups=world.followups, store=world.store,
        proactive_log=world.log, llm=world.model, executor=world.executor, clock=world.clock,
        shards=ShardScope(2, (1 - shard,)),
    )
    expired = item("followup_000", after=START - timedelta(days=30), mentioned=START - timedelta(days=31))
    path = world.write_followups([item(), expired])
    before = path.read_bytes()
    report = await elsewhere.run_once(START)
    assert report.actions == [] and world.sent() == []
    assert path.read_bytes() == before  # not even upkeep: the file is the other process's to change

    owner = AgenticEngine(
        config=world.config, context=world.context, followups=world.followups, store=world.store,
        proactive_log=world.log, llm=world.model, executor=world.executor, clock=world.clock,
        shards=ShardScope(2, (shard,)),
    )
    world.model.plans.append(plan("dana, how did the techcorp interview go?"))
    assert [a.channel_id for a in (await owner.run_once(START)).actions] == [GENERAL]
    assert world.sent() == ["dana, how did the techcorp interview go?"]
    assert world.read_followups()["pending"] == []  # the owner expired the stale one and completed the other
