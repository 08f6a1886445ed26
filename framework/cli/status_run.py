"""``bot_manager status`` without ``--watch``: the verb's work, shared by the Typer command
and the fast path of :func:`framework.cli.main`, so both print the same thing.

Nothing here imports Typer, Click or Rich: the table is plain text
(:mod:`framework.supervisor.status_table`) and errors are one plain line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import exitcodes
from ..paths import list_bot_ids
from ..supervisor.status_table import render_status_text
from ..supervisor.statusview import collect_status
from .plain import colour_wanted, print_error, terminal_width, unknown_bot_message, write_out

__all__ = ["run_status"]


def run_status(home: Path, bot: str | None, *, as_json: bool = False, sample: float = 0.0) -> int:
    """Print the status of ``bot`` (every configured bot when None or empty) as the table
    or, with ``as_json``, the JSON list; return the exit code."""
    bot_ids = list_bot_ids(home)
    if bot:
        if bot not in bot_ids:
            print_error(unknown_bot_message(home, bot, bot_ids))
            return exitcodes.FAILURE
        bot_ids = [bot]
    rows = collect_status(home, bot_ids, cpu_sample=sample)
    if as_json:
        write_out(json.dumps([row.to_json() for row in rows], indent=2) + "\n")
    elif not rows:
        write_out(f"no bots configured in {home / 'bots'}\n")
    else:
        write_out(render_status_text(rows, terminal_width(), colour=colour_wanted(sys.stdout)))
    return exitcodes.OK
