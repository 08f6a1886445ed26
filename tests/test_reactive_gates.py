"""The gates of human behaviour the engine applies: Ana's per-user (25 s) and per-channel (7 s)
cooldowns hold back her trigger-word replies (a mention and a roast still answer); a user on
cooldown is left out of a periodic check while the others are considered; and every message a
check covered gets its own line in the conversation log."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from framework.config.loader import load_bot_config
from framework.engines.behaviour import HumanBehaviour
from framework.engines.human import HumanLayer
from framework.engines.jokes import JokeService
from framework.engines.modes import ModeDetector, RoastLimiter

from .test_reactive import BOT, World, close, make_world, plan

ROOT = Path(__file__).resolve().parent.parent


def ana_human_layer(clock: Any) -> HumanLayer:
    """Ana's real human layer from bots/ana.yaml, with the random extras (ghost typing,
    reactions, typos, follow-ups, jokes) switched off so only the gates are left."""
    config = load_bot_config(ROOT / "bots" / "ana.yaml", ROOT).personality.behaviour
    follow = config.followups
    config = config.model_copy(update={
        "ghost_typing": config.ghost_typing.model_copy(update={"probability": 0.0}),
        "reactions": config.reactions.model_copy(update={"probability": 0.0}),
        "typo": config.typo.model_copy(update={"probability": 0.0}),
        "low_signal": config.low_signal.model_copy(update={"skip_probability": 0.0}),
        "jokes": config.jokes.model_copy(update={"enabled": False}),
        "followups": follow.model_copy(update={
            mode: getattr(follow, mode).model_copy(update={"probability": 0.0}) for mode in ("roast", "flirt", "normal")
        }),
    })
    rng = random.Random(1)

    async def no_joke() -> None:
        return None

    return HumanLayer(
        config, behaviour=HumanBehaviour(config, rng), detector=ModeDetector(config),
        roast_limiter=RoastLimiter(config.modes.roast_cap, clock),
        jokes=JokeService(config.jokes, clock, rng, no_joke),  # type: ignore[arg-type]
        owner_ids=[],
    )


@pytest.fixture
async def ana(tmp_path: Path):  # type: ignore[no-untyped-def]
    from framework.config.models import CooldownConfig

    ana_cooldowns = CooldownConfig(per_user=25, single_message=7, multi_message=7, heavy_activity=7)
    w = await make_world(tmp_path, cooldowns=ana_cooldowns, human=ana_human_layer)
    yield w
    await close(w)


async def say(w: World, at_offset: float, text: str, **kw: Any) -> None:
    w.clock.advance(at_offset - 5)  # msg() advances 5 s itself
    await w.arrive(w.msg(text, **kw))
    await w.engine.idle()


async def test_anas_cooldowns_gate_trigger_word_replies(ana: World) -> None:
    # One user greets her again and again, a few seconds apart (each was answered before);
    # only after 25 s of quiet since her reply does she answer again.
    gaps = [0, 3, 5, 12, 4, 30]  # seconds after the previous message (or her reply to it)
    answered = []
    for i, gap in enumerate(gaps):
        ana.clock.advance(gap - 5)  # msg() adds 5 s itself
        before = len(ana.sends())
        await ana.arrive(ana.msg("hey ana"))
        await ana.engine.idle()
        if len(ana.sends()) > before:
            answered.append(i)
    assert answered == [0, 5]
    held = [r for r in ana.reasons() if "cooldown" in r]
    assert len(held) == 4 and all(r.startswith("trigger word; ") for r in held)


async def test_the_channel_cooldown_holds_back_someone_else_for_seven_seconds(ana: World) -> None:
    await ana.arrive(ana.msg("hey ana", author="u1"))
    await ana.engine.idle()
    ana.clock.advance(-3)  # the next message comes 2 s after the reply (msg() adds 5 s)
    await ana.arrive(ana.msg("hello ana", author="u2"))
    await ana.engine.idle()
    assert len(ana.sends()) == 1 and "channel cooldown" in ana.reasons()[-1]
    ana.clock.advance(3)
    await ana.arrive(ana.msg("hi ana", author="u3"))  # 10 s after the reply: the channel is open
    await ana.engine.idle()
    assert len(ana.sends()) == 2


async def test_a_mention_and_a_roast_are_not_held_back(ana: World) -> None:
    await ana.arrive(ana.msg("hey ana"))
    await ana.engine.idle()
    await ana.arrive(ana.msg(f"<@{BOT}> you there?", mentions_self=True, mentions=(BOT,)))
    await ana.engine.idle()
    await ana.arrive(ana.msg("ana ur so mid"))  # a roast: capped per user instead
    await ana.engine.idle()
    assert len(ana.sends()) == 3


async def test_a_user_on_cooldown_is_left_out_of_the_check_and_the_others_considered(ana: World) -> None:
    await ana.arrive(ana.msg("hey ana", author="u1"))  # answered: u1 cools for 25 s
    await ana.engine.idle()
    ana.clock.advance(5)  # past the 7 s channel cooldown
    await ana.arrive(ana.msg("anyway, about the match", author="u1"))
    await ana.arrive(ana.msg("did anyone watch it", author="u2"))
    ana.model.plans = [plan("i did!")]
    ana.engine.check()
    await ana.engine.idle()
    request = ana.model.requests[-1]
    new_lines = [line for line in request.turns[0].content.splitlines() if line.startswith("*")]
    assert len(new_lines) == 1 and "did anyone watch it" in new_lines[0]
    by_content = {m.content: d for m, d in ana.decisions.records}
    assert by_content["anyway, about the match"].action == "ignore"
    assert "user cooldown" in by_content["anyway, about the match"].reason
    assert by_content["did anyone watch it"].action == "reply"


async def test_every_message_a_check_covered_gets_its_decision_line(tmp_path: Path) -> None:
    w = await make_world(tmp_path)
    batch = [w.msg(f"chatter {i}", author=f"u{i}") for i in range(4)]
    for m in batch:
        await w.arrive(m)
    w.model.plans = [plan("ha, fair")]
    w.engine.check()
    await w.engine.idle()
    lines = {m.message_id: d for m, d in w.decisions.records}
    assert set(lines) == {m.message_id for m in batch}
    assert all(d.action == "reply" for d in lines.values())
    reply_ids = lines[batch[-1].message_id].reply_ids
    assert reply_ids and all(d.reply_ids == reply_ids for d in lines.values())
    assert "answered together with 4 messages" in lines[batch[0].message_id].reason
    await close(w)
