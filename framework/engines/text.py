"""Text helpers for outgoing messages."""

from __future__ import annotations

import re

__all__ = ["DISCORD_LIMIT", "split_message"]

DISCORD_LIMIT = 2000

# Preferred cut points, best first: paragraph, line, sentence end, word.
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+"))


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters at natural boundaries.

    Prefers paragraph breaks, then line breaks, sentence ends and spaces; a single word
    longer than ``limit`` is cut hard. Empty chunks are never produced.
    """
    text = text.strip()
    chunks: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for pattern in _BREAKS:
            # The last boundary in the window that leaves a non-trivial first chunk.
            matches = [m for m in pattern.finditer(window) if m.start() > limit // 4]
            if matches:
                cut = matches[-1].start()
                rest_at = matches[-1].end()
                break
        if cut <= 0:
            cut = rest_at = limit
        chunks.append(text[:cut].rstrip())
        text = text[rest_at:].lstrip()
    if text:
        chunks.append(text)
    return chunks
