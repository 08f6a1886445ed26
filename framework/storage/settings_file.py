"""Per-bot settings a person changes at run time (``/settings model``), in one JSON file.

``persistence/<bot>/settings.json``, written whole through a temp file and a rename, so a
crash mid-write leaves the old settings, never half a file. A file that cannot be read
as a JSON object is set aside (``settings.json.corrupt-<n>``) and the bot starts from the
config's defaults instead of crashing. Values are strings, keyed by setting name.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from ..fsutil import atomic_write_json

__all__ = ["JsonSettings"]

_log = logging.getLogger(__name__)


class JsonSettings:
    """``get_setting`` / ``set_setting`` over one JSON file (the settings-store port)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = asyncio.Lock()
        self._values: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._values is not None:
            return self._values
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            self._values = {str(k): str(v) for k, v in data.items() if v is not None}
        except FileNotFoundError:
            self._values = {}
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            n = 1
            while (aside := self._path.with_name(f"{self._path.name}.corrupt-{n}")).exists():
                n += 1
            try:
                self._path.rename(aside)
            except OSError:
                pass
            _log.warning("settings file %s unreadable (%s): set aside as %s; using the config's defaults",
                         self._path, exc, aside.name)
            self._values = {}
        return self._values

    async def get_setting(self, key: str) -> str | None:
        return self._load().get(key)

    async def set_setting(self, key: str, value: str | None) -> None:
        """Set (or with None, clear) *key*; on disk before this returns."""
        async with self._lock:
            values = dict(self._load())
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
            await asyncio.to_thread(atomic_write_json, self._path, values)
            self._values = values
