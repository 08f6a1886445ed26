"""The personal assistant's client tools: todos, the calendar and the person's time zone.

Each tool works on plain types through :class:`~framework.assistant.store.AssistantStorePort`
(the SQLite store is ``framework.storage.assistant``), takes times as ISO 8601 with an
offset (:mod:`framework.assistant.times`) and answers in the person's zone
(:class:`~framework.assistant.zone.PersonZone`). Offered only to a bot with
``assistant.enabled``.
"""

from __future__ import annotations

from ..clock import Clock
from ..ports import ClientTool
from .calendar import calendar_tool
from .store import AssistantStorePort
from .timezone_tool import time_zone_tool
from .todos import todos_tool
from .zone import PersonZone

__all__ = ["PersonZone", "assistant_tools"]


def assistant_tools(store: AssistantStorePort, zone: PersonZone, clock: Clock) -> list[ClientTool]:
    """The todo, calendar and time-zone tools over one store."""
    return [todos_tool(store, zone, clock), calendar_tool(store, zone, clock), time_zone_tool(zone, clock)]
