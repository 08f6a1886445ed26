"""What sync knows about the tables of a bot's database, and how each one merges.

A table is merged by its natural key, never by ``id INTEGER PRIMARY KEY`` (a rowid that
differs from machine to machine). Known tables have a rule for rows present on both sides:

- ``messages`` / ``messages_archive`` (key ``message_id``): the newer edit wins (content and
  ``edited_at``), a delete on either side stays deleted (``deleted_at``);
- ``proactive_posts`` (key ``message_id``): an evaluated outcome wins over none;
- the assistant's ``todos``, ``events`` and ``assistant_settings`` (key ``id`` / ``key``),
  and any other table with an ``updated_at`` column: the row with the newer ``updated_at``
  wins whole (equal times: a fixed order of the values, so both machines pick the same
  row), and a tombstone (``deleted_at``) sticks: a row deleted on either side stays deleted
  however recent the other side's edit, so sync never brings a deleted item back;
- anything else with a primary key or a UNIQUE index: the row already here is kept
  (``INSERT OR IGNORE``); a table with no such key is not merged (reported).

Machine-local tables (the usage ledger: what this machine's calls cost) are never
snapshotted nor merged.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["MACHINE_LOCAL_TABLES", "TableInfo", "table_info", "list_tables", "conflict_update", "quote"]

MACHINE_LOCAL_TABLES = frozenset({"llm_calls", "llm_days"})


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[str, ...]
    rowid_alias: str | None  # an ``INTEGER PRIMARY KEY`` column: machine-local, never copied
    key: tuple[str, ...] | None  # the natural key rows are matched on
    required: frozenset[str]  # NOT NULL columns without a default
    has_rowid: bool

    @property
    def data_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c != self.rowid_alias)


def list_tables(db: sqlite3.Connection, schema: str = "main") -> list[str]:
    rows = db.execute(
        f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name"
    ).fetchall()
    return [r[0] for r in rows]


def table_info(db: sqlite3.Connection, table: str, schema: str = "main") -> TableInfo:
    cols = db.execute(f"PRAGMA {schema}.table_info({quote(table)})").fetchall()
    # (cid, name, type, notnull, dflt_value, pk)
    names = tuple(c[1] for c in cols)
    pk = [c for c in sorted(cols, key=lambda c: c[5]) if c[5] > 0]
    sql_row = db.execute(f"SELECT sql FROM {schema}.sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
    sql = (sql_row[0] or "").upper() if sql_row else ""
    has_rowid = "WITHOUT ROWID" not in sql
    rowid_alias = pk[0][1] if len(pk) == 1 and pk[0][2].upper() == "INTEGER" and has_rowid else None
    key: tuple[str, ...] | None = tuple(c[1] for c in pk) if pk and rowid_alias is None else None
    if key is None:
        for _, index, unique, *_rest in db.execute(f"PRAGMA {schema}.index_list({quote(table)})").fetchall():
            if unique:
                key = tuple(r[2] for r in db.execute(f"PRAGMA {schema}.index_info({quote(index)})").fetchall())
                if key and all(key):  # an index on an expression has a NULL column name
                    break
                key = None
    required = frozenset(c[1] for c in cols if c[3] and c[4] is None and c[1] != rowid_alias)
    return TableInfo(table, names, rowid_alias, key, required, has_rowid)


def _newer_edit(table: str, columns: set[str]) -> str | None:
    if not {"content", "edited_at", "deleted_at"} <= columns:
        return None
    t = quote(table)
    newer = f"COALESCE(excluded.edited_at, '') > COALESCE({t}.edited_at, '')"
    return (
        f"content = CASE WHEN {newer} THEN excluded.content ELSE {t}.content END, "
        f"edited_at = CASE WHEN {newer} THEN excluded.edited_at ELSE {t}.edited_at END, "
        f"deleted_at = COALESCE({t}.deleted_at, excluded.deleted_at) "
        f"WHERE {newer} OR ({t}.deleted_at IS NULL AND excluded.deleted_at IS NOT NULL)"
    )


def _evaluated_wins(table: str, columns: set[str]) -> str | None:
    if not {"outcome", "evaluated_at"} <= columns:
        return None
    t = quote(table)
    return (
        f"outcome = excluded.outcome, evaluated_at = excluded.evaluated_at "
        f"WHERE {t}.evaluated_at IS NULL AND excluded.evaluated_at IS NOT NULL"
    )


def _newer_update_wins(table: str, columns: set[str]) -> str | None:
    if "updated_at" not in columns:
        return None
    t = quote(table)
    values = sorted(columns - {"updated_at", "deleted_at"})
    ours = ", ".join(f"COALESCE({t}.{quote(c)}, '')" for c in values)
    theirs = ", ".join(f"COALESCE(excluded.{quote(c)}, '')" for c in values)
    newer = f"(excluded.updated_at > {t}.updated_at OR (excluded.updated_at = {t}.updated_at AND ({theirs}) > ({ours})))"
    sets = [f"{quote(c)} = CASE WHEN {newer} THEN excluded.{quote(c)} ELSE {t}.{quote(c)} END"
            for c in [*values, "updated_at"]]
    where = newer
    if "deleted_at" in columns:  # the earlier tombstone, from whichever side has one
        sets.append(f"deleted_at = COALESCE(min({t}.deleted_at, excluded.deleted_at), {t}.deleted_at, excluded.deleted_at)")
        where += (f" OR (excluded.deleted_at IS NOT NULL AND ({t}.deleted_at IS NULL OR "
                  f"excluded.deleted_at < {t}.deleted_at))")
    return ", ".join(sets) + f" WHERE {where}"


_RULES = {
    "messages": _newer_edit,
    "messages_archive": _newer_edit,
    "proactive_posts": _evaluated_wins,
    "todos": _newer_update_wins,
    "events": _newer_update_wins,
    "assistant_settings": _newer_update_wins,
}


def conflict_update(table: str, columns: set[str]) -> str | None:
    """The ``DO UPDATE SET ... WHERE ...`` part for a row present on both sides, or None (keep ours)."""
    rule = _RULES.get(table)
    if rule is None and "updated_at" in columns:
        rule = _newer_update_wins  # a table that stamps its changes (the reminders): the newer row wins
    return rule(table, columns) if rule else None
