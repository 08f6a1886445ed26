"""Chat commands of the behaviour layer: ``!joke`` and owner-only ``!shutdown``.

As in Ana, a message that starts with the command prefix is a command or nothing: it is
never answered as chat (it is probably meant for another bot). ``!shutdown`` obeys only
the Discord user ids in ``discord.owner_ids``; from anyone else it is ignored and logged.
The engine returns actions; the executor sends them and, on :class:`Shutdown`, stops the
process with exit code 0 (the supervisor treats that as a deliberate stop).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from ..config.behaviour import CommandsConfig
from .actions import Action, Send, Shutdown, Wait
from .jokes import JokeService

__all__ = ["Command", "CommandName", "parse_command", "is_command_prefixed", "is_owner", "shutdown_plan", "run_command"]

_log = logging.getLogger(__name__)

CommandName = Literal["joke", "shutdown"]


@dataclass(frozen=True)
class Command:
    """A recognised command; ``args`` is whatever followed the command word."""

    name: CommandName
    args: str = ""


def _configured(config: CommandsConfig) -> list[tuple[CommandName, str]]:
    pairs: list[tuple[CommandName, str | None]] = [("joke", config.joke_command), ("shutdown", config.shutdown_command)]
    return [(name, word) for name, word in pairs if word]


def parse_command(text: str, config: CommandsConfig) -> Command | None:
    """The command a message gives (its first word equals a configured command, any case), else None."""
    head, _, rest = text.strip().partition(" ")
    for name, word in _configured(config):
        if head.lower() == word.lower():
            return Command(name, rest.strip())
    return None


def is_command_prefixed(text: str, config: CommandsConfig) -> bool:
    """True when the message starts with a command prefix (the leading symbol of a configured command,
    e.g. ``!``): such a message is handled as a command or ignored, never answered as chat."""
    prefixes = {word[0] for _, word in _configured(config) if not word[0].isalnum()}
    stripped = text.lstrip()
    return bool(stripped) and stripped[0] in prefixes


def is_owner(user_id: str, owner_ids: Collection[str]) -> bool:
    """Whether ``user_id`` may use owner-only commands (``discord.owner_ids``)."""
    return str(user_id) in {str(o) for o in owner_ids}


def shutdown_plan(author_id: str, owner_ids: Collection[str], config: CommandsConfig) -> list[Action]:
    """An owner's ``!shutdown``: the goodbye lines ``shutdown_line_gap_seconds`` apart, then
    :class:`Shutdown` (exit 0). Anyone else: ``[]``, and a warning in the log."""
    if not is_owner(author_id, owner_ids):
        _log.warning("ignored %s from user %s: not in discord.owner_ids", config.shutdown_command, author_id)
        return []
    plan: list[Action] = []
    for i, line in enumerate(config.shutdown_lines):
        if i:
            plan.append(Wait(config.shutdown_line_gap_seconds))
        plan.append(Send(line))
    plan.append(Shutdown(0))
    return plan


async def run_command(
    command: Command,
    *,
    author_id: str,
    owner_ids: Collection[str],
    config: CommandsConfig,
    jokes: JokeService,
) -> list[Action]:
    """The actions answering ``command`` from ``author_id``."""
    if command.name == "joke":
        return await jokes.joke_command()
    return shutdown_plan(author_id, owner_ids, config)
