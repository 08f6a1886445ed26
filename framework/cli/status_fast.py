"""``bot_manager status`` without Typer: the command lines it understands, read with argparse.

Typer and Click take longer to import than the rest of ``status`` takes to run. The
command lines ``status`` is usually run with (``[--home DIR] status [BOT] [--json]
[--sample S]``) are read here instead and handed to :func:`.status_run.run_status`, the
function the Typer command calls too; only the parsing is repeated. Anything this
parser does not accept exactly (``--help``, ``--watch``, an unknown option, a second
bot, a bot that looks like an option, a bad or negative ``--sample``, an empty
``--home``) returns None, and the Typer app runs the command line instead, so its help
and usage errors are the only ones.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

__all__ = ["fast_status"]


class _NotUnderstood(Exception):
    """The command line is one for the Typer app."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print a usage line of its own and exit 2; Typer's is the one users see.
        raise _NotUnderstood(message)


def _root_parser() -> _Parser:
    parser = _Parser(prog="bot_manager", add_help=False, allow_abbrev=False)
    parser.add_argument("--home")
    return parser


def _status_parser() -> _Parser:
    parser = _Parser(prog="bot_manager status", add_help=False, allow_abbrev=False)
    parser.add_argument("bot", nargs="?")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sample", type=float, default=0.0)
    return parser


def _parse(root_args: Sequence[str], verb_args: Sequence[str]) -> tuple[argparse.Namespace, argparse.Namespace]:
    if "--" in verb_args:
        raise _NotUnderstood("--")  # argparse and Click read what follows it differently
    root = _root_parser().parse_args(root_args)
    status = _status_parser().parse_args(verb_args)
    if root.home == "":
        raise _NotUnderstood("empty --home")
    if status.bot is not None and status.bot.startswith("-") and status.bot != "-":
        raise _NotUnderstood("an option, not a bot")  # argparse takes "-1" for a bot, Click for an option
    if not (math.isfinite(status.sample) and status.sample >= 0):
        raise _NotUnderstood("--sample out of range")
    return root, status


def fast_status(root_args: Sequence[str], verb: str, verb_args: Sequence[str]) -> int | None:
    """Run ``status`` and return its exit code, or None when the Typer app should run it."""
    if verb != "status":
        return None
    try:
        root, status = _parse(root_args, verb_args)
    except _NotUnderstood:
        return None
    from ..paths import project_home
    from .status_run import run_status

    # As the Typer option: --home, else BOT_HOME, else the current directory.
    home = Path(root.home).resolve() if root.home is not None else project_home()
    return run_status(home, status.bot, as_json=status.json, sample=status.sample)
