"""Keep secrets out of logs: replace known secret values and secret-shaped strings.

Used by the bot runtime's log formatter and again by the keeper when it copies the
child's output into the log file (belt and braces: a library may print a header).
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Mapping

__all__ = ["Redactor", "secret_values", "RedactingFormatter", "find_secret_shapes"]

# Names of environment variables whose values are secrets.
_SECRET_NAME = re.compile(r"(TOKEN|API_KEY(_\d+)?|SECRET|PASSWORD)$", re.IGNORECASE)
# Shapes of secrets even when we were not told about them.
_SHAPES = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),  # Anthropic keys
    re.compile(r"gsk_[A-Za-z0-9]{16,}"),  # Groq keys
    re.compile(r"[MNO][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]*"),  # Discord bot tokens, even cut short
    re.compile(r"(?i)(authorization:\s*(?:bot|bearer)\s+)[^\s'\"]+"),
]
_SHAPE_KINDS = (  # what each of _SHAPES is, for messages that name the finding
    "an Anthropic API key",
    "a Groq API key",
    "a Discord bot token",
    "an Authorization header with a credential",
)
_MIN_SECRET_LEN = 6  # shorter values would redact ordinary words


def find_secret_shapes(text: str) -> list[tuple[str, int]]:
    """``(kind, line)`` for each secret-shaped string in ``text``, in order (lines count from 1).

    ``kind`` reads like "a Discord bot token"; the secret itself is never returned.
    """
    found: list[tuple[int, str]] = []
    for shape, kind in zip(_SHAPES, _SHAPE_KINDS):
        # "[REDACTED]" after "authorization: bearer" is the redactor's own work, not a secret
        found.extend((m.start(), kind) for m in shape.finditer(text) if "[REDACTED" not in m.group(0))
    return [(kind, text.count("\n", 0, start) + 1) for start, kind in sorted(found)]


def secret_values(environ: Mapping[str, str], extra_names: Iterable[str] = ()) -> dict[str, str]:
    """``{value: NAME}`` for every secret-looking variable in ``environ`` plus ``extra_names``."""
    names = {n for n in environ if _SECRET_NAME.search(n)} | set(extra_names)
    return {
        environ[n]: n
        for n in sorted(names)
        if n in environ and environ[n] and len(environ[n]) >= _MIN_SECRET_LEN
    }


class Redactor:
    """Replaces secret values with ``[REDACTED:NAME]`` and secret shapes with ``[REDACTED]``."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        # Longest first, so a key that contains another key is replaced whole.
        self._secrets = sorted((secrets or {}).items(), key=lambda kv: -len(kv[0]))

    def __call__(self, text: str) -> str:
        for value, name in self._secrets:
            if value in text:
                text = text.replace(value, f"[REDACTED:{name}]")
        for shape in _SHAPES:
            if shape.groups:
                text = shape.sub(lambda m: m.group(1) + "[REDACTED]", text)
            else:
                text = shape.sub("[REDACTED]", text)
        return text


class RedactingFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose output (tracebacks included) passes through a Redactor."""

    def __init__(self, redactor: Redactor, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt=fmt, datefmt=datefmt)
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))
