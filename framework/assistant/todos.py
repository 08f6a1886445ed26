"""The ``todos`` tool: add, list, complete, update and delete the person's todos."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..clock import Clock
from ..domain import ToolError
from ..domain.assistant import PRIORITIES, TODO_STATUSES, Todo, new_id
from .store import AssistantStorePort
from .times import day_end, parse_when, show, show_date
from .tool import AssistantTool, optional_text, required_text
from .zone import PersonZone

__all__ = ["todo_json", "todos_tool"]

_SECOND = timedelta(seconds=1)

_DESCRIPTION = (
    "The person's todo list. action: add (title; optional notes, due, priority), list (show: open, done or all; "
    "default open), complete (id), update (id and the fields to change; due \"\" clears it; status open reopens), "
    "delete (id). `due` is ISO 8601 with the person's UTC offset (2026-12-03T17:00+01:00) or a date "
    "(2026-12-03: due by the end of that day). Times come back in the person's time zone."
)

_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "description": "The todo's id (from add or list)."},
    "title": {"type": "string", "description": "What to do, short."},
    "notes": {"type": "string", "description": "Optional details."},
    "due": {"type": "string", "description": "ISO 8601 time with offset, or a date; \"\" clears it (update)."},
    "priority": {"type": "string", "enum": list(PRIORITIES)},
    "status": {"type": "string", "enum": list(TODO_STATUSES), "description": "update only: open reopens a done todo."},
    "show": {"type": "string", "enum": ["open", "done", "all"], "description": "list only; default open."},
}


def todo_json(todo: Todo, zone: ZoneInfo) -> dict[str, Any]:
    """A todo as the model (and ``bot_manager todos --json``) sees it: local times."""
    item: dict[str, Any] = {"id": todo.id, "title": todo.title, "priority": todo.priority, "status": todo.status}
    if todo.notes:
        item["notes"] = todo.notes
    if todo.due_at is not None:
        # a date-only due is stored as the end of its day: show the day itself
        item["due"] = show_date(todo.due_at.replace(microsecond=0) - _SECOND, zone) if todo.due_all_day else show(
            todo.due_at, zone
        )
    if todo.completed_at is not None:
        item["completed_at"] = show(todo.completed_at, zone)
    return item


def _due(args: dict[str, Any], zone: ZoneInfo) -> tuple[datetime | None, bool]:
    when = parse_when(args["due"], zone, "due")
    if when.day is not None:
        return day_end(when.day, zone), True
    return when.moment, False


def _priority(args: dict[str, Any]) -> str | None:
    value = args.get("priority")
    if value is None:
        return None
    if value not in PRIORITIES:
        raise ToolError(f"priority must be one of {', '.join(PRIORITIES)}")
    return str(value)


def todos_tool(store: AssistantStorePort, zone: PersonZone, clock: Clock) -> AssistantTool:
    async def existing(args: dict[str, Any], action: str) -> Todo:
        todo_id = required_text(args, "id", action)
        todo = await store.get_todo(todo_id)
        if todo is None:
            raise ToolError(f"there is no todo with id {todo_id!r}; list the todos to see their ids")
        return todo

    async def add(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        now = clock.now()
        due_at, all_day = _due(args, tz) if args.get("due") else (None, False)
        todo = Todo(
            id=new_id(now), title=required_text(args, "title", "add"), notes=optional_text(args, "notes") or "",
            due_at=due_at, due_all_day=all_day, priority=_priority(args) or "normal", status="open",
            created_at=now, updated_at=now, completed_at=None,
        )
        await store.add_todo(todo)
        return {"added": todo_json(todo, tz)}

    async def list_(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        show_ = args.get("show", "open")
        if show_ not in ("open", "done", "all"):
            raise ToolError("show must be open, done or all")
        todos = await store.list_todos(None if show_ == "all" else show_)
        return {"time_zone": tz.key, "show": show_, "count": len(todos), "todos": [todo_json(t, tz) for t in todos]}

    async def complete(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        todo = await existing(args, "complete")
        if todo.status == "done":
            return {"already_done": todo_json(todo, tz)}
        now = clock.now()
        todo = replace(todo, status="done", completed_at=now, updated_at=now)
        await store.save_todo(todo)
        return {"completed": todo_json(todo, tz)}

    async def update(args: dict[str, Any]) -> dict[str, Any]:
        tz = await zone.current()
        todo = await existing(args, "update")
        now = clock.now()
        changes: dict[str, Any] = {}
        if "title" in args:
            changes["title"] = required_text(args, "title", "update")
        if "notes" in args:
            changes["notes"] = optional_text(args, "notes") or ""
        if "due" in args:
            if args["due"] == "":
                changes["due_at"], changes["due_all_day"] = None, False
            else:
                changes["due_at"], changes["due_all_day"] = _due(args, tz)
        if (priority := _priority(args)) is not None:
            changes["priority"] = priority
        if "status" in args:
            if args["status"] not in TODO_STATUSES:
                raise ToolError("status must be open or done")
            changes["status"] = args["status"]
            changes["completed_at"] = (todo.completed_at or now) if args["status"] == "done" else None
        if not changes:
            raise ToolError("update needs at least one of title, notes, due, priority, status")
        todo = replace(todo, updated_at=now, **changes)
        await store.save_todo(todo)
        return {"updated": todo_json(todo, tz)}

    async def delete(args: dict[str, Any]) -> dict[str, Any]:
        todo = await existing(args, "delete")
        await store.delete_todo(todo.id, clock.now())
        return {"deleted": {"id": todo.id, "title": todo.title}}

    return AssistantTool(
        "todos", _DESCRIPTION, _PROPERTIES,
        {"add": add, "list": list_, "complete": complete, "update": update, "delete": delete},
    )
