"""The text side of Ana's behaviour: how a reply is cut into messages, and where a typo slips in.

Pure functions; randomness comes from the caller's ``random.Random``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..domain.textclean import collapse_whitespace
from .text import DISCORD_LIMIT, split_message

__all__ = ["Typo", "split_reply", "inject_typo"]

_TOKEN = re.compile(r"\S+")


def split_reply(
    text: str,
    *,
    single_below_chars: int = 120,
    search_past_middle: int = 40,
    separators: Sequence[str] = (". ", "! ", "? ", "... ", ", "),
) -> list[str]:
    """Ana's split: several non-empty lines → one message each; one line shorter than
    ``single_below_chars`` → one message; else cut after the last separator (the first kind,
    in order, that occurs) ending before ``len/2 + search_past_middle``; none → one message.

    Each part is then kept within Discord's 2000 characters (a longer part is cut again at
    natural boundaries). Empty text gives ``[]``.
    """
    text = collapse_whitespace(text)
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) > 1:
        parts = lines
    elif len(text) < single_below_chars:
        parts = [text] if text else []
    else:
        parts = [text]
        end = len(text) // 2 + search_past_middle
        for sep in separators:
            idx = text.rfind(sep, 0, end)
            if idx != -1:
                cut = idx + len(sep)
                parts = [p for p in (text[:cut].strip(), text[cut:].strip()) if p]
                break
    return [chunk for part in parts for chunk in split_message(part, DISCORD_LIMIT)]


@dataclass(frozen=True)
class Typo:
    """``text`` with one swapped letter pair; ``correction`` is ``*`` + the word as it should be."""

    text: str
    correction: str
    word: str


def inject_typo(text: str, rng: random.Random, *, min_word_length: int = 4) -> Typo | None:
    """Swap one letter with the next in a random purely alphabetic word of at least
    ``min_word_length`` letters, at a position in [1, len − 2] (the first letter stays).

    None when no word qualifies, or when the swap changes nothing (a double letter). The rest
    of the text, spacing included, is unchanged.
    """
    candidates = [m for m in _TOKEN.finditer(text) if m.group().isalpha() and len(m.group()) >= min_word_length]
    if not candidates:
        return None
    match = rng.choice(candidates)
    word = match.group()
    pos = rng.randint(1, len(word) - 2)
    typo = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
    if typo == word:
        return None
    return Typo(text=text[: match.start()] + typo + text[match.end() :], correction="*" + word, word=word)
