"""An owed reply (a mention, a DM, a reply to the bot) always goes out: whatever fails on the
way (the context, the model, the plan parser), the person hears at least the static line,
and the cause is in the log and the conversation log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from framework.errors import LLMError
from framework.domain import LLMReply, LLMRequest

from .test_reactive import BOT, World, make_world, close

STATIC = ("brain's buffering, give me a minute",)


@pytest.fixture
async def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    w = await make_world(tmp_path, static_lines=STATIC)
    yield w
    await close(w)


class TextModel:
    """A provider that answered in loose text (no plan), like the fallbacks do."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMReply:
        self.requests.append(request)
        return LLMReply(text=self.text, model="text")


class RaisingModel:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def complete(self, request: LLMRequest) -> LLMReply:
        raise self.exc


def mention(w: World, text: str = "you there?") -> object:
    return w.msg(f"<@{BOT}> {text}", mentions_self=True, mentions=(BOT,))


@pytest.mark.timeout(5)
async def test_three_thousand_nested_brackets_get_the_static_line(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.engine._llm = TextModel("[" * 3000)  # type: ignore[assignment]
    message = mention(world)
    with caplog.at_level(logging.WARNING):
        await world.arrive(message)  # type: ignore[arg-type]
        await world.engine.idle()
    assert world.sends() == [STATIC[0]]
    assert world.chat.events[-1][2] == message.message_id  # type: ignore[attr-defined]  # threaded to the question
    decision = world.decisions.records[-1][1]
    assert decision.action == "reply" and "static line" in decision.reason and "no usable answer" in decision.reason
    assert "saying a static line" in caplog.text


@pytest.mark.parametrize("text", ["", "   ", '{"should_respond": true, "responses": []}'])
async def test_an_empty_answer_to_a_mention_is_never_silence(world: World, text: str) -> None:
    world.engine._llm = TextModel(text)  # type: ignore[assignment]
    await world.arrive(mention(world))  # type: ignore[arg-type]
    await world.engine.idle()
    assert world.sends() == [STATIC[0]]


async def test_an_exception_on_the_owed_path_ends_in_the_static_line(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.engine._llm = RaisingModel(KeyError("bug in a provider"))  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR):
        await world.arrive(world.msg("hello", guild_id=None))
        await world.engine.idle()
    assert world.sends() == [STATIC[0]]
    assert "KeyError" in world.decisions.records[-1][1].reason
    assert "writing the reply owed" in caplog.text


async def test_a_failing_context_build_still_answers_a_reply_to_the_bot(world: World) -> None:
    own = world.msg("i said a thing", author=BOT, is_self=True, is_bot=True)
    await world.arrive(own)

    async def broken(ask: object) -> object:
        raise OSError("memory folder unreadable")

    world.engine._context.build = broken  # type: ignore[method-assign]
    await world.arrive(world.msg("about that", reference_id=own.message_id))
    await world.engine.idle()
    assert world.sends() == [STATIC[0]]


async def test_a_model_error_on_a_mention_says_the_static_line(world: World) -> None:
    world.engine._llm = RaisingModel(LLMError("every provider failed"))  # type: ignore[assignment]
    await world.arrive(mention(world))  # type: ignore[arg-type]
    await world.engine.idle()
    assert world.sends() == [STATIC[0]]


async def test_unowed_traffic_stays_silent_when_the_model_fails(world: World) -> None:
    world.engine._llm = RaisingModel(LLMError("every provider failed"))  # type: ignore[assignment]
    await world.arrive(world.msg("just chatting"))
    world.engine.check()
    await world.engine.idle()
    assert world.sends() == []
    assert world.decisions.records[-1][1].action == "error"


async def test_a_deliberate_silence_is_not_overridden_for_ordinary_traffic(world: World) -> None:
    world.engine._llm = TextModel('{"should_respond": false, "reasoning": "nothing to add"}')  # type: ignore[assignment]
    await world.arrive(world.msg("just chatting"))
    world.engine.check()
    await world.engine.idle()
    assert world.sends() == [] and "nothing to add" in world.decisions.records[-1][1].reason
