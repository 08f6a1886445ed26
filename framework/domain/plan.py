"""The response plan (whether to answer, and with what), and how to get one out of whatever a model said.

Claude returns it through structured output (a JSON schema) or a forced tool call;
other providers return loose text. Everything goes through :func:`coerce_plan`, which
repairs what it can (code fences, prose around the JSON, missing fields, a plan that
says "respond" with nothing to say) and otherwise drops the plan. Raw JSON never reaches
Discord: a message that is itself JSON-shaped is unwrapped or discarded.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

__all__ = ["PlannedMessage", "TriggeringMessage", "ResponsePlan", "coerce_plan", "plan_from_text", "PLAN_TOOL_NAME"]

_log = logging.getLogger(__name__)

PLAN_TOOL_NAME = "respond"
MAX_RESPONSES = 3  # a strategy of "none", "single" or "double"; one spare for a split thought


class PlannedMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    target: str = ""
    message: str
    delay: float = Field(default=2.0, ge=0, le=15)
    use_web_search: bool = False
    search_query: str | None = None
    send_image: str | None = None

    @field_validator("delay", mode="before")
    @classmethod
    def _clamp_delay(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return min(max(float(value), 0.0), 15.0)
        return value


class TriggeringMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    author: str = ""
    content: str = ""
    timestamp: str = ""


class ResponsePlan(BaseModel):
    """Whether and how to answer: the messages to send, the strategy, the reasoning behind it."""

    model_config = ConfigDict(extra="ignore")

    should_respond: bool
    response_strategy: Literal["none", "single", "double"] = "single"
    responses: list[PlannedMessage] = []
    reasoning: str = ""
    conversation_momentum: Literal["hot", "warm", "cold"] | None = None
    triggering_messages: list[TriggeringMessage] = []
    # Set when the model's output held nothing to send (empty, or garbage that was dropped),
    # as opposed to a plan that chose silence: a reply that is owed cannot stay silent then.
    _unusable: bool = PrivateAttr(default=False)

    @property
    def messages(self) -> list[str]:
        return [r.message for r in self.responses] if self.should_respond else []

    @property
    def unusable(self) -> bool:
        return self._unusable

    @classmethod
    def silent(cls, reasoning: str) -> ResponsePlan:
        return cls(should_respond=False, response_strategy="none", reasoning=reasoning)

    @classmethod
    def nothing_usable(cls, reasoning: str) -> ResponsePlan:
        plan = cls.silent(reasoning)
        plan._unusable = True
        return plan

    @classmethod
    def json_schema_for_api(cls) -> dict[str, Any]:
        """A strict JSON schema for structured output: every property required, no extras."""
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["should_respond", "response_strategy", "responses", "reasoning", "conversation_momentum"],
            "properties": {
                "should_respond": {"type": "boolean"},
                "response_strategy": {"type": "string", "enum": ["none", "single", "double"]},
                "responses": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["target", "message", "delay"],
                        "properties": {
                            "target": {"type": "string"},
                            "message": {"type": "string"},
                            "delay": {"type": "number"},
                        },
                    },
                },
                "reasoning": {"type": "string"},
                "conversation_momentum": {"type": "string", "enum": ["hot", "warm", "cold"]},
            },
        }


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)
_JSONISH = re.compile(r"^\s*[\[{]")

# A plan is three levels deep; nothing a model should send nests past this. Deeper input is
# refused before decoding, because the JSON decoder recurses once per level and a thousand
# nested brackets raise RecursionError instead of a parse error.
MAX_JSON_DEPTH = 32


def _top_level_objects(text: str) -> tuple[list[int], int]:
    """Start offsets of the top-level ``{`` in ``text``, and its deepest nesting.

    One linear pass that skips over string literals, so decoding is tried once per
    top-level object instead of from every ``{`` (which was quadratic on ``{{{{…``).
    """
    starts: list[int] = []
    depth = deepest = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = depth > 0  # quotes in the prose around the JSON open nothing
        elif char in "{[":
            if depth == 0 and char == "{":
                starts.append(index)
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}]" and depth > 0:
            depth -= 1
    return starts, deepest


def _loads(text: str) -> Any:
    """``json.loads`` that refuses over-deep input with ValueError like any other bad JSON."""
    if _top_level_objects(text)[1] > MAX_JSON_DEPTH:
        raise ValueError("JSON nested too deeply")
    try:
        return json.loads(text)
    except RecursionError:  # a nesting the scan could not see (it is a safety net)
        raise ValueError("JSON nested too deeply") from None


def _first_json_object(text: str) -> Any:
    """The first decodable JSON object in ``text`` (prose around it is ignored)."""
    starts, deepest = _top_level_objects(text)
    if deepest > MAX_JSON_DEPTH:
        return None
    decoder = json.JSONDecoder()
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _is_json(text: str) -> bool:
    try:
        _loads(text)
    except ValueError:
        return False
    return True


def _clean_message(text: str) -> str | None:
    """A message fit for Discord, or None. JSON is never sent as is: an object with a
    message-like field is unwrapped, other JSON dropped; ordinary text that merely starts
    with a bracket ("[laughs] fair") is kept."""
    text = text.strip()
    if not text:
        return None
    if _JSONISH.match(text) and _top_level_objects(text)[1] > MAX_JSON_DEPTH:
        return None  # a wall of brackets is broken output, not something a person would say
    if _JSONISH.match(text):
        inner = _first_json_object(text) if text.startswith("{") or _is_json(text) else None
        if isinstance(inner, dict):
            for key in ("message", "text", "content"):
                if isinstance(inner.get(key), str) and inner[key].strip():
                    return inner[key].strip()
            return None
        if _is_json(text) or text.startswith("{"):
            return None
    return text


def coerce_plan(raw: Any) -> ResponsePlan | None:
    """Turn a model's plan (dict, JSON text, fenced JSON, partial JSON) into a valid plan, or None."""
    data = raw
    if isinstance(raw, str):
        fenced = _FENCE.match(raw)
        text = fenced.group(1) if fenced else raw
        try:
            data = _loads(text)
        except ValueError:
            data = _first_json_object(text)
    if not isinstance(data, dict):
        _log.warning("dropped a response plan that is not a JSON object: %.120r", raw)
        return None
    data = dict(data)
    responses = data.get("responses")
    if isinstance(responses, dict):  # a single response not wrapped in a list
        responses = [responses]
    if isinstance(responses, list):
        repaired = []
        for item in responses[:MAX_RESPONSES]:
            if isinstance(item, str):
                item = {"message": item}
            if isinstance(item, dict) and isinstance(item.get("message"), str):
                cleaned = _clean_message(item["message"])
                if cleaned:
                    repaired.append({**item, "message": cleaned})
        data["responses"] = repaired
    else:
        data["responses"] = []
    if "should_respond" not in data:
        data["should_respond"] = bool(data["responses"])
    if data.get("response_strategy") not in ("none", "single", "double"):
        data["response_strategy"] = {0: "none", 1: "single"}.get(len(data["responses"]), "double")
    if data.get("conversation_momentum") not in ("hot", "warm", "cold", None):
        data["conversation_momentum"] = None
    try:
        plan = ResponsePlan.model_validate(data)
    except ValidationError as exc:
        _log.warning("dropped an invalid response plan: %s", exc.errors()[0]["msg"])
        return None
    if plan.should_respond and not plan.responses:
        _log.info("plan said respond but had nothing to say: treated as silence")
        return ResponsePlan.nothing_usable(plan.reasoning or "empty plan")
    return plan


def plan_from_text(text: str) -> ResponsePlan:
    """A plan for a provider that answered in loose text: JSON if it is a plan, else one message."""
    stripped = text.strip()
    plan = coerce_plan(text) if stripped.startswith(("{", "```")) else None
    if plan is not None:
        return plan
    cleaned = _clean_message(text)
    if not cleaned:
        return ResponsePlan.nothing_usable("no usable text")
    return ResponsePlan(
        should_respond=True, response_strategy="single", responses=[PlannedMessage(message=cleaned)], reasoning="free text"
    )
