"""Bot-loop guard: stop two bots from talking to each other forever.

Per channel it counts consecutive bot-authored messages; any human message resets the
count. Once the count reaches ``max_consecutive_bot_turns`` the bot stays quiet in that
channel until a human speaks. openab's soft limit is 20 turns; the default here is 3,
because by default other bots are ignored entirely (``reactive.ignore_bots``) and the
guard matters only where a deployment lets its bots talk to each other.

Feed it every message the channel sees, this bot's own included, so a ping-pong between
two bots counts both sides.
"""

from __future__ import annotations

from ..config.models import ReactiveConfig

__all__ = ["BotLoopGuard"]


class BotLoopGuard:
    """Counts consecutive bot turns per channel; a human message resets the count."""

    def __init__(self, max_consecutive_bot_turns: int = 3) -> None:
        if max_consecutive_bot_turns < 1:
            raise ValueError("max_consecutive_bot_turns must be at least 1")
        self.max_consecutive_bot_turns = max_consecutive_bot_turns
        self._bot_turns: dict[str, int] = {}
        self._blocked = 0  # replies refused, for stats

    @classmethod
    def from_config(cls, config: ReactiveConfig) -> BotLoopGuard:
        """Build from ``reactive.max_consecutive_bot_turns``."""
        return cls(config.max_consecutive_bot_turns)

    def observe(self, channel_id: str, author_is_bot: bool) -> None:
        """Record one message in the channel."""
        if author_is_bot:
            self._bot_turns[channel_id] = self._bot_turns.get(channel_id, 0) + 1
        else:
            # Dropping the key (rather than storing 0) keeps the dict to channels in a loop.
            self._bot_turns.pop(channel_id, None)

    def allows_reply(self, channel_id: str) -> bool:
        """False once the channel's consecutive bot turns reached the limit."""
        allowed = self.consecutive_bot_turns(channel_id) < self.max_consecutive_bot_turns
        if not allowed:
            self._blocked += 1
        return allowed

    def consecutive_bot_turns(self, channel_id: str) -> int:
        """Bot-authored messages in a row since the last human message."""
        return self._bot_turns.get(channel_id, 0)

    def stats(self, channel_id: str | None = None) -> dict[str, int]:
        """Limit, refusals so far, and either one channel's count or how many channels are held."""
        result = {"max_consecutive_bot_turns": self.max_consecutive_bot_turns, "blocked": self._blocked}
        if channel_id is not None:
            result["consecutive_bot_turns"] = self.consecutive_bot_turns(channel_id)
        else:
            result["channels_held"] = sum(
                1 for n in self._bot_turns.values() if n >= self.max_consecutive_bot_turns
            )
        return result
