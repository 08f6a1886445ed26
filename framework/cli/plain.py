"""Plain-text output for the verbs that must start fast: no Rich, no Typer, no Click.

Colour is plain ANSI, used only on a terminal and never when ``NO_COLOR`` is set to a
non-empty value (https://no-color.org); the width is the terminal's, or 80 columns when
the output is piped (``shutil.get_terminal_size``, which also honours ``COLUMNS``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TextIO

__all__ = ["colour_wanted", "print_error", "terminal_width", "unknown_bot_message", "write_out"]

_RED = "\x1b[31m"
_RESET = "\x1b[0m"


def colour_wanted(stream: TextIO) -> bool:
    try:
        is_terminal = stream.isatty()
    except (AttributeError, ValueError):  # a stand-in stream, or a closed one
        return False
    return is_terminal and not os.environ.get("NO_COLOR")


def terminal_width() -> int:
    return shutil.get_terminal_size((80, 24)).columns


def write_out(text: str) -> None:
    """Write to stdout; a reader that went away (``status | head -1``) is not an error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def print_error(message: str) -> None:
    """One ``error: ...`` line on stderr, the word ``error:`` red on a terminal."""
    label = f"{_RED}error:{_RESET}" if colour_wanted(sys.stderr) else "error:"
    sys.stderr.write(f"{label} {message}\n")
    sys.stderr.flush()


def unknown_bot_message(home: Path, bot: str, configured: list[str]) -> str:
    known = ", ".join(configured) or "none"
    return f"no bot named {bot!r}: {home / 'bots' / (bot + '.yaml')} does not exist (configured: {known})"
