"""``status --watch``: redraw the status table in place until Ctrl-C."""

from __future__ import annotations

import time
from typing import Callable

import typer
from rich.console import Console, RenderableType
from rich.live import Live

from .. import exitcodes

__all__ = ["watch_status"]


def watch_status(
    console: Console,
    frame: Callable[[], RenderableType],
    interval: float,
    *,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Show ``frame()`` and replace it every ``interval`` seconds; Ctrl-C leaves with exit 0."""
    sleep = sleep or time.sleep
    try:
        with Live(frame(), console=console, auto_refresh=False, transient=False) as live:
            while True:
                sleep(interval)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        # Ctrl-C is how one leaves a watch: a normal exit, not an error.
        raise typer.Exit(exitcodes.OK) from None
