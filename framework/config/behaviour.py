"""Typed schema of ``personality.behaviour``: the human-behaviour layer (modelled on Ana).

Defaults are Ana's constants (message timing, jokes and commands). The layer is off unless
``enabled: true``; a bot without it answers like a plain bot. Timings are seconds; a
range ``[low, high]`` is a uniform draw. Probabilities are draws in [0, 1).

This module must not import ``models.py``: ``models.py`` imports it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BehaviourConfig",
    "ReadDelayConfig",
    "TypingConfig",
    "LowSignalConfig",
    "GhostTypingConfig",
    "ReactionOverlayConfig",
    "TypoConfig",
    "ThreadingConfig",
    "LaterPartsConfig",
    "FollowupModeConfig",
    "FollowupsConfig",
    "SplitConfig",
    "WordListConfig",
    "RoastCapConfig",
    "ModesConfig",
    "JokesConfig",
    "CommandsConfig",
    "SecondsRange",
]

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0)]
Word = Annotated[str, Field(min_length=1, pattern=r"\S")]
Line = Annotated[str, Field(min_length=1, pattern=r"\S")]


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"range [{value[0]}, {value[1]}]: the first number must not exceed the second")
    return value


SecondsRange = Annotated[tuple[Seconds, Seconds], AfterValidator(_ordered)]
"""``[low, high]`` seconds; the behaviour draws uniformly in it."""


class _Section(BaseModel):
    # Same rules as models._Section (unknown keys are errors, values immutable); replicated
    # because models.py imports this module.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _needs_lines(probability: float, lines: list[str], what: str) -> None:
    if probability > 0 and not lines:
        raise ValueError(f"{what}: the probability is above 0 but the list of lines is empty")


class ReadDelayConfig(_Section):
    """Pause before 'reading' the message: roast U(0.2, 0.7); else U(0.5, 1.2) + min(0.004 × chars, 1.8)."""

    roast: SecondsRange = (0.2, 0.7)
    normal: SecondsRange = (0.5, 1.2)
    per_char: Seconds = 0.004
    per_char_max: Seconds = 1.8


class TypingConfig(_Section):
    """Typing shown after the reply is ready, by mode and reply length (Ana's 'extra typing')."""

    roast: SecondsRange = (0.4, 1.2)
    short_below_chars: Annotated[int, Field(ge=1)] = 60
    short: SecondsRange = (0.8, 1.8)
    medium_below_chars: Annotated[int, Field(ge=1)] = 180
    medium: SecondsRange = (1.8, 3.5)
    long: SecondsRange = (3.0, 5.0)
    empty: SecondsRange = (0.5, 1.5)

    @model_validator(mode="after")
    def _bands(self) -> TypingConfig:
        if self.short_below_chars > self.medium_below_chars:
            raise ValueError("short_below_chars must not exceed medium_below_chars")
        return self


class LowSignalConfig(_Section):
    """A message made only of these words (not a mention, not a roast) is skipped with ``skip_probability``."""

    words: list[Word] = [
        "lmao", "omg", "wow", "bruh", "lol", "haha", "ok", "okay",
        "lmaooo", "lmaoo", "omfg", "hahaha", "rofl", "lolol",
    ]
    skip_probability: Probability = 0.05


class GhostTypingConfig(_Section):
    """On quiet messages: sometimes type for a while and then say nothing."""

    probability: Probability = 0.06
    duration: SecondsRange = (1.5, 4.0)


class ReactionOverlayConfig(_Section):
    """On quiet messages: sometimes react with an emoji as well as replying."""

    probability: Probability = 0.10
    emoji: list[Word] = [
        "😭", "💀", "😂", "🙄", "❤️", "😤", "🫠", "👀", "😮", "🤙", "🤣", "💅", "😩", "🥺",
        "✨", "🔥", "😳", "🤦", "😵", "🫡", "😬", "🤌", "🤭", "💯", "😑", "🫶", "🧍", "🤷",
    ]

    @model_validator(mode="after")
    def _has_emoji(self) -> ReactionOverlayConfig:
        _needs_lines(self.probability, self.emoji, "emoji")
        return self


class TypoConfig(_Section):
    """A swapped letter in the first message (never in a roast), often corrected with ``*word``."""

    probability: Probability = 0.04
    min_word_length: Annotated[int, Field(ge=3)] = 4
    correction_probability: Probability = 0.70
    correction_delay: SecondsRange = (1.5, 3.0)


class ThreadingConfig(_Section):
    """The first message is a Discord reply: always when mentioned, else with this probability; never pings."""

    reply_probability: Probability = 0.65


class LaterPartsConfig(_Section):
    """Each message after the first: pause, then type U(typing) + per-character time."""

    pause: SecondsRange = (0.6, 1.2)
    typing: SecondsRange = (0.4, 0.8)
    typing_per_char: Seconds = 0.018


class FollowupModeConfig(_Section):
    """At most one extra line after the reply, for one mode."""

    probability: Probability
    wait: SecondsRange
    typing: SecondsRange
    lines: list[Line]

    @model_validator(mode="after")
    def _has_lines(self) -> FollowupModeConfig:
        _needs_lines(self.probability, self.lines, "lines")
        return self


# Follow-up lines written for this framework in Ana's voice (lowercase, no final period);
# her own lists (28/31/51 lines) are not reproduced.
_ROAST_FOLLOWUPS = [
    "and yes i meant that", "💀", "next", "that one was free", "go sit down", "anyway who's next",
    "u asked for it", "don't make me do a part two", "that's the review", "i'm being nice today",
    "log that somewhere", "ok that's enough attention for u", "aiyyo. sit",
]
_FLIRT_FOLLOWUPS = [
    "ok pretend i didn't say that", "anyway", "don't let it go to ur head", "that was a one time thing",
    "why am i like this", "ok moving on very fast", "we're not talking about this later",
    "i blame the time of day", "u did that on purpose", "...i stand by it tho",
    "don't screenshot that", "ok i'm normal again",
]
_NORMAL_FOLLOWUPS = [
    "wait no", "actually nvm", "ok ignore that", "hmm", "or not idk", "that made more sense in my head",
    "anyway", "lol ok", "wait what was i saying", "ok that's all", "...yeah", "no but fr",
    "i'll stop talking now", "sherikkum tho",
]


class FollowupsConfig(_Section):
    roast: FollowupModeConfig = FollowupModeConfig(
        probability=0.25, wait=(2.5, 5.0), typing=(0.4, 1.0), lines=_ROAST_FOLLOWUPS
    )
    flirt: FollowupModeConfig = FollowupModeConfig(
        probability=0.20, wait=(3.0, 6.0), typing=(0.5, 1.2), lines=_FLIRT_FOLLOWUPS
    )
    normal: FollowupModeConfig = FollowupModeConfig(
        probability=0.08, wait=(4.0, 8.0), typing=(0.5, 1.5), lines=_NORMAL_FOLLOWUPS
    )


class SplitConfig(_Section):
    """Several lines → one message each; one line shorter than ``single_below_chars`` → one message;
    else cut after the last separator (first kind found) before len/2 + ``search_past_middle``."""

    single_below_chars: Annotated[int, Field(ge=1)] = 120
    search_past_middle: Annotated[int, Field(ge=0)] = 40
    separators: list[Annotated[str, Field(min_length=1)]] = [". ", "! ", "? ", "... ", ", "]


class WordListConfig(_Section):
    """One mode's words. See ``framework.engines.modes`` for the matching rule.

    ``words`` count anywhere as whole words. ``context_words`` are everyday words that count
    only as the whole message (give or take names, 'all'/'guys', 'lol'…) or right after a
    cue (``cues``, or a name followed by 'is'/'s'), with up to four filler words between
    and nothing but tail words after. An entry with a capital letter matches case-sensitively.
    """

    words: list[Word] = []
    context_words: list[Word] = []
    cues: list[Word] = []


_YOU_CUES = [
    "ur", "you're", "youre", "ure", "you are", "u are", "u r", "you r", "are you", "r u",
    "you look", "u look", "you sound", "u sound", "you seem", "u seem",
]


class RoastCapConfig(_Section):
    """At most ``max_per_user`` roast replies per user in any ``window_seconds``; past it the message is normal mode."""

    max_per_user: Annotated[int, Field(ge=0)] = 3
    window_seconds: Annotated[float, Field(gt=0)] = 3600


class ModesConfig(_Section):
    """Ana's trigger, roast and flirt lists, split into unambiguous words and everyday words
    that need context (her lists fire on ordinary chat: "hell", "dog", "later")."""

    names: list[Word] = ["ana"]
    """The bot's names: 'ana is …' is a cue, and a name around a lone word is ignored."""
    trigger: WordListConfig = WordListConfig(
        words=[
            "ana", "hello", "hi", "hey", "yo", "sup", "gm", "gn", "goodmorning", "goodnight",
            "goodafternoon", "goodevening", "good morning", "good night", "good afternoon", "good evening",
            "namaste", "hola", "bonjour", "welcome back", "bye", "goodbye", "takecare", "see ya", "seeya",
            "cya", "see you later", "see u later", "happybirthday", "happy birthday", "birthday", "hbd",
            "happybday", "happy bday", "happyanniversary", "happy anniversary", "congrats",
            "congratulations", "bestwishes", "best wishes", "happynewyear", "happy new year", "newyear",
            "merrychristmas", "merry christmas", "christmas", "eidh", "eid", "diwali", "pongal", "onam",
            "holi", "ramadan", "valentines", "valentine", "happymarriedlife", "wedding", "babyshower",
            "getwellsoon", "get well soon", "lmao", "omg", "wow", "bruh",
        ],
        context_words=[
            "morning", "afternoon", "evening", "night", "later", "welcome", "take care", "engagement",
            "sad", "happy", "tired", "angry", "bored", "excited",
        ],
        cues=["i'm", "im", "i am", "i feel", "feeling", "i'm feeling", "im feeling"],
    )
    roast: WordListConfig = WordListConfig(
        words=[
            "idiot", "shut up", "shutup", "stfu", "kys", "loser", "clown", "weirdo", "pathetic",
            "nobody asked", "didnt ask", "didn't ask", "nobody cares", "no one cares", "who asked",
            "begone", "bitch", "bastard", "skill issue", "delulu", "delusional", "touch grass",
            "touch some grass", "worthless", "ratioed", "stay mad", "cry harder", "go cry", "flop era",
            "ur cooked", "take the l", "massive l", "get rekt", "trash tier", "delete yourself",
            "go to hell", "damn you", "dumb bot", "stupid bot", "useless bot",
        ],
        context_words=[
            "L", "nt", "bot", "mid", "dog", "rat", "hell", "damn", "ass", "crap", "wtf", "fake", "lame",
            "cringe", "nerd", "freak", "boring", "irrelevant", "nobody", "cope", "ratio", "get lost",
            "go away", "shut it", "cooked", "npc", "flop", "pick me", "simp", "down bad", "no life",
            "embarrassing", "uninstall", "annoying", "toxic", "womp", "clapped", "ur done", "get good",
            "you lost", "not funny", "bottom tier", "low tier", "expired", "log off", "go outside",
            "dumb", "stupid", "useless", "trash", "ugly",
        ],
        cues=_YOU_CUES,
    )
    flirt: WordListConfig = WordListConfig(
        words=[
            "gorgeous", "sexy", "marry me", "love you", "love u", "ily", "miss you", "think about you",
            "flirt", "rizz", "wanna go out", "you're mine", "youre mine", "babe", "darling",
            "sweetheart", "wanna date", "go out with me", "be mine", "dream girl", "thicc", "baddie",
            "date me", "be my girlfriend", "be my wife",
        ],
        context_words=[
            "cute", "pretty", "beautiful", "hot", "attractive", "crush", "date", "wife", "girlfriend",
            "relationship", "kiss", "hug", "pickup", "pick up", "smooth", "baby", "perfect", "soft",
            "finesse",
        ],
        cues=_YOU_CUES,
    )
    roast_cap: RoastCapConfig = RoastCapConfig()


_INTROS = [
    "ok i need to share this", "this one's been living in my head", "don't judge me",
    "random but", "ok bear with me", "i found this and now it's ur problem", "wait i have one",
    "sorry in advance", "this is so bad but", "someone stop me", "not me doing this again",
    "i'm not even sorry", "ok this is dumb", "u didn't ask but",
]
_OUTROS = [
    "i know i know", "ok that was bad", "anyway", "💀", "i regret nothing", "the delivery tho",
    "ok moving on", "don't look at me", "i'm hilarious actually", "no thoughts just that",
    "that was free", "u laughed admit it", "ok i'll stop", "sherikkum that got me",
]
_SETUPS = [
    "okay don't judge me", "ok u asked for it", "this one's terrible", "fine. here",
    "ok bear with me", "i have just the thing", "brace urself", "don't say i didn't warn u",
]


class JokesConfig(_Section):
    """Dad jokes: unprompted on non-triggered traffic, and on the joke command."""

    enabled: bool = True
    api_url: Annotated[str, Field(pattern=r"^https?://\S+$")] = "https://icanhazdadjoke.com/"
    chance: Probability = 0.15
    cooldown_seconds: Seconds = 60
    max_per_day: Annotated[int, Field(ge=0)] = 3
    """Unprompted jokes per UTC day."""
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 8
    intro_probability: Probability = 0.75
    intro_typing: SecondsRange = (0.6, 1.2)
    intro_pause: SecondsRange = (1.0, 2.0)
    joke_typing: SecondsRange = (1.2, 2.5)
    outro_probability: Probability = 0.5
    outro_pause: SecondsRange = (1.5, 3.5)
    outro_typing: SecondsRange = (0.4, 0.9)
    intros: list[Line] = _INTROS
    outros: list[Line] = _OUTROS
    command_setups: list[Line] = _SETUPS
    command_pause: SecondsRange = (1.0, 2.0)
    command_typing: SecondsRange = (1.2, 2.2)
    no_joke_line: Line = "idk any rn try again later lol"

    @model_validator(mode="after")
    def _has_lines(self) -> JokesConfig:
        _needs_lines(self.intro_probability, self.intros, "intros")
        _needs_lines(self.outro_probability, self.outros, "outros")
        if not self.command_setups:
            raise ValueError("command_setups: needs at least one line")
        return self


Command = Annotated[str, Field(pattern=r"^\S+$")]


class CommandsConfig(_Section):
    """Chat commands; ``null`` turns one off. ``!shutdown`` obeys only ``discord.owner_ids``."""

    joke_command: Command | None = "!joke"
    shutdown_command: Command | None = "!shutdown"
    shutdown_lines: list[Line] = ["okay fine i'm going", "don't miss me too much lol", "bye i guess 💀", "..."]
    shutdown_line_gap_seconds: Seconds = 1.5


class BehaviourConfig(_Section):
    """Human timing, typos, roast/flirt modes, follow-ups, jokes and commands (Ana's layer)."""

    enabled: bool = False
    read_delay: ReadDelayConfig = ReadDelayConfig()
    typing: TypingConfig = TypingConfig()
    low_signal: LowSignalConfig = LowSignalConfig()
    ghost_typing: GhostTypingConfig = GhostTypingConfig()
    reactions: ReactionOverlayConfig = ReactionOverlayConfig()
    typo: TypoConfig = TypoConfig()
    threading: ThreadingConfig = ThreadingConfig()
    later_parts: LaterPartsConfig = LaterPartsConfig()
    followups: FollowupsConfig = FollowupsConfig()
    split: SplitConfig = SplitConfig()
    modes: ModesConfig = ModesConfig()
    jokes: JokesConfig = JokesConfig()
    commands: CommandsConfig = CommandsConfig()
