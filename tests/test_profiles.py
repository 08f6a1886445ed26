"""User profiles: the contact filter, Ana's merge, the facts block, and the rate-limited background updater."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from framework.config.models import ProfilesConfig
from framework.domain import IncomingMessage
from framework.domain import ConversationScope, ErrorKind, LLMReply, LLMRequest, ProviderError
from framework.memory import MemoryTool, PathLocks
from framework.memory.contact import has_contact_details, strip_contact_details
from framework.memory.profiles import (
    EXTRACTION_PROMPT,
    ProfileUpdater,
    merge_facts,
    parse_extraction,
    read_profile_facts,
    render_profile,
)
from tests.fakes import FakeClock

G1 = ConversationScope(bot_id="alpha", guild_id="G1", channel_id="C1", user_id="U1")

CONTACT_POSITIVES = [
    "+1 415 555 0100",
    "my number is (415) 555-0100",
    "call me on 415.555.0100",
    "07700 900123",
    "+91 98765 43210",
    "555-0100",
    "+44-20-7946-0958",
    "dana@x.io",
    "mail me at dana.smith+bots@example.co.uk",
    "dana at example dot com",
    "@dana_x",
    "follow me @dana.codes",
    "Dana#1234",
    "instagram.com/dana",
    "https://t.me/dana",
    "t.me/danax",
    "www.danasite.dev",
    "https://example.com/about",
    "ig: dana.x",
    "my snap is danax99",
    "discord: dana_x",
    "lives at 42 Baker Street",
    "221B Baker St",
    "reach me on telegram dana_x",
    "add me on snap: danax",
    "add me on snap danax",
    "hit me up on discord DanaX",
    "find me on insta as dana.codes",
    "my handle is danax99",
    "my discord username is dana_x",
    "username: dana_x",
    "gamertag = DanaX",
    "add me: danax",
]

ORDINARY_FACTS = [
    "27",
    "born in 1998",
    "moved here in 2025",
    "likes 2 cats",
    "python 3.11",
    "has 3 siblings",
    "studied 2019-2023",
    "graduated 2023-06-15",
    "works at TechCorp as an ML engineer",
    "plays minecraft on discord a lot",
    "into instagram reels",
    "favorite number is 7",
    "ran 10 km in 52 minutes",
    "version 1.2.3 fan",
    "pi is 3.14159265",
    "runs 10.0.1 of the app",
    "my birthday is 12/05",
    "owns a 4090",
    "scored 1450 on the SAT",
    "hit me up on discord sometime",
    "add me to the group chat",
    "can handle stress well",
    "my username is the same everywhere",
    "met on telegram and now friends",
]


@pytest.mark.parametrize("text", CONTACT_POSITIVES)
def test_contact_details_are_found(text: str) -> None:
    assert has_contact_details(text)
    assert strip_contact_details({"facts": [text, "likes chess"], "note": text}) == {"facts": ["likes chess"]}


@pytest.mark.parametrize("text", ORDINARY_FACTS)
def test_ordinary_facts_survive(text: str) -> None:
    assert not has_contact_details(text)
    assert strip_contact_details({"facts": [text]}) == {"facts": [text]}


@pytest.mark.parametrize("number", [4155550100, 447700900123, 4155550100.0, 5550100])
def test_numbers_that_are_phone_numbers_are_dropped(number: int | float) -> None:
    assert has_contact_details(number)
    assert strip_contact_details({"lucky": number, "age": 27}) == {"age": 27}
    assert strip_contact_details({"facts": [number, "likes chess"]}) == {"facts": ["likes chess"]}


@pytest.mark.parametrize("number", [27, 2025, 1998, 3, 0, 1450, 4090, 52.5, 3.14159265, -12, 100000, True])
def test_ordinary_numbers_survive(number: int | float) -> None:
    assert not has_contact_details(number)
    facts = {"value": number, "facts": [number]}
    assert strip_contact_details(facts) == facts


def test_contact_keys_are_dropped_recursively() -> None:
    facts = {
        "age": 27,
        "phone": "call me",
        "phoneNumber": "x",
        "e-mail": "x",
        "Instagram": "dana",
        "socials": {"tiktok": "dana"},
        "favorites": {"game": "minecraft", "discord_server": "the hub", "snapchat": "y"},
        "family": {"sister": "Priya", "contact": "x"},
        "whatsapp": "x",
        "telegram_handle": "x",
        "home_address": "x",
        "username": "dana_x",
        "interests": ["chess", "dana@x.io"],
        "location": "Pune",
    }
    assert strip_contact_details(facts) == {
        "age": 27,
        "favorites": {"game": "minecraft"},
        "family": {"sister": "Priya"},
        "interests": ["chess"],
        "location": "Pune",
    }
    assert strip_contact_details({"facts": ["dana@x.io"]}) == {}


def test_merge_rules() -> None:
    old = {"age": 26, "interests": ["chess"], "favorites": {"game": "chess", "food": "dosa"}, "location": "Pune"}
    new = {
        "age": "27",
        "interests": ["minecraft", "chess"],
        "favorites": {"game": "minecraft", "color": ""},
        "location": "",
        "nickname": None,
        "facts": "is a nurse",
        "family": {},
        "pets": [],
        "bio": "x" * 300,
    }
    merged = merge_facts(old, new)
    assert merged == {
        "age": 27,
        "interests": ["chess", "minecraft"],
        "favorites": {"game": "minecraft", "food": "dosa"},
        "location": "Pune",
        "facts": ["is a nurse"],
        "bio": "x" * 120,
    }
    assert old["age"] == 26 and old["interests"] == ["chess"]  # inputs untouched
    assert merge_facts({}, {"age": "twenty"}) == {}
    assert merge_facts({}, {"age": 27.9}) == {"age": 27}
    assert merge_facts({}, {"age": True}) == {}
    assert merge_facts({"interests": "chess"}, {"interests": ["go"]}) == {"interests": ["chess", "go"]}
    many = merge_facts({}, {"interests": [f"i{n}" for n in range(40)]})
    assert many["interests"] == [f"i{n}" for n in range(15, 40)]  # at most 25, the newest


def test_render_new_profile_and_read_back() -> None:
    facts = {
        "nickname": "D",
        "age": 27,
        "location": "Pune",
        "favorites": {"game": "minecraft", "color": "teal"},
        "interests": ["chess", "ml"],
        "family": {"sister": "Priya", "brother": "mentioned"},
        "facts": ["nurse", "speaks Tamil"],
    }
    text = render_profile(None, facts, user_name="Dana\nEvil")
    assert text.startswith("# User: Dana Evil\n\n<!-- profile-facts: ")
    for line in ("- goes by: D", "- age: 27", "- from: Pune", "- faves: game: minecraft; color: teal",
                 "- into: chess, ml", "- family: sister Priya; brother", "- facts: nurse; speaks Tamil"):  # fmt: skip
        assert line in text
    assert read_profile_facts(text) == facts


def test_render_keeps_the_models_text_byte_for_byte() -> None:
    model_text = "# User: Dana\n\n**Timezone:** PST\n\n## Notes\n- appreciates dark humour\n- don't over-explain\n"
    first = render_profile(model_text, {"age": 27}, user_name="ignored")
    assert first.startswith("# User: Dana\n\n<!-- profile-facts: ")
    assert first.endswith("\n**Timezone:** PST\n\n## Notes\n- appreciates dark humour\n- don't over-explain\n")
    # The model edits around the block; the next update replaces the block only.
    edited = first.replace("- don't over-explain\n", "- don't over-explain\n- got the job!\n")
    second = render_profile(edited, {"age": 28, "interests": ["go"]}, user_name="ignored")
    assert "- got the job!" in second and "- age: 28" in second and "- age: 27" not in second
    assert second.count("<!-- profile-facts:") == 1 and second.count("<!-- /profile-facts -->") == 1
    assert second.replace(second[second.index("<!--") : second.index("<!-- /profile-facts -->") + 24], "") == (
        edited.replace(edited[edited.index("<!--") : edited.index("<!-- /profile-facts -->") + 24], "")
    )
    no_heading = render_profile("just notes\n", {"age": 3}, user_name="x")
    assert no_heading.endswith("\njust notes\n") and no_heading.startswith("<!-- profile-facts: ")


def test_values_cannot_break_out_of_the_comment() -> None:
    facts = {"facts": ["likes --> arrows <b>", "a\nnew line"]}
    text = render_profile(None, facts, user_name="x")
    assert read_profile_facts(text) == facts
    block_json_line = text.splitlines()[2]
    assert block_json_line.count("-->") == 1 and block_json_line.endswith(" -->")
    assert "\na\n" not in text


def test_parse_extraction() -> None:
    assert parse_extraction('{"age":27}') == {"age": 27}
    assert parse_extraction('```json\n{"age": 27}\n```') == {"age": 27}
    assert parse_extraction('Sure! {"age": 27}') == {"age": 27}
    assert parse_extraction("[1, 2]") == {}
    assert parse_extraction("no facts here") == {}
    assert parse_extraction("{broken") == {}


# -- the updater ---------------------------------------------------------------------------------------


class ScriptedLLM:
    """Replies from a script, records requests; an Exception in the script is raised."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.requests: list[LLMRequest] = []
        self.cheap: list[bool] = []
        self.gate: asyncio.Event | None = None

    async def complete(self, request: LLMRequest, cheap: bool = False) -> LLMReply:
        self.requests.append(request)
        self.cheap.append(cheap)
        if self.gate is not None:
            await self.gate.wait()
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        text = step if isinstance(step, str) else json.dumps(step)
        return LLMReply(text=text, model="cheap-model", provider="groq")


class PlainLLM:
    """An LLM whose complete() takes no ``cheap`` argument (like BudgetedLLM)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls = 0

    async def complete(self, request: LLMRequest) -> LLMReply:
        self.calls += 1
        return LLMReply(text=self.reply, model="m")


def msg(content: str, *, author: str = "U1", guild: str | None = "G1", **over: Any) -> IncomingMessage:
    base = IncomingMessage(
        message_id="M1",
        channel_id="C1",
        guild_id=guild,
        author_id=author,
        author_name=f"name-{author}",
        content=content,
        timestamp=datetime(2026, 3, 10, tzinfo=timezone.utc),
    )
    return replace(base, **over)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "memories" / "alpha"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(root: Path, clock: FakeClock, llm: Any, locks: PathLocks | None = None, **config: Any) -> ProfileUpdater:
    return ProfileUpdater(
        llm=llm, root=root, locks=locks or PathLocks(), clock=clock, config=ProfilesConfig(**config)
    )


def profile(root: Path, guild: str = "G1", user: str = "U1") -> Path:
    return root / "servers" / guild / "users" / f"{user}.md"


async def test_two_messages_merge(root: Path, clock: FakeClock) -> None:
    llm = ScriptedLLM({"age": 27, "interests": ["minecraft"]}, {"interests": ["chess"], "location": "Pune"})
    updater = make(root, clock, llm)
    assert updater.consider(msg("i'm 27 and i play minecraft every day"))
    await updater.drain()
    clock.advance(601)
    assert updater.consider(msg("been into chess lately, greetings from Pune"))
    await updater.drain()
    text = profile(root).read_text()
    assert text.startswith("# User: name-U1\n")
    assert read_profile_facts(text) == {"age": 27, "interests": ["minecraft", "chess"], "location": "Pune"}
    request = llm.requests[0]
    assert request.system == EXTRACTION_PROMPT
    assert request.turns[0].content == "i'm 27 and i play minecraft every day"
    assert request.scope == ConversationScope("alpha", "G1", "C1", "U1")
    assert (request.max_tokens, request.owed, request.want_plan, request.use_tools, request.purpose) == (
        300, False, False, False, "profile",
    )  # fmt: skip
    assert llm.cheap == [True, True]


async def test_contact_details_never_reach_the_file(root: Path, clock: FakeClock) -> None:
    extraction = {
        "age": 27,
        "interests": ["minecraft"],
        "phone": "+1 415 555 0100",
        "email": "dana@x.io",
        "facts": ["number is +1 415 555 0100", "email dana@x.io"],
        "contact": {"email": "dana@x.io"},
    }
    llm = ScriptedLLM(extraction)
    updater = make(root, clock, llm)
    text_in = "my number is +1 415 555 0100 and email dana@x.io, I'm 27 and love minecraft"
    assert updater.consider(msg(text_in))
    await updater.drain()
    text = profile(root).read_text()
    assert read_profile_facts(text) == {"age": 27, "interests": ["minecraft"]}
    for leak in ("415", "555", "0100", "dana@x.io", "@", "phone", "email"):
        assert leak not in text


async def test_the_message_is_cut_to_800_characters(root: Path, clock: FakeClock) -> None:
    llm = ScriptedLLM({})
    updater = make(root, clock, llm)
    updater.consider(msg("a" * 2000))
    await updater.drain()
    assert llm.requests[0].turns[0].content == "a" * 800


async def test_per_user_interval(root: Path, clock: FakeClock) -> None:
    llm = ScriptedLLM(*([{"age": 20}] * 5))
    updater = make(root, clock, llm, per_user_interval_seconds=600)
    assert updater.consider(msg("first message, long enough"))
    assert not updater.consider(msg("second message, same user"))
    assert updater.consider(msg("another user's long message", author="U2"))
    clock.advance(599)
    assert not updater.consider(msg("still too soon for U1 here"))
    clock.advance(1)
    assert updater.consider(msg("now U1 may be looked at again"))
    await updater.drain()
    assert len(llm.requests) == 3


async def test_hourly_cap(root: Path, clock: FakeClock) -> None:
    llm = ScriptedLLM(*([{}] * 10))
    updater = make(root, clock, llm, max_per_hour=2, per_user_interval_seconds=0)
    assert updater.consider(msg("long enough message one", author="U1"))
    assert updater.consider(msg("long enough message two", author="U2"))
    assert not updater.consider(msg("long enough message three", author="U3"))
    clock.advance(3599)
    assert not updater.consider(msg("long enough message four", author="U3"))
    clock.advance(1)
    assert updater.consider(msg("long enough message five", author="U3"))
    await updater.drain()
    assert len(llm.requests) == 3
    off = make(root, clock, ScriptedLLM(), max_per_hour=0)
    assert not off.consider(msg("long enough message six", author="U4"))


async def test_short_bot_self_and_disabled_are_ignored(root: Path, clock: FakeClock) -> None:
    llm = ScriptedLLM()
    updater = make(root, clock, llm, min_chars=15)
    assert not updater.consider(msg("   short one    "))  # 9 characters once stripped
    assert not updater.consider(msg("<@123456789012345678> hi there"))  # mention markup is not text
    assert not updater.consider(msg("a long message from another bot", is_bot=True))
    assert not updater.consider(msg("a long message from this very bot", is_self=True))
    assert not updater.consider(msg("a long message but with a bad id", author="../U1"))
    assert not make(root, clock, llm, enabled=False).consider(msg("a long message while disabled"))
    await updater.drain()
    assert llm.requests == []
    assert updater.consider(msg("exactly fifteen"))  # 15 characters
    llm.script.append({})
    await updater.drain()


@pytest.mark.parametrize("reply", ["{}", "[]", "no facts", '{"phone": "+1 415 555 0100"}', '{"age": null}'])
async def test_empty_extraction_writes_nothing(root: Path, clock: FakeClock, reply: str) -> None:
    updater = make(root, clock, ScriptedLLM(reply))
    updater.consider(msg("nothing personal in this message"))
    await updater.drain()
    assert not root.exists() or list(root.rglob("*.md")) == []


async def test_unchanged_facts_leave_the_file_alone(root: Path, clock: FakeClock) -> None:
    updater = make(root, clock, ScriptedLLM({"age": 27}, {"age": 27}), per_user_interval_seconds=0)
    assert await updater.process(msg("i am 27 years old now"))
    before = profile(root).stat().st_mtime_ns
    assert not await updater.process(msg("did i say i am 27?"))
    assert profile(root).stat().st_mtime_ns == before


async def test_llm_errors_are_logged_and_swallowed(
    root: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    llm = ScriptedLLM(ProviderError("groq", ErrorKind.RATE_LIMIT, "slow down"))
    updater = make(root, clock, llm)
    with caplog.at_level(logging.INFO, logger="framework.memory.profiles"):
        assert updater.consider(msg("i'm 27 and love minecraft"))
        await updater.drain()
    assert not root.exists()
    assert any(r.levelno == logging.INFO and "skipped" in r.getMessage() for r in caplog.records)


async def test_plain_llm_is_called_without_cheap(root: Path, clock: FakeClock) -> None:
    llm = PlainLLM('{"age": 31}')
    updater = make(root, clock, llm)
    updater.consider(msg("i just turned 31 today"))
    await updater.drain()
    assert llm.calls == 1 and read_profile_facts(profile(root).read_text()) == {"age": 31}


async def test_dm_profile_layout(root: Path, clock: FakeClock) -> None:
    updater = make(root, clock, ScriptedLLM({"age": 40}))
    updater.consider(msg("i'm 40 and tired of it", guild=None))
    await updater.drain()
    assert read_profile_facts((root / "dms" / "U1" / "profile.md").read_text()) == {"age": 40}


async def test_max_file_bytes_is_respected(root: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    path = profile(root)
    path.parent.mkdir(parents=True)
    path.write_text("# User: Dana\n\n" + "x" * 1000 + "\n")
    updater = ProfileUpdater(
        llm=ScriptedLLM({"age": 27}), root=root, locks=PathLocks(), clock=clock, config=ProfilesConfig(),
        max_file_bytes=1024,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="framework.memory.profiles"):
        assert not await updater.process(msg("i'm 27 years old"))
    assert "profile-facts" not in path.read_text()
    assert any("over 1024" in r.getMessage() for r in caplog.records)


async def test_stop_cancels_in_flight_extractions(root: Path, clock: FakeClock) -> None:
    llm = ScriptedLLM({"age": 27})
    llm.gate = asyncio.Event()
    updater = make(root, clock, llm)
    assert updater.consider(msg("i'm 27 and love minecraft"))
    await asyncio.sleep(0)
    assert llm.requests  # waiting on the model
    await updater.stop()
    await updater.drain()
    assert not root.exists()


async def test_memory_tool_edit_is_not_lost(root: Path, clock: FakeClock) -> None:
    """Deterministic: the updater's read-merge-write waits while the tool holds the file."""
    tool = MemoryTool(root)
    model_text = "# User: Dana\n\n## Notes\n- appreciates dark humour\n"
    await tool.run({"command": "create", "path": "/memories/servers/G1/users/U1.md", "file_text": model_text}, G1)
    updater = make(root, clock, ScriptedLLM({"age": 27}), locks=tool.locks)
    parts = ("servers", "G1", "users", "U1.md")
    async with tool.locks.hold(parts):
        assert updater.consider(msg("i'm 27 and love minecraft"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert "profile-facts" not in profile(root).read_text()  # still waiting for the lock
        # What a tool command holding the lock would do:
        profile(root).write_text(model_text + "- got the job at TechCorp\n")
    await updater.drain()
    text = profile(root).read_text()
    assert "- got the job at TechCorp" in text and "- appreciates dark humour" in text
    assert read_profile_facts(text) == {"age": 27}


async def test_concurrent_tool_edits_and_profile_updates(root: Path, clock: FakeClock) -> None:
    tool = MemoryTool(root)
    lines = "".join(f"- note {i} original\n" for i in range(10))
    create = {"command": "create", "path": "/memories/servers/G1/users/U1.md", "file_text": "# User: Dana\n\n" + lines}
    await tool.run(create, G1)
    llm = ScriptedLLM(*({"interests": [f"topic{i}"]} for i in range(10)))
    updater = make(root, clock, llm, locks=tool.locks)

    async def edit(i: int) -> None:
        await tool.run(
            {"command": "str_replace", "path": "/memories/servers/G1/users/U1.md",
             "old_str": f"- note {i} original", "new_str": f"- note {i} edited"},
            G1,
        )  # fmt: skip

    updates = (updater.process(msg(f"long message number {i}")) for i in range(10))
    await asyncio.gather(*(edit(i) for i in range(10)), *updates)
    text = profile(root).read_text()
    assert all(f"- note {i} edited" in text for i in range(10))
    assert sorted(read_profile_facts(text)["interests"]) == [f"topic{i}" for i in range(10)]
    assert tool.locks.idle
