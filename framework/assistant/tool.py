"""One assistant action set as a client tool, and the argument checks they share."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..domain import ConversationScope, ToolError

__all__ = ["AssistantTool", "optional_text", "required_text"]

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class AssistantTool:
    """A tool whose ``action`` argument picks what to do (implements ``ClientTool``)."""

    name: str
    description: str
    properties: dict[str, Any]
    handlers: dict[str, Handler]

    def _schema(self) -> dict[str, Any]:
        properties = json.loads(json.dumps(self.properties))  # a fresh copy each call
        properties["action"] = {"type": "string", "enum": list(self.handlers)}
        return {"type": "object", "properties": properties, "required": ["action"], "additionalProperties": False}

    def anthropic_param(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self._schema()}

    def function_schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self._schema()}

    async def run(self, args: dict[str, Any], scope: ConversationScope) -> str:
        """Do the action; the result is compact JSON, a refusal a ToolError saying what to change."""
        if not isinstance(args, dict):
            raise ToolError(f"{self.name} expects an object of arguments")
        action = args.get("action")
        handler = self.handlers.get(action) if isinstance(action, str) else None
        if handler is None:
            raise ToolError(f"{self.name}: action must be one of {', '.join(self.handlers)}")
        unknown = sorted(str(k) for k in args if k != "action" and k not in self.properties)
        if unknown:
            raise ToolError(f"{self.name} takes only action, {', '.join(self.properties)}; unknown: {', '.join(unknown)}")
        result = await handler({k: v for k, v in args.items() if v is not None})
        return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


def optional_text(args: dict[str, Any], key: str, *, limit: int = 2000) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ToolError(f"{key} must be text")
    value = value.strip()
    if len(value) > limit:
        raise ToolError(f"{key} is {len(value)} characters; keep it under {limit}")
    return value


def required_text(args: dict[str, Any], key: str, action: str, *, limit: int = 200) -> str:
    value = optional_text(args, key, limit=limit)
    if not value:
        raise ToolError(f"{action} needs a non-empty {key}")
    return value
