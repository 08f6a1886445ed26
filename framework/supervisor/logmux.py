"""Several bots' logs as one stream: lines in time order, each prefixed with its bot.

Every line the runtime and the keeper write starts with ``YYYY-MM-DD HH:MM:SS`` (local
time). A line without one (a traceback's body, a child's raw output) belongs to the
timed line before it and keeps its place after it.
"""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from .logtail import Follower

__all__ = ["LogLine", "interleave", "line_time", "parse_since", "since_filter", "BotPrefix", "follow_many"]

_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})")
_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Bot name colours on a terminal, in the order bots are listed (ANSI, like pm2's).
_COLOURS = ("36", "35", "32", "33", "34", "91", "96", "95")


@dataclass(frozen=True)
class LogLine:
    bot: str
    text: str
    at: datetime | None  # the time of the timed line it belongs to; None before the first one


def line_time(line: str) -> datetime | None:
    match = _STAMP.match(line)
    if match is None:
        return None
    try:
        return datetime.fromisoformat(match.group(1).replace(" ", "T"))
    except ValueError:
        return None


def parse_since(text: str, now: datetime) -> datetime:
    """``10m``, ``1h``, ``2d``, ``30s`` before ``now`` (local, naive), or an ISO date/time.

    An ISO time with an offset is converted to local time, as the log's stamps are.
    Raises ``ValueError`` with the accepted forms.
    """
    value = text.strip()
    match = _AGO.match(value)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since {text!r}: expected a duration such as 10m, 1h, 2d, 30s or a date/time such as 2026-01-31T09:00") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone().replace(tzinfo=None)
    return parsed


def _timed(bot: str, lines: list[str]) -> list[LogLine]:
    out: list[LogLine] = []
    current: datetime | None = None
    for text in lines:
        current = line_time(text) or current
        out.append(LogLine(bot, text, current))
    return out


def since_filter(lines: list[LogLine], since: datetime | None) -> list[LogLine]:
    """The lines at or after ``since`` (a line without a time of its own goes with its timed line)."""
    if since is None:
        return lines
    return [line for line in lines if line.at is not None and line.at >= since]


def interleave(per_bot: dict[str, list[str]], since: datetime | None = None) -> list[LogLine]:
    """All bots' lines in time order; equal times keep each file's order, bots in the given order."""
    merged: list[LogLine] = []
    for bot, lines in per_bot.items():
        merged.extend(since_filter(_timed(bot, lines), since))
    if len(per_bot) == 1:
        return merged  # one file is already in the order it was written
    # sorted() is stable: a file's own order survives, and untimed leading lines sort first.
    return sorted(merged, key=lambda line: line.at or datetime.min)


class BotPrefix:
    """``alpha | `` before each line: padded to the longest name, coloured on a terminal."""

    def __init__(self, bots: list[str], colour: bool) -> None:
        self._width = max((len(b) for b in bots), default=0)
        self._colour = {b: _COLOURS[i % len(_COLOURS)] for i, b in enumerate(bots)} if colour else {}

    def __call__(self, line: LogLine) -> str:
        label = f"{line.bot:<{self._width}} |"
        code = self._colour.get(line.bot)
        if code:
            label = f"\x1b[{code}m{label}\x1b[0m"
        return f"{label} {line.text}\n"


def follow_many(
    paths: dict[str, tuple[Path, int]],
    write: Callable[[LogLine], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    interval: float = 0.25,
) -> None:
    """Pass each new complete line of every bot's log to ``write``, across rotation, until ``should_stop()``.

    ``paths`` maps a bot to its log and the offset to start from.
    """
    followers = {bot: Follower(path, offset) for bot, (path, offset) in paths.items()}
    decoders = {bot: codecs.getincrementaldecoder("utf-8")(errors="replace") for bot in paths}
    pending = {bot: "" for bot in paths}
    try:
        while not should_stop():
            wrote = False
            for bot, follower in followers.items():
                data = follower.read()
                if not data:
                    continue
                wrote = True
                *complete, pending[bot] = (pending[bot] + decoders[bot].decode(data)).split("\n")
                for text in complete:
                    write(LogLine(bot, text, line_time(text)))
            if not wrote:
                sleep(interval)
    finally:
        for follower in followers.values():
            follower.close()
