"""The one error sync raises on purpose."""

from __future__ import annotations

from ..errors import FrameworkError
from ..exitcodes import FAILURE

__all__ = ["SyncError"]


class SyncError(FrameworkError):
    """Sync could not go on: ``str(err)`` says what and where, ``hint`` the fix."""

    def __init__(self, message: str, hint: str | None = None, code: int = FAILURE) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code
