"""Bot process states and the keeper's state file (``run/<bot>.state.json``).

The state names follow supervisord (``states.py`` there), plus ``crashed``, which only the
CLI reports: the state file says the bot is active but the keeper that wrote it is gone.

Edges the keeper takes (``keeper.py`` comments each one where it happens)::

    starting -> running      the runtime wrote run/<bot>.ready
    starting|running -> backoff   the runtime crashed, or could not reach Discord (exit 75); restart after a delay
    backoff -> starting      the delay passed
    starting|running|backoff -> fatal   exit code 78, or more than startretries fast crashes (75 never counts)
    starting|running -> stopping  SIGTERM/SIGINT to the keeper
    stopping|backoff -> stopped   the runtime exited (or there was none to stop)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_json, read_json

__all__ = ["BotState", "ACTIVE_STATES", "KeeperStatus", "read_state", "write_state"]


class BotState(str, Enum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"
    FATAL = "fatal"


# States that need a live keeper; seeing one of them without a keeper means "crashed".
ACTIVE_STATES = frozenset({BotState.STARTING, BotState.RUNNING, BotState.BACKOFF, BotState.STOPPING})


@dataclass
class KeeperStatus:
    """What the keeper writes to ``run/<bot>.state.json`` on every transition."""

    state: BotState
    child_pid: int | None = None
    started_at: float | None = None  # wall-clock time the current child was started
    restarts: int = 0
    last_exit_code: int | None = None
    last_error: str | None = None
    updated_at: float | None = None
    retry_at: float | None = None  # wall-clock time the next start is due, while in backoff

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: Any) -> KeeperStatus | None:
        """Parse a state file's content; None when it is not a state record at all."""
        if not isinstance(data, dict):
            return None
        try:
            state = BotState(data.get("state"))
        except ValueError:
            return None
        return cls(
            state=state,
            child_pid=_int_or_none(data.get("child_pid")),
            started_at=_float_or_none(data.get("started_at")),
            restarts=_int_or_none(data.get("restarts")) or 0,
            last_exit_code=_int_or_none(data.get("last_exit_code")),
            last_error=data.get("last_error") if isinstance(data.get("last_error"), str) else None,
            updated_at=_float_or_none(data.get("updated_at")),
            retry_at=_float_or_none(data.get("retry_at")),
        )


def _int_or_none(value: Any) -> int | None:
    # bool is an int subclass; a hand-edited `true` is not a pid.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def read_state(path: Path) -> KeeperStatus | None:
    """The state file at ``path``, or None when it is missing or unreadable."""
    return KeeperStatus.from_json(read_json(path))


def write_state(path: Path, status: KeeperStatus) -> None:
    atomic_write_json(path, status.to_json())
