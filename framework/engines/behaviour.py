"""Human timing for replies (Ana's layer) as plans of timed actions.

Nothing here sleeps or talks to Discord: :class:`HumanBehaviour` turns a reply into a list
of actions (:mod:`framework.engines.actions`), and the executor performs them in order
with its clock: ``Wait`` sleeps, ``Typing`` shows the typing indicator for that long,
``Send`` posts (as a reply to the incoming message when ``reply_to_incoming``; these plans
never set ``ping``, and the ``*word`` correction has ``counts=False``), ``React`` reacts to
the incoming message, ``Shutdown`` ends the process after the actions before it.

Where the executor calls what, in Ana's order (quiet = not mentioned and not a roast):

1. ``low_signal_skip(...)`` → drop the message;
2. cooldowns (reactive config), then ``ghost_typing(...)`` → run it, count it as the
   channel's last reply, send nothing;
3. ``reaction_overlay(...)`` → react, and still reply;
4. optionally ``read_delay(...)`` before generating (then ``include_read_delay=False``);
5. ``plan_reply(...)`` once the reply text is known.
"""

from __future__ import annotations

import random

from ..config.behaviour import BehaviourConfig, SecondsRange
from .actions import Action, React, Send, Shutdown, Typing, Wait
from .modes import Mode
from .typos import inject_typo, split_reply
from .text import split_message

# The action types live in .actions (shared with the executor); re-exported for convenience.
__all__ = ["HumanBehaviour", "Action", "Wait", "Typing", "Send", "React", "Shutdown"]


class HumanBehaviour:
    """Ana's human-like timing, typos, threading and follow-ups, driven by ``config`` and ``rng``.

    With ``config.enabled`` false every gate says no and :meth:`plan_reply` returns a plain,
    deterministic plan, so a bot without the layer behaves like an ordinary bot.
    """

    def __init__(self, config: BehaviourConfig, rng: random.Random) -> None:
        self.config = config
        self._rng = rng

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def _uniform(self, span: SecondsRange) -> float:
        return self._rng.uniform(span[0], span[1])

    def _chance(self, probability: float) -> bool:
        return self._rng.random() < probability

    @staticmethod
    def _quiet(mode: Mode, mentioned: bool) -> bool:
        # Ana never plays games with a mention or a roast: those always get a real reply.
        return not mentioned and mode != "roast"

    def low_signal_skip(self, *, low_signal: bool, mode: Mode = "normal", mentioned: bool = False) -> bool:
        """True when a low-signal message ("lol", "bruh") is dropped: not mentioned, not a roast,
        and a draw below ``low_signal.skip_probability``."""
        if not (self.enabled and low_signal and self._quiet(mode, mentioned)):
            return False
        return self._chance(self.config.low_signal.skip_probability)

    def ghost_typing(self, *, mode: Mode = "normal", mentioned: bool = False) -> list[Action] | None:
        """Sometimes (quiet messages only) type for a while and send nothing: ``[Typing(s)]``, else None.

        The defaults mean the caller has already checked that the message is quiet."""
        cfg = self.config.ghost_typing
        if not (self.enabled and self._quiet(mode, mentioned) and self._chance(cfg.probability)):
            return None
        return [Typing(self._uniform(cfg.duration))]

    def reaction_overlay(self, *, mode: Mode = "normal", mentioned: bool = False) -> str | None:
        """Sometimes (quiet messages only) an emoji to react with on top of the reply, else None."""
        cfg = self.config.reactions
        if not (self.enabled and cfg.emoji and self._quiet(mode, mentioned) and self._chance(cfg.probability)):
            return None
        return self._rng.choice(cfg.emoji)

    def read_delay(self, incoming_chars: int, mode: Mode) -> float:
        """Seconds to 'read' the message: quick for a roast, longer the longer the message."""
        cfg = self.config.read_delay
        if mode == "roast":
            return self._uniform(cfg.roast)
        return self._uniform(cfg.normal) + min(cfg.per_char * max(incoming_chars, 0), cfg.per_char_max)

    def typing_time(self, reply_text: str, mode: Mode) -> float:
        """Typing shown once the reply is ready, by mode and reply length (empty reply: short)."""
        cfg = self.config.typing
        if mode == "roast":
            return self._uniform(cfg.roast)
        return self._uniform(self._typing_band(reply_text))

    def _typing_band(self, reply_text: str) -> SecondsRange:
        cfg = self.config.typing
        length = len(reply_text)
        if not reply_text:
            return cfg.empty
        if length < cfg.short_below_chars:
            return cfg.short
        if length < cfg.medium_below_chars:
            return cfg.medium
        return cfg.long

    def plan_reply(
        self,
        reply_text: str,
        *,
        incoming_chars: int,
        mode: Mode,
        mentioned: bool,
        include_read_delay: bool = True,
    ) -> list[Action]:
        """The timed actions that deliver ``reply_text`` to the message that asked for it.

        Enabled: read delay, typing, part 1 (a typo unless roast; threaded when mentioned or
        by chance), the ``*word`` correction by chance, later parts with pauses and typing, at
        most one follow-up line for the mode. An empty reply plans the typing and no send.
        Disabled: typing by length and the reply in Discord-sized parts, the first threaded;
        an empty reply plans nothing.
        """
        text = reply_text.strip()
        if not self.enabled:
            return self._plain_plan(text)
        plan: list[Action] = []
        if include_read_delay:
            plan.append(Wait(self.read_delay(incoming_chars, mode)))
        plan.append(Typing(self.typing_time(text, mode)))
        split = self.config.split
        parts = split_reply(
            text,
            single_below_chars=split.single_below_chars,
            search_past_middle=split.search_past_middle,
            separators=split.separators,
        )
        if not parts:
            return plan
        first, correction = parts[0], None
        typo_cfg = self.config.typo
        if mode != "roast" and self._chance(typo_cfg.probability):
            typo = inject_typo(first, self._rng, min_word_length=typo_cfg.min_word_length)
            if typo is not None:
                first, correction = typo.text, typo.correction
        threaded = mentioned or self._chance(self.config.threading.reply_probability)
        plan.append(Send(first, reply_to_incoming=threaded))
        if correction is not None and self._chance(typo_cfg.correction_probability):
            # A correction is not a new message for rate limits and cooldowns.
            plan += [Wait(self._uniform(typo_cfg.correction_delay)), Send(correction, counts=False)]
        later = self.config.later_parts
        for part in parts[1:]:
            typing = self._uniform(later.typing) + later.typing_per_char * len(part)
            plan += [Wait(self._uniform(later.pause)), Typing(typing), Send(part)]
        plan += self._followup(mode)
        return plan

    def _followup(self, mode: Mode) -> list[Action]:
        cfg = getattr(self.config.followups, mode)
        if not cfg.lines or not self._chance(cfg.probability):
            return []
        return [Wait(self._uniform(cfg.wait)), Typing(self._uniform(cfg.typing)), Send(self._rng.choice(cfg.lines))]

    def _plain_plan(self, text: str) -> list[Action]:
        # No randomness: the shortest time of the length band, then every part back to back.
        if not text:
            return []
        plan: list[Action] = [Typing(self._typing_band(text)[0])]
        for i, part in enumerate(split_message(text)):
            plan.append(Send(part, reply_to_incoming=i == 0))
        return plan
