"""Typed schema of ``assistant``: the personal-assistant tools (todos, calendar).

Off by default: a chat bot in a server has no business keeping anyone's calendar. When
on, the model gets the todo and calendar tools, and every request tells it the current
local date and time in the person's time zone. ``timezone`` is only the starting value:
the person's zone is a setting in the bot's database (the model or ``/settings`` may
change it), and this is what it is until then.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = ["AssistantConfig"]


class AssistantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    """Offer the todo and calendar tools, and tell the model the person's local time."""
    timezone: str = "UTC"
    """The person's IANA time zone (``Europe/Berlin``) until they set another."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)") from None
        return value
