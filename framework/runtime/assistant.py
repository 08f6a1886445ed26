"""The personal assistant's parts for one bot process (``assistant.enabled``).

The store (todos, events, settings in ``messages.db``), the person's time zone and the
client tools over them; the composition root offers the tools to every provider and
gives the context builder the zone for the "now" line.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from ..assistant import PersonZone, assistant_tools
from ..clock import Clock
from ..config.assistant import AssistantConfig
from ..ports import ClientTool
from ..storage.assistant import AssistantStore

__all__ = ["AssistantParts", "open_assistant"]


@dataclass
class AssistantParts:
    store: AssistantStore  # also the settings table: ``get_setting`` / ``set_setting``
    zone: PersonZone
    tools: list[ClientTool]


async def open_assistant(
    config: AssistantConfig, database: Path, clock: Clock, resources: AsyncExitStack
) -> AssistantParts | None:
    """Open the store and build the tools; None when the assistant is off."""
    if not config.enabled:
        return None
    store = await AssistantStore.open(database)
    resources.push_async_callback(store.close)
    zone = PersonZone(store, config.timezone)
    await zone.current()  # the "now" line of the first request uses the stored zone
    return AssistantParts(store=store, zone=zone, tools=assistant_tools(store, zone, clock))
