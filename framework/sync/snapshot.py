"""A consistent, self-contained, redacted copy of a bot's live database: ``snapshot.db``.

The live ``messages.db`` is written by a running bot (WAL mode) and is never committed.
:func:`take_snapshot` copies it with SQLite's online backup API (one read transaction: a
consistent state however busy the writer is), then, in the copy only: drops the
machine-local tables (the usage ledger), replaces secret-shaped strings in every text
value with ``[REDACTED]`` (a token pasted in chat must neither leak into git nor block the
bot's whole history from syncing), switches to ``journal_mode=DELETE`` and VACUUMs (one
compact file, no freed pages still holding the text before redaction).

The snapshot file is replaced (atomic rename) only when its rows differ from the snapshot
already there: an unchanged history does not make a new binary blob in git every sync.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError
from ..redact import Redactor, find_secret_shapes
from .dbtables import MACHINE_LOCAL_TABLES, list_tables, quote, table_info

__all__ = ["SnapshotResult", "take_snapshot", "finalize", "content_digest", "count_messages", "SNAPSHOT_NAME"]

SNAPSHOT_NAME = "snapshot.db"
_MESSAGE_TABLES = ("messages", "messages_archive")


@dataclass(frozen=True)
class SnapshotResult:
    path: Path
    changed: bool  # the snapshot file was rewritten
    messages: int  # message ids in the snapshot now (hot + archived)
    previous_messages: int  # ... in the snapshot before (0 when there was none)
    size_bytes: int
    live_size_bytes: int  # the live database with its WAL

    @property
    def new_messages(self) -> int:
        return max(0, self.messages - self.previous_messages)


def count_messages(db: sqlite3.Connection) -> int:
    tables = set(list_tables(db))
    return sum(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _MESSAGE_TABLES if t in tables)


def content_digest(db: sqlite3.Connection) -> str:
    """A hash of the rows of every table, without machine-local rowids, in key order."""
    digest = hashlib.sha256()
    for table in list_tables(db):
        info = table_info(db, table)
        cols = sorted(info.data_columns)
        digest.update(f"\0table {table} {cols}\n".encode())
        select = ", ".join(quote(c) for c in cols)
        for row in db.execute(f"SELECT {select} FROM {quote(table)} ORDER BY {select}"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


# Necessary conditions of the secret shapes in framework.redact, checked by SQLite first so
# the Python check runs on a few rows, not on every message: "sk-ant-", "gsk_", an
# Authorization header, and a Discord token's ".<6 characters>." middle.
_MAYBE_SECRET = "(instr({c}, 'sk-ant-') OR instr({c}, 'gsk_') OR {c} LIKE '%authorization%' OR {c} LIKE '%.______.%'"


def _redact_text(db: sqlite3.Connection, secrets: Mapping[str, str]) -> int:
    """Redact secret shapes and known secret values in every text and blob value; the number changed.

    A blob is searched as Latin-1 text (every byte one character, ASCII as itself), so a
    token stored as bytes is found and replaced like one stored as text.
    """
    redactor = Redactor(secrets)

    def as_text(value: object) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode("latin-1")
        return None

    def has_secret(value: object) -> bool:
        text = as_text(value)
        if text is None:
            return False
        return any(secret in text for secret in secrets) or bool(find_secret_shapes(text))

    def redact(value: object) -> object:
        if isinstance(value, str):
            return redactor(value)
        if isinstance(value, bytes):
            return redactor(value.decode("latin-1")).encode("latin-1", "replace")
        return value

    db.create_function("has_secret", 1, has_secret, deterministic=True)
    db.create_function("redact_secret", 1, redact, deterministic=True)
    values = list(secrets)
    changed = 0
    for table in list_tables(db):
        for col in table_info(db, table).columns:
            c = quote(col)
            maybe = _MAYBE_SECRET.format(c=f"CAST({c} AS TEXT)") + "".join(f" OR instr(CAST({c} AS TEXT), ?)" for _ in values) + ")"
            changed += db.execute(
                f"UPDATE {quote(table)} SET {c} = redact_secret({c}) "
                f"WHERE typeof({c}) IN ('text', 'blob') AND {maybe} AND has_secret({c})",
                values,
            ).rowcount
    return changed


def finalize(db: sqlite3.Connection) -> None:
    """One self-contained compact file: rollback journal, no free pages."""
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("VACUUM")


def _digest_of(path: Path) -> tuple[str, int] | None:
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return content_digest(db), count_messages(db)
        finally:
            db.close()
    except sqlite3.Error:
        return None  # not a database (yet): it will be replaced


def take_snapshot(live_db: Path, snapshot: Path, secrets: Mapping[str, str] | None = None) -> SnapshotResult:
    """Write ``snapshot`` from ``live_db`` (see the module docstring); StoreError on failure.

    ``secrets`` (``{value: NAME}``) are replaced too, by ``[REDACTED:NAME]``.
    """
    tmp = snapshot.with_name(f".{snapshot.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        live_size = sum(p.stat().st_size for p in (live_db, Path(f"{live_db}-wal")) if p.exists())
        src = sqlite3.connect(live_db, timeout=10.0)
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)  # all pages in one step: one consistent read of the live database
            for table in MACHINE_LOCAL_TABLES & set(list_tables(dst)):
                dst.execute(f"DROP TABLE {quote(table)}")
            _redact_text(dst, secrets or {})
            finalize(dst)
            digest, messages = content_digest(dst), count_messages(dst)
        finally:
            dst.close()
            src.close()
        previous = _digest_of(snapshot)
        changed = previous is None or previous[0] != digest
        if changed:
            os.replace(tmp, snapshot)
        return SnapshotResult(
            path=snapshot,
            changed=changed,
            messages=messages,
            previous_messages=previous[1] if previous else 0,
            size_bytes=snapshot.stat().st_size,
            live_size_bytes=live_size,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot snapshot {live_db} into {snapshot}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
