"""Placeholder registered early so parallel work does not collide in cli/__init__.py."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
