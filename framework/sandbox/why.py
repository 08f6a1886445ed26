"""Why the bot stayed silent, in plain words: the sandbox chat's ``/why``.

The conversation log gives each decision a reason in the engine's own terms
(``channel cooldown (39 s left)``, ``ignored_threshold``, ``periodic check: …``); a reason
may join several parts with ``; ``. Each known part becomes a sentence a person reads
without knowing the engine; an unknown part is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["explain"]

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _rule(pattern: str, say: str | Callable[[re.Match[str]], str]) -> _Rule:
    return re.compile(pattern), (say if callable(say) else (lambda m, s=say: s.format(*m.groups())))


def _chance(m: re.Match[str]) -> str:
    momentum, chance = m.group(1), float(m.group(2))
    return (
        f"nobody spoke to me, so I join in only by chance ({chance:.0%} while the chat is {momentum}), "
        "and this time I let it pass"
    )


_RULES: list[_Rule] = [
    _rule(r"^channel cooldown \((\d+) s left\)$",
          "I spoke in this channel a moment ago and wait before talking here again ({0} s to go)"),
    _rule(r"^user cooldown \((\d+) s left\)$",
          "I answered you a moment ago and give you a break before answering again ({0} s to go)"),
    _rule(r"^ignored_threshold$",
          "my last few messages here got no answer, so I stay quiet until someone talks to me "
          "(mention me, reply to me or DM me and I answer)"),
    _rule(r"^rate_limit_short$", "I have said a lot here in the last few minutes, so I hold back for a while"),
    _rule(r"^rate_limit_long$", "I have said a lot here in the last hour, so I hold back for a while"),
    _rule(r"^mention_response_rate$", "I let some mentions pass on purpose (the bot's mention_response_rate)"),
    _rule(r"^bot-loop guard$", "bots have been talking to each other here; I stay out so we do not loop"),
    _rule(r"^response chance \((\w+), ([0-9.]+)\)$", _chance),
    _rule(r"^author is a bot$", "a bot wrote it, and I do not answer bots"),
    _rule(r"^not a command of this bot$", "it looks like a command, but not one of mine"),
    _rule(r"^command (\S+) refused$", "only my owners may use {0}"),
    _rule(r"^low-signal message$", "it was only a 'lol'-type message, and I sometimes let those pass"),
    _rule(r"^ghost typing$", "I started typing, then thought better of it (on purpose: it looks human)"),
    _rule(r"^access master_dm: channel messages are ignored.*$",
          "I am a private assistant: I answer only my master, only in DMs (try /dm NAME text)"),
    _rule(r"^access master_dm: a DM from someone who is not the master$",
          "I am a private assistant and answer only my master"),
    _rule(r"^periodic check(?:, answered together with \d+ messages)?$", "I read the channel on my regular check"),
    _rule(r"^periodic check: chose silence$", "I read the channel on my regular check and chose to stay quiet"),
    _rule(r"^periodic check: (model.*)$", "I read the channel on my regular check, but no model answered ({0})"),
    _rule(r"^periodic check: (.+)$", "I read the channel on my regular check and chose to stay quiet: {0}"),
    _rule(r"^chose silence$", "I read it and chose to stay quiet"),
    _rule(r"^trigger word$", "you said one of my trigger words"),
    _rule(r"^(mentioned|direct message|reply to the bot)$", "you addressed me ({0})"),
]


def explain(reason: str) -> str:
    """``reason`` from the conversation log as one plain sentence."""
    parts = [part.strip() for part in reason.split("; ") if part.strip()]
    said = [_say(part) for part in parts]
    return "; ".join(said) if said else "no reason was recorded"


def _say(part: str) -> str:
    for pattern, say in _RULES:
        match = pattern.match(part)
        if match:
            return say(match)
    return part
