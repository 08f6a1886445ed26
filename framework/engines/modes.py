"""Which mode a message puts the bot in (normal, roast, flirt) and whether it triggers a reply.

Ana matched every word of her lists case-insensitively anywhere, so "l", "nt", "bot",
"hell", "dog", "mid", "date", "hot", "later" and "night" fired on ordinary chat.
The rule here (per list in ``behaviour.modes``):

* ``words`` (unambiguous: "stfu", "touch grass", "marry me") count anywhere as whole words.
* ``context_words`` (everyday words: "mid", "dog", "hot", "later") count only
  1. as the whole message, give or take the bot's names, audience words ("all", "guys")
     and tail words ("lol", "fr"), e.g. "mid", "night all", "ana bot", "L"; or
  2. right after a cue: ``cues`` ("ur", "you're", "are you" for roast/flirt; "i'm", "feeling"
     for triggers) or a name + "is"/"'s", with up to four filler words between ("so",
     "such a", "a bit of a") and nothing after it but tail words before the clause ends
     (line end, punctuation, emoji or "but"): "ur so mid", "you're literally a dog lol", "ana is a bot" count; "ur dog is
     cute", "did you see my dog", "i'm happy to help" do not.
* An entry with a capital letter matches case-sensitively: "L" counts, a lone "l" never does.

Mentions, custom emoji and links are removed before matching, so ``<:clown:1>`` or a URL
containing "hot-dog" cannot trigger. The patterns are compiled once per detector.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, replace
from typing import Literal

from ..clock import Clock
from ..config.behaviour import BehaviourConfig, RoastCapConfig, WordListConfig

__all__ = ["Mode", "ModeResult", "ModeDetector", "RoastLimiter", "FILLERS", "AUDIENCE", "TAILS"]

Mode = Literal["normal", "roast", "flirt"]

FILLERS = (
    "so", "such", "a", "an", "the", "really", "rly", "very", "too", "kinda", "kind", "sort", "of", "bit",
    "lowkey", "highkey", "literally", "actually", "being", "just", "straight", "totally", "fr", "ngl",
    "def", "like", "lil", "little", "big", "total", "complete", "absolute", "certified", "real", "whole",
)
"""Words allowed between a cue and a context word ("you're *such a* clown")."""
AUDIENCE = ("all", "everyone", "everybody", "guys", "yall", "y'all", "folks", "ppl", "people", "fam", "gang", "chat")
TAILS = (
    "af", "asf", "lol", "lmao", "lmfao", "ngl", "tbh", "fr", "frfr", "tho", "though", "bro", "bruh", "rn",
    "today", "tonight", "honestly", "too",
)
"""Words allowed after a context word before the clause ends ("ur mid *af lol*")."""
MAX_FILLERS = 4

_NOISE = re.compile(r"<a?:\w+:\d+>|<[@#][!&]?\d+>|https?://\S+", re.I)  # custom emoji, mentions, links
_TOKEN = re.compile(r"[\w']+")
_NON_WORD = re.compile(r"[^\w\s]")
_SP = r"[^\S\n]+"  # spaces on one line: a cue and its word must share a line


@dataclass(frozen=True)
class ModeResult:
    """What one message means for the bot.

    ``triggered``: mentioned, or a trigger/roast/flirt word counted. ``low_signal``: the
    message is only low-signal words ("lol", "bruh"). ``matched``: the entry that set the
    mode (or the trigger), for the decision log. ``roast_capped``: a roast downgraded to
    normal by :class:`RoastLimiter`.
    """

    mode: Mode
    triggered: bool
    low_signal: bool
    matched: str | None = None
    roast_capped: bool = False


def _case_sensitive(entry: str) -> bool:
    return entry != entry.lower()


def _alternation(entries: list[str], *, insensitive: bool) -> str:
    """Escaped entries (longest first so phrases win), spaces as any run of spaces."""
    chosen = sorted({e.strip() for e in entries if _case_sensitive(e) != insensitive}, key=len, reverse=True)
    parts = [_SP.join(re.escape(w) for w in entry.split()) for entry in chosen]
    if not parts:
        return ""
    body = "|".join(parts)
    return f"(?i:{body})" if insensitive else f"(?:{body})"


def _either(entries: list[str]) -> str | None:
    alts = [a for a in (_alternation(entries, insensitive=True), _alternation(entries, insensitive=False)) if a]
    return "(?:" + "|".join(alts) + ")" if alts else None


def _plain(entry: str) -> str:
    return " ".join(entry.split())


class _ModeMatcher:
    """The compiled form of one word list."""

    def __init__(self, words: WordListConfig, names: list[str]) -> None:
        anywhere = _either(list(words.words))
        self._anywhere = re.compile(rf"(?<!\w){anywhere}(?!\w)") if anywhere else None
        context = _either(list(words.context_words))
        self._cued = None
        if context:
            cues = [f"(?i:{_SP.join(map(re.escape, c.split()))})" for c in words.cues]
            cues += [f"(?i:{re.escape(n)})(?:'s|{_SP}is)" for n in names]
            if cues:
                fillers = "|".join(map(re.escape, FILLERS))
                tails = "|".join(map(re.escape, (*TAILS, *names)))
                self._cued = re.compile(
                    rf"(?<![\w'])(?:{'|'.join(cues)})(?i:(?:{_SP}(?:{fillers})){{0,{MAX_FILLERS}}}){_SP}{context}"
                    rf"(?![\w'])(?=(?i:(?:{_SP}(?:{tails}))*)[^\S\n]*(?:\Z|\n|[^\w\s']|(?i:but)(?!\w)))"
                )
        self._alone_ci = {_plain(e).lower() for e in words.context_words if not _case_sensitive(e)}
        self._alone_cs = {_plain(e) for e in words.context_words if _case_sensitive(e)}

    def match(self, text: str, alone: str) -> str | None:
        """The entry that counts in ``text`` (``alone``: the message reduced to its core), or None."""
        if alone and (alone.lower() in self._alone_ci or alone in self._alone_cs):
            return alone
        for pattern in (self._anywhere, self._cued):
            found = pattern.search(text) if pattern else None
            if found:
                return found.group(0)
        return None


class ModeDetector:
    """Detects trigger, roast and flirt words with patterns built once from ``config.modes``."""

    def __init__(self, config: BehaviourConfig) -> None:
        modes = config.modes
        names = list(modes.names)
        self._trigger = _ModeMatcher(modes.trigger, names)
        self._roast = _ModeMatcher(modes.roast, names)
        self._flirt = _ModeMatcher(modes.flirt, names)
        self._surround = {w.lower() for w in (*AUDIENCE, *TAILS, *names)}
        self._low_signal = frozenset(w.lower() for w in config.low_signal.words)

    def _core(self, text: str) -> str:
        """The message without names, audience and tail words at either end ("night all" → "night")."""
        tokens = _TOKEN.findall(text)
        while tokens and tokens[0].lower() in self._surround:
            tokens.pop(0)
        while tokens and tokens[-1].lower() in self._surround:
            tokens.pop()
        return " ".join(tokens)

    def detect(self, text: str, mentioned: bool) -> ModeResult:
        """Mode of one message. Roast wins over flirt; any hit or a mention triggers."""
        clean = _NOISE.sub(" ", text.replace("\u2019", "'"))
        core = self._core(clean)
        words = set(_NON_WORD.sub("", clean.lower()).split())
        low_signal = bool(words) and words <= self._low_signal
        roast = self._roast.match(clean, core)
        if roast:
            return ModeResult("roast", True, low_signal, roast)
        flirt = self._flirt.match(clean, core)
        if flirt:
            return ModeResult("flirt", True, low_signal, flirt)
        trigger = self._trigger.match(clean, core)
        return ModeResult("normal", mentioned or trigger is not None, low_signal, trigger)


class RoastLimiter:
    """Caps roast replies per user in a rolling window, so roasting cannot be farmed.

    Ana let a roast bypass every cooldown; here a roast past the cap becomes a normal
    message, which then goes through the ordinary cooldowns.
    """

    def __init__(self, config: RoastCapConfig, clock: Clock) -> None:
        self._max = config.max_per_user
        self._window = config.window_seconds
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def apply(self, result: ModeResult, user_id: str) -> ModeResult:
        """``result`` unchanged unless it is a roast over the cap (then normal mode); counts allowed roasts."""
        if result.mode != "roast":
            return result
        now = self._clock.monotonic()
        self._prune(now)
        times = self._seen.setdefault(user_id, deque())
        if len(times) >= self._max:
            return replace(result, mode="normal", roast_capped=True)
        times.append(now)
        return result

    def _prune(self, now: float) -> None:
        # Every call prunes all users, so the map stays bounded by the users of one window.
        for user_id in list(self._seen):
            times = self._seen[user_id]
            while times and now - times[0] >= self._window:
                times.popleft()
            if not times:
                del self._seen[user_id]
