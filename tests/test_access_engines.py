"""Access control where the engines meet it: the intake's gate in front of the reactive engine,
the periodic check and profile extraction; the agentic engine's unprompted talk. Real SQLite,
a fake clock, a scripted model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from framework.domain import IncomingMessage
from framework.engines.access import OPEN, AccessPolicy
from framework.engines.agentic import AgenticEngine
from framework.runtime.intake import Intake

from .test_agentic import GAMING, GENERAL, JOHN, START, item, make_config
from .test_agentic import World as AgenticWorld
from .test_agentic import world as agentic_world  # noqa: F401  (fixture)
from .test_reactive import BOT, World, make_world

MASTER = "700000000000000001"
STRANGER = "700000000000000002"


@dataclass
class RecordingProfiles:
    considered: list[str] = field(default_factory=list)

    def consider(self, message: IncomingMessage) -> None:
        self.considered.append(message.message_id)


async def gated_world(tmp_path: Path, policy: AccessPolicy) -> tuple[World, Intake, RecordingProfiles]:
    w = await make_world(tmp_path)
    profiles = RecordingProfiles()
    intake = Intake(store=w.store, clock=w.clock, on_ready=lambda: None, access=policy, decisions=w.decisions)
    intake.attach(engine=w.engine, context=None, client=None, backfill=None, profiles=profiles)  # type: ignore[arg-type]
    return w, intake, profiles


def dm(w: World, author: str, content: str) -> IncomingMessage:
    return w.msg(content, channel=f"dm-{author}", author=author, guild_id=None, channel_name="")


async def test_master_dm_answers_the_master_and_nobody_else(tmp_path: Path) -> None:
    w, intake, profiles = await gated_world(tmp_path, AccessPolicy("master_dm", MASTER))
    try:
        stranger = dm(w, STRANGER, "hey cortana, what's my bank pin")
        await intake.on_incoming(stranger)
        mention = w.msg(f"<@{BOT}> status report", author=MASTER, mentions_self=True, mentions=(BOT,))
        await intake.on_incoming(mention)
        chatter = w.msg("anyone up for lunch", author=STRANGER)
        await intake.on_incoming(chatter)
        assert w.engine.check() == 0  # the periodic check has nothing of a channel to look at
        await w.engine.idle()
        assert w.engine.model_calls == 0 and w.model.requests == [] and w.sends() == []
        assert profiles.considered == []  # no profile extraction either: it would be a model call
        for message in (stranger, mention, chatter):
            assert await w.store.get(message.message_id) is not None  # stored: history, not a request
        decided = {m.message_id: d for m, d in w.decisions.records}
        assert decided[stranger.message_id].action == "ignore" and "not the master" in decided[stranger.message_id].reason
        assert decided[mention.message_id].action == "ignore" and "channel" in decided[mention.message_id].reason
        assert decided[chatter.message_id].action == "ignore"

        mine = dm(w, MASTER, "remind me what I asked you yesterday")
        await intake.on_incoming(mine)
        await w.engine.idle()
        assert w.sends() == ["sure"] and len(w.model.requests) == 1
        assert "bank pin" not in w.model.requests[0].turns[0].content  # another person's DM never reaches a model
        assert profiles.considered == [mine.message_id]
        assert w.decisions.records[-1][0].message_id == mine.message_id
        assert w.decisions.records[-1][1].action == "reply"
    finally:
        await w.engine.stop()
        await w.store.close()


async def test_open_access_changes_nothing(tmp_path: Path) -> None:
    w, intake, profiles = await gated_world(tmp_path, OPEN)
    try:
        await intake.on_incoming(w.msg(f"<@{BOT}> hi", author=STRANGER, mentions_self=True, mentions=(BOT,)))
        await intake.on_incoming(w.msg("just chatting", author=STRANGER))
        await w.engine.idle()
        assert w.sends() == ["sure"]
        assert w.engine.check() == 1  # the chatter waits for the periodic check, as always
        await w.engine.idle()
        assert len(profiles.considered) == 2
    finally:
        await w.engine.stop()
        await w.store.close()


def agentic_engine(world: AgenticWorld, access: AccessPolicy) -> AgenticEngine:
    return AgenticEngine(
        config=world.config, context=world.context, followups=world.followups, store=world.store,
        proactive_log=world.log, llm=world.model, executor=world.executor, clock=world.clock, access=access,
    )


async def test_no_unprompted_talk_in_channels_for_a_private_bot(agentic_world: AgenticWorld) -> None:  # noqa: F811
    world: Any = agentic_world
    # A due follow-up in #general and an idle channel open to conversation starters.
    world.config = make_config(allowed_channels=[GAMING], min_idle_hours=1, max_idle_hours=8)
    await world.say("ugh, interview on tuesday", at=START - timedelta(hours=5))
    await world.say("gg", channel=GAMING, author=JOHN, name="John", at=START - timedelta(hours=2))
    world.write_followups([item()])

    private = await agentic_engine(world, AccessPolicy("master_dm", MASTER)).run_once(START)
    assert private.actions == [] and world.sent() == [] and world.model.requests == []

    # The same world with open access would have spoken twice (the control).
    opened = await agentic_engine(world, OPEN).tick(START)
    assert sorted(a.kind for a in opened) == ["followup", "proactive"]
    assert {a.channel_id for a in opened} == {GENERAL, GAMING}
