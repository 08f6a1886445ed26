"""What the bot does on the chat, as data: engines plan these, the executor runs them.

Keeping actions as plain values makes human timing testable: a test reads the plan
(type 2.1 s, send, wait 3 s, send a correction) instead of watching a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Action", "Wait", "Typing", "Send", "React", "Shutdown"]


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Typing:
    """Show 'typing…' for this long."""

    seconds: float


@dataclass(frozen=True)
class Send:
    text: str
    reply_to_incoming: bool = False  # thread it as a reply to the message being answered
    ping: bool = False  # notify that message's author
    counts: bool = True  # a real message (rate limits, cooldowns, engagement); False for a "*word" fix


@dataclass(frozen=True)
class React:
    """React to the message being answered."""

    emoji: str


@dataclass(frozen=True)
class Shutdown:
    """Stop the bot process cleanly (owner's command), after the actions before it."""

    exit_code: int = 0


Action = Wait | Typing | Send | React | Shutdown
