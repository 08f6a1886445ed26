"""Mode detection: Ana's triggers without her false positives on everyday words, and the roast cap."""

from __future__ import annotations

import re

import pytest

from framework.config.behaviour import BehaviourConfig, ModesConfig, RoastCapConfig, WordListConfig
from framework.engines import modes as modes_module
from framework.engines.modes import ModeDetector, ModeResult, RoastLimiter
from tests.fakes import FakeClock

DETECTOR = ModeDetector(BehaviourConfig(enabled=True))

ORDINARY = [
    # the fragments Ana fired on: l, nt, bot, hell, dog, mid, date, hot, later, night
    "l think the answer is 42",
    "i need an l shaped desk",
    "i don't think that's right",
    "the nt kernel is old",
    "the bot crashed again after the update",
    "what the hell happened to the build",
    "my dog ate my homework",
    "ur dog is so cute",
    "that movie was mid tbh",
    "what date is the exam",
    "it's so hot today",
    "the soup is hot",
    "i'll do it later",
    "are you coming later",
    "did you see the game last night",
    # everyday uses of other listed words
    "I took an L on that exam",
    "this morning the train was late",
    "the pizza was pretty good",
    "my wife made dinner",
    "i love pizza",
    "can you pick me up at 5",
    "how do i uninstall python",
    "i'm going to log off now",
    "the aspect ratio is wrong",
    "damn that's crazy",
    "happy to help with the review",
    "i'm happy to help",
    "you're welcome to join",
    "the user engagement metrics look fine",
    "candy crush is back",
    "take out the trash please",
    "this is a stupid printer",
    "dumb question but how do i rebase",
    "it was boring tbh",
    "i'm tired of this bug",
    # noise that contains list words
    "check https://example.com/hot-dog",
    "nice <:clown:1234567890>",
    "<@123456789> can you review",
]

ROASTS = [
    "ana ur so mid",
    "ur mid af",
    "mid",
    "L",
    "take the L",
    "nt",
    "you're such a bot",
    "are you a bot?",
    "ana bot",
    "Ana's a bot",
    "ana is so dumb",
    "you're literally a dog lol",
    "you\u2019re a bit of a nerd",
    "ur kinda mid ngl 💀",
    "shut up",
    "shut up ana",
    "go touch grass",
    "stfu",
    "ur a clown",
    "nobody asked",
    "ur cute but dumb you're mid",
]

FLIRTS = [
    "ur cute",
    "you're so pretty",
    "you're hot",
    "u r so soft",
    "ana is beautiful",
    "marry me ana",
    "date me",
    "love you ana",
    "be mine",
    "ur cute but dumb",  # roast words need a cue too; "dumb" after "but" has none
]

TRIGGERS = [
    "hey ana",
    "hello everyone",
    "good night everyone",
    "night all",
    "later guys",
    "gm",
    "happy birthday arjun",
    "i'm so tired",
    "im bored rn",
    "lmao",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_chat_triggers_nothing(text: str) -> None:
    assert DETECTOR.detect(text, mentioned=False) == ModeResult("normal", False, False)


@pytest.mark.parametrize("text", ROASTS)
def test_insults_are_roasts(text: str) -> None:
    result = DETECTOR.detect(text, mentioned=False)
    assert (result.mode, result.triggered) == ("roast", True), result


@pytest.mark.parametrize("text", FLIRTS)
def test_flirts_are_flirts(text: str) -> None:
    result = DETECTOR.detect(text, mentioned=False)
    assert (result.mode, result.triggered) == ("flirt", True), result


@pytest.mark.parametrize("text", TRIGGERS)
def test_greetings_and_moods_trigger_in_normal_mode(text: str) -> None:
    result = DETECTOR.detect(text, mentioned=False)
    assert (result.mode, result.triggered) == ("normal", True), result
    assert result.matched


def test_a_mention_triggers_and_keeps_the_mode() -> None:
    assert DETECTOR.detect("<@1> what's the plan", mentioned=True) == ModeResult("normal", True, False)
    assert DETECTOR.detect("<@1> ur so mid", mentioned=True).mode == "roast"


def test_capital_entries_are_case_sensitive_and_lower_ones_are_not() -> None:
    assert DETECTOR.detect("l", mentioned=False).triggered is False
    assert DETECTOR.detect("L", mentioned=False).mode == "roast"
    assert DETECTOR.detect("STFU", mentioned=False).mode == "roast"
    assert DETECTOR.detect("Ur So Mid", mentioned=False).mode == "roast"


def test_cue_and_word_must_share_a_line_and_end_the_clause() -> None:
    assert not DETECTOR.detect("you're\nmid", mentioned=False).triggered
    assert not DETECTOR.detect("ur mid section hurts", mentioned=False).triggered
    assert DETECTOR.detect("ur mid. anyway", mentioned=False).mode == "roast"
    too_far = "you're a bit of a really big nerd"  # five fillers: too far from the cue
    assert not DETECTOR.detect(too_far, mentioned=False).triggered


def test_low_signal_messages() -> None:
    assert DETECTOR.detect("lmao", mentioned=False).low_signal
    assert DETECTOR.detect("LOL!! haha", mentioned=False).low_signal
    assert DETECTOR.detect("<@1> lol", mentioned=True).low_signal
    assert not DETECTOR.detect("lol that's funny", mentioned=False).low_signal
    assert not DETECTOR.detect("!!!", mentioned=False).low_signal


def test_lists_come_from_config_and_patterns_are_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    config = BehaviourConfig(
        modes=ModesConfig(
            names=["zed"],
            trigger=WordListConfig(words=["ahoy"]),
            roast=WordListConfig(words=["scallywag"], context_words=["barnacle"], cues=["thou art"]),
            flirt=WordListConfig(context_words=["Dashing"], cues=["thou art"]),
        )
    )
    detector = ModeDetector(config)

    def no_compile(*args: object, **kwargs: object) -> re.Pattern[str]:
        raise AssertionError("detect() must not compile patterns")

    monkeypatch.setattr(modes_module.re, "compile", no_compile)
    assert detector.detect("ahoy there", mentioned=False).triggered
    assert detector.detect("hey", mentioned=False).triggered is False  # Ana's list is not built in
    assert detector.detect("thou art a barnacle", mentioned=False).mode == "roast"
    assert detector.detect("zed is a barnacle", mentioned=False).mode == "roast"
    assert detector.detect("a barnacle on the hull", mentioned=False).triggered is False
    assert detector.detect("thou art Dashing", mentioned=False).mode == "flirt"
    assert detector.detect("thou art dashing", mentioned=False).triggered is False


# --- roast cap ---------------------------------------------------------------------------


def test_roast_cap_per_user_per_window() -> None:
    clock = FakeClock()
    limiter = RoastLimiter(RoastCapConfig(max_per_user=3, window_seconds=3600), clock)
    roast = DETECTOR.detect("ur so mid", mentioned=False)
    assert [limiter.apply(roast, "u1").mode for _ in range(3)] == ["roast"] * 3
    capped = limiter.apply(roast, "u1")
    assert (capped.mode, capped.roast_capped, capped.triggered) == ("normal", True, True)
    assert limiter.apply(roast, "u2").mode == "roast"  # another user has their own count
    clock.advance(3599)
    assert limiter.apply(roast, "u1").mode == "normal"
    clock.advance(1)  # the first three roasts leave the window
    assert limiter.apply(roast, "u1").mode == "roast"


def test_roast_cap_ignores_other_modes_and_forgets_idle_users() -> None:
    clock = FakeClock()
    limiter = RoastLimiter(RoastCapConfig(max_per_user=1, window_seconds=60), clock)
    flirt = DETECTOR.detect("ur cute", mentioned=False)
    for _ in range(5):
        assert limiter.apply(flirt, "u1") is flirt
    roast = DETECTOR.detect("stfu", mentioned=False)
    for user in range(100):
        limiter.apply(roast, str(user))
    clock.advance(61)
    limiter.apply(roast, "last")
    assert list(limiter._seen) == ["last"]


def test_zero_cap_turns_roasting_off() -> None:
    limiter = RoastLimiter(RoastCapConfig(max_per_user=0), FakeClock())
    assert limiter.apply(DETECTOR.detect("stfu", mentioned=False), "u").mode == "normal"
