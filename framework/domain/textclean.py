"""Clean-up of loose text from non-Claude models before it can reach Discord.

Small open models answer the way Ana's Groq waterfall saw them do:
a ``<think>`` block first (qwen3), the whole answer in a code fence, a JSON object instead
of text, the bot's own name as a chat-log prefix ("Alpha: hey"), the reply in quotes.
:func:`clean` undoes all of that and returns plain text, or ``""`` when nothing usable is
left (the caller then treats the reply as absent). Raw JSON is never returned.

Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "clean",
    "strip_think",
    "unwrap_fence",
    "unwrap_json",
    "strip_prefixes",
    "strip_quotes",
    "collapse_whitespace",
    "truncate",
    "DEFAULT_MAX_CHARS",
]

DEFAULT_MAX_CHARS = 2000  # one Discord message

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_OPEN_THINK = re.compile(r"<(?:think|thinking|reasoning)>", re.I)
_FENCE = re.compile(r"^```(?:[\w+-]*[ \t]*\n)?(.*?)\n?```$", re.S)
_JSON_KEYS = ("message", "response", "reply", "text", "content", "responses", "answer")
# Never the reply: a plan's reasoning, addressing and metadata.
_NOT_TEXT = frozenset({
    "reasoning", "thinking", "thought", "thoughts", "analysis", "target", "author", "timestamp", "id", "type",
    "role", "name", "model", "response_strategy", "conversation_momentum", "search_query", "send_image",
})
_MESSAGE_FIELD = re.compile(r'"(?:message|response|reply|text|content)"\s*:\s*"((?:[^"\\]|\\.)*)"')
_GENERIC_NAMES = ("assistant", "bot", "ai", "me", "model", "response", "reply", "answer")
_REPLYING_ECHO = re.compile(r"^\[replying to @[^\]]*\]\s*", re.I)
_BRACKET_NAME = re.compile(r"^\[[^\]\n]{1,60}\]\s*:\s*")
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "`": "`"}


def strip_think(text: str) -> str:
    """Drop ``<think>…</think>`` blocks; an unclosed one (cut by max tokens) drops the rest."""
    text = _THINK.sub("", text)
    match = _OPEN_THINK.search(text)
    return text[: match.start()] if match else text


def unwrap_fence(text: str) -> str:
    """The inside of a code fence wrapping the whole answer; anything else unchanged."""
    match = _FENCE.match(text.strip())
    return match.group(1).strip() if match else text


def _looks_like_json(text: str) -> bool:
    # "[laughs] ok" starts with a bracket too; only a bracket opening a value counts.
    return text.startswith("{") or bool(re.match(r'^\[\s*(?:[{\["\d]|$)', text))


def _text_of(value: Any, depth: int = 0) -> str:
    """The reply inside a decoded JSON value: the first non-empty well-known field, else any string."""
    if depth > 4:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        if value.get("should_respond") is False:  # a plan that chose silence says nothing
            return ""
        for key in _JSON_KEYS:
            if key in value:
                found = _text_of(value[key], depth + 1)
                if found:
                    return found
        for key, item in value.items():
            found = "" if key in _NOT_TEXT else _text_of(item, depth + 1)
            if found:
                return found
    if isinstance(value, list):
        parts = [_text_of(item, depth + 1) for item in value]
        return "\n".join(p for p in parts if p)
    return ""


def unwrap_json(text: str) -> str:
    """Text that is a JSON value becomes the reply inside it, or ``""``; other text is unchanged."""
    stripped = text.strip()
    if not _looks_like_json(stripped):
        return text
    try:
        return _text_of(json.loads(stripped))
    except ValueError:
        pass
    match = _MESSAGE_FIELD.search(stripped)  # truncated JSON: rescue the message field
    if match:
        try:
            return str(json.loads(f'"{match.group(1)}"')).strip()
        except ValueError:
            return match.group(1).strip()
    return ""


def strip_prefixes(text: str, names: Iterable[str] = ()) -> str:
    """Drop chat-log prefixes: a ``[replying to @…]`` echo, ``[Name]:``, ``Name:`` (bot names and
    generic ones such as ``Assistant:``/``Bot:``), optionally bold (``**Alpha:**``)."""
    alternatives = sorted({n.strip() for n in (*names, *_GENERIC_NAMES) if n and n.strip()}, key=len, reverse=True)
    named = re.compile(
        r"^\**\s*(?:" + "|".join(re.escape(n) for n in alternatives) + r")\s*\**\s*:\s*\**\s*", re.I
    )
    for _ in range(3):  # "Alpha: Alpha: hi" happens; a few rounds are enough
        before = text
        text = _REPLYING_ECHO.sub("", text)
        text = _BRACKET_NAME.sub("", text)
        text = named.sub("", text, count=1)
        if text == before:
            break
    return text


def strip_quotes(text: str) -> str:
    """Remove one pair of quotes around the whole text, if the text has no other such quote."""
    text = text.strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
        inner = text[1:-1]
        if text[0] not in inner and _QUOTES[text[0]] not in inner:
            return inner.strip()
    return text


def collapse_whitespace(text: str) -> str:
    """Single spaces inside lines, no blank runs longer than one line, no edge blanks."""
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def truncate(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """At most ``max_chars``: cut after a sentence end in the second half, else at a space, with ``…``."""
    if len(text) <= max_chars:
        return text
    window = text[: max_chars - 1]
    ends = [m.end() for m in re.finditer(r"[.!?](?:\s|$)", window)]
    if ends and ends[-1] >= max_chars // 2:
        return window[: ends[-1]].rstrip()
    space = window.rfind(" ")
    cut = window[:space] if space >= max_chars // 2 else window
    return cut.rstrip(" ,;:-") + "\u2026"


def clean(text: str | None, *, names: Iterable[str] = (), max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Loose model output to plain text for Discord; ``""`` when nothing usable is left.

    Order matters: thinking goes before the fence and JSON checks (qwen puts ``<think>``
    before the JSON), and prefixes go before and after the quotes (``"Alpha: hi"`` and
    ``Alpha: "hi"`` both occur).
    """
    if not text:
        return ""
    names = list(names)
    out = strip_think(text).strip()
    out = unwrap_fence(out).strip()
    out = unwrap_json(out).strip()
    out = strip_prefixes(out, names)
    out = strip_quotes(out)
    out = strip_prefixes(out, names)
    out = collapse_whitespace(out)
    if _looks_like_json(out) and unwrap_json(out) != out:  # JSON revealed by the steps above
        out = collapse_whitespace(unwrap_json(out))
    return truncate(out, max_chars) if out else ""
