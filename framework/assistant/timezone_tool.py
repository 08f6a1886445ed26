"""The ``time_zone`` tool: read or change the person's time zone (a setting that syncs)."""

from __future__ import annotations

from typing import Any

from ..clock import Clock
from .times import show
from .tool import AssistantTool, required_text
from .zone import PersonZone

__all__ = ["time_zone_tool"]

_DESCRIPTION = (
    "The person's time zone, used to read and show every todo and calendar time. action: get, or set (zone: an "
    "IANA name such as Europe/Berlin) when the person says where they live or that they moved or travel. "
    "Existing events keep their moments; they are shown in the new zone."
)


def time_zone_tool(zone: PersonZone, clock: Clock) -> AssistantTool:
    async def get(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        return {"time_zone": tz.key, "local_time": show(clock.now(), tz)}

    async def set_(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.set(required_text(args, "zone", "set", limit=64), clock.now())
        return {"time_zone": tz.key, "local_time": show(clock.now(), tz)}

    return AssistantTool(
        "time_zone", _DESCRIPTION, {"zone": {"type": "string", "description": "set only: an IANA zone name."}},
        {"get": get, "set": set_},
    )
