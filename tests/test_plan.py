"""Response plans: valid, malformed, partial and text-only answers, never raw JSON in Discord."""

from __future__ import annotations

import json

import pytest

from framework.domain import ResponsePlan, coerce_plan, plan_from_text

VALID = {
    "should_respond": True,
    "response_strategy": "single",
    "responses": [{"target": "Dana's question", "message": "try torch.compile()", "delay": 3}],
    "reasoning": "technical question",
    "conversation_momentum": "warm",
    "triggering_messages": [{"author": "Dana", "content": "PyTorch tricks?", "timestamp": "2025-09-30T14:30:00Z"}],
}


def test_valid_plan_round_trips() -> None:
    plan = coerce_plan(json.dumps(VALID))
    assert plan is not None and plan.messages == ["try torch.compile()"]
    assert plan.responses[0].delay == 3 and plan.conversation_momentum == "warm"
    assert plan.triggering_messages[0].author == "Dana"


def test_fenced_and_prose_wrapped_json_is_repaired() -> None:
    assert coerce_plan("```json\n" + json.dumps(VALID) + "\n```").messages == ["try torch.compile()"]  # type: ignore[union-attr]
    wrapped = "Here is my plan: " + json.dumps(VALID) + " hope that helps"
    assert coerce_plan(wrapped).messages == ["try torch.compile()"]  # type: ignore[union-attr]


def test_partial_plan_gets_defaults() -> None:
    plan = coerce_plan({"responses": [{"message": "hey"}, "and a plain string"]})
    assert plan is not None and plan.should_respond and plan.response_strategy == "double"
    assert plan.messages == ["hey", "and a plain string"]
    assert plan.responses[0].delay == 2.0


def test_single_response_not_in_a_list_and_wild_values() -> None:
    plan = coerce_plan({"should_respond": True, "responses": {"message": "one", "delay": 999}, "conversation_momentum": "lukewarm"})
    assert plan is not None and plan.messages == ["one"] and plan.responses[0].delay == 15
    assert plan.conversation_momentum is None


def test_malformed_plans_are_dropped() -> None:
    assert coerce_plan("not json at all") is None
    assert coerce_plan('{"should_respond": true, "responses": [') is None
    assert coerce_plan([1, 2, 3]) is None
    assert coerce_plan({"should_respond": "perhaps", "responses": []}) is None


def test_respond_with_nothing_to_say_is_silence() -> None:
    plan = coerce_plan({"should_respond": True, "responses": [{"message": "   "}]})
    assert plan is not None and plan.should_respond is False and plan.messages == []


def test_json_shaped_messages_never_reach_discord() -> None:
    plan = coerce_plan({"should_respond": True, "responses": [{"message": '{"message": "unwrapped"}'}, {"message": '{"x": 1}'}]})
    assert plan is not None and plan.messages == ["unwrapped"]


def test_text_only_answers() -> None:
    assert plan_from_text("sure, see you at 8").messages == ["sure, see you at 8"]
    assert plan_from_text(json.dumps(VALID)).messages == ["try torch.compile()"]
    silent = plan_from_text('{"weird": true}')
    assert silent.should_respond is False
    assert plan_from_text("   ").should_respond is False
    # chat that merely starts with a bracket is text, not JSON
    assert plan_from_text("[laughs] fair enough").messages == ["[laughs] fair enough"]
    assert plan_from_text("[1, 2, 3]").should_respond is False


def test_api_schema_is_strict() -> None:
    schema = ResponsePlan.json_schema_for_api()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])


# -- hostile model output: deep nesting and long bracket runs ----------------------------


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "raw",
    ["[" * 3000, "{" * 3000, '{"a":' * 3000, "{" + '"responses": [' * 1000, "```json\n" + "[" * 3000 + "\n```"],
)
def test_deeply_nested_output_never_raises(raw: str) -> None:
    # Before: json.loads recursed once per level and raised RecursionError out of the parser.
    plan = plan_from_text(raw)
    assert isinstance(plan, ResponsePlan)
    assert coerce_plan(raw) is None


def test_a_plan_nested_within_the_limit_still_parses() -> None:
    deep = {"should_respond": True, "responses": [{"message": "ok", "extra": [[[[["x"]]]]]}]}
    assert coerce_plan("note: " + json.dumps(deep)).messages == ["ok"]  # type: ignore[union-attr]


def test_decoding_is_tried_once_per_top_level_object(monkeypatch: pytest.MonkeyPatch) -> None:
    # Retrying the decoder from every "{" made 60,000 of them take seconds (quadratic).
    calls = 0
    real = json.JSONDecoder.raw_decode

    def counting(self: json.JSONDecoder, s: str, idx: int = 0) -> tuple[object, int]:
        nonlocal calls
        calls += 1
        return real(self, s, idx)

    monkeypatch.setattr(json.JSONDecoder, "raw_decode", counting)
    assert coerce_plan("{" * 60_000) is None
    assert calls <= 1
    calls = 0
    assert coerce_plan("prose {x} {y} " + json.dumps(VALID)).messages == ["try torch.compile()"]  # type: ignore[union-attr]
    assert calls == 4  # the whole text once, then {x}, {y} and the plan
