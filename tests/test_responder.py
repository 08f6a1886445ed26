"""The mention/DM responder with fakes: who gets answered, what the model sees, how replies go out."""

from __future__ import annotations

from datetime import timedelta

from framework.domain import IncomingMessage, StoredMessage
from framework.engines.responder import FALLBACK_LINE, MentionResponder
from framework.errors import LLMError

from .fakes import FakeChat, FakeClock, ListStore, RecordingDecisions, ScriptedLLM

BOT_ID = "900"
CLOCK = FakeClock()


def incoming(content: str, *, mid: str = "1", mentions_self: bool = False, guild: str | None = "g", **kw: object) -> IncomingMessage:
    base = dict(
        message_id=mid, channel_id="c", guild_id=guild, author_id="u1", author_name="dana", content=content,
        timestamp=CLOCK.now(), mentions_self=mentions_self, channel_name="general",
    )
    base.update(kw)
    return IncomingMessage(**base)  # type: ignore[arg-type]


def stored(i: int, author: str, content: str) -> StoredMessage:
    return StoredMessage(
        message_id=str(i), channel_id="c", guild_id="g", author_id=author, author_name=author, content=content,
        timestamp=CLOCK.now() - timedelta(minutes=30 - i), is_bot=False, has_attachments=False,
    )


def make(llm: ScriptedLLM, store: ListStore | None = None) -> tuple[MentionResponder, FakeChat, RecordingDecisions]:
    chat, decisions = FakeChat(), RecordingDecisions()
    responder = MentionResponder(
        bot_id="alpha", bot_name="Alpha", persona_prompt="You are dry and brief.", store=store or ListStore(), llm=llm,
        chat=chat, decisions=decisions,
    )
    return responder, chat, decisions


async def test_mention_gets_one_reply_under_typing_with_context() -> None:
    store = ListStore([stored(i, "sam", f"line {i}") for i in range(25)])
    llm = ScriptedLLM(["sure thing"])
    responder, chat, decisions = make(llm, store)
    decision = await responder.handle(
        incoming(f"<@{BOT_ID}> what now?", mid="77", mentions_self=True, mention_names=((BOT_ID, "Alpha"),))
    )
    assert decision.action == "reply" and decision.reason == "mentioned"
    # typing shows while the model works; the reply goes out as it stops
    assert chat.events == [("typing-start", "c", None), ("typing-stop", "c", None), ("send", "sure thing", "77")]
    request = llm.requests[0]
    assert "You are dry and brief." in request.system
    prompt = request.turns[0].content
    assert "@Alpha what now?" in prompt  # mention resolved to a name
    assert "line 24" in prompt and "line 4" not in prompt  # only the last 20 messages
    assert decisions.records[-1][1].reply_ids == decision.reply_ids
    assert request.owed and request.scope is not None
    assert (request.scope.guild_id, request.scope.channel_id, request.scope.user_id) == ("g", "c", "u1")


async def test_unaddressed_bot_and_own_messages_are_ignored() -> None:
    llm = ScriptedLLM([])
    responder, chat, decisions = make(llm)
    assert (await responder.handle(incoming("just chatting"))).reason == "not addressed to the bot"
    assert (await responder.handle(incoming("hi", mentions_self=True, is_bot=True))).reason == "author is a bot"
    assert (await responder.handle(incoming("my own words", is_self=True))).reason == "own message"
    assert chat.events == [] and llm.requests == []
    assert [d.action for _, d in decisions.records] == ["ignore"] * 3


async def test_dm_is_answered_without_a_mention() -> None:
    responder, chat, _ = make(ScriptedLLM(["hello you"]))
    decision = await responder.handle(incoming("hey", guild=None))
    assert decision.action == "reply" and decision.reason == "direct message"
    assert ("send", "hello you", "1") in chat.events


async def test_long_reply_is_split_and_only_the_first_part_replies() -> None:
    text = ("A sentence that goes on. " * 120).strip()
    responder, chat, _ = make(ScriptedLLM([text]))
    decision = await responder.handle(incoming("<@900> essay please", mentions_self=True, mid="5"))
    sends = [e for e in chat.events if e[0] == "send"]
    assert len(sends) == 2 == len(decision.reply_ids)
    assert all(len(e[1]) <= 2000 for e in sends)
    assert [e[2] for e in sends] == ["5", None]


async def test_model_failure_still_answers_a_mention_honestly() -> None:
    responder, chat, _ = make(ScriptedLLM([LLMError("Anthropic API 529: overloaded")]))
    decision = await responder.handle(incoming("<@900> you there?", mentions_self=True))
    assert decision.action == "reply" and "model failed" in decision.reason
    assert [e[1] for e in chat.events if e[0] == "send"] == [FALLBACK_LINE]
