"""What the assistant tools need from storage (framework.storage.assistant.AssistantStore)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..domain.assistant import CalendarEvent, Todo

__all__ = ["AssistantStorePort", "SettingsPort"]


class SettingsPort(Protocol):
    async def get_setting(self, key: str, default: str | None = None) -> str | None: ...

    async def set_setting(self, key: str, value: str, now: datetime) -> None: ...


class AssistantStorePort(SettingsPort, Protocol):
    async def add_todo(self, todo: Todo) -> None: ...

    async def get_todo(self, todo_id: str) -> Todo | None: ...

    async def list_todos(self, status: str | None = "open") -> list[Todo]: ...

    async def save_todo(self, todo: Todo) -> None: ...

    async def delete_todo(self, todo_id: str, now: datetime) -> bool: ...

    async def add_event(self, event: CalendarEvent) -> None: ...

    async def get_event(self, event_id: str) -> CalendarEvent | None: ...

    async def events_between(
        self, start: datetime, end: datetime, *, exclude: str | None = None
    ) -> list[CalendarEvent]: ...

    async def save_event(self, event: CalendarEvent) -> None: ...

    async def delete_event(self, event_id: str, now: datetime) -> bool: ...
