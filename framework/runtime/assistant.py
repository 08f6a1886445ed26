"""The personal assistant's parts for one bot process (``assistant.enabled``).

The store (todos, events, settings in ``messages.db``), the person's time zone and the
client tools over them; the composition root offers the tools to every provider and
gives the context builder the zone for the "now" line. When the bot has a master (access
``master_dm``) it also keeps reminders: the ``reminders`` tool, and the delivery that the
bot process's reminder loop runs (a reminder goes to the master's DM; an open bot has no
one to send it to, so it has no reminders).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from ..assistant import PersonZone, assistant_tools
from ..assistant.reminder_delivery import ReminderDelivery
from ..assistant.reminders import ReminderTool
from ..clock import Clock
from ..config.assistant import AssistantConfig
from ..ports import ClientTool, DirectMessagePort
from ..storage.assistant import AssistantStore
from ..storage.reminders import ReminderStore

__all__ = ["AssistantParts", "open_assistant"]


@dataclass
class AssistantParts:
    store: AssistantStore  # also the settings table: ``get_setting`` / ``set_setting``
    zone: PersonZone
    tools: list[ClientTool]
    reminders: ReminderDelivery | None = None  # run by the reminder loop; None without a master


async def open_assistant(
    config: AssistantConfig, database: Path, clock: Clock, resources: AsyncExitStack,
    *, master_id: str | None = None, dms: DirectMessagePort | None = None,
) -> AssistantParts | None:
    """Open the store and build the tools (reminders too when there is a master to send
    them to, through ``dms``); None when the assistant is off."""
    if not config.enabled:
        return None
    store = await AssistantStore.open(database)
    resources.push_async_callback(store.close)
    zone = PersonZone(store, config.timezone)
    await zone.current()  # the "now" line of the first request uses the stored zone
    parts = AssistantParts(store=store, zone=zone, tools=assistant_tools(store, zone, clock))
    if master_id is not None and dms is not None:
        reminders = await ReminderStore.open(database)
        resources.push_async_callback(reminders.close)
        parts.tools.append(ReminderTool(reminders, zone, clock))
        parts.reminders = ReminderDelivery(reminders, dms, master_id, clock)
    return parts
