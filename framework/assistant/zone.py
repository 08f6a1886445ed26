"""The person's time zone: a setting in the bot's database, with the config's as default.

Read from the database on every tool call (a ``/settings`` change or a sync from another
machine takes effect at once), and kept in memory for the request's "now" line, which is
built synchronously; every read and write here refreshes that copy.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from .store import SettingsPort
from .times import load_zone, offset_text

__all__ = ["TIMEZONE_KEY", "PersonZone"]

TIMEZONE_KEY = "timezone"


class PersonZone:
    def __init__(self, settings: SettingsPort, default: str) -> None:
        self._settings = settings
        self.default = default
        self._zone = load_zone(default)

    @property
    def cached(self) -> ZoneInfo:
        """The zone as last read (the default before any read)."""
        return self._zone

    async def current(self) -> ZoneInfo:
        """The zone now in the database (the default when unset or no longer a zone name)."""
        name = await self._settings.get_setting(TIMEZONE_KEY, self.default) or self.default
        try:
            self._zone = ZoneInfo(name)
        except Exception:  # a bad value synced in from elsewhere: fall back, never fail a request
            self._zone = load_zone(self.default)
        return self._zone

    async def set(self, name: str, now: datetime) -> ZoneInfo:
        """Store ``name`` (ToolError when it is not an IANA zone) and use it from now on."""
        zone = load_zone(name)
        await self._settings.set_setting(TIMEZONE_KEY, zone.key, now)
        self._zone = zone
        return zone

    def describe(self, now: datetime) -> str:
        """The "now" line's local part: ``Local time: Wednesday 2026-12-02 14:05 (Europe/Berlin, UTC+01:00).``"""
        local = now.astimezone(self._zone)
        return f"Local time: {local:%A %Y-%m-%d %H:%M} ({self._zone.key}, UTC{offset_text(local.utcoffset())})."
