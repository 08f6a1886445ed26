"""ContextBuilder: names for mentions, replies, reactions, edits, the reply chain, new-message marks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from framework.domain import IncomingMessage
from framework.engines.actions import Send, Typing
from framework.engines.context import ContextBuilder, ContextRequest
from framework.engines.reactive import default_actions
from framework.domain import PlannedMessage, ResponsePlan
from framework.storage import MessageStore

from .fakes import FakeClock

CLOCK = FakeClock()


def m(i: int, content: str, author: str = "u1", **kw: object) -> IncomingMessage:
    base = dict(
        message_id=str(i), channel_id="c", guild_id="g", author_id=author, author_name={"u1": "dana", "u2": "sam", "22": "sam"}.get(author, author),
        content=content, timestamp=CLOCK.now() + timedelta(seconds=i), channel_name="general",
    )
    base.update(kw)
    return IncomingMessage(**base)  # type: ignore[arg-type]


async def test_transcript_shows_names_replies_reactions_edits_and_new_marks(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    old = [m(1, "anyone seen <@22>?"), m(2, "right here", author="22", reference_id="1"), m(3, "typo'd", author="22")]
    await store.add_many(old)
    await store.mark_edited("3", "fixed it", CLOCK.now() + timedelta(seconds=4))
    await store.add_reaction("2", "u1", "😂", CLOCK.now())
    await store.add_reaction("2", "u3", "😂", CLOCK.now())
    new = m(4, "<@900> what do you think?", mentions_self=True, mention_names=(("900", "Alpha"),))
    await store.add(new)
    builder = ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="Persona.", store=store)
    request = await builder.build(ContextRequest("c", "#general", [new], new, urgent=True))
    text = request.turns[0].content
    assert " [00:00] dana: anyone seen @sam?" in text or "dana: anyone seen @sam?" in text
    assert "sam (replying to dana): right here  [😂x2]" in text
    assert "sam: fixed it (edited)" in text
    assert "*[" in text and text.count("*[") == 1
    assert "dana is talking to you: @Alpha what do you think?" in text
    assert request.owed and not request.want_plan and request.scope is not None and request.scope.user_id == "u1"
    assert request.system.startswith("Persona.")
    await store.close()


async def test_reply_chain_walks_up_and_tolerates_a_deleted_parent(tmp_path: Path) -> None:
    store = await MessageStore.open(tmp_path / "db")
    await store.add_many([m(1, "root"), m(2, "child", author="u2", reference_id="1"), m(3, "grandchild", reference_id="2")])
    builder = ContextBuilder(bot_id="alpha", bot_name="Alpha", persona_prompt="P", store=store)
    assert await builder.reply_chain("3") == ["dana: root", "sam: child", "dana: grandchild"]
    await store.mark_deleted("1", CLOCK.now())
    assert await builder.reply_chain("2") == ["[a deleted or older message]", "sam: child"]
    assert await builder.reply_chain("999") == ["[a deleted or older message]"]
    await store.close()


def test_system_prompt_is_stable_for_the_cache() -> None:
    builder = ContextBuilder(bot_id="a", bot_name="A", persona_prompt="P", store=None)  # type: ignore[arg-type]
    assert builder.system_prompt() == builder.system_prompt()


def test_default_actions_split_long_replies_and_thread_only_the_first() -> None:
    long = ("A sentence that goes on. " * 120).strip()
    plan = ResponsePlan(should_respond=True, responses=[PlannedMessage(message=long, delay=0)])
    actions = default_actions(plan, reply_first=True, ping=False)
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) == 2 and all(len(s.text) <= 2000 for s in sends)
    assert [s.reply_to_incoming for s in sends] == [True, False]
    assert all(isinstance(a, Typing) and 2 <= a.seconds <= 15 for a in actions[::2])
