"""The model calls a bot made after a given row, read-only: how the sandbox chat learns
which model answered, and that a key was refused, while the bot runs in another process."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import NamedTuple

__all__ = ["CallRow", "calls_after", "last_call_id"]

_log = logging.getLogger(__name__)
_READ_TIMEOUT_S = 0.2  # never keep the chat waiting on a bot that is writing


class CallRow(NamedTuple):
    id: int
    provider: str
    model: str
    key_alias: str | None
    purpose: str
    ok: bool
    error_kind: str | None


def _query(db_path: Path, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
    """Rows of ``sql`` on a read-only connection; [] when the file or the table is not there yet."""
    if not db_path.is_file():
        return []
    try:
        conn = sqlite3.connect(db_path.resolve().as_uri() + "?mode=ro", uri=True, timeout=_READ_TIMEOUT_S)
    except (sqlite3.Error, ValueError, OSError) as exc:
        _log.debug("cannot open %s read-only: %s", db_path, exc)
        return []
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.Error as exc:  # no table before the first call; a lock in rare moments
        _log.debug("cannot read model calls from %s: %s", db_path, exc)
        return []
    finally:
        conn.close()


def last_call_id(db_path: Path) -> int:
    """The newest call's row id (0 when none): calls after it are new."""
    rows = _query(db_path, "SELECT COALESCE(MAX(id), 0) FROM llm_calls", ())
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def calls_after(db_path: Path, after_id: int, limit: int = 100) -> list[CallRow]:
    """Calls with a row id above ``after_id``, oldest first."""
    rows = _query(
        db_path,
        "SELECT id, provider, model, key_alias, purpose, ok, error_kind FROM llm_calls WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    )
    return [
        CallRow(int(r[0]), str(r[1]), str(r[2]), r[3] if r[3] is None else str(r[3]), str(r[4]), bool(r[5]),  # type: ignore[call-overload]
                r[6] if r[6] is None else str(r[6]))
        for r in rows
    ]
