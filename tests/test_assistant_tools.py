"""The todo, calendar and time-zone tools against the real SQLite store, with a fake clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from framework.assistant import PersonZone, assistant_tools
from framework.domain import ConversationScope, ToolError
from framework.storage.assistant import AssistantStore

from .fakes import FakeClock

SCOPE = ConversationScope("cortana", None, "900", "100000000000000001")


class Assistant:
    def __init__(self, store: AssistantStore, clock: FakeClock, zone: PersonZone) -> None:
        self.store, self.clock, self.zone = store, clock, zone
        self.tools = {t.name: t for t in assistant_tools(store, zone, clock)}

    async def __call__(self, tool: str, **args: Any) -> dict[str, Any]:
        return json.loads(await self.tools[tool].run(args, SCOPE))

    async def refused(self, tool: str, **args: Any) -> str:
        with pytest.raises(ToolError) as caught:
            await self.tools[tool].run(args, SCOPE)
        return str(caught.value)


@pytest.fixture
async def assistant(tmp_path: Path) -> AsyncIterator[Assistant]:
    store = await AssistantStore.open(tmp_path / "messages.db")
    clock = FakeClock(datetime(2026, 3, 27, 12, 0, tzinfo=timezone.utc))
    try:
        yield Assistant(store, clock, PersonZone(store, "Europe/Berlin"))
    finally:
        await store.close()


# -- todos -----------------------------------------------------------------------------


async def test_todos_crud_through_the_tool(assistant: Assistant) -> None:
    added = (await assistant("todos", action="add", title="buy milk", due="2026-03-28", priority="high"))["added"]
    assert added["due"] == "2026-03-28" and added["priority"] == "high" and added["status"] == "open"
    timed = (await assistant("todos", action="add", title="call mum", due="2026-03-30T18:00+02:00"))["added"]
    assert timed["due"] == "2026-03-30T18:00+02:00" and timed["priority"] == "normal"
    await assistant("todos", action="add", title="someday")

    listed = await assistant("todos", action="list")
    assert [t["title"] for t in listed["todos"]] == ["buy milk", "call mum", "someday"]  # by due, undated last
    assert listed["time_zone"] == "Europe/Berlin"

    assistant.clock.advance(60)
    done = (await assistant("todos", action="complete", id=added["id"]))["completed"]
    assert done["status"] == "done" and done["completed_at"] == "2026-03-27T13:01+01:00"
    assert [t["title"] for t in (await assistant("todos", action="list"))["todos"]] == ["call mum", "someday"]
    assert [t["title"] for t in (await assistant("todos", action="list", show="done"))["todos"]] == ["buy milk"]

    updated = (await assistant("todos", action="update", id=timed["id"], title="call mum and dad", due=""))["updated"]
    assert updated["title"] == "call mum and dad" and "due" not in updated
    reopened = (await assistant("todos", action="update", id=added["id"], status="open"))["updated"]
    assert reopened["status"] == "open" and "completed_at" not in reopened

    assert (await assistant("todos", action="delete", id=timed["id"]))["deleted"]["id"] == timed["id"]
    everything = await assistant("todos", action="list", show="all")
    assert {t["title"] for t in everything["todos"]} == {"buy milk", "someday"}
    await assistant("todos", action="complete", id=everything["todos"][1]["id"])
    assert [(t["title"], t["status"]) for t in (await assistant("todos", action="list", show="all"))["todos"]] == [
        ("buy milk", "open"), ("someday", "done")]  # open ones first
    assert "no todo with id" in await assistant.refused("todos", action="complete", id=timed["id"])


async def test_todo_arguments_are_checked_with_actionable_messages(assistant: Assistant) -> None:
    assert "add needs a non-empty title" in await assistant.refused("todos", action="add", title=" ")
    assert "priority must be one of low, normal, high" in await assistant.refused(
        "todos", action="add", title="x", priority="urgent"
    )
    assert "action must be one of add, list, complete, update, delete" in await assistant.refused("todos", action="x")
    assert "unknown: colour" in await assistant.refused("todos", action="add", title="x", colour="red")
    message = await assistant.refused("todos", action="add", title="x", due="2026-03-28T09:00")
    assert "no UTC offset" in message and "2026-03-28T09:00+01:00" in message


# -- calendar ----------------------------------------------------------------------------


async def test_touching_events_do_not_conflict_and_overlapping_ones_come_back(assistant: Assistant) -> None:
    first = await assistant("calendar", action="create", title="standup", start="2026-03-27T09:00+01:00",
                            end="2026-03-27T10:00+01:00", location="office")
    assert first["saved"] and first["created"]["start"] == "2026-03-27T09:00+01:00"
    touching = await assistant("calendar", action="create", title="review", start="2026-03-27T10:00+01:00",
                               end="2026-03-27T11:00+01:00")
    assert touching["saved"], "an event starting when the previous one ends does not clash"

    clash = await assistant("calendar", action="create", title="dentist", start="2026-03-27T09:30+01:00",
                            end="2026-03-27T10:15+01:00")
    assert clash["saved"] is False
    assert [c["title"] for c in clash["conflicts"]] == ["standup", "review"]
    assert "allow_conflict" in clash["next"]
    assert len((await assistant("calendar", action="list", **{"from": "2026-03-27", "to": "2026-03-27"}))["events"]) == 2

    forced = await assistant("calendar", action="create", title="dentist", start="2026-03-27T09:30+01:00",
                             end="2026-03-27T10:15+01:00", allow_conflict=True)
    assert forced["saved"]
    # moving an event onto another is refused the same way; its own old slot is no conflict
    moved = await assistant("calendar", action="update", id=first["created"]["id"], start="2026-03-27T10:30+01:00")
    assert moved["saved"] is False and [c["title"] for c in moved["conflicts"]] == ["review"]
    own = await assistant("calendar", action="update", id=first["created"]["id"], start="2026-03-27T08:45+01:00")
    assert own["saved"] is False and [c["title"] for c in own["conflicts"]] == ["dentist"]
    early = await assistant("calendar", action="update", id=first["created"]["id"], start="2026-03-27T08:00+01:00")
    assert early["saved"] and early["updated"]["end"] == "2026-03-27T09:00+01:00"  # the hour's duration kept


async def test_conflicts_across_the_spring_dst_change_use_real_moments(assistant: Assistant) -> None:
    # Berlin, night of 2026-03-28/29: 02:00 CET becomes 03:00 CEST
    night = await assistant("calendar", action="create", title="night shift", start="2026-03-28T22:00+01:00",
                            end="2026-03-29T03:00+02:00")
    assert night["saved"] and night["created"]["end"] == "2026-03-29T03:00+02:00"
    # 01:00Z is 03:00 CEST: it touches the shift's end
    after = await assistant("calendar", action="create", title="sleep", start="2026-03-29T01:00Z",
                            end="2026-03-29T08:00+02:00")
    assert after["saved"] and after["created"]["start"] == "2026-03-29T03:00+02:00"
    # 01:30 CET is before the jump: inside the shift
    inside = await assistant("calendar", action="create", title="call", start="2026-03-29T01:30+01:00",
                             end="2026-03-29T01:45+01:00")
    assert inside["saved"] is False and [c["title"] for c in inside["conflicts"]] == ["night shift"]
    # 02:30 does not exist that night: refused with the two real choices
    gap = await assistant.refused("calendar", action="create", title="x", start="2026-03-29T02:30+01:00")
    assert "does not exist in Europe/Berlin" in gap and "2026-03-29T01:30+01:00" in gap and "03:30+02:00" in gap
    # last winter's offset for a summer date: refused, with the right one
    slip = await assistant.refused("calendar", action="create", title="x", start="2026-07-01T15:00+01:00")
    assert "UTC+02:00" in slip and "2026-07-01T15:00+02:00" in slip


async def test_the_repeated_autumn_hour_is_two_different_times(assistant: Assistant) -> None:
    await assistant("time_zone", action="set", zone="America/Los_Angeles")
    # 2026-11-01 in Los Angeles: 01:00-02:00 happens twice (PDT -07:00, then PST -08:00)
    first = await assistant("calendar", action="create", title="first 1:15", start="2026-11-01T01:15-07:00",
                            end="2026-11-01T01:45-07:00")
    second = await assistant("calendar", action="create", title="second 1:15", start="2026-11-01T01:15-08:00",
                             end="2026-11-01T01:45-08:00")
    assert first["saved"] and second["saved"], "the same wall times, an hour apart"
    spanning = await assistant("calendar", action="create", title="long", start="2026-11-01T01:40-07:00",
                               end="2026-11-01T01:20-08:00")
    assert [c["title"] for c in spanning["conflicts"]] == ["first 1:15", "second 1:15"]
    ambiguous = await assistant.refused("calendar", action="create", title="x", start="2026-11-01T01:30")
    assert "happens twice" in ambiguous and "01:30-07:00" in ambiguous and "01:30-08:00" in ambiguous


async def test_invalid_times_are_refused_with_what_to_write(assistant: Assistant) -> None:
    refused = assistant.refused
    assert "no UTC offset" in await refused("calendar", action="create", title="x", start="2026-03-27T15:00")
    assert "not an ISO 8601 time" in await refused("calendar", action="create", title="x", start="tomorrow 3pm")
    assert "must end after it starts" in await refused(
        "calendar", action="create", title="x", start="2026-03-27T15:00+01:00", end="2026-03-27T14:00+01:00"
    )
    assert "must end after it starts" in await refused(
        "calendar", action="create", title="x", start="2026-03-27T15:00+01:00", end="2026-03-27T15:00+01:00"
    )
    assert "end must be a date too" in await refused(
        "calendar", action="create", title="x", start="2026-03-27", end="2026-03-28T10:00+01:00"
    )
    assert "not a real date" in await refused("calendar", action="create", title="x", start="2026-02-30")
    assert "create needs a start" in await refused("calendar", action="create", title="x")
    assert "not an IANA time zone" in await refused("time_zone", action="set", zone="Mars/Olympus")


async def test_all_day_events_lists_and_deletes_in_the_persons_zone(assistant: Assistant) -> None:
    trip = await assistant("calendar", action="create", title="trip", start="2026-03-28", end="2026-03-29")
    assert trip["created"] | {"id": ""} == {"id": "", "title": "trip", "all_day": True, "start": "2026-03-28",
                                            "end": "2026-03-29", "day": "Saturday"}
    clash = await assistant("calendar", action="create", title="brunch", start="2026-03-29T11:00+02:00")
    assert clash["saved"] is False
    default_week = await assistant("calendar", action="list")  # from today (27th) for a week
    assert default_week["from"] == "2026-03-27T00:00+01:00" and default_week["to"] == "2026-04-03T00:00+02:00"
    assert [e["title"] for e in default_week["events"]] == ["trip"]
    assert (await assistant("calendar", action="list", **{"from": "2026-03-30"}))["events"] == []
    await assistant("calendar", action="delete", id=trip["created"]["id"])
    assert (await assistant("calendar", action="create", title="brunch", start="2026-03-29T11:00+02:00"))["saved"]
    assert "to (" in await assistant.refused("calendar", action="list", **{"from": "2026-03-29", "to": "2026-03-28"})


async def test_the_time_zone_setting_changes_how_times_are_read_and_shown(assistant: Assistant) -> None:
    assert (await assistant("time_zone", action="get"))["time_zone"] == "Europe/Berlin"  # the config's default
    event = await assistant("calendar", action="create", title="call", start="2026-03-27T15:00+01:00")
    set_ = await assistant("time_zone", action="set", zone="Asia/Tokyo")
    assert set_ == {"time_zone": "Asia/Tokyo", "local_time": "2026-03-27T21:00+09:00"}
    assert await assistant.store.get_setting("timezone") == "Asia/Tokyo"
    listed = await assistant("calendar", action="list", **{"from": "2026-03-27", "to": "2026-03-28"})
    assert listed["events"][0]["start"] == "2026-03-27T23:00+09:00" and listed["events"][0]["id"] == event["created"]["id"]
    assert assistant.zone.describe(assistant.clock.now()) == "Local time: Friday 2026-03-27 21:00 (Asia/Tokyo, UTC+09:00)."


async def test_schemas_are_offered_to_claude_and_to_the_openai_compatible_fallbacks(assistant: Assistant) -> None:
    for tool in assistant.tools.values():
        claude, function = tool.anthropic_param(), tool.function_schema()
        assert claude["name"] == function["name"] == tool.name
        assert claude["input_schema"] == function["parameters"]
        assert function["parameters"]["required"] == ["action"]
        assert function["parameters"]["additionalProperties"] is False
    assert assistant.tools["calendar"].function_schema()["parameters"]["properties"]["action"]["enum"] == [
        "create", "list", "update", "delete"
    ]


async def test_every_request_tells_the_model_the_persons_local_time(assistant: Assistant) -> None:
    from framework.engines.context import ContextBuilder

    builder = ContextBuilder(bot_id="cortana", bot_name="Cortana", persona_prompt="P", store=None,  # type: ignore[arg-type]
                             clock=assistant.clock, local_time=assistant.zone.describe)
    line = builder.situation("900", None, [], [])
    assert line.startswith("Now: Friday 2026-03-27 12:00 UTC. Local time: Friday 2026-03-27 13:00 "
                           "(Europe/Berlin, UTC+01:00). Here: a direct message")
    assistant.clock.advance(2 * 86400)  # past the DST change: the offset follows
    assert "Local time: Sunday 2026-03-29 14:00 (Europe/Berlin, UTC+02:00)." in builder.situation("900", None, [], [])
    builder.local_time = None  # a bot without the assistant: UTC only, as before
    assert "Local time" not in builder.situation("900", None, [], [])


async def test_the_groq_fallback_adds_a_todo_and_sees_a_refusal(assistant: Assistant) -> None:
    """The OpenAI-style tool loop of the fallbacks (real Groq SDK against the loopback stub)."""
    from framework.domain import ChatTurn, LLMRequest, ModelSettings
    from framework.llm.groq_llm import GroqProvider
    from tests.stubs.groq import ChatCompletionsStub

    stub = ChatCompletionsStub()
    await stub.start()
    provider = GroqProvider(base_url=stub.base_url, tools=list(assistant.tools.values()))
    try:
        stub.script += [
            {"tool_calls": [
                {"id": "c1", "name": "todos", "arguments": {"action": "add", "title": "renew passport", "due": "2026-04-10"}},
                {"id": "c2", "name": "calendar", "arguments": {"action": "create", "title": "x", "start": "2026-04-10T09:00"}},
            ]},
            {"text": "Added. What time zone offset did you mean for the appointment?"},
        ]
        request = LLMRequest(system="You are Cortana.", turns=(ChatTurn("user", "remind me"),), scope=SCOPE)
        reply = await provider.complete(request, model=ModelSettings("llama-3.1-8b-instant", max_tokens=100),
                                        api_key="gsk_test", timeout=5)
    finally:
        await provider.close()
        await stub.stop()
    assert reply.text.startswith("Added.")
    offered = {t["function"]["name"] for t in stub.requests[0]["body"]["tools"]}
    assert offered == {"todos", "calendar", "time_zone"}
    results = {m["tool_call_id"]: m["content"] for m in stub.requests[1]["body"]["messages"] if m["role"] == "tool"}
    assert json.loads(results["c1"])["added"]["due"] == "2026-04-10"
    assert results["c2"].startswith("Error: start '2026-04-10T09:00' has no UTC offset")
    assert [t.title for t in await assistant.store.list_todos()] == ["renew passport"]
