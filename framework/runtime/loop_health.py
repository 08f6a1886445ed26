"""How each periodic loop of a bot process is doing: its run of consecutive failures.

The bot process writes ``run/<bot>.loops.json`` (:class:`LoopHealth`) and ``bot_manager
status`` reads it (:func:`read_failing_loops`); both live here, apart from the loops
themselves, so ``status`` reads the file without importing asyncio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fsutil import atomic_write_json, read_json

if TYPE_CHECKING:
    from ..clock import Clock

__all__ = ["FAILING_AFTER", "LoopHealth", "read_failing_loops"]

_log = logging.getLogger(__name__)

# One failed pass can be a blip (a model timeout, a locked file); three in a row is a loop
# that is not doing its job, and that is what status reports.
FAILING_AFTER = 3


class LoopHealth:
    """Consecutive failures per loop of one bot process, kept in a small JSON file.

    The file is written only when something changes (a failure, or the first success
    after failures), never on an ordinary pass, and removed at start-up so a previous
    process's troubles are not reported as this one's.
    """

    def __init__(self, path: Path, clock: Clock, redact: Callable[[str], str] = str) -> None:
        self._path = path
        self._clock = clock
        self._redact = redact
        self._loops: dict[str, dict[str, Any]] = {}
        path.unlink(missing_ok=True)

    def failed(self, name: str, exc: BaseException) -> int:
        """Record one failed pass; returns how many failed in a row."""
        entry = self._loops.setdefault(name, {"failures": 0, "since": self._clock.now().isoformat()})
        entry["failures"] += 1
        entry["last_error"] = self._redact(f"{type(exc).__name__}: {exc}")[:300]
        entry["at"] = self._clock.now().isoformat()
        self._write()
        return int(entry["failures"])

    def succeeded(self, name: str) -> None:
        if self._loops.pop(name, None) is not None:
            self._write()

    def failures(self, name: str) -> int:
        return int(self._loops.get(name, {}).get("failures", 0))

    def _write(self) -> None:
        try:
            if self._loops:
                atomic_write_json(self._path, self._loops)
            else:
                self._path.unlink(missing_ok=True)
        except OSError as exc:  # reporting health must never become a failure of its own
            _log.warning("could not write %s: %s", self._path, exc)


def read_failing_loops(path: Path) -> list[str]:
    """One line per loop that failed :data:`FAILING_AFTER` or more passes in a row."""
    data = read_json(path)
    if not isinstance(data, dict):
        return []
    lines = []
    for name, entry in sorted(data.items()):
        if not isinstance(entry, dict):
            continue
        failures = entry.get("failures")
        if isinstance(failures, int) and failures >= FAILING_AFTER:
            lines.append(f"{name} loop failing ({failures} passes in a row): {entry.get('last_error', '?')}")
    return lines
