"""Typed schema of ``commands``: the Discord slash commands a bot registers.

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CommandsConfig"]


class CommandsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    slash: bool = False
    """Register ``/settings`` (model, status, models) at start-up; access control applies."""
    models_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 5.0
    """How long ``/settings models`` waits for a provider's model list before showing the configured ones."""
