"""Slash commands typed in the terminal chat: ``/settings model claude-sonnet-4-6``.

A line is matched against the commands the bots registered (``tree.sync()``): the first
word names the command, the next words walk its subcommands, and what is left fills the
arguments in their declared order (the last one takes the rest of the line);
``name:value`` sets one by name. Unknown words are refused with the usage, so a typo never
reaches a bot.
"""

from __future__ import annotations

from typing import Any

__all__ = ["parse_slash", "usage"]

_SUBCOMMAND, _GROUP = 1, 2
_INTEGER, _BOOLEAN, _NUMBER = 4, 5, 10


def usage(command: dict[str, Any]) -> str:
    """``/settings model <name> | status | models [provider]``."""
    def walk(prefix: str, options: list[dict[str, Any]]) -> list[str]:
        subs = [o for o in options if o.get("type") in (_SUBCOMMAND, _GROUP)]
        if subs:
            return [line for o in subs for line in walk(f"{prefix} {o['name']}", o.get("options") or [])]
        args = " ".join(f"<{o['name']}>" if o.get("required") else f"[{o['name']}]" for o in options)
        return [f"{prefix} {args}".rstrip()]

    return " | ".join(walk(f"/{command['name']}", command.get("options") or []))


def parse_slash(line: str, command: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(``"settings model"``, ``{"name": "claude-sonnet-4-6"}``) for a typed line; ``ValueError``
    with the usage when the line does not fit the registered *command*."""
    words = line.strip().lstrip("/").split()
    if not words or words[0] != command["name"]:
        raise ValueError(f"not /{command['name']}")
    path = [words[0]]
    options: list[dict[str, Any]] = command.get("options") or []
    rest = words[1:]
    while any(o.get("type") in (_SUBCOMMAND, _GROUP) for o in options):
        sub = next((o for o in options if rest and o.get("name") == rest[0]
                    and o.get("type") in (_SUBCOMMAND, _GROUP)), None)
        if sub is None:
            raise ValueError(f"usage: {usage(command)}")
        path.append(sub["name"])
        options = sub.get("options") or []
        rest = rest[1:]
    values: dict[str, Any] = {}
    positional = []
    for word in rest:
        name, sep, value = word.partition(":")
        if sep and any(o.get("name") == name for o in options):
            values[name] = value
        else:
            positional.append(word)
    free = [o for o in options if o["name"] not in values]
    for index, option in enumerate(free):
        if not positional:
            break
        last = index == len(free) - 1
        values[option["name"]] = " ".join(positional) if last else positional[0]
        positional = [] if last else positional[1:]
    if positional:
        raise ValueError(f"too many words; usage: {usage(command)}")
    for option in options:
        if option.get("required") and option["name"] not in values:
            raise ValueError(f"{option['name']} is required; usage: {usage(command)}")
        if option["name"] in values:
            values[option["name"]] = _typed(option, values[option["name"]])
    return " ".join(path), values


def _typed(option: dict[str, Any], value: str) -> Any:
    kind = option.get("type")
    try:
        if kind == _INTEGER:
            return int(value)
        if kind == _NUMBER:
            return float(value)
    except ValueError:
        raise ValueError(f"{option['name']} must be a number") from None
    if kind == _BOOLEAN:
        return value.lower() in ("true", "yes", "1", "on")
    return value
